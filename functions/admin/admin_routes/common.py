"""What every admin router shares: the caller, the public base URL, documented answers, parameters."""

from __future__ import annotations

from typing import Annotated

from admin_wiring import settings
from aws_lambda_powertools.event_handler.openapi.params import Query
from aws_lambda_powertools.event_handler.router import APIGatewayHttpRouter
from pydantic import BaseModel

from wabot.tenancy import TenantContext

INSTANCE = "/admin/whatsapp/instances/<instance_id>"
Limit = Annotated[int, Query(ge=1, le=1000, description="how many entries, newest first")]
PageSize = Annotated[int, Query(ge=1, le=100)]
Days = Annotated[int, Query(ge=1, le=400, description="how many days back, today included")]
Cursor = Annotated[str | None, Query(max_length=2048)]


class ErrorBody(BaseModel):
    message: str


def documented(model: type | None, *codes: int, success: int = 200) -> dict:
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


def caller(router: APIGatewayHttpRouter) -> TenantContext:
    """The caller, as the authentication middleware (admin_handler) put it from the authorizer's context."""
    return router.context["caller"]


def base_url(router: APIGatewayHttpRouter) -> str:
    """Public base URL of this API, for the webhook URLs admins paste into Meta: the configured
    one, else the API's own domain as API Gateway reports it (never a client's header)."""
    return settings().public_api_url.rstrip("/") or f"https://{router.current_event.request_context.domain_name}"
