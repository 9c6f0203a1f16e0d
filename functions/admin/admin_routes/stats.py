"""Routes of stats and logs: each parses, calls its service, returns its model."""

from __future__ import annotations

from admin_models import (
    InstanceStats,
    LogList,
    StatsReset,
    TenantStats,
)
from admin_wiring import service
from aws_lambda_powertools.event_handler.router import APIGatewayHttpRouter

from admin_routes.common import INSTANCE, Days, Limit, caller, documented

router = APIGatewayHttpRouter()


@router.get(INSTANCE + "/logs", summary="Activity log, newest first", responses=documented(LogList, 403, 404))
def logs(instance_id: str, limit: Limit = 100) -> LogList:
    return service().stats.logs(caller(router), instance_id, limit)


@router.get(INSTANCE + "/stats", summary="Counters per day", responses=documented(InstanceStats, 403, 404))
def instance_stats(instance_id: str, days: Days = 7) -> InstanceStats:
    return service().stats.instance_stats(caller(router), instance_id, days)


@router.delete(INSTANCE + "/stats", summary="Reset the instance's counters",
               responses=documented(StatsReset, 403, 404))
def reset_stats(instance_id: str) -> StatsReset:
    return service().stats.reset_stats(caller(router), instance_id)


@router.get("/admin/whatsapp/stats", summary="The tenant's totals over the instances the caller sees",
            responses=documented(TenantStats))
def tenant_stats(days: Days = 7) -> TenantStats:
    return service().stats.tenant_stats(caller(router), days)
