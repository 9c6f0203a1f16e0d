"""Per-instance funnel definitions (`TENANT#{t}` / `FUNNEL#{instance}`); none means the default."""

from __future__ import annotations

import json
from typing import Any

from wabot.dynamo import key
from wabot.funnel.definition import FunnelDefinition
from wabot.keys import tenant_pk
from wabot.tenancy import TenantContext, require_instance_id
from wabot.tenant_credentials import client_for


class FunnelRepository:
    def __init__(self, dynamodb: Any, table: str) -> None:
        self._db = client_for(dynamodb, "dynamodb")
        self._table = table

    def _key(self, tenant: TenantContext, instance_id: str) -> dict[str, Any]:
        return key(tenant_pk(tenant), f"FUNNEL#{require_instance_id(instance_id)}")

    def get(self, tenant: TenantContext, instance_id: str) -> FunnelDefinition | None:
        item = self._db(tenant).get_item(TableName=self._table, Key=self._key(tenant, instance_id)).get("Item")
        if not item:
            return None
        return FunnelDefinition.model_validate_json(item["definition"]["S"])

    def put(self, tenant: TenantContext, instance_id: str, definition: FunnelDefinition) -> None:
        document = json.dumps(definition.model_dump(mode="json", exclude_none=True), ensure_ascii=False)
        self._db(tenant).put_item(TableName=self._table,
                                Item={**self._key(tenant, instance_id), "definition": {"S": document}})

    def delete(self, tenant: TenantContext, instance_id: str) -> None:
        self._db(tenant).delete_item(TableName=self._table, Key=self._key(tenant, instance_id))
