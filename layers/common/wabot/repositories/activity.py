"""The per-instance activity log (newest first, expiring after a retention period)."""

from __future__ import annotations

import secrets
from collections.abc import Callable
from datetime import UTC, datetime, timedelta
from typing import Any

from wabot import keys
from wabot.dynamo import from_item, key, to_item, to_value
from wabot.models.activity import ActivityEntry, ActivityKind
from wabot.tenancy import TenantContext
from wabot.tenant_credentials import client_for

REJECTIONS_SK_SUFFIX = "#rejections"
REJECTION_PREFIX = "rejected:"  # one counter attribute per reason
REJECTION_SAMPLES = 5  # the first rejections of a minute keep their detail


def _utcnow() -> datetime:
    return datetime.now(UTC)


def _sort_key(at: datetime, suffix: str) -> str:
    # ISO timestamps sort chronologically; the suffix keeps same-microsecond entries apart.
    return f"{at.strftime('%Y-%m-%dT%H:%M:%S.%f')}#{suffix}"


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
        item = {
            "pk": keys.activity_pk(tenant, instance_id),
            "sk": _sort_key(entry.at, secrets.token_hex(4)),
            "expires_at": int((entry.at + self._ttl).timestamp()),
            **entry.model_dump(mode="json"),
        }
        self._db(tenant).put_item(TableName=self._table, Item=to_item(item))
        return entry

    def record_once(self, tenant: TenantContext, instance_id: str, kind: ActivityKind, summary: str,
                    detail: dict[str, Any], *, at: datetime, entry_id: str) -> bool:
        """An entry whose key is derived from what it records (`at`, `entry_id`), written only if
        absent: a retry records it once. Returns whether it was written now."""
        entry = ActivityEntry(at=at, kind=kind, summary=summary, detail=detail)
        item = {"pk": keys.activity_pk(tenant, instance_id), "sk": _sort_key(at, entry_id),
                "expires_at": int((max(at, self._clock()) + self._ttl).timestamp()), **entry.model_dump(mode="json")}
        db = self._db(tenant)
        try:
            db.put_item(TableName=self._table, Item=to_item(item), ConditionExpression="attribute_not_exists(pk)")
        except db.exceptions.ConditionalCheckFailedException:
            return False
        return True

    def count_rejection(self, tenant: TenantContext, instance_id: str, reason: str, detail: dict[str, str]) -> int:
        """An anonymous request refused (bad signature, failed handshake): counted in one item per
        instance per minute with `UpdateItem ADD`, so a flood grows counters, not the log. The
        first few of a minute keep their detail. Returns the minute's count so far."""
        now = self._clock()
        minute = now.replace(second=0, microsecond=0)
        item_key = key(keys.activity_pk(tenant, instance_id), _sort_key(minute, REJECTIONS_SK_SUFFIX[1:]))
        counted = self._db(tenant).update_item(
            TableName=self._table, Key=item_key, ReturnValues="UPDATED_NEW",
            UpdateExpression="SET #at = if_not_exists(#at, :at), #kind = :kind, #expires = if_not_exists(#expires, "
                             ":expires) ADD #total :one, #reason :one",
            ExpressionAttributeNames={"#at": "at", "#kind": "kind", "#expires": "expires_at",
                                      "#total": "rejected_total", "#reason": REJECTION_PREFIX + reason[:64]},
            ExpressionAttributeValues={":at": to_value(minute.isoformat()), ":kind": to_value("webhook_rejected"),
                                       ":expires": to_value(int((minute + self._ttl).timestamp())),
                                       ":one": to_value(1)})
        total = int(counted["Attributes"]["rejected_total"]["N"])
        if total <= REJECTION_SAMPLES:
            self._db(tenant).update_item(
                TableName=self._table, Key=item_key, UpdateExpression="SET #sample = :sample",
                ExpressionAttributeNames={"#sample": f"sample_{total}"},
                ExpressionAttributeValues={":sample": to_value({"at": now.isoformat(), "reason": reason[:64],
                                                                **detail})})
        return total

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
        return [_entry(from_item(item)) for item in response.get("Items", [])]


def _entry(data: dict[str, Any]) -> ActivityEntry:
    if not data["sk"].endswith(REJECTIONS_SK_SUFFIX):
        return ActivityEntry.model_validate(data)
    total = int(data.get("rejected_total", 0))
    reasons = {name.removeprefix(REJECTION_PREFIX): int(count) for name, count in data.items()
               if name.startswith(REJECTION_PREFIX)}
    first = [data[f"sample_{n}"] for n in range(1, REJECTION_SAMPLES + 1) if f"sample_{n}" in data]
    return ActivityEntry(at=data["at"], kind="webhook_rejected",
                         summary=f"{total} anonymous webhook request(s) rejected in this minute",
                         detail={"count": total, "reasons": reasons, "first": first})
