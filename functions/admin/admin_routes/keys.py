"""Routes of API keys and the caller: each parses, calls its service, returns its model."""

from __future__ import annotations

from admin_models import (
    ApiKeyCreate,
    ApiKeyCreated,
    ApiKeyList,
    ApiKeyOut,
    CallerOut,
)
from admin_wiring import service
from aws_lambda_powertools.event_handler.router import APIGatewayHttpRouter

from admin_routes.common import caller, documented

router = APIGatewayHttpRouter()


@router.get("/admin/me", summary="The caller: tenant, principal and role of the API key",
               responses=documented(CallerOut))
def whoami() -> CallerOut:
    who = caller(router)
    return CallerOut(tenant_id=who.tenant_id, principal_id=who.principal_id or "", role=who.role or "guest")


@router.post("/admin/api-keys", summary="Create an API key (admin); the key is shown this once",
             responses=documented(ApiKeyCreated, 403, success=201))
def create_api_key(body: ApiKeyCreate) -> tuple[ApiKeyCreated, int]:
    return service().keys.create_api_key(caller(router), body), 201


@router.get("/admin/api-keys", summary="List API keys (admin); never the keys themselves",
            responses=documented(ApiKeyList, 403))
def list_api_keys() -> ApiKeyList:
    return service().keys.list_api_keys(caller(router))


@router.delete("/admin/api-keys/<key_id>", summary="Revoke an API key (admin)",
               responses=documented(ApiKeyOut, 403, 404))
def revoke_api_key(key_id: str) -> ApiKeyOut:
    return service().keys.revoke_api_key(caller(router), key_id)
