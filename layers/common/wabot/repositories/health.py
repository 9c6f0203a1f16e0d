"""Health records (one per instance) and the sparse index of running instances.

Two writers touch a record: the scheduled check (token, phone-number fields, last error) and
Meta's account webhooks (quality, tier, name, template statuses, alerts). A check is written
only when its `checked_at` is newer than the stored one, so a slow, older check never replaces
a newer result; webhook updates are read-modify-write, conditioned on `updated_at` unchanged.
"""

from __future__ import annotations

from collections.abc import Callable, Iterator
from datetime import datetime
from typing import Any

from wabot import keys
from wabot.dynamo import from_item, to_item, to_value
from wabot.models.health import HealthRecord
from wabot.tenancy import TenantContext
from wabot.tenant_credentials import client_for

_CHECK_FIELDS = ("token_status", "token_expires_at", "checked_at", "check_slot", "phone", "last_error", "updated_at")


class StaleResult(Exception):
    """A newer result is already stored: this one was dropped."""


def _attribute(value: Any) -> dict[str, Any]:
    return {"NULL": True} if value is None else to_value(value)


class HealthRepository:
    def __init__(self, dynamodb: Any, table: str) -> None:
        self._db = client_for(dynamodb, "dynamodb")
        self._table = table

    def get(self, tenant: TenantContext, instance_id: str) -> HealthRecord:
        item = self._db(tenant).get_item(TableName=self._table, Key=to_item(keys.health_key(tenant, instance_id)),
                                         ConsistentRead=True).get("Item")
        return HealthRecord.model_validate(from_item(item)) if item else HealthRecord()

    def record_check(self, tenant: TenantContext, instance_id: str, record: HealthRecord) -> None:
        """Store a check's result unless a newer one is there (StaleResult)."""
        if record.checked_at is None:
            raise ValueError("a check result needs checked_at")
        data = record.model_dump(mode="json", include=set(_CHECK_FIELDS))
        names = {f"#f{i}": name for i, name in enumerate(data)}
        values = {f":v{i}": _attribute(value) for i, value in enumerate(data.values())}
        values[":checked"] = to_value(data["checked_at"])
        db = self._db(tenant)
        try:
            db.update_item(
                TableName=self._table, Key=to_item(keys.health_key(tenant, instance_id)),
                UpdateExpression="SET " + ", ".join(f"#f{i} = :v{i}" for i in range(len(data))),
                ConditionExpression="attribute_not_exists(checked_at) OR checked_at < :checked",
                ExpressionAttributeNames=names, ExpressionAttributeValues=values)
        except db.exceptions.ConditionalCheckFailedException:
            raise StaleResult(instance_id) from None

    def update(self, tenant: TenantContext, instance_id: str,
               change: Callable[[HealthRecord], HealthRecord], now: datetime,
               attempts: int = 5) -> tuple[HealthRecord, HealthRecord]:
        """Apply `change` to the stored record (webhook events), retrying when another writer
        got there first. Returns (before, after)."""
        db = self._db(tenant)
        for _ in range(attempts):
            before = self.get(tenant, instance_id)
            after = change(before.model_copy(deep=True)).model_copy(update={"updated_at": now})
            condition = "attribute_not_exists(updated_at)" if before.updated_at is None else "updated_at = :seen"
            item = {**keys.health_key(tenant, instance_id), **after.model_dump(mode="json")}
            values = {":seen": to_value(before.model_dump(mode="json")["updated_at"])} if before.updated_at else None
            try:
                db.put_item(TableName=self._table, Item=to_item(item), ConditionExpression=condition,
                            **({"ExpressionAttributeValues": values} if values else {}))
                return before, after
            except db.exceptions.ConditionalCheckFailedException:
                continue
        raise StaleResult(instance_id)


class RunningInstances:
    """The dispatcher's view: (tenant, instance) of every running instance, page by page, from
    the sparse index (a Query on its one platform partition; never a Scan of tenant data)."""

    def __init__(self, dynamodb: Any, table: str, page_size: int = 500) -> None:
        self._db = dynamodb  # the dispatcher's own role: this index, nothing else
        self._table = table
        self._page_size = page_size

    def pages(self) -> Iterator[list[tuple[str, str]]]:
        arguments: dict[str, Any] = {
            "TableName": self._table, "IndexName": keys.RUNNING_INDEX,
            "KeyConditionExpression": "running_pk = :pk",
            "ExpressionAttributeValues": {":pk": {"S": keys.RUNNING_PK}},
            "ProjectionExpression": "running_sk", "Limit": self._page_size,
        }
        while True:
            page = self._db.query(**arguments)
            found = []
            for item in page.get("Items", []):
                tenant_id, _, instance_id = item["running_sk"]["S"].partition("#")
                found.append((tenant_id, instance_id))
            if found:
                yield found
            if "LastEvaluatedKey" not in page:
                return
            arguments["ExclusiveStartKey"] = page["LastEvaluatedKey"]
