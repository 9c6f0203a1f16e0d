"""Routes of tenant LLM and voice settings and LLM providers: each calls its service."""

from __future__ import annotations

from admin_models import (
    ProviderCreate,
    ProviderFields,
    ProviderList,
    ProviderOut,
    SettingsOut,
    SettingsUpdate,
)
from admin_wiring import service
from aws_lambda_powertools.event_handler import Response
from aws_lambda_powertools.event_handler.router import APIGatewayHttpRouter

from admin_routes.common import caller, documented

router = APIGatewayHttpRouter()

PROVIDER = "/admin/llm/providers/<provider_id>"


@router.get("/admin/settings", summary="The tenant's LLM and voice settings", responses=documented(SettingsOut))
def get_settings() -> SettingsOut:
    return service().settings.get_settings(caller(router))


@router.put("/admin/settings", summary="Change the given settings (admin)", responses=documented(SettingsOut, 403))
def update_settings(body: SettingsUpdate) -> SettingsOut:
    return service().settings.update_settings(caller(router), body)


@router.get("/admin/llm/providers", summary="LLM providers of the tenant", responses=documented(ProviderList))
def list_providers() -> ProviderList:
    return service().settings.list_providers(caller(router))


@router.post("/admin/llm/providers", summary="Register a provider (admin); instances use it as cloud:{id}",
             responses=documented(ProviderOut, 403, 409, success=201))
def create_provider(body: ProviderCreate) -> tuple[ProviderOut, int]:
    return service().settings.create_provider(caller(router), body), 201


@router.get(PROVIDER, summary="One provider (API key masked)", responses=documented(ProviderOut, 404))
def get_provider(provider_id: str) -> ProviderOut:
    return service().settings.get_provider(caller(router), provider_id)


@router.put(PROVIDER, summary="Change the given fields (admin); a given api_key is rotated",
            responses=documented(ProviderOut, 403, 404))
def update_provider(provider_id: str, body: ProviderFields) -> ProviderOut:
    return service().settings.update_provider(caller(router), provider_id, body)


@router.delete(PROVIDER, summary="Remove a provider no instance uses (admin)",
               responses=documented(None, 403, 404, 409, success=204))
def delete_provider(provider_id: str) -> Response[None]:
    service().settings.delete_provider(caller(router), provider_id)
    return Response(status_code=204)
