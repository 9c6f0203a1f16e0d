"""Lambda handler of the admin API (HTTP API, payload 2.0, behind the API-key authorizer).

Routes only parse, call one AdminService method and return its model; errors are mapped in
one place below. Request bodies and parameters are validated by Powertools from the type hints
(422 naming each bad field), and the same hints generate /admin/openapi.json.
"""

from __future__ import annotations

import base64
import binascii
import json
from functools import cache
from typing import Annotated, Literal

from admin_models import (
    ApiKeyCreate,
    ApiKeyCreated,
    ApiKeyList,
    ApiKeyOut,
    CallerOut,
    ConversationList,
    ConversationOut,
    FunnelOut,
    FunnelStats,
    FunnelTemplateList,
    FunnelTemplateOut,
    InstanceCreate,
    InstanceHealth,
    InstanceList,
    InstanceOut,
    InstanceStats,
    InstanceStatus,
    InstanceUpdate,
    LogList,
    MessageList,
    MessageTemplateList,
    ProviderCreate,
    ProviderFields,
    ProviderList,
    ProviderOut,
    SendAccepted,
    SendRequest,
    SettingsOut,
    SettingsUpdate,
    SimulateRequest,
    SimulationOut,
    StatsReset,
    TemplateSendRequest,
    TenantStats,
    UserStateReset,
)
from admin_service import AdminService, InvalidInput
from aws_lambda_powertools import Logger
from aws_lambda_powertools.event_handler import APIGatewayHttpResolver, Response, content_types
from aws_lambda_powertools.event_handler.middlewares import NextMiddleware
from aws_lambda_powertools.event_handler.openapi.exceptions import RequestValidationError
from aws_lambda_powertools.event_handler.openapi.params import Query
from botocore.exceptions import ClientError
from pydantic import BaseModel

from wabot import aws, metrics, snapstart, tracing
from wabot.errors import ConflictError, ForbiddenError, NotFoundError, TenantContextError, UnauthorizedError
from wabot.queue import EventPublisher
from wabot.repositories.activity import ActivityLog
from wabot.repositories.apikeys import ApiKeyRepository
from wabot.repositories.conversations import ConversationStore, InstanceDataPurger
from wabot.repositories.funnels import FunnelRepository
from wabot.repositories.health import HealthRepository
from wabot.repositories.instances import InstanceRegistry, InstanceRepository
from wabot.repositories.llm_config import LlmConfigRepository
from wabot.repositories.messages import MessageLog
from wabot.repositories.secrets import SecretStore
from wabot.repositories.stats import StatsRepository
from wabot.settings import AdminSettings
from wabot.tenancy import TenantContext
from wabot.tenant_credentials import TenantCredentials
from wabot.whatsapp.graph import GraphClient

logger = Logger(service="admin")
app = APIGatewayHttpResolver(enable_validation=True)

INSTANCE = "/admin/whatsapp/instances/<instance_id>"


class ErrorBody(BaseModel):
    message: str


def _documented(model: type | None, *codes: int, success: int = 200) -> dict:
    """OpenAPI responses of a route: its success, 401, the given error codes (422 is added)."""
    texts = {200: "OK", 201: "Created", 202: "Queued", 204: "Deleted", 401: "Missing, unknown or revoked API key",
             403: "The caller's role may not do this", 404: "Not found (also another tenant's things)",
             409: "Conflict"}
    responses: dict = {code: {"description": texts[code],
                              "content": {"application/json": {"model": ErrorBody}}} for code in codes}
    responses[401] = {"description": texts[401], "content": {"application/json": {"model": ErrorBody}}}
    if model is None:
        responses[success] = {"description": texts[success]}
    else:
        responses[success] = {"description": texts[success], "content": {"application/json": {"model": model}}}
    return responses
Limit = Annotated[int, Query(ge=1, le=1000, description="how many entries, newest first")]
PageSize = Annotated[int, Query(ge=1, le=100)]
Days = Annotated[int, Query(ge=1, le=400, description="how many days back, today included")]


@cache
def settings() -> AdminSettings:
    return AdminSettings.from_env()


@cache
def service() -> AdminService:
    settings_ = settings()
    # The caller's tenant's data, secrets and API keys with that tenant's credentials; the
    # function's own role writes only the platform's phone-number claims.
    tenants = TenantCredentials(settings_.admin_tenant_role_arn)
    instances = InstanceRepository(tenants, settings_.app_table, claims=aws.client("dynamodb"))
    return AdminService(
        instances=instances,
        registry=InstanceRegistry(instances, settings_.instance_cache_seconds),
        secrets=SecretStore(settings_.ssm_prefix, tenants, settings_.secret_cache_seconds),
        activity=ActivityLog(tenants, settings_.app_table, settings_.activity_ttl_days),
        stats=StatsRepository(tenants, settings_.app_table),
        purger=InstanceDataPurger(tenants, settings_.app_table),
        api_keys=ApiKeyRepository(tenants, settings_.api_key_table),
        funnels=FunnelRepository(tenants, settings_.app_table),
        conversations=ConversationStore(tenants, settings_.app_table),
        inbound=EventPublisher(aws.client("sqs"), settings_.inbound_queue_url),
        llm_config=LlmConfigRepository(tenants, settings_.app_table),
        messages=MessageLog(tenants, settings_.app_table),
        graph=GraphClient.from_settings(settings_),
        health=HealthRepository(tenants, settings_.app_table),
    )


def authenticate(app: APIGatewayHttpResolver, next_middleware: NextMiddleware) -> Response:
    """The tenant, principal and role come only from the authorizer's verified context."""
    authorizer = app.current_event.request_context.authorizer
    claims = (authorizer.get_lambda if authorizer else None) or {}
    try:
        caller = TenantContext(claims.get("tenant_id"), principal_id=claims["principal_id"], role=claims["role"])
    except (KeyError, TenantContextError):
        return _error(401, "unauthorized")
    if caller.role not in ("admin", "user", "guest"):
        return _error(401, "unauthorized")
    app.append_context(caller=caller)
    logger.append_keys(tenant_id=caller.tenant_id, principal_id=caller.principal_id)
    return next_middleware(app)


app.use(middlewares=[authenticate])


def caller() -> TenantContext:
    return app.context["caller"]


def base_url() -> str:
    """Public base URL of this API, for the webhook URLs admins paste into Meta: the configured
    one, else the API's own domain as API Gateway reports it (never a client's header)."""
    return settings().public_api_url.rstrip("/") or f"https://{app.current_event.request_context.domain_name}"


@app.get("/admin/me", summary="The caller: tenant, principal and role of the API key", responses=_documented(CallerOut))
def whoami() -> CallerOut:
    who = caller()
    return CallerOut(tenant_id=who.tenant_id, principal_id=who.principal_id or "", role=who.role or "guest")


# ---- instances ---------------------------------------------------------------------------


@app.get("/admin/whatsapp/instances", summary="List instances (admins and guests: all; users: their own)",
         responses=_documented(InstanceList))
def list_instances(limit: PageSize = 50, cursor: Annotated[str | None, Query(max_length=2048)] = None
                   ) -> InstanceList:
    return service().list_instances(caller(), base_url(), limit, cursor)


@app.post("/admin/whatsapp/instances", summary="Create an instance",
          responses=_documented(InstanceOut, 403, 409, success=201))
def create_instance(body: InstanceCreate) -> tuple[InstanceOut, int]:
    return service().create_instance(caller(), body, base_url()), 201


@app.get(INSTANCE, summary="Read an instance (secrets masked)", responses=_documented(InstanceOut, 403, 404))
def get_instance(instance_id: str) -> InstanceOut:
    return service().get_instance(caller(), instance_id, base_url())


@app.put(INSTANCE, summary="Update the given fields; given secrets are rotated",
         responses=_documented(InstanceOut, 403, 404, 409))
def update_instance(instance_id: str, body: InstanceUpdate) -> InstanceOut:
    return service().update_instance(caller(), instance_id, body, base_url())


@app.delete(INSTANCE, summary="Delete the instance, its secrets and all its data",
            responses=_documented(None, 403, 404, 409, success=204))
def delete_instance(instance_id: str) -> Response[None]:
    service().delete_instance(caller(), instance_id)
    return Response(status_code=204)


@app.post(INSTANCE + "/start", summary="Start: running, and auto_start on",
          responses=_documented(InstanceOut, 403, 404, 409))
def start(instance_id: str) -> InstanceOut:
    return service().lifecycle(caller(), instance_id, "start", base_url())


@app.post(INSTANCE + "/stop", summary="Stop: webhooks still recorded, nothing sent; auto_start off",
          responses=_documented(InstanceOut, 403, 404, 409))
def stop(instance_id: str) -> InstanceOut:
    return service().lifecycle(caller(), instance_id, "stop", base_url())


@app.post(INSTANCE + "/restart", summary="Restart: every warm function reloads config and secrets",
          responses=_documented(InstanceOut, 403, 404, 409))
def restart(instance_id: str) -> InstanceOut:
    return service().lifecycle(caller(), instance_id, "restart", base_url())


@app.get(INSTANCE + "/funnel", summary="The instance's funnel (the default one when it has none)",
         responses=_documented(FunnelOut, 403, 404))
def get_funnel(instance_id: str) -> FunnelOut:
    return service().get_funnel(caller(), instance_id)


@app.put(INSTANCE + "/funnel", summary="Replace the funnel with a flow document (GET /admin/funnel/schema.json), "
         "or with a template: {\"template\": name}; checked against WhatsApp's limits in every language, 422 "
         "naming node and field; warnings in the answer", responses=_documented(FunnelOut, 403, 404, 409))
def put_funnel(instance_id: str, body: dict) -> FunnelOut:
    return service().put_funnel(caller(), instance_id, body)


@app.delete(INSTANCE + "/funnel", summary="Go back to the default funnel", responses=_documented(FunnelOut, 403, 404))
def delete_funnel(instance_id: str) -> FunnelOut:
    return service().delete_funnel(caller(), instance_id)


@app.post(INSTANCE + "/funnel/simulate", summary="What the bot would send for these inputs, with a draft flow or "
          "the instance's; nothing is sent or stored", responses=_documented(SimulationOut, 404))
def simulate_instance_funnel(instance_id: str, body: SimulateRequest) -> SimulationOut:
    return service().simulate_funnel(caller(), instance_id, body)


@app.get(INSTANCE + "/funnel/stats", summary="Per day and node: how many users reached it and how many left "
         "the flow there", responses=_documented(FunnelStats, 403, 404))
def funnel_stats(instance_id: str, days: Days = 7) -> FunnelStats:
    return service().funnel_stats(caller(), instance_id, days)


@app.post("/admin/funnel/simulate", summary="Simulate a draft flow without an instance; nothing is sent or stored",
          responses=_documented(SimulationOut))
def simulate_draft_funnel(body: SimulateRequest) -> SimulationOut:
    return service().simulate_funnel(caller(), None, body)


@app.get("/admin/funnel/templates", summary="The shipped flow templates", responses=_documented(FunnelTemplateList))
def funnel_templates() -> FunnelTemplateList:
    return service().funnel_templates()


@app.get("/admin/funnel/templates/<name>", summary="One template's flow document",
         responses=_documented(FunnelTemplateOut, 404))
def funnel_template(name: str) -> FunnelTemplateOut:
    return service().funnel_template(name)


@app.get("/admin/funnel/schema.json", summary="The JSON Schema of the flow document", include_in_schema=False)
def funnel_schema() -> Response[str]:
    return Response(status_code=200, content_type=content_types.APPLICATION_JSON, body=flow_schema())


@cache
def flow_schema() -> str:
    from wabot.funnel.flow import Flow

    return json.dumps(Flow.model_json_schema(by_alias=True), ensure_ascii=False)


@app.delete(INSTANCE + "/users/<user>/state", summary="Forget one user's funnel state, answers and history",
            responses=_documented(UserStateReset, 403, 404))
def reset_user_state(instance_id: str, user: str) -> UserStateReset:
    return service().reset_user_state(caller(), instance_id, user)


@app.post(INSTANCE + "/send", summary="Send a text to one user as the bot (a manager's reply: the conversation "
          "becomes human); 409 outside WhatsApp's 24-hour window", responses=_documented(SendAccepted, 403, 404,
                                                                                     409, success=202))
def send(instance_id: str, body: SendRequest) -> tuple[SendAccepted, int]:
    return service().send(caller(), instance_id, body), 202


@app.get(INSTANCE + "/health", summary="WhatsApp account health: token, quality, limits, template statuses",
         responses=_documented(InstanceHealth, 403, 404))
def health(instance_id: str) -> InstanceHealth:
    return service().health_of(caller(), instance_id)


# ---- conversation operations: inbox, hand-off, templates --------------------------------------

CONVERSATION = INSTANCE + "/conversations/<user>"


@app.get(INSTANCE + "/conversations", summary="The inbox: the instance's conversations, most recent first",
         responses=_documented(ConversationList, 403, 404))
def list_conversations(instance_id: str, limit: PageSize = 50,
                       cursor: Annotated[str | None, Query(max_length=2048)] = None,
                       status: Annotated[Literal["bot", "human"] | None, Query()] = None) -> ConversationList:
    return service().list_conversations(caller(), instance_id, limit, cursor, status)


@app.get(CONVERSATION + "/messages", summary="One conversation's messages, oldest first per page; `next` "
         "leads to older ones", responses=_documented(MessageList, 403, 404))
def conversation_messages(instance_id: str, user: str, limit: PageSize = 50,
                          cursor: Annotated[str | None, Query(max_length=2048)] = None) -> MessageList:
    return service().conversation_messages(caller(), instance_id, user, limit, cursor)


@app.post(CONVERSATION + "/handoff", summary="Take the conversation over: the bot stops answering this user",
          responses=_documented(ConversationOut, 403, 404))
def hand_off(instance_id: str, user: str) -> ConversationOut:
    return service().hand_off(caller(), instance_id, user)


@app.post(CONVERSATION + "/release", summary="Give the conversation back to the bot",
          responses=_documented(ConversationOut, 403, 404))
def release(instance_id: str, user: str) -> ConversationOut:
    return service().release(caller(), instance_id, user)


@app.post(CONVERSATION + "/template", summary="Send an approved message template (also outside the 24-hour "
          "window); its values are checked against the template (422)",
          responses=_documented(SendAccepted, 403, 404, 409, success=202))
def send_template(instance_id: str, user: str, body: TemplateSendRequest) -> tuple[SendAccepted, int]:
    return service().send_template(caller(), instance_id, user, body), 202


@app.get(INSTANCE + "/templates", summary="The WhatsApp Business Account's approved message templates "
         "(cached 5 minutes; `refresh=true` reads them again)",
         responses=_documented(MessageTemplateList, 403, 404, 409))
def list_templates(instance_id: str, refresh: bool = False) -> MessageTemplateList:
    return service().list_templates(caller(), instance_id, refresh)


@app.get(INSTANCE + "/status", summary="State and health", responses=_documented(InstanceStatus, 403, 404))
def status(instance_id: str) -> InstanceStatus:
    return service().status(caller(), instance_id)


@app.get(INSTANCE + "/logs", summary="Activity log, newest first", responses=_documented(LogList, 403, 404))
def logs(instance_id: str, limit: Limit = 100) -> LogList:
    return service().logs(caller(), instance_id, limit)


@app.get(INSTANCE + "/stats", summary="Counters per day", responses=_documented(InstanceStats, 403, 404))
def instance_stats(instance_id: str, days: Days = 7) -> InstanceStats:
    return service().instance_stats(caller(), instance_id, days)


@app.delete(INSTANCE + "/stats", summary="Reset the instance's counters",
            responses=_documented(StatsReset, 403, 404))
def reset_stats(instance_id: str) -> StatsReset:
    return service().reset_stats(caller(), instance_id)


@app.get("/admin/whatsapp/stats", summary="The tenant's totals over the instances the caller sees",
         responses=_documented(TenantStats))
def tenant_stats(days: Days = 7) -> TenantStats:
    return service().tenant_stats(caller(), days)


# ---- tenant LLM settings and providers -----------------------------------------------------

PROVIDER = "/admin/llm/providers/<provider_id>"


@app.get("/admin/settings", summary="The tenant's LLM and voice settings", responses=_documented(SettingsOut))
def get_settings() -> SettingsOut:
    return service().get_settings(caller())


@app.put("/admin/settings", summary="Change the given settings (admin)", responses=_documented(SettingsOut, 403))
def update_settings(body: SettingsUpdate) -> SettingsOut:
    return service().update_settings(caller(), body)


@app.get("/admin/llm/providers", summary="LLM providers of the tenant", responses=_documented(ProviderList))
def list_providers() -> ProviderList:
    return service().list_providers(caller())


@app.post("/admin/llm/providers", summary="Register a provider (admin); instances use it as cloud:{id}",
          responses=_documented(ProviderOut, 403, 409, success=201))
def create_provider(body: ProviderCreate) -> tuple[ProviderOut, int]:
    return service().create_provider(caller(), body), 201


@app.get(PROVIDER, summary="One provider (API key masked)", responses=_documented(ProviderOut, 404))
def get_provider(provider_id: str) -> ProviderOut:
    return service().get_provider(caller(), provider_id)


@app.put(PROVIDER, summary="Change the given fields (admin); a given api_key is rotated",
         responses=_documented(ProviderOut, 403, 404))
def update_provider(provider_id: str, body: ProviderFields) -> ProviderOut:
    return service().update_provider(caller(), provider_id, body)


@app.delete(PROVIDER, summary="Remove a provider no instance uses (admin)",
            responses=_documented(None, 403, 404, 409, success=204))
def delete_provider(provider_id: str) -> Response[None]:
    service().delete_provider(caller(), provider_id)
    return Response(status_code=204)


# ---- API keys ----------------------------------------------------------------------------


@app.post("/admin/api-keys", summary="Create an API key (admin); the key is shown this once",
          responses=_documented(ApiKeyCreated, 403, success=201))
def create_api_key(body: ApiKeyCreate) -> tuple[ApiKeyCreated, int]:
    return service().create_api_key(caller(), body), 201


@app.get("/admin/api-keys", summary="List API keys (admin); never the keys themselves",
         responses=_documented(ApiKeyList, 403))
def list_api_keys() -> ApiKeyList:
    return service().list_api_keys(caller())


@app.delete("/admin/api-keys/<key_id>", summary="Revoke an API key (admin)",
            responses=_documented(ApiKeyOut, 403, 404))
def revoke_api_key(key_id: str) -> ApiKeyOut:
    return service().revoke_api_key(caller(), key_id)


@app.get("/admin/openapi.json", summary="This document", include_in_schema=False)
def openapi() -> Response[str]:
    return Response(status_code=200, content_type=content_types.APPLICATION_JSON, body=openapi_document())


def openapi_document() -> str:
    # Imported here: Powertools' OpenAPI models cost ~100 ms to build, and only this route needs them.
    from aws_lambda_powertools.event_handler.openapi.models import HTTPBearer

    return app.get_openapi_json_schema(
        title="WhatsApp bot platform admin API",
        version="1.0.0",
        description="Every route needs `Authorization: Bearer <api key>`.",
        security_schemes={"apiKey": HTTPBearer(description="wab.{tenant}.{key id}.{secret}")},
        security=[{"apiKey": []}],
    )


# ---- errors ------------------------------------------------------------------------------


def _error(status: int, message: str, **extra) -> Response:
    return Response(status_code=status, content_type=content_types.APPLICATION_JSON,
                    body={"message": message, **extra})


@app.exception_handler(NotFoundError)
@app.exception_handler(TenantContextError)
def _not_found(_: Exception) -> Response:
    return _error(404, "not found")


@app.exception_handler(ForbiddenError)
def _forbidden(exc: ForbiddenError) -> Response:
    return _error(403, str(exc))


@app.exception_handler(UnauthorizedError)
def _unauthorized(_: Exception) -> Response:
    return _error(401, "unauthorized")


@app.exception_handler(ConflictError)
def _conflict(exc: ConflictError) -> Response:
    return _error(409, exc.public_message, **getattr(exc, "details", {}))


@app.exception_handler(InvalidInput)
def _invalid(exc: InvalidInput) -> Response:
    # Same shape as Powertools' own validation answers.
    detail = [{"loc": ["body", *field.split(".")], "type": "value_error", "msg": message}
              for field, message in exc.problems]
    return Response(status_code=422, content_type=content_types.APPLICATION_JSON,
                    body={"statusCode": 422, "detail": detail})


@app.exception_handler(RequestValidationError)
def _request_invalid(exc: RequestValidationError) -> Response:
    """Powertools' own 422s leave out `msg`, which its OpenAPI document requires: add it (never
    the input, which may hold a secret)."""
    detail = [{"loc": list(error.get("loc", ())), "type": error.get("type", "value_error"),
               "msg": str(error.get("msg") or error.get("type") or "invalid")} for error in exc.errors()]
    return Response(status_code=422, content_type=content_types.APPLICATION_JSON,
                    body={"statusCode": 422, "detail": detail})


@app.exception_handler(ClientError)
def _storage_refused(exc: ClientError) -> Response:
    """DynamoDB's ValidationException comes from input it cannot store or look up (an item over
    400 KB, a key too long): the client's to fix, so 422; any other AWS error stays a 5xx."""
    if exc.response.get("Error", {}).get("Code") != "ValidationException":
        raise exc
    logger.warning("storage refused the input", extra={"operation": exc.operation_name})
    return Response(status_code=422, content_type=content_types.APPLICATION_JSON, body={
        "statusCode": 422, "detail": [{"loc": ["body"], "type": "value_error",
                                       "msg": "the input is too large or malformed to be stored"}]})


def _is_undecodable(event: dict) -> bool:
    """Powertools decodes bodies as UTF-8 and would fail with a 500 on anything else."""
    if not event.get("isBase64Encoded") or not event.get("body"):
        return False
    try:
        base64.b64decode(event["body"]).decode("utf-8")
    except (binascii.Error, UnicodeDecodeError):
        return True
    return False


@metrics.log_metrics(service="admin")
@tracing.capture_lambda_handler("admin")
@logger.inject_lambda_context(clear_state=True)
def handler(event: dict, context: object) -> dict:
    if _is_undecodable(event):
        return {"statusCode": 422, "headers": {"Content-Type": content_types.APPLICATION_JSON},
                "body": json.dumps({"statusCode": 422, "detail": [
                    {"loc": ["body"], "type": "json_invalid", "msg": "the body is not UTF-8 text"}]})}
    response = app.resolve(event, context)
    logger.info("admin request", extra={"path": event.get("rawPath"), "method": event.get("requestContext", {})
                                        .get("http", {}).get("method"), "status": response.get("statusCode")})
    return response


# SnapStart: build everything before the snapshot, reset connections and caches after a restore.
snapstart.register(service)
