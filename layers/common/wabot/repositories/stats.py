"""Per-instance counters per day, and the instance's runtime state (last traffic, last error).

A day's counters are spread over `STATS_SHARDS` items (`DAY#{date}#{shard}`), each execution
environment writing to them in turn from a random start: one DynamoDB item takes about 1,000
writes a second, and a number at Meta's top tier (1,000 messages a second) would otherwise
throttle on its day item. Reads add the shards
up; a reset deletes them all. Items without a shard (`DAY#{date}`, written by imports) count too.
"""

from __future__ import annotations

import secrets
from datetime import UTC, date, datetime, timedelta
from typing import Any

from wabot import keys
from wabot.dynamo import delete_partition, from_item, key, query_partition, to_value
from wabot.tenancy import TenantContext
from wabot.tenant_credentials import client_for

COUNTERS = (
    "inbound", "outbound", "llm_calls", "voice_replies", "errors", "delivered", "read", "played", "failed",
    "prompt_tokens", "completion_tokens",
)
STATS_TTL_DAYS = 400
# 1,000 messages a second on one number -> about 62 writes a second per item.
STATS_SHARDS = 16
# Flow analytics in the same day item: `fn:in:{node}` (reached), `fn:out:{node}` (moved on from).
FLOW_PREFIX = "fn:"


def _today() -> date:
    return datetime.now(UTC).date()


class StatsRepository:
    def __init__(self, dynamodb: Any, table: str) -> None:
        self._db = client_for(dynamodb, "dynamodb")
        self._table = table
        self._next_shard = secrets.randbelow(STATS_SHARDS)

    def increment(self, tenant: TenantContext, instance_id: str, counters: dict[str, int],
                  day: date | None = None, latest: dict[str, str] | None = None) -> None:
        """Add to today's counters (`inbound_text`-style names too) in one write; `latest` sets
        facts like `last_inbound_at` on the same item, saving a second write."""
        day = day or _today()
        names = {f"#c{i}": name for i, name in enumerate(counters)}
        values: dict[str, Any] = {f":v{i}": {"N": str(int(v))} for i, v in enumerate(counters.values())}
        parts = [f"#c{i} :v{i}" for i in range(len(counters))]
        sets = ["#exp = :exp"]
        for i, (name, value) in enumerate((latest or {}).items()):
            names[f"#l{i}"], values[f":l{i}"] = name, {"S": value}
            sets.append(f"#l{i} = :l{i}")
        if not parts and not latest:
            return
        expires = int((datetime.combine(day, datetime.min.time(), UTC) + timedelta(days=STATS_TTL_DAYS)).timestamp())
        names["#exp"] = "expires_at"
        values[":exp"] = {"N": str(expires)}
        shard = self._next_shard  # counters add up in any order: round robin keeps the shards even
        self._next_shard = (shard + 1) % STATS_SHARDS
        self._db(tenant).update_item(
            TableName=self._table,
            Key=key(keys.stats_pk(tenant, instance_id), f"{keys.DAY_SK_PREFIX}{day.isoformat()}#{shard:02d}"),
            UpdateExpression=("ADD " + ", ".join(parts) + " " if parts else "") + "SET " + ", ".join(sets),
            ExpressionAttributeNames=names,
            ExpressionAttributeValues=values,
        )

    def set_day(self, tenant: TenantContext, instance_id: str, day: date, counters: dict[str, int],
                write: bool = True) -> bool:
        """Make one day's counters exactly these (imports); returns whether anything changes."""
        item_key = key(keys.stats_pk(tenant, instance_id), f"{keys.DAY_SK_PREFIX}{day.isoformat()}")
        current = from_item(self._db(tenant).get_item(TableName=self._table, Key=item_key).get("Item", {}))
        if all(current.get(name) == value for name, value in counters.items()):
            return False
        if write:
            names = {f"#c{i}": name for i, name in enumerate(counters)}
            values = {f":v{i}": {"N": str(int(v))} for i, v in enumerate(counters.values())}
            expression = "SET " + ", ".join(f"#c{i} = :v{i}" for i in range(len(counters)))
            self._db(tenant).update_item(TableName=self._table, Key=item_key, UpdateExpression=expression,
                                       ExpressionAttributeNames=names, ExpressionAttributeValues=values)
        return True

    def _recent_days(self, tenant: TenantContext, instance_id: str, days: int) -> list[tuple[str, dict[str, Any]]]:
        """(day, the day's shards added up), oldest first: counters summed, `last_*` facts the newest."""
        since = f"{keys.DAY_SK_PREFIX}{(_today() - timedelta(days=days - 1)).isoformat()}"
        response_items = query_partition(self._db(tenant), self._table, keys.stats_pk(tenant, instance_id),
                                         keys.DAY_SK_PREFIX, since=since)
        merged: dict[str, dict[str, Any]] = {}
        for data in map(from_item, response_items):
            day = data["sk"].removeprefix(keys.DAY_SK_PREFIX)[:10]
            total = merged.setdefault(day, {})
            for name, value in data.items():
                if name in ("pk", "sk", "expires_at"):
                    continue
                if name.startswith("last_"):
                    total[name] = max(total.get(name, value), value)
                else:
                    total[name] = total.get(name, 0) + value
        return sorted(merged.items())

    def days(self, tenant: TenantContext, instance_id: str, days: int = 7) -> list[dict[str, Any]]:
        """Counters of the last `days` days (oldest first); days without traffic are left out."""
        return [{"date": day, "counters": {k: v for k, v in data.items()
                                           if not k.startswith("last_") and not k.startswith(FLOW_PREFIX)}}
                for day, data in self._recent_days(tenant, instance_id, days)]

    def funnel_days(self, tenant: TenantContext, instance_id: str, days: int = 7) -> list[dict[str, Any]]:
        """Per day (oldest first) and node: {"in": reached, "out": moved on}; days without flow traffic left out."""
        result = []
        for day, data in self._recent_days(tenant, instance_id, days):
            nodes: dict[str, dict[str, int]] = {}
            for name, value in data.items():
                if name.startswith(FLOW_PREFIX):
                    direction, _, node = name.removeprefix(FLOW_PREFIX).partition(":")
                    nodes.setdefault(node, {})[direction] = int(value)
            if nodes:
                result.append({"date": day, "nodes": nodes})
        return result

    def reset(self, tenant: TenantContext, instance_id: str) -> int:
        """Clear the counters (never the runtime state, nothing of other instances)."""
        return delete_partition(self._db(tenant), self._table, keys.stats_pk(tenant, instance_id), keys.DAY_SK_PREFIX)

    def set_state(self, tenant: TenantContext, instance_id: str, **fields: Any) -> None:
        """Runtime facts: last_inbound_at, last_outbound_at, last_error ({code, message, at})."""
        names = {f"#f{i}": name for i, name in enumerate(fields)}
        values = {f":v{i}": _attribute(value) for i, value in enumerate(fields.values())}
        self._db(tenant).update_item(
            TableName=self._table,
            Key=key(keys.stats_pk(tenant, instance_id), keys.STATE_SK),
            UpdateExpression="SET " + ", ".join(f"#f{i} = :v{i}" for i in range(len(fields))),
            ExpressionAttributeNames=names,
            ExpressionAttributeValues=values,
        )

    def state(self, tenant: TenantContext, instance_id: str) -> dict[str, Any]:
        """STATE (last error) merged with the newest `last_*` facts of the recent day items."""
        pk = keys.stats_pk(tenant, instance_id)
        response = self._db(tenant).get_item(TableName=self._table, Key=key(pk, keys.STATE_SK))
        data = {k: v for k, v in from_item(response.get("Item", {})).items() if k not in ("pk", "sk")}
        recent = self._db(tenant).query(
            TableName=self._table, KeyConditionExpression="pk = :pk AND begins_with(sk, :day)",
            ExpressionAttributeValues={":pk": {"S": pk}, ":day": {"S": keys.DAY_SK_PREFIX}},
            ScanIndexForward=False, Limit=2 * STATS_SHARDS + 1).get("Items", [])  # today's and yesterday's shards
        for item in map(from_item, recent):
            for name, value in item.items():
                if name.startswith("last_") and isinstance(value, str):
                    data[name] = max(data.get(name, value), value)
        return data


class BatchedStats(StatsRepository):
    """Counters added up in memory over one batch of queue messages and written at its end: one
    write per instance and day instead of one per message. Best effort like every counter write
    after the real work: if the write fails, the batch's counts are lost (logged), never a reply."""

    def __init__(self, dynamodb: Any, table: str, logger: Any) -> None:
        super().__init__(dynamodb, table)
        self._logger = logger
        self._pending: dict[tuple[str, str, date | None], tuple[dict[str, int], dict[str, str]]] = {}

    def increment(self, tenant: TenantContext, instance_id: str, counters: dict[str, int],
                  day: date | None = None, latest: dict[str, str] | None = None) -> None:
        added, facts = self._pending.setdefault((tenant.tenant_id, instance_id, day), ({}, {}))
        for name, value in counters.items():
            added[name] = added.get(name, 0) + int(value)
        for name, at in (latest or {}).items():
            facts[name] = max(facts.get(name, at), at)  # ISO times: the latest wins

    def flush(self) -> None:
        pending, self._pending = self._pending, {}
        for (tenant_id, instance_id, day), (added, facts) in pending.items():
            try:
                super().increment(TenantContext(tenant_id), instance_id, added, day=day, latest=facts)
            except Exception:
                self._logger.exception("counters of a batch not written", extra={"instance_id": instance_id})


def _attribute(value: Any) -> dict[str, Any]:
    return {"NULL": True} if value is None else to_value(value)
