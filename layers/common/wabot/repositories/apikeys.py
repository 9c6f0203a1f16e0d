"""Admin API keys: random, shown once, stored only as a SHA-256 hash under the tenant.

A key reads `wab.{tenant_id}.{key_id}.{secret}`: the tenant and key id say where its hash is
stored (a GetItem in the tenant's partition of the API-key table, a table no worker's policy
names), the secret (192 random bits) proves it.
"""

from __future__ import annotations

import hashlib
import hmac
import re
import secrets
from datetime import UTC, datetime
from typing import Any

from wabot import keys
from wabot.dynamo import from_item, key, query_partition, to_item
from wabot.errors import NotFoundError, TenantContextError
from wabot.models.principal import ApiKeyRecord, Role
from wabot.tenancy import TenantContext, require_tenant
from wabot.tenant_credentials import client_for

KEY_PATTERN = re.compile(r"^wab\.([a-z0-9](?:[a-z0-9-]{0,61}[a-z0-9])?)\.([0-9a-f]{12})\.([A-Za-z0-9_-]{32})$")


def _hash(api_key: str) -> str:
    return hashlib.sha256(api_key.encode("utf-8")).hexdigest()


class ApiKeyRepository:
    def __init__(self, dynamodb: Any, table: str) -> None:
        self._db = client_for(dynamodb, "dynamodb")
        self._table = table

    def create(self, tenant: TenantContext, role: Role, principal_id: str,
               created_by: str | None = None) -> tuple[ApiKeyRecord, str]:
        """Returns the record and the plaintext key (the only time it exists)."""
        tenant_id = require_tenant(tenant).tenant_id
        key_id = secrets.token_hex(6)
        plaintext = f"wab.{tenant_id}.{key_id}.{secrets.token_urlsafe(24)}"
        record = ApiKeyRecord(key_id=key_id, tenant_id=tenant_id, principal_id=principal_id, role=role,
                              created_at=datetime.now(UTC), created_by=created_by)
        item = {**keys.api_key_key(tenant, key_id), "key_hash": _hash(plaintext), **record.model_dump(mode="json")}
        self._db(tenant).put_item(TableName=self._table, Item=to_item(item),
                                ConditionExpression="attribute_not_exists(pk)")
        return record, plaintext

    def import_key(self, tenant: TenantContext, api_key: str, role: Role, principal_id: str) -> ApiKeyRecord:
        """Store a key chosen by an operator (the local stack's LOCAL_ADMIN_KEY); it must be well formed."""
        match = KEY_PATTERN.match(api_key)
        if not match or match.group(1) != require_tenant(tenant).tenant_id:
            raise ValueError(f"an API key for tenant {tenant.tenant_id} reads wab.{tenant.tenant_id}.<12 hex digits>."
                             "<32 letters, digits, - or _>")
        record = ApiKeyRecord(key_id=match.group(2), tenant_id=tenant.tenant_id, principal_id=principal_id,
                              role=role, created_at=datetime.now(UTC), created_by="import")
        item = {**keys.api_key_key(tenant, record.key_id), "key_hash": _hash(api_key),
                **record.model_dump(mode="json")}
        self._db(tenant).put_item(TableName=self._table, Item=to_item(item))
        return record

    def list(self, tenant: TenantContext) -> list[ApiKeyRecord]:
        items = query_partition(self._db(tenant), self._table, keys.tenant_pk(tenant), keys.APIKEY_SK_PREFIX)
        return [ApiKeyRecord.model_validate(from_item(item)) for item in items]

    def revoke(self, tenant: TenantContext, key_id: str) -> ApiKeyRecord:
        try:
            item_key = keys.api_key_key(tenant, key_id)
        except ValueError:
            raise NotFoundError(key_id) from None
        client_error = self._db(tenant).exceptions.ConditionalCheckFailedException
        try:
            response = self._db(tenant).update_item(
                TableName=self._table, Key=key(item_key["pk"], item_key["sk"]),
                UpdateExpression="SET revoked_at = if_not_exists(revoked_at, :now)",
                ConditionExpression="attribute_exists(pk)",
                ExpressionAttributeValues={":now": {"S": datetime.now(UTC).isoformat()}},
                ReturnValues="ALL_NEW",
            )
        except client_error:
            raise NotFoundError(key_id) from None
        return ApiKeyRecord.model_validate(from_item(response["Attributes"]))

    def authenticate(self, api_key: str | None) -> TenantContext | None:
        """The caller's tenant, principal and role, or None for any key that does not verify."""
        if not api_key:
            return None
        match = KEY_PATTERN.match(api_key)
        if not match:
            return None
        tenant_id, key_id, _ = match.groups()
        try:
            tenant = TenantContext(tenant_id)
        except TenantContextError:
            return None
        item_key = keys.api_key_key(tenant, key_id)
        response = self._db(tenant).get_item(TableName=self._table, Key=key(item_key["pk"], item_key["sk"]),
                                           ConsistentRead=True)
        item = response.get("Item")
        if not item or "revoked_at" in item:
            return None
        data = from_item(item)
        if not hmac.compare_digest(data.get("key_hash", ""), _hash(api_key)):
            return None
        return TenantContext(tenant_id, principal_id=data["principal_id"], role=data["role"])
