"""Lambda handler of the admin API (HTTP API, payload 2.0, behind the API-key authorizer).

The routes live in admin_routes/, one Powertools router per resource, each calling its service in
admin_services/; here: authentication, the routers, the OpenAPI document and the error answers.
Request bodies and parameters are validated by Powertools from the type hints (422 naming each bad
field), and the same hints generate /admin/openapi.json (committed: docs/openapi.json).
"""

from __future__ import annotations

import base64
import binascii
import json

from admin_routes import funnels, inbox, instances, keys, lifecycle, stats
from admin_routes import settings as settings_routes
from admin_service import InvalidInput
from admin_wiring import service, settings
from aws_lambda_powertools import Logger
from aws_lambda_powertools.event_handler import APIGatewayHttpResolver, Response, content_types
from aws_lambda_powertools.event_handler.middlewares import NextMiddleware
from aws_lambda_powertools.event_handler.openapi.exceptions import RequestValidationError
from aws_lambda_powertools.utilities.typing import LambdaContext
from botocore.exceptions import ClientError

from wabot import metrics, snapstart, tracing
from wabot.errors import TenantContextError
from wabot.http_errors import json_message, map_platform_errors
from wabot.tenancy import TenantContext

__all__ = ["app", "handler", "service", "settings"]  # service(): the cold-start initializer (bench, tests)

logger = Logger(service="admin")
app = APIGatewayHttpResolver(enable_validation=True)


def authenticate(app: APIGatewayHttpResolver, next_middleware: NextMiddleware) -> Response:
    """The tenant, principal and role come only from the authorizer's verified context."""
    authorizer = app.current_event.request_context.authorizer
    claims = (authorizer.get_lambda if authorizer else None) or {}
    try:
        caller = TenantContext(claims["tenant_id"], principal_id=claims["principal_id"], role=claims["role"])
    except (KeyError, TenantContextError):
        return json_message(401, "unauthorized")
    if caller.role not in ("admin", "user", "guest"):
        return json_message(401, "unauthorized")
    app.append_context(caller=caller)
    logger.append_keys(tenant_id=caller.tenant_id, principal_id=caller.principal_id)
    return next_middleware(app)


app.use(middlewares=[authenticate])
for resource in (keys, instances, lifecycle, funnels, inbox, stats, settings_routes):
    app.include_router(resource.router)


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


map_platform_errors(app, logger)


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
def handler(event: dict, context: LambdaContext) -> dict:
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
