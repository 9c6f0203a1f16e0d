"""Tenant records (`TENANT#{t}` / `TENANT`)."""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Any

from wabot import keys
from wabot.dynamo import to_item
from wabot.tenancy import TenantContext
from wabot.tenant_credentials import client_for


class TenantExists(Exception):
    pass


class TenantRepository:
    def __init__(self, dynamodb: Any, table: str) -> None:
        self._db = client_for(dynamodb, "dynamodb")
        self._table = table

    def create(self, tenant: TenantContext, display_name: str) -> None:
        item = {**keys.tenant_key(tenant), "tenant_id": tenant.tenant_id, "display_name": display_name,
                "created_at": datetime.now(UTC).isoformat()}
        try:
            self._db(tenant).put_item(TableName=self._table, Item=to_item(item),
                                    ConditionExpression="attribute_not_exists(pk)")
        except self._db(tenant).exceptions.ConditionalCheckFailedException:
            raise TenantExists(tenant.tenant_id) from None

    def exists(self, tenant: TenantContext) -> bool:
        item_key = keys.tenant_key(tenant)
        response = self._db(tenant).get_item(TableName=self._table, Key=to_item(item_key), ProjectionExpression="pk")
        return "Item" in response
