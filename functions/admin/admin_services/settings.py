"""Tenant settings (LLM and voice) and the tenant's LLM providers (admin writes).

Logic only: no HTTP here (admin_routes maps it).
"""

from __future__ import annotations

from dataclasses import dataclass

from admin_models import (
    TENANT_SECRET_SETTINGS,
    ProviderCreate,
    ProviderFields,
    ProviderList,
    ProviderOut,
    SettingsOut,
    SettingsUpdate,
)
from admin_service import (
    InvalidInput,
    ResourceService,
    require_admin,
    slugify,
)

from wabot.errors import ConflictError, NotFoundError
from wabot.repositories.llm_config import LlmProvider, TenantSettings
from wabot.tenancy import TenantContext, is_slug


class ProviderIdTaken(ConflictError):
    public_message = "an LLM provider with this id exists"


class ProviderInUse(ConflictError):
    def __init__(self, instances: list[str]) -> None:
        super().__init__(instances)
        self.public_message = f"the provider is used by instances: {', '.join(sorted(instances))}"


@dataclass
class TenantSettingsService(ResourceService):
    """The tenant's LLM and voice settings and its LLM providers (admins change them)."""

    def get_settings(self, caller: TenantContext) -> SettingsOut:
        settings = self.stores.llm_config.settings(caller)
        masked = self.stores.secrets.masked_tenant_secret
        return SettingsOut.model_validate({**settings.model_dump(), **{
            name: masked(caller, "settings", name) for name in TENANT_SECRET_SETTINGS}})

    def update_settings(self, caller: TenantContext, data: SettingsUpdate) -> SettingsOut:
        require_admin(caller)
        values = self.stores.llm_config.settings(caller).model_dump()
        for name, value in data.model_dump(include=data.model_fields_set - set(TENANT_SECRET_SETTINGS)).items():
            if value is None:
                values.pop(name)  # null: back to the default
            else:
                values[name] = value
        merged = TenantSettings.model_validate(values)
        for name in TENANT_SECRET_SETTINGS:
            if getattr(data, name):
                self.stores.secrets.put_tenant_secret(caller, getattr(data, name), "settings", name)
        self.stores.llm_config.save_settings(caller, merged)
        return self.get_settings(caller)

    def list_providers(self, caller: TenantContext) -> ProviderList:
        return ProviderList(items=[self._provider_out(caller, p) for p in self.stores.llm_config.providers(caller)])

    def get_provider(self, caller: TenantContext, provider_id: str) -> ProviderOut:
        if not is_slug(provider_id):
            raise NotFoundError(provider_id)
        return self._provider_out(caller, self.stores.llm_config.provider(caller, provider_id))

    def create_provider(self, caller: TenantContext, data: ProviderCreate) -> ProviderOut:
        require_admin(caller)
        provider = LlmProvider(id=data.id or slugify(data.name), name=data.name, kind=data.kind,
                               base_url=data.base_url, model=data.model)
        if not self.stores.llm_config.save_provider(caller, provider, create=True):
            raise ProviderIdTaken()
        self.stores.secrets.put_tenant_secret(caller, data.api_key, "llm-providers", provider.id, "api_key")
        return self._provider_out(caller, provider)

    def update_provider(self, caller: TenantContext, provider_id: str, data: ProviderFields) -> ProviderOut:
        require_admin(caller)
        current = self.stores.llm_config.provider(caller, provider_id) if is_slug(provider_id) else None
        if current is None:
            raise NotFoundError(provider_id)
        given = data.model_dump(include=data.model_fields_set - {"api_key"})
        if any(value is None for value in given.values()):
            raise InvalidInput(next(k for k, v in given.items() if v is None), "may not be null")
        provider = LlmProvider.model_validate({**current.model_dump(), **given})
        if data.api_key:
            self.stores.secrets.put_tenant_secret(caller, data.api_key, "llm-providers", provider_id, "api_key")
        self.stores.llm_config.save_provider(caller, provider, create=False)
        return self._provider_out(caller, provider)

    def delete_provider(self, caller: TenantContext, provider_id: str) -> None:
        require_admin(caller)
        if not is_slug(provider_id):
            raise NotFoundError(provider_id)
        self.stores.llm_config.provider(caller, provider_id)
        users = []
        cursor = None
        while True:
            configs, cursor = self.stores.instances.list(caller, limit=100, cursor=cursor)
            users += [c.instance_id for c in configs if f"cloud:{provider_id}" in (c.llm_backend, c.stt_backend)]
            if cursor is None:
                break
        if users:
            raise ProviderInUse(users)
        self.stores.llm_config.delete_provider(caller, provider_id)
        self.stores.secrets.delete_tenant_secret(caller, "llm-providers", provider_id, "api_key")

    def _provider_out(self, caller: TenantContext, provider: LlmProvider) -> ProviderOut:
        masked = self.stores.secrets.masked_tenant_secret(caller, "llm-providers", provider.id, "api_key")
        return ProviderOut(**provider.model_dump(mode="json"), backend=f"cloud:{provider.id}", api_key=masked)
