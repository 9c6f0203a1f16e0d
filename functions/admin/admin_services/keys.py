"""API keys: create (shown once), list, revoke (admin only).

Logic only: no HTTP here (admin_routes maps it).
"""

from __future__ import annotations

from dataclasses import dataclass

from admin_models import (
    ApiKeyCreate,
    ApiKeyCreated,
    ApiKeyList,
    ApiKeyOut,
)
from admin_service import (
    ResourceService,
    require_admin,
)

from wabot.tenancy import TenantContext


@dataclass
class ApiKeyService(ResourceService):
    """API keys: created (shown once), listed and revoked by admins."""

    def create_api_key(self, caller: TenantContext, data: ApiKeyCreate) -> ApiKeyCreated:
        require_admin(caller)
        record, plaintext = self.stores.api_keys.create(caller, data.role, data.principal_id,
                                                 created_by=caller.principal_id)
        return ApiKeyCreated(api_key=plaintext, **record.model_dump(exclude={"tenant_id"}))

    def list_api_keys(self, caller: TenantContext) -> ApiKeyList:
        require_admin(caller)
        records = self.stores.api_keys.list(caller)
        return ApiKeyList(items=[ApiKeyOut(**r.model_dump(exclude={"tenant_id"})) for r in records])

    def revoke_api_key(self, caller: TenantContext, key_id: str) -> ApiKeyOut:
        require_admin(caller)
        record = self.stores.api_keys.revoke(caller, key_id)
        return ApiKeyOut(**record.model_dump(exclude={"tenant_id"}))
