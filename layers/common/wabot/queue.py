"""Publishing normalized events to SQS, in batches of 10: messages to a FIFO queue (one group per
conversation), statuses - which need no order - to a standard queue when one is given."""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

from wabot.errors import QueueSendError
from wabot.models.events import InboundEvent
from wabot.models.health import AccountEvent, HealthJob

BATCH_LIMIT = 10
_ATTEMPTS = 3


class EventPublisher:
    def __init__(self, sqs: Any, queue_url: str, status_queue_url: str | None = None) -> None:
        self._sqs = sqs
        self._queue_url = queue_url
        self._status_queue_url = status_queue_url

    def publish(self, events: Sequence[InboundEvent]) -> None:
        """Queue every event or raise QueueSendError. Safe to repeat: the FIFO dedup ids are stable,
        and a status applied twice changes nothing (see wabot.statuses)."""
        statuses = [e for e in events if e.kind == "status"] if self._status_queue_url else []
        ordered = [e for e in events if not (statuses and e.kind == "status")]
        for url, batch_of, fifo in ((self._queue_url, ordered, True), (self._status_queue_url, statuses, False)):
            for start in range(0, len(batch_of), BATCH_LIMIT):
                self._send_batch(url, batch_of[start : start + BATCH_LIMIT], fifo)

    def _send_batch(self, queue_url: str | None, events: Sequence[InboundEvent], fifo: bool) -> None:
        pending = {
            str(index): {"Id": str(index), "MessageBody": event.model_dump_json(),
                         **({"MessageGroupId": event.conversation_id, "MessageDeduplicationId": event.dedup_id}
                            if fifo else {})}
            for index, event in enumerate(events)
        }
        failure_codes: list[str] = []
        for _ in range(_ATTEMPTS):
            try:
                response = self._sqs.send_message_batch(QueueUrl=queue_url, Entries=list(pending.values()))
            except Exception as exc:  # botocore already retried transport errors and throttling
                raise QueueSendError(f"SendMessageBatch failed: {type(exc).__name__}") from exc
            for ok in response.get("Successful", []):
                pending.pop(ok["Id"], None)
            failed = response.get("Failed", [])
            failure_codes = [entry.get("Code", "unknown") for entry in failed]
            if not pending:
                return
            # A sender fault will fail again: give up at once rather than retry it.
            if any(entry.get("SenderFault") for entry in failed):
                break
        raise QueueSendError(f"{len(pending)} event(s) not queued: {sorted(set(failure_codes))}")


class HealthQueue:
    """The standard health queue: check jobs (dispatcher) and account events (webhook). No
    order and no deduplication needed: results are written newest-wins and idempotently."""

    def __init__(self, sqs: Any, queue_url: str) -> None:
        self._sqs = sqs
        self._url = queue_url

    def send(self, messages: Sequence[HealthJob | AccountEvent]) -> None:
        """Queue every message or raise QueueSendError (failed entries retried first)."""
        for start in range(0, len(messages), BATCH_LIMIT):
            pending = {str(i): {"Id": str(i), "MessageBody": m.model_dump_json()}
                       for i, m in enumerate(messages[start:start + BATCH_LIMIT])}
            for _ in range(_ATTEMPTS):
                try:
                    response = self._sqs.send_message_batch(QueueUrl=self._url, Entries=list(pending.values()))
                except Exception as exc:  # botocore already retried transport errors and throttling
                    raise QueueSendError(f"SendMessageBatch failed: {type(exc).__name__}") from exc
                for ok in response.get("Successful", []):
                    pending.pop(ok["Id"], None)
                if not pending:
                    break
            if pending:
                raise QueueSendError(f"{len(pending)} health message(s) not queued")
