"""Routes of the inbox: conversations, hand-off, manager replies, message templates, user state.
Each parses, calls its service, returns the model."""

from __future__ import annotations

from typing import Annotated, Literal

from admin_models import (
    ConversationList,
    ConversationOut,
    MessageList,
    MessageTemplateList,
    SendAccepted,
    SendRequest,
    TemplateSendRequest,
    UserStateReset,
)
from admin_wiring import service
from aws_lambda_powertools.event_handler.openapi.params import Query
from aws_lambda_powertools.event_handler.router import APIGatewayHttpRouter

from admin_routes.common import INSTANCE, Cursor, PageSize, caller, documented

router = APIGatewayHttpRouter()

CONVERSATION = INSTANCE + "/conversations/<user>"


@router.get(INSTANCE + "/conversations", summary="The inbox: the instance's conversations, most recent first",
            responses=documented(ConversationList, 403, 404))
def list_conversations(instance_id: str, limit: PageSize = 50,
                       cursor: Cursor = None,
                       status: Annotated[Literal["bot", "human"] | None, Query()] = None) -> ConversationList:
    return service().inbox.list_conversations(caller(router), instance_id, limit, cursor, status)


@router.get(CONVERSATION + "/messages", summary="One conversation's messages, oldest first per page; `next` "
            "leads to older ones", responses=documented(MessageList, 403, 404))
def conversation_messages(instance_id: str, user: str, limit: PageSize = 50,
                          cursor: Cursor = None) -> MessageList:
    return service().inbox.conversation_messages(caller(router), instance_id, user, limit, cursor)


@router.post(CONVERSATION + "/handoff", summary="Take the conversation over: the bot stops answering this user",
             responses=documented(ConversationOut, 403, 404))
def hand_off(instance_id: str, user: str) -> ConversationOut:
    return service().inbox.hand_off(caller(router), instance_id, user)


@router.post(CONVERSATION + "/release", summary="Give the conversation back to the bot",
             responses=documented(ConversationOut, 403, 404))
def release(instance_id: str, user: str) -> ConversationOut:
    return service().inbox.release(caller(router), instance_id, user)


@router.post(INSTANCE + "/send", summary="Send a text to one user as the bot (a manager's reply: the conversation "
             "becomes human); 409 outside WhatsApp's 24-hour window", responses=documented(SendAccepted, 403, 404,
                                                                                        409, success=202))
def send(instance_id: str, body: SendRequest) -> tuple[SendAccepted, int]:
    return service().inbox.send(caller(router), instance_id, body), 202


@router.post(CONVERSATION + "/template", summary="Send an approved message template (also outside the 24-hour "
             "window); its values are checked against the template (422)",
             responses=documented(SendAccepted, 403, 404, 409, success=202))
def send_template(instance_id: str, user: str, body: TemplateSendRequest) -> tuple[SendAccepted, int]:
    return service().inbox.send_template(caller(router), instance_id, user, body), 202


@router.get(INSTANCE + "/templates", summary="The WhatsApp Business Account's approved message templates "
            "(cached 5 minutes; `refresh=true` reads them again)",
            responses=documented(MessageTemplateList, 403, 404, 409))
def list_templates(instance_id: str, refresh: bool = False) -> MessageTemplateList:
    return service().inbox.list_templates(caller(router), instance_id, refresh)


@router.delete(INSTANCE + "/users/<user>/state", summary="Forget one user's funnel state, answers and history",
               responses=documented(UserStateReset, 403, 404))
def reset_user_state(instance_id: str, user: str) -> UserStateReset:
    return service().inbox.reset_user_state(caller(router), instance_id, user)
