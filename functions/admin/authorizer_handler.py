"""Lambda authorizer of the admin API (HTTP API, payload 2.0, simple responses).

Valid key: allowed, with tenant, principal and role in the context the admin function reads.
Missing, malformed, unknown or revoked key: `Unauthorized`, which API Gateway answers with 401.
API Gateway caches the answer per Authorization header for 300 s (a revoked key keeps working
for at most that long; see the README).
"""

from __future__ import annotations

from functools import cache

from aws_lambda_powertools import Logger

from wabot import aws, metrics, snapstart, tracing
from wabot.repositories.apikeys import ApiKeyRepository
from wabot.settings import AuthorizerSettings

logger = Logger(service="authorizer")
BEARER = "bearer "


class Unauthorized(Exception):
    def __init__(self) -> None:
        super().__init__("Unauthorized")


@cache
def api_keys() -> ApiKeyRepository:
    # Its own role reads the API-key table and nothing else.
    return ApiKeyRepository(aws.client("dynamodb"), AuthorizerSettings.from_env().api_key_table)


def bearer_token(headers: dict[str, str] | None) -> str | None:
    value = next((v for k, v in (headers or {}).items() if k.lower() == "authorization"), None)
    if not value or not value.lower().startswith(BEARER):
        return None
    return value[len(BEARER):].strip() or None


@metrics.log_metrics(service="authorizer")
@tracing.capture_lambda_handler("authorizer")
@logger.inject_lambda_context(clear_state=True)
def handler(event: dict, context: object) -> dict:
    caller = api_keys().authenticate(bearer_token(event.get("headers")))
    if caller is None:
        logger.info("admin request refused: missing, unknown or revoked API key")
        raise Unauthorized()
    logger.append_keys(tenant_id=caller.tenant_id, principal_id=caller.principal_id)
    return {
        "isAuthorized": True,
        "context": {"tenant_id": caller.tenant_id, "principal_id": caller.principal_id, "role": caller.role},
    }


# SnapStart: build everything before the snapshot, reset connections and caches after a restore.
snapstart.register(api_keys)
