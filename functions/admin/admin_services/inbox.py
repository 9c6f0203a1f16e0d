"""The inbox: conversations and their messages, hand-off to a person and back, manager replies
and message templates, forgetting a user.

Logic only: no HTTP here (admin_routes maps it).
"""

from __future__ import annotations

import contextlib
import time
import uuid
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any

from admin_models import (
    ConversationList,
    ConversationMessage,
    ConversationOut,
    MessageList,
    MessageTemplateList,
    MessageTemplateOut,
    SendAccepted,
    SendFailure,
    SendRequest,
    TemplateParameters,
    TemplateSendRequest,
    UserStateReset,
)
from admin_service import (
    InvalidInput,
    ResourceService,
)

from wabot.errors import ConflictError, NotFoundError
from wabot.handoff import human_is_handling, window_closes_at, window_is_open
from wabot.identity import normalize_user_ref
from wabot.models.conversation import UserProfile
from wabot.models.events import InboundEvent
from wabot.models.instance import InstanceConfig
from wabot.models.message_log import event_entry
from wabot.tenancy import TenantContext
from wabot.whatsapp.graph import GraphError
from wabot.whatsapp.templates import TemplateShape


class OutsideServiceWindow(ConflictError):
    public_message = "outside WhatsApp's 24-hour customer service window: the user last wrote over 24 hours ago"

    def __init__(self, closed_at: int | None) -> None:
        super().__init__(closed_at)
        self.details = {
            "window_closes_at": datetime.fromtimestamp(closed_at, UTC).isoformat() if closed_at else None,
            "hint": "only an approved message template can reach this user now: "
                    "POST .../conversations/{user}/template (GET .../templates lists them)"}


TEMPLATE_CACHE_SECONDS = 300


class TemplatesUnavailable(ConflictError):
    def __init__(self, code: int | None) -> None:
        super().__init__(code)
        self.public_message = f"the Graph API refused to list the templates (error {code})"


def _time(epoch: int | None) -> datetime | None:
    return datetime.fromtimestamp(epoch, UTC) if epoch else None


def _failure(failure: dict[str, Any] | None) -> SendFailure | None:
    if not failure:
        return None
    code = failure.get("code")
    return SendFailure(code=int(code) if isinstance(code, int | float) else None, title=str(failure.get("title", "")),
                       at=_time(int(failure["at"])) if failure.get("at") else None)


@dataclass
class InboxService(ResourceService):
    """Conversations, hand-off to a person and back, manager replies and templates, user state."""

    def __post_init__(self) -> None:
        # Each instance's approved templates, per config version: (fetched at, templates).
        self._templates: dict[tuple[str, str, int], tuple[float, list[TemplateShape]]] = {}

    def list_conversations(self, caller: TenantContext, instance_id: str, limit: int, cursor: str | None,
                           status: str | None) -> ConversationList:
        config = self._load(caller, instance_id)
        try:
            profiles, next_cursor = self.stores.conversations.list_conversations(caller, instance_id, limit, cursor)
        except ValueError:
            raise InvalidInput("cursor", "invalid cursor") from None
        now = time.time()
        items = [self._conversation(config, p, now) for p in profiles]
        if status:
            items = [item for item in items if item.handoff == status]
        return ConversationList(items=items, next=next_cursor)

    def conversation_messages(self, caller: TenantContext, instance_id: str, user: str, limit: int,
                              cursor: str | None) -> MessageList:
        self._load(caller, instance_id)
        user_key = self._user_key(caller, instance_id, user)
        try:
            entries, next_cursor = self.stores.messages.page(caller, instance_id, user_key, limit, cursor)
        except ValueError:
            raise InvalidInput("cursor", "invalid cursor") from None
        return MessageList(items=[ConversationMessage(
            **entry.model_dump(exclude={"at", "error", "wamid"}), at=datetime.fromtimestamp(entry.at, UTC),
            error=_failure(entry.error)) for entry in entries], next=next_cursor)

    def hand_off(self, caller: TenantContext, instance_id: str, user: str) -> ConversationOut:
        config = self._load(caller, instance_id, write=True)
        profile = self._take_over(caller, config, self._user_key(caller, instance_id, user))
        return self._conversation(config, profile, time.time())

    def release(self, caller: TenantContext, instance_id: str, user: str) -> ConversationOut:
        config = self._load(caller, instance_id, write=True)
        user_key = self._user_key(caller, instance_id, user)
        now = int(time.time())
        profile = self.stores.conversations.update(caller, instance_id, user_key, lambda p: {
            "mode": "bot", "human_message": None} if p.mode == "human" else None)
        if profile is None:
            raise NotFoundError("user")
        released = event_entry("release", time.time(), caller.principal_id)
        self.stores.messages.record(caller, instance_id, user_key, [released], config.message_retention_days)
        self._audit(caller, instance_id, "conversation given back to the bot", [])
        return self._conversation(config, profile, now)

    def send(self, caller: TenantContext, instance_id: str, request: SendRequest) -> SendAccepted:
        """A manager's free-form text: only inside the window; the conversation becomes `human`."""
        config = self._load(caller, instance_id, write=True)
        user_key = self._user_key(caller, instance_id, request.user)
        profile = self.stores.conversations.get_profile(caller, instance_id, user_key)
        if profile is None:
            raise NotFoundError("user")
        if not window_is_open(profile, time.time()):
            raise OutsideServiceWindow(window_closes_at(profile))
        return self._queue_manager_message(caller, config, user_key, request.user, "text", {"body": request.text},
                                           request.text)

    def send_template(self, caller: TenantContext, instance_id: str, user: str,
                      request: TemplateSendRequest) -> SendAccepted:
        """An approved template, inside or outside the window; its values checked against it (422)."""
        config = self._load(caller, instance_id, write=True)
        user_key = self._user_key(caller, instance_id, user)
        shape = next((t for t in self._template_shapes(caller, config, refresh=False)
                      if t.name == request.name and t.language == request.language), None)
        if shape is None:
            raise InvalidInput("name", "no approved template with this name and language "
                                       "(GET .../templates lists them)")
        problems = shape.problems(request.header, request.body, request.buttons)
        if problems:
            raise InvalidInput(*problems[0], more=problems[1:])
        template = shape.graph_template(request.header, request.body, request.buttons)
        return self._queue_manager_message(caller, config, user_key, user, "template", {"template": template},
                                           f"[template {shape.name}]")

    def list_templates(self, caller: TenantContext, instance_id: str, refresh: bool) -> MessageTemplateList:
        config = self._load(caller, instance_id)
        shapes = self._template_shapes(caller, config, refresh)
        fetched = self._templates[(caller.tenant_id, instance_id, config.version)][0]
        return MessageTemplateList(fetched_at=datetime.fromtimestamp(fetched, UTC), items=[MessageTemplateOut(
            name=t.name, language=t.language, category=t.category, status=t.status, text=t.text,
            parameters=TemplateParameters(header=t.header, body=t.body, buttons=list(t.buttons))) for t in shapes])

    def reset_user_state(self, caller: TenantContext, instance_id: str, user: str) -> UserStateReset:
        self._load(caller, instance_id, write=True)
        user_key = self._user_key(caller, instance_id, user)
        deleted = self.stores.conversations.reset_user(caller, instance_id, user_key)
        self._audit(caller, instance_id, "user state reset", [])
        return UserStateReset(user=user, deleted_items=deleted)

    def _user_key(self, caller: TenantContext, instance_id: str, user: str) -> str:
        candidates = [user]
        with contextlib.suppress(ValueError):  # not a phone number: a BSUID or user key as given
            candidates.append(normalize_user_ref(user))
        for candidate in candidates:
            found = self.stores.conversations.resolve_user(caller, instance_id, candidate)
            if found:
                return found
        raise NotFoundError("user")

    def _queue_manager_message(self, caller: TenantContext, config: InstanceConfig, user_key: str, user: str,
                               kind: str, content: dict[str, Any], preview: str) -> SendAccepted:
        """Take the conversation over (the bot falls silent at once, even for replies already
        planned), then queue the message in the conversation's order."""
        now = int(time.time())
        profile = self._take_over(caller, config, user_key, extra={
            "last_manager_at": now, "preview": preview[:80], "unread": 0})
        message_id = f"manager.{uuid.uuid4().hex}"
        event = InboundEvent(
            kind="outbound", tenant_id=caller.tenant_id, instance_id=config.instance_id,
            config_version=config.version, phone_number_id=config.phone_number_id, user_key=user_key,
            user_id=profile.user_id, phone=profile.phone, message_id=message_id, type=kind, content=content,
            raw={}, timestamp=now, request_id=message_id, actor=caller.principal_id)
        self.stores.inbound.publish([event])
        return SendAccepted(message_id=message_id, user=user)

    def _take_over(self, caller: TenantContext, config: InstanceConfig, user_key: str,
                   extra: dict[str, Any] | None = None) -> UserProfile:
        now = int(time.time())
        started: list[bool] = []

        def change(profile: UserProfile) -> dict[str, Any]:
            started[:] = [not human_is_handling(profile, config, now)]
            fields = dict(extra or {})
            if started[0]:
                fields.update(mode="human", human_since=now, human_by=caller.principal_id, human_message=None,
                              last_manager_at=fields.get("last_manager_at"))
            return fields

        profile = self.stores.conversations.update(caller, config.instance_id, user_key, change)
        if profile is None:
            raise NotFoundError("user")
        if started and started[0]:
            entry = event_entry("handoff", time.time(), caller.principal_id)
            self.stores.messages.record(caller, config.instance_id, user_key, [entry], config.message_retention_days)
            self._audit(caller, config.instance_id, "conversation taken over by a person", [])
        return profile

    def _conversation(self, config: InstanceConfig, profile: UserProfile, now: float) -> ConversationOut:
        human = human_is_handling(profile, config, now)
        started = max(profile.last_manager_at or 0, profile.human_since or 0)
        closes = window_closes_at(profile)
        return ConversationOut(
            user=profile.user_key, phone=profile.phone, profile_name=profile.profile_name,
            last_inbound_at=_time(profile.last_inbound_at), last_outbound_at=_time(profile.last_outbound_at),
            preview=profile.preview, node=profile.state.last_node, segment=profile.state.segment
            or profile.state.vars.get("segment"), window_open=window_is_open(profile, now),
            window_closes_at=_time(closes), handoff="human" if human else "bot",
            human_by=profile.human_by if human else None,
            human_until=_time(int(started + config.handoff_timeout_hours * 3600)) if human else None,
            unread=profile.unread, last_failure=_failure(profile.failure))

    def _template_shapes(self, caller: TenantContext, config: InstanceConfig, refresh: bool) -> list[TemplateShape]:
        cache_key = (caller.tenant_id, config.instance_id, config.version)
        cached = self._templates.get(cache_key)
        if cached and not refresh and time.time() - cached[0] < TEMPLATE_CACHE_SECONDS:
            return cached[1]
        if not config.waba_id:
            raise InvalidInput("waba_id", "the instance has no WhatsApp Business Account id (waba_id)")
        token = self.stores.secrets.get(caller, config, "access_token")
        if not token:
            raise InvalidInput("access_token", "the instance has no access token")
        try:
            raw = self.stores.graph.message_templates(config.waba_id, token)
        except GraphError as error:
            raise TemplatesUnavailable(error.code) from None
        shapes = [TemplateShape.parse(t) for t in raw if str(t.get("status", "")).upper() == "APPROVED"]
        self._templates[cache_key] = (time.time(), shapes)
        return shapes
