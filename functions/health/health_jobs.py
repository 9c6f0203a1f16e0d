"""Health work through one standard SQS queue: the dispatcher's per-instance check jobs and the
webhook's account events. Knows nothing of Lambda events."""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from datetime import datetime
from typing import Annotated, Any

from pydantic import Field, TypeAdapter

from wabot.errors import QueueSendError
from wabot.models.health import AccountEvent, HealthJob
from wabot.repositories.health import RunningInstances

BATCH_LIMIT = 10
_ATTEMPTS = 3

HealthMessage = Annotated[HealthJob | AccountEvent, Field(discriminator="kind")]
HEALTH_MESSAGE = TypeAdapter(HealthMessage)


class HealthQueue:
    def __init__(self, sqs: Any, queue_url: str) -> None:
        self._sqs = sqs
        self._url = queue_url

    def send(self, messages: Sequence[HealthJob | AccountEvent]) -> None:
        """Queue every message or raise QueueSendError (failed entries retried first)."""
        for start in range(0, len(messages), BATCH_LIMIT):
            pending = {str(i): {"Id": str(i), "MessageBody": m.model_dump_json()}
                       for i, m in enumerate(messages[start:start + BATCH_LIMIT])}
            for _ in range(_ATTEMPTS):
                response = self._sqs.send_message_batch(QueueUrl=self._url, Entries=list(pending.values()))
                for ok in response.get("Successful", []):
                    pending.pop(ok["Id"], None)
                if not pending:
                    break
            if pending:
                raise QueueSendError(f"{len(pending)} health message(s) not queued")


def slot_of(scheduled: datetime, period_minutes: int) -> int:
    """The start of the schedule period `scheduled` falls in (epoch seconds): every job of one
    run shares it, and a re-run of the same period has the same one."""
    period = period_minutes * 60
    return int(scheduled.timestamp()) // period * period


def dispatch(running: RunningInstances, queue: HealthQueue, slot: int) -> int:
    """One check job per running instance, page by page; returns how many were queued."""
    queued = 0
    for page in running.pages():
        jobs = [HealthJob(tenant_id=tenant_id, instance_id=instance_id, slot=slot) for tenant_id, instance_id in page]
        queue.send(jobs)
        queued += len(jobs)
    return queued


def parse(bodies: Iterable[str]) -> list[HealthJob | AccountEvent]:
    return [HEALTH_MESSAGE.validate_json(body) for body in bodies]
