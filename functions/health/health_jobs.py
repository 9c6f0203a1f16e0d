"""Health work through one standard SQS queue: the dispatcher's per-instance check jobs and the
webhook's account events. Knows nothing of Lambda events."""

from __future__ import annotations

from datetime import datetime
from typing import Annotated

from pydantic import Field, TypeAdapter

from wabot.models.health import AccountEvent, HealthJob
from wabot.queue import HealthQueue
from wabot.repositories.health import RunningInstances

HealthMessage = Annotated[HealthJob | AccountEvent, Field(discriminator="kind")]
HEALTH_MESSAGE = TypeAdapter(HealthMessage)


def slot_of(scheduled: datetime, period_seconds: int) -> int:
    """The start of the schedule period `scheduled` falls in (epoch seconds): every job of one
    run shares it, and a re-run of the same period has the same one."""
    return int(scheduled.timestamp()) // period_seconds * period_seconds


def dispatch(running: RunningInstances, queue: HealthQueue, slot: int) -> int:
    """One check job per running instance, page by page; returns how many were queued."""
    queued = 0
    for page in running.pages():
        jobs = [HealthJob(tenant_id=tenant_id, instance_id=instance_id, slot=slot) for tenant_id, instance_id in page]
        queue.send(jobs)
        queued += len(jobs)
    return queued
