"""Stats and logs: the activity log, counters per instance and per tenant.

Logic only: no HTTP here (admin_routes maps it).
"""

from __future__ import annotations

from dataclasses import dataclass

from admin_models import (
    HealthSummary,
    InstanceStats,
    LogList,
    StatsReset,
    TenantStats,
    sum_counters,
)
from admin_service import ResourceService

from wabot.models.health import summarize
from wabot.tenancy import TenantContext


@dataclass
class StatsService(ResourceService):
    """The activity log and the counters, per instance and per tenant."""

    def logs(self, caller: TenantContext, instance_id: str, limit: int) -> LogList:
        self._load(caller, instance_id)
        return LogList(items=self.stores.activity.recent(caller, instance_id, limit=limit))

    def instance_stats(self, caller: TenantContext, instance_id: str, days: int) -> InstanceStats:
        self._load(caller, instance_id)
        rows = self.stores.stats.days(caller, instance_id, days=days)
        return InstanceStats.model_validate({"id": instance_id, "days": rows,
                                             "totals": sum_counters([row["counters"] for row in rows])})

    def reset_stats(self, caller: TenantContext, instance_id: str) -> StatsReset:
        self._load(caller, instance_id, write=True)
        cleared = self.stores.stats.reset(caller, instance_id)
        self._audit(caller, instance_id, "stats reset", [])
        return StatsReset(id=instance_id, cleared_days=cleared)

    def tenant_stats(self, caller: TenantContext, days: int) -> TenantStats:
        owner = caller.principal_id if caller.role == "user" else None
        by_instance: dict[str, dict[str, int]] = {}
        not_ok: list[HealthSummary] = []
        cursor = None
        while True:
            configs, cursor = self.stores.instances.list(caller, limit=100, cursor=cursor, owner_id=owner)
            for config in configs:
                rows = self.stores.stats.days(caller, config.instance_id, days=days)
                by_instance[config.instance_id] = sum_counters([row["counters"] for row in rows])
                health = summarize(self.stores.health.get(caller, config.instance_id))
                if health.status != "ok":
                    not_ok.append(HealthSummary(id=config.instance_id, status=health.status, reason=health.reason))
            if cursor is None:
                break
        return TenantStats(instances=len(by_instance), totals=sum_counters(list(by_instance.values())),
                           by_instance=by_instance, not_ok=not_ok)
