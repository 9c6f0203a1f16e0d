"""Lambda handler of the health dispatcher, started by the EventBridge schedule: one check job
per running instance into the health queue. Its own role reads only the running-instances index."""

from __future__ import annotations

from datetime import UTC, datetime
from functools import cache
from typing import Any

from aws_lambda_powertools import Logger
from health_jobs import dispatch, slot_of

from wabot import aws, metrics, snapstart, tracing
from wabot.queue import HealthQueue
from wabot.repositories.health import RunningInstances
from wabot.settings import DispatcherSettings

logger = Logger(service="health-dispatcher")


@cache
def _parts() -> tuple[DispatcherSettings, RunningInstances, HealthQueue]:
    settings = DispatcherSettings.from_env()
    return (settings, RunningInstances(aws.client("dynamodb"), settings.app_table),
            HealthQueue(aws.client("sqs"), settings.health_queue_url))


def _scheduled_time(event: dict[str, Any]) -> datetime:
    """The schedule's own time (Scheduler's `<aws.scheduler.scheduled-time>`), else now."""
    try:
        return datetime.fromisoformat(str(event["scheduled_time"]).replace("Z", "+00:00"))
    except (KeyError, TypeError, ValueError):
        return datetime.now(UTC)


@metrics.log_metrics(service="health-dispatcher")
@tracing.capture_lambda_handler("health-dispatcher")
@logger.inject_lambda_context(clear_state=True)
def handler(event: dict[str, Any], context: Any) -> dict[str, int]:
    settings, running, queue = _parts()
    slot = slot_of(_scheduled_time(event if isinstance(event, dict) else {}), settings.slot_seconds)
    queued = dispatch(running, queue, slot)
    logger.info("health checks queued", extra={"queued": queued, "slot": slot})
    return {"queued": queued, "slot": slot}


# SnapStart: build everything before the snapshot, reset connections and caches after a restore.
snapstart.register(_parts)
