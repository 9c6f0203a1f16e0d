"""Instance configs in DynamoDB, and the warm-container registry that caches them."""

from __future__ import annotations

import contextlib
import time
from collections.abc import Callable
from typing import Any

from wabot import keys
from wabot.dynamo import decode_cursor, encode_cursor, from_item, key, query_partition, to_item, to_value
from wabot.errors import ConflictError, InstanceNotFound
from wabot.models.instance import InstanceConfig
from wabot.tenancy import TenantContext, is_slug, require_tenant
from wabot.tenant_credentials import TenantCredentials, client_for


class InstanceIdTaken(ConflictError):
    public_message = "instance id taken"


class PhoneNumberTaken(ConflictError):
    public_message = "phone_number_id already belongs to an instance"


class ConcurrentModification(ConflictError):
    public_message = "the instance changed meanwhile; read it and try again"


def _owner_values(config: InstanceConfig) -> dict[str, Any]:
    return {":t": {"S": config.tenant_id}, ":i": {"S": config.instance_id}}


def _claim_item(config: InstanceConfig) -> dict[str, Any]:
    return to_item({**keys.phone_claim_key(config.phone_number_id), "tenant_id": config.tenant_id,
                    "instance_id": config.instance_id})


class InstanceRepository:
    """Instance configs (tenant clients) and the platform's phone-number claims (`claims`: the
    admin function's own client; operator tools and tests pass one client for both)."""

    def __init__(self, dynamodb: Any, table: str, claims: Any | None = None) -> None:
        self._db = client_for(dynamodb, "dynamodb")
        self._claims = claims if claims is not None or isinstance(dynamodb, TenantCredentials) else dynamodb
        self._table = table

    def _item(self, tenant: TenantContext, config: InstanceConfig) -> dict[str, Any]:
        if config.tenant_id != require_tenant(tenant).tenant_id:
            raise PermissionError("instance config of another tenant")
        running = keys.running_index_attributes(tenant, config.instance_id) if config.running else {}
        return to_item({**keys.instance_key(tenant, config.instance_id), **config.model_dump(mode="json"), **running})

    def _config(self, tenant: TenantContext, item: dict[str, Any]) -> InstanceConfig:
        data = from_item(item)
        # The item's key is the authority on ownership, not attributes inside it.
        data["tenant_id"] = tenant.tenant_id
        data["instance_id"] = data["sk"].removeprefix(keys.INSTANCE_SK_PREFIX)
        return InstanceConfig.model_validate(data)

    def get(self, tenant: TenantContext, instance_id: str) -> InstanceConfig:
        item_key = keys.instance_key(tenant, instance_id)
        response = self._db(tenant).get_item(TableName=self._table, Key=to_item(item_key), ConsistentRead=True)
        item = response.get("Item")
        if not item:
            raise InstanceNotFound(instance_id)
        return self._config(tenant, item)

    def put(self, tenant: TenantContext, config: InstanceConfig) -> None:
        """Unconditional write of the config alone (fixtures, migrations of existing items)."""
        self._db(tenant).put_item(TableName=self._table, Item=self._item(tenant, config))

    def set_sends_paused(self, tenant: TenantContext, instance_id: str, paused: bool) -> bool:
        """Pause or resume the instance's sends (the health check's verdict on its token). Bumps
        the version so warm workers reload at once; False when it already was so (or is gone)."""
        db = self._db(tenant)
        try:
            db.update_item(
                TableName=self._table, Key=to_item(keys.instance_key(tenant, instance_id)),
                UpdateExpression="SET sends_paused = :p, version = version + :one",
                ConditionExpression="attribute_exists(pk) AND " + (
                    "(attribute_not_exists(sends_paused) OR sends_paused = :f)" if paused else "sends_paused = :t"),
                ExpressionAttributeValues={":p": {"BOOL": paused}, ":one": {"N": "1"},
                                           **({":f": {"BOOL": False}} if paused else {":t": {"BOOL": True}})})
        except db.exceptions.ConditionalCheckFailedException:
            return False
        return True

    def list(self, tenant: TenantContext, limit: int = 50, cursor: str | None = None,
             owner_id: str | None = None) -> tuple[list[InstanceConfig], str | None]:
        """One page of the tenant's instances (optionally only one owner's) and the next cursor."""
        pk = keys.tenant_pk(tenant)
        arguments: dict[str, Any] = {
            "TableName": self._table,
            "KeyConditionExpression": "pk = :pk AND begins_with(sk, :prefix)",
            "ExpressionAttributeValues": {":pk": {"S": pk}, ":prefix": {"S": keys.INSTANCE_SK_PREFIX}},
            "Limit": limit,
        }
        if owner_id is not None:
            arguments["FilterExpression"] = "owner_id = :owner"
            arguments["ExpressionAttributeValues"][":owner"] = {"S": owner_id}
        if cursor:
            start = decode_cursor(cursor)
            # A cursor is only valid inside the caller's own tenant partition, at a sort key this
            # listing could have returned: an instance item's.
            if start["pk"] != pk or not start["sk"].startswith(keys.INSTANCE_SK_PREFIX) \
                    or not is_slug(start["sk"].removeprefix(keys.INSTANCE_SK_PREFIX)):
                raise ValueError("invalid cursor")
            arguments["ExclusiveStartKey"] = key(start["pk"], start["sk"])
        page = self._db(tenant).query(**arguments)
        configs = [self._config(tenant, item) for item in page.get("Items", [])]
        return configs, encode_cursor(page.get("LastEvaluatedKey"))

    def ids_starting_with(self, tenant: TenantContext, prefix: str) -> set[str]:
        items = query_partition(self._db(tenant), self._table, keys.tenant_pk(tenant),
                                keys.INSTANCE_SK_PREFIX + prefix, keys_only=True)
        return {item["sk"]["S"].removeprefix(keys.INSTANCE_SK_PREFIX) for item in items}

    def _claims_client(self) -> Any:
        if self._claims is None:
            raise PermissionError("phone-number claims are written only by the admin function's own role")
        return self._claims

    def phone_number_taken(self, phone_number_id: str) -> bool:
        """Whether some instance on the platform claims this number (the claim says nothing else)."""
        response = self._claims_client().get_item(TableName=self._table,
                                                  Key=to_item(keys.phone_claim_key(phone_number_id)),
                                                  ProjectionExpression="pk")
        return "Item" in response

    def _claim(self, config: InstanceConfig) -> bool:
        """Claim the number for this (tenant, instance); True when this call created the claim.

        A claim is platform data, written with the admin function's own credentials, so it
        cannot share a transaction with the config (tenant credentials): claim first, write
        the config, and release a claim this call created when the config write fails.
        """
        try:
            response = self._claims_client().put_item(
                TableName=self._table, Item=_claim_item(config), ReturnValues="ALL_OLD",
                ConditionExpression="attribute_not_exists(pk) OR (tenant_id = :t AND instance_id = :i)",
                ExpressionAttributeValues=_owner_values(config))
        except self._claims_client().exceptions.ConditionalCheckFailedException:
            raise PhoneNumberTaken(config.phone_number_id) from None
        return "Attributes" not in response

    def _release(self, config: InstanceConfig) -> None:
        """Drop the claim of `config`'s number, only if it is still this instance's."""
        claims = self._claims_client()
        # No claim, or another instance's: nothing of ours to release.
        with contextlib.suppress(claims.exceptions.ConditionalCheckFailedException):
            claims.delete_item(TableName=self._table, Key=to_item(keys.phone_claim_key(config.phone_number_id)),
                               ConditionExpression="tenant_id = :t AND instance_id = :i",
                               ExpressionAttributeValues=_owner_values(config))

    def _require_own_claim(self, config: InstanceConfig) -> None:
        """A number is moved only away from this instance's own claim (or a missing one): if the
        claim is, by a race or a repair, another instance's, nothing changes."""
        item = self._claims_client().get_item(TableName=self._table, ConsistentRead=True,
                                              Key=to_item(keys.phone_claim_key(config.phone_number_id))).get("Item")
        if item and (item["tenant_id"]["S"], item["instance_id"]["S"]) != (config.tenant_id, config.instance_id):
            raise ConcurrentModification(config.instance_id)

    def _write_claimed(self, config: InstanceConfig, write: Callable[[], None]) -> None:
        created = self._claim(config)
        try:
            write()
        except BaseException:
            if created:
                self._release(config)
            raise

    def create(self, tenant: TenantContext, config: InstanceConfig) -> None:
        """Claim its phone number platform-wide, then write the config (a new id only)."""
        def write() -> None:
            try:
                self._db(tenant).put_item(TableName=self._table, Item=self._item(tenant, config),
                                          ConditionExpression="attribute_not_exists(pk)")
            except self._db(tenant).exceptions.ConditionalCheckFailedException:
                raise InstanceIdTaken(config.instance_id) from None

        self._write_claimed(config, write)

    def replace(self, tenant: TenantContext, old: InstanceConfig, new: InstanceConfig) -> None:
        """Write `new` only if the stored config is still at `old.version`; move the number claim."""
        def write() -> None:
            try:
                self._db(tenant).put_item(TableName=self._table, Item=self._item(tenant, new),
                                          ConditionExpression="version = :expected",
                                          ExpressionAttributeValues={":expected": to_value(old.version)})
            except self._db(tenant).exceptions.ConditionalCheckFailedException:
                raise ConcurrentModification(old.instance_id) from None

        if new.phone_number_id == old.phone_number_id:
            write()
            return
        self._require_own_claim(old)
        self._write_claimed(new, write)
        self._release(old)

    def delete(self, tenant: TenantContext, config: InstanceConfig) -> None:
        """Delete the config, then release its number's claim (if it is still this instance's)."""
        item_key = keys.instance_key(tenant, config.instance_id)
        try:
            self._db(tenant).delete_item(TableName=self._table, Key=to_item(item_key),
                                         ConditionExpression="attribute_exists(pk)")
        except self._db(tenant).exceptions.ConditionalCheckFailedException:
            raise InstanceNotFound(config.instance_id) from None
        self._release(config)


class InstanceRegistry:
    """Looks up instance configs, caching each in the warm container for at most `max_age` s.

    A newer config version than the cached one (for example carried by a queued event, or
    written by the admin function in this container) invalidates the entry at once.
    """

    def __init__(
        self,
        repository: InstanceRepository,
        max_age: float = 60.0,
        clock: Callable[[], float] = time.monotonic,
    ) -> None:
        if not 0 < max_age <= 60:
            raise ValueError("instance configs may be cached for at most 60 s")
        self._repository = repository
        self._max_age = max_age
        self._clock = clock
        self._cache: dict[tuple[str, str], tuple[float, InstanceConfig]] = {}

    def get(self, tenant: TenantContext, instance_id: str, min_version: int | None = None) -> InstanceConfig:
        cache_key = (require_tenant(tenant).tenant_id, instance_id)
        cached = self._cache.get(cache_key)
        now = self._clock()
        if cached is not None:
            fetched_at, config = cached
            fresh = now - fetched_at < self._max_age
            if fresh and (min_version is None or config.version >= min_version):
                return config
        try:
            config = self._repository.get(tenant, instance_id)
        except InstanceNotFound:
            self._cache.pop(cache_key, None)
            raise
        self._cache[cache_key] = (now, config)
        return config

    def invalidate(self, tenant: TenantContext, instance_id: str) -> None:
        self._cache.pop((require_tenant(tenant).tenant_id, instance_id), None)

    def clear(self) -> None:
        self._cache.clear()
