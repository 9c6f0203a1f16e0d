"""The shape every SQS FIFO consumer shares: a batch with partial failures, idempotency per
WhatsApp event (Powertools' record, or the handler's own check), and a deadline taken from the
Lambda's remaining time.

`SqsFifoPartialProcessor(skip_group_on_error=True)` reports a failed record and the later
records of *its* conversation as failures (so its order holds) while other conversations in
the batch go on. The idempotency key is the event's dedup id (tenant, instance, WhatsApp id
[, status]), never the SQS message id: a Meta retry arrives as a new SQS message.
"""

from __future__ import annotations

import time
from collections.abc import Callable
from typing import Any

from aws_lambda_powertools.utilities.batch import SqsFifoPartialProcessor, process_partial_response
from aws_lambda_powertools.utilities.batch.exceptions import BatchProcessingError
from aws_lambda_powertools.utilities.batch.types import PartialItemFailureResponse
from aws_lambda_powertools.utilities.data_classes.sqs_event import SQSRecord
from aws_lambda_powertools.utilities.idempotency import (
    DynamoDBPersistenceLayer,
    IdempotencyConfig,
    idempotent_function,
)

from wabot import keys
from wabot.models.events import InboundEvent
from wabot.tenancy import TenantContext
from wabot.tenant_credentials import client_for

# Meta retries a webhook for up to 7 days: remember handled events a day longer.
IDEMPOTENCY_SECONDS = 8 * 24 * 3600
GIVE_UP_ATTEMPTS = 3


class ConversationBlocked(Exception):
    """Not tried: an earlier message of the same conversation failed (FIFO order holds)."""


class FifoConsumer:
    def __init__(self, handle: Callable[[InboundEvent, float], None], *, idempotency_table: str | None,
                 dynamodb: Any, key_prefix: str, logger: Any, max_receives: int,
                 on_give_up: Callable[[InboundEvent, Exception], None] | None = None,
                 after_batch: Callable[[], None] | None = None, safety_margin: float = 3.0) -> None:
        """`idempotency_table` None: the handler is its own duplicate check (the funnel's profile);
        `after_batch` runs once per batch, whatever happened (the funnel's counters, one write)."""
        self._handle = handle
        self._logger = logger
        # The queue's maxReceiveCount: the attempt after which SQS moves the message to the DLQ.
        self._max_receives = max_receives
        self._on_give_up = on_give_up
        self._after_batch = after_batch
        # Time left over after the last call, for recording progress before Lambda stops us.
        self.safety_margin = safety_margin
        self.deadline = time.monotonic() + 30
        self._idempotency = IdempotencyConfig(expires_after_seconds=IDEMPOTENCY_SECONDS)
        self._idempotency_table = idempotency_table
        self._dynamodb = client_for(dynamodb, "dynamodb")
        self._key_prefix = key_prefix
        # Per tenant: (the client it was built with, the idempotent function writing with it).
        self._processors: dict[str, tuple[Any, Callable[..., Any]]] = {}
        self._processor = SqsFifoPartialProcessor(skip_group_on_error=True)
        self._given_up: set[str] = set()

    def _process(self, *, dedup_id: str, event: InboundEvent) -> Any:
        """Idempotent per event, its record written with the event's tenant's credentials.

        Record ids read `TENANT#{tenant}#{prefix}#{hash}`, so the tenant role's LeadingKeys
        condition covers the idempotency table too.
        """
        if self._idempotency_table is None:
            return self._process_event(dedup_id, event)
        tenant = TenantContext(event.tenant_id)
        client = self._dynamodb(tenant)
        cached = self._processors.get(tenant.tenant_id)
        if cached is None or cached[0] is not client:
            process = idempotent_function(
                self._process_event, data_keyword_argument="dedup_id", config=self._idempotency,
                key_prefix=keys.idempotency_key_prefix(tenant, self._key_prefix),
                persistence_store=DynamoDBPersistenceLayer(table_name=self._idempotency_table, boto3_client=client))
            cached = self._processors[tenant.tenant_id] = (client, process)
        return cached[1](dedup_id=dedup_id, event=event)

    def _process_event(self, dedup_id: str, event: InboundEvent) -> dict[str, str]:
        self._handle(event, self.deadline)
        return {"handled": dedup_id}

    def _record(self, record: SQSRecord) -> None:
        try:
            event = InboundEvent.model_validate_json(record.body)
        except ValueError:
            self._logger.error("unreadable queue message",
                               extra={"message_id": record.message_id})
            raise
        self._logger.append_keys(tenant_id=event.tenant_id, instance_id=event.instance_id,
                                 request_id=event.request_id, event_kind=event.kind, event_type=event.type)
        try:
            self._process(dedup_id=event.dedup_id, event=event)
        except Exception as error:
            self._logger.warning("event failed", extra={"attempt": record.attributes.approximate_receive_count,
                                                        "error_type": type(error).__name__})
            if self._last_attempt(record):
                self._give_up(record.message_id, event, error)
            raise

    def _last_attempt(self, record: SQSRecord) -> bool:
        """After this receive, a failure moves the message to the dead-letter queue."""
        return int(record.attributes.approximate_receive_count or 1) >= self._max_receives

    def _give_up(self, message_id: str, event: InboundEvent, error: Exception) -> None:
        """Nothing goes to the dead-letter queue silently: record it, trying a few times."""
        self._given_up.add(message_id)
        if self._on_give_up is None:
            return
        for attempt in range(1, GIVE_UP_ATTEMPTS + 1):
            try:
                self._on_give_up(event, error)
                return
            except Exception:
                if attempt == GIVE_UP_ATTEMPTS:
                    self._logger.exception("could not record the dead-lettered event")
                else:
                    time.sleep(0.05 * attempt)

    def _give_up_blocked(self, records: list[dict], failed: set[str] | None) -> None:
        """Records failed unprocessed behind an earlier failure of their conversation reach the
        dead-letter queue too on their last receive: they are recorded like the others."""
        for raw in records:
            record = SQSRecord(raw)
            if record.message_id in self._given_up or (failed is not None and record.message_id not in failed) \
                    or not self._last_attempt(record):
                continue
            try:
                event = InboundEvent.model_validate_json(record.body)
            except ValueError:  # it names no tenant whose log could hold it
                self._logger.error("unreadable queue message goes to the dead-letter queue",
                                   extra={"message_id": record.message_id})
                continue
            self._give_up(record.message_id, event, ConversationBlocked("an earlier message of it failed"))

    def __call__(self, event: dict, context: Any) -> PartialItemFailureResponse:
        self._idempotency.register_lambda_context(context)
        self.deadline = time.monotonic() + context.get_remaining_time_in_millis() / 1000 - self.safety_margin
        self._given_up = set()
        records = event.get("Records") or []
        try:
            response = process_partial_response(event=event, record_handler=self._record,
                                                processor=self._processor, context=context)
        except BatchProcessingError:
            self._give_up_blocked(records, failed=None)
            raise
        finally:
            if self._after_batch is not None:
                self._after_batch()
        self._give_up_blocked(records, {str(item["itemIdentifier"]) for item in response.get("batchItemFailures", [])})
        return response
