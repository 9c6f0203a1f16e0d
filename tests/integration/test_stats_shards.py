"""A day's counters spread over shard items (no item near DynamoDB's per-item write limit), read back as one."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

from wabot import aws, keys
from wabot.dynamo import query_partition
from wabot.repositories.stats import STATS_SHARDS, StatsRepository


def test_counters_spread_over_shards_add_up_and_reset_clears_every_shard(stack, acme, globex):
    stats = StatsRepository(aws.client("dynamodb"), stack.refs["AppTable"])
    for n in range(200):
        stats.increment(acme.tenant, acme.instance_id, {"inbound": 1, "fn:in:welcome": 1},
                        latest={"last_inbound_at": f"2026-12-01T10:{n // 60:02d}:{n % 60:02d}+00:00"})
    stats.increment(globex.tenant, globex.instance_id, {"inbound": 7})
    old_day = datetime.now(UTC).date() - timedelta(days=40)
    stats.increment(acme.tenant, acme.instance_id, {"inbound": 5}, day=old_day)
    stats.set_state(acme.tenant, acme.instance_id, last_error={"code": 190, "message": "x", "at": "2026-12-01"})

    pk = keys.stats_pk(acme.tenant, acme.instance_id)
    today = list(query_partition(aws.client("dynamodb"), stack.refs["AppTable"], pk,
                                 f"{keys.DAY_SK_PREFIX}{datetime.now(UTC).date().isoformat()}"))
    assert 8 <= len(today) <= STATS_SHARDS  # 200 writes land on many items, never more than the shards
    assert max(int(item["inbound"]["N"]) for item in today) < 200 / 4
    [day] = stats.days(acme.tenant, acme.instance_id, 7)  # the 40-day-old item and the STATE item left out
    assert day["counters"] == {"inbound": 200}
    assert stats.funnel_days(acme.tenant, acme.instance_id, 7)[0]["nodes"]["welcome"] == {"in": 200}
    assert stats.days(acme.tenant, acme.instance_id, 60)[0]["counters"] == {"inbound": 5}
    assert stats.state(acme.tenant, acme.instance_id)["last_inbound_at"] == "2026-12-01T10:03:19+00:00"  # the newest
    assert stats.days(globex.tenant, globex.instance_id, 1)[0]["counters"] == {"inbound": 7}

    assert stats.reset(acme.tenant, acme.instance_id) == len(today) + 1
    assert stats.days(acme.tenant, acme.instance_id, 60) == []
    assert stats.state(acme.tenant, acme.instance_id)["last_error"]["code"] == 190  # runtime state kept
    assert stats.days(globex.tenant, globex.instance_id, 1)[0]["counters"] == {"inbound": 7}
