"""Instance configs in DynamoDB, and the warm-container registry that caches them."""

from __future__ import annotations

import time
from collections.abc import Callable
from typing import Any

from wabot import keys
from wabot.dynamo import from_item, to_item
from wabot.errors import InstanceNotFound
from wabot.models.instance import InstanceConfig
from wabot.tenancy import TenantContext, require_tenant


class InstanceRepository:
    def __init__(self, dynamodb: Any, table: str) -> None:
        self._dynamodb = dynamodb
        self._table = table

    def get(self, tenant: TenantContext, instance_id: str) -> InstanceConfig:
        key = keys.instance_key(tenant, instance_id)
        response = self._dynamodb.get_item(
            TableName=self._table,
            Key={name: {"S": value} for name, value in key.items()},
            ConsistentRead=True,
        )
        item = response.get("Item")
        if not item:
            raise InstanceNotFound(instance_id)
        data = from_item(item)
        # The item's key is the authority on ownership, not attributes inside it.
        data["tenant_id"] = require_tenant(tenant).tenant_id
        data["instance_id"] = instance_id
        return InstanceConfig.model_validate(data)

    def put(self, tenant: TenantContext, config: InstanceConfig) -> None:
        """Write the config under the tenant's own partition (the config must be the tenant's)."""
        if config.tenant_id != require_tenant(tenant).tenant_id:
            raise PermissionError("instance config of another tenant")
        item = {**keys.instance_key(tenant, config.instance_id), **config.model_dump(mode="json")}
        self._dynamodb.put_item(TableName=self._table, Item=to_item(item))


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
