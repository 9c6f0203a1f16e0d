"""The per-instance activity log (newest first, expiring after a retention period)."""

from __future__ import annotations

import secrets
from collections.abc import Callable
from datetime import UTC, datetime, timedelta
from typing import Any

from wabot import keys
from wabot.dynamo import from_item, to_item
from wabot.models.activity import ActivityEntry, ActivityKind
from wabot.tenancy import TenantContext
from wabot.tenant_credentials import client_for


def _utcnow() -> datetime:
    return datetime.now(UTC)


class ActivityLog:
    def __init__(
        self,
        dynamodb: Any,
        table: str,
        ttl_days: int = 14,
        clock: Callable[[], datetime] = _utcnow,
    ) -> None:
        self._db = client_for(dynamodb, "dynamodb")
        self._table = table
        self._ttl = timedelta(days=ttl_days)
        self._clock = clock

    def record(
        self,
        tenant: TenantContext,
        instance_id: str,
        kind: ActivityKind,
        summary: str,
        detail: dict[str, Any] | None = None,
        actor: str | None = None,
    ) -> ActivityEntry:
        entry = ActivityEntry(at=self._clock(), kind=kind, summary=summary, detail=detail or {}, actor=actor)
        # ISO timestamps sort chronologically; the random suffix keeps same-millisecond entries apart.
        sort_key = f"{entry.at.strftime('%Y-%m-%dT%H:%M:%S.%f')}#{secrets.token_hex(4)}"
        item = {
            "pk": keys.activity_pk(tenant, instance_id),
            "sk": sort_key,
            "expires_at": int((entry.at + self._ttl).timestamp()),
            **entry.model_dump(mode="json"),
        }
        self._db(tenant).put_item(TableName=self._table, Item=to_item(item))
        return entry

    def recent(self, tenant: TenantContext, instance_id: str, limit: int = 100) -> list[ActivityEntry]:
        now_epoch = int(self._clock().timestamp())
        response = self._db(tenant).query(
            TableName=self._table,
            KeyConditionExpression="pk = :pk",
            # DynamoDB deletes expired items lazily (up to ~48 h): hide them ourselves.
            FilterExpression="expires_at > :now",
            ExpressionAttributeValues={
                ":pk": {"S": keys.activity_pk(tenant, instance_id)},
                ":now": {"N": str(now_epoch)},
            },
            ScanIndexForward=False,
            Limit=limit,
        )
        return [ActivityEntry.model_validate(from_item(item)) for item in response.get("Items", [])]
