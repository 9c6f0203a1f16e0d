"""The platform's errors as HTTP answers: one mapping, used by every HTTP function (webhook, admin).

Answers are JSON `{"message": ...}`. Messages are fixed or the error's public text, never an
internal detail: "not found" also answers another tenant's things (tenant isolation).
"""

from __future__ import annotations

from typing import Any

from aws_lambda_powertools import Logger
from aws_lambda_powertools.event_handler import Response, content_types
from aws_lambda_powertools.event_handler.api_gateway import ApiGatewayResolver

from wabot.errors import (
    ConflictError,
    ForbiddenError,
    NotFoundError,
    PlatformError,
    QueueSendError,
    TenantContextError,
    UnauthorizedError,
)

NOT_FOUND = (404, "not found")
# Each platform error an HTTP client can meet: its status and, when fixed, its message.
STATUS: dict[type[PlatformError], tuple[int, str | None]] = {
    NotFoundError: NOT_FOUND,
    TenantContextError: NOT_FOUND,  # a malformed tenant or id: answered like any unknown thing
    UnauthorizedError: (401, "unauthorized"),
    ForbiddenError: (403, None),  # the message says what the role may not do
    ConflictError: (409, None),  # the error's public_message (and its public details)
    # Callers retry non-2xx (Meta for up to 7 days); queue deduplication makes the retry safe.
    QueueSendError: (503, "temporarily unavailable, retry later"),
}


def json_message(status: int, message: str, **extra: Any) -> Response:
    """A JSON answer `{"message": ...}`, the shape of every error (and of the webhook's "ok")."""
    return Response(status_code=status, content_type=content_types.APPLICATION_JSON,
                    body={"message": message, **extra})


def error_response(exc: PlatformError) -> Response:
    """The HTTP answer to a platform error (its nearest mapped base class decides)."""
    status, message = next(STATUS[kind] for kind in type(exc).__mro__ if kind in STATUS)
    if isinstance(exc, ConflictError):
        return json_message(status, exc.public_message, **getattr(exc, "details", {}))
    return json_message(status, message if message is not None else str(exc))


def map_platform_errors(app: ApiGatewayResolver, logger: Logger) -> None:
    """Register the mapping on a Powertools resolver; 5xx answers are logged as errors."""

    def handle(exc: PlatformError) -> Response:
        response = error_response(exc)
        if response.status_code >= 500:
            logger.error("platform error, asking the caller to retry",
                         extra={"error_type": type(exc).__name__, "error": str(exc)})
        return response

    for kind in STATUS:
        app.exception_handler(kind)(handle)
