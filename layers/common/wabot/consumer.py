"""The shape every SQS FIFO consumer shares: a batch with partial failures, idempotency per
WhatsApp event, and a deadline taken from the Lambda's remaining time.

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
from aws_lambda_powertools.utilities.data_classes.sqs_event import SQSRecord
from aws_lambda_powertools.utilities.idempotency import (
    DynamoDBPersistenceLayer,
    IdempotencyConfig,
    idempotent_function,
)

from wabot.models.events import InboundEvent

# Meta retries a webhook for up to 7 days: remember handled events a day longer.
IDEMPOTENCY_SECONDS = 8 * 24 * 3600


class FifoConsumer:
    def __init__(self, handle: Callable[[InboundEvent, float], None], *, idempotency_table: str, dynamodb: Any,
                 key_prefix: str, logger: Any, max_receives: int,
                 on_give_up: Callable[[InboundEvent, Exception], None] | None = None,
                 safety_margin: float = 3.0) -> None:
        self._handle = handle
        self._logger = logger
        # The queue's maxReceiveCount: the attempt after which SQS moves the message to the DLQ.
        self._max_receives = max_receives
        self._on_give_up = on_give_up
        # Time left over after the last call, for recording progress before Lambda stops us.
        self.safety_margin = safety_margin
        self.deadline = time.monotonic() + 30
        self._idempotency = IdempotencyConfig(expires_after_seconds=IDEMPOTENCY_SECONDS)
        self._process = idempotent_function(
            self._process_event, data_keyword_argument="dedup_id", config=self._idempotency, key_prefix=key_prefix,
            persistence_store=DynamoDBPersistenceLayer(table_name=idempotency_table, boto3_client=dynamodb))
        self._processor = SqsFifoPartialProcessor(skip_group_on_error=True)

    def _process_event(self, dedup_id: str, event: InboundEvent) -> dict[str, str]:
        self._handle(event, self.deadline)
        return {"handled": dedup_id}

    def _record(self, record: SQSRecord) -> None:
        event = InboundEvent.model_validate_json(record.body)
        self._logger.append_keys(tenant_id=event.tenant_id, instance_id=event.instance_id,
                                 request_id=event.request_id, event_kind=event.kind, event_type=event.type)
        try:
            self._process(dedup_id=event.dedup_id, event=event)
        except Exception as error:
            attempts = int(record.attributes.approximate_receive_count or 1)
            self._logger.warning("event failed", extra={"attempt": attempts, "error_type": type(error).__name__})
            if attempts >= self._max_receives and self._on_give_up is not None:
                try:  # nothing goes to the dead-letter queue silently
                    self._on_give_up(event, error)
                except Exception:
                    self._logger.exception("could not record the dead-lettered event")
            raise

    def __call__(self, event: dict, context: Any) -> dict:
        self._idempotency.register_lambda_context(context)
        self.deadline = time.monotonic() + context.get_remaining_time_in_millis() / 1000 - self.safety_margin
        return process_partial_response(event=event, record_handler=self._record, processor=self._processor,
                                        context=context)
