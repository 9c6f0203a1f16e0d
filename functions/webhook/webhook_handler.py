"""Lambda handler of the WhatsApp webhook (HTTP API, payload 2.0).

GET  /webhook/{tenant_id}/{instance_id}  Meta's verification handshake
POST /webhook/{tenant_id}/{instance_id}  notifications: verified, then queued; 200 only once queued
"""

from __future__ import annotations

import base64
import binascii
from functools import cache

from aws_lambda_powertools import Logger
from aws_lambda_powertools.event_handler import APIGatewayHttpResolver, Response, content_types
from aws_lambda_powertools.utilities.typing import LambdaContext
from webhook_ingress import (
    InvalidPayload,
    PayloadTooLarge,
    SignatureRejected,
    VerificationFailed,
    WebhookIngress,
)

from wabot import aws, metrics, snapstart, tracing
from wabot.errors import NotFoundError, QueueSendError, TenantContextError
from wabot.http_errors import error_response, json_message, map_platform_errors
from wabot.queue import EventPublisher, HealthQueue
from wabot.repositories.activity import ActivityLog
from wabot.repositories.instances import InstanceRegistry, InstanceRepository
from wabot.repositories.secrets import SecretStore
from wabot.settings import WebhookSettings
from wabot.tenancy import TenantContext, require_instance_id
from wabot.tenant_credentials import TenantCredentials

logger = Logger(service="webhook")
app = APIGatewayHttpResolver()

ROUTE = "/webhook/<tenant_id>/<instance_id>"


@cache
def ingress() -> WebhookIngress:
    """Built once per execution environment (clients and caches live as long as it does)."""
    settings = WebhookSettings.from_env()
    # The path names the tenant: its data and secrets are read with that tenant's credentials only.
    tenants = TenantCredentials(settings.webhook_tenant_role_arn)
    return WebhookIngress(
        registry=InstanceRegistry(InstanceRepository(tenants, settings.app_table), settings.instance_cache_seconds),
        secrets=SecretStore(settings.ssm_prefix, tenants, settings.secret_cache_seconds),
        publisher=EventPublisher(aws.client("sqs"), settings.inbound_queue_url, settings.status_queue_url),
        activity=ActivityLog(tenants, settings.app_table, settings.activity_ttl_days),
        max_body_bytes=settings.max_body_bytes,
        logger=logger,
        health_queue=HealthQueue(aws.client("sqs"), settings.health_queue_url),
    )


def _route_target(tenant_id: str, instance_id: str) -> tuple[TenantContext, str]:
    """The tenant comes from the path and is confirmed by our own registry (unknown: answered
    like a refused signature or handshake)."""
    tenant = TenantContext(tenant_id)
    require_instance_id(instance_id)
    logger.append_keys(tenant_id=tenant_id, instance_id=instance_id)
    metrics.add_metadata("tenant_id", tenant_id)  # searchable in the log line, never a dimension
    return tenant, instance_id


def _rejected(reason: str) -> None:
    """`reason` is one of a fixed set (the exception handlers below): a metric dimension."""
    metrics.count("WebhooksRejected", reason=reason.replace(" ", "_"))


def _raw_body() -> bytes:
    """The exact bytes Meta signed: base64 bodies decoded, text bodies re-encoded as UTF-8."""
    event = app.current_event
    body = event.body or ""
    if event.is_base64_encoded:
        return base64.b64decode(body, validate=True)
    return body.encode("utf-8")


@app.get(ROUTE)
def verify(tenant_id: str, instance_id: str) -> Response:
    query = app.current_event
    try:
        tenant, instance_id = _route_target(tenant_id, instance_id)
        challenge = ingress().verify_subscription(
            tenant,
            instance_id,
            mode=query.get_query_string_value("hub.mode"),
            token=query.get_query_string_value("hub.verify_token"),
            challenge=query.get_query_string_value("hub.challenge"),
        )
    except (TenantContextError, NotFoundError):
        raise VerificationFailed() from None  # unknown answers like a wrong token: no bot discovery
    metrics.count("WebhookHandshakes")
    return Response(status_code=200, content_type=content_types.TEXT_PLAIN, body=challenge)


@app.post(ROUTE)
def receive(tenant_id: str, instance_id: str) -> Response:
    try:
        raw = _raw_body()
    except (binascii.Error, ValueError):
        _rejected("bad_base64")
        return json_message(400, "body is not valid base64")
    request_id = app.current_event.request_context.request_id or "unknown"
    logger.append_keys(request_id=request_id)
    try:
        tenant, instance_id = _route_target(tenant_id, instance_id)
        notification = ingress().receive(
            tenant,
            instance_id,
            raw_body=raw,
            signature=app.current_event.headers.get("x-hub-signature-256"),  # case-insensitive
            request_id=request_id,
        )
    except (TenantContextError, NotFoundError):
        # Unknown answers exactly like a known instance with a bad signature: no bot discovery.
        raise SignatureRejected("unknown tenant or instance") from None
    metrics.count("WebhooksAccepted")
    metrics.count("WebhookMessages", notification.message_count)
    metrics.count("WebhookStatuses", notification.status_count)
    logger.info(
        "webhook accepted",
        extra={"messages": notification.message_count, "statuses": notification.status_count},
    )
    return json_message(200, "ok")


@app.exception_handler(VerificationFailed)
def _forbidden(_: Exception) -> Response:
    _rejected("verification_refused")
    logger.warning("verification handshake refused")
    return Response(status_code=403, content_type=content_types.TEXT_PLAIN, body="Forbidden")


@app.exception_handler(SignatureRejected)
def _unauthorized(exc: SignatureRejected) -> Response:
    _rejected(exc.reason)
    logger.warning("webhook rejected", extra={"reason": exc.reason})
    return json_message(401, "invalid signature")


@app.exception_handler(PayloadTooLarge)
def _too_large(_: Exception) -> Response:
    _rejected("too_large")
    return json_message(413, "payload too large")


@app.exception_handler(InvalidPayload)
def _bad_request(_: Exception) -> Response:
    _rejected("invalid_payload")
    return json_message(400, "body is not a JSON webhook notification")


map_platform_errors(app, logger)


@app.exception_handler(QueueSendError)
def _queue_failed(exc: QueueSendError) -> Response:
    # Meta retries non-2xx for up to 7 days; dedup makes the retry safe.
    _rejected("queue_failed")
    logger.error("queueing failed, asking Meta to retry", extra={"error": str(exc)})
    return error_response(exc)


@app.exception_handler(Exception)
def _unexpected(exc: Exception) -> Response:
    _rejected("internal_error")
    logger.exception("unexpected error, asking Meta to retry", extra={"error_type": type(exc).__name__})
    return json_message(500, "internal error")


@metrics.log_metrics(service="webhook")
@tracing.capture_lambda_handler("webhook")
@logger.inject_lambda_context(clear_state=True)
def handler(event: dict, context: LambdaContext) -> dict:
    return app.resolve(event, context)


# SnapStart: build everything before the snapshot, reset connections and caches after a restore.
snapstart.register(ingress)
