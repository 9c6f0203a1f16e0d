"""Lambda handler of the status worker: statuses of sent messages from a standard SQS queue, in
large batches (see wabot.statuses). A status that cannot be read or stored fails alone and is
retried by the queue; its counters are written once per instance and batch."""

from __future__ import annotations

from functools import cache
from typing import Any

from aws_lambda_powertools import Logger
from aws_lambda_powertools.utilities.batch import BatchProcessor, EventType, process_partial_response
from aws_lambda_powertools.utilities.batch.types import PartialItemFailureResponse
from aws_lambda_powertools.utilities.data_classes.sqs_event import SQSRecord

from wabot import metrics, snapstart, tracing
from wabot.models.events import InboundEvent
from wabot.repositories.activity import ActivityLog
from wabot.repositories.conversations import ConversationStore
from wabot.repositories.stats import StatsRepository
from wabot.settings import StatusSettings
from wabot.statuses import StatusApplier
from wabot.tenant_credentials import TenantCredentials

logger = Logger(service="status")
processor = BatchProcessor(event_type=EventType.SQS)


@cache
def applier() -> StatusApplier:
    settings = StatusSettings.from_env()
    tenants = TenantCredentials(settings.worker_tenant_role_arn)  # every tenant's data with its own credentials
    return StatusApplier(ConversationStore(tenants, settings.app_table), StatsRepository(tenants, settings.app_table),
                         ActivityLog(tenants, settings.app_table, settings.activity_ttl_days), logger)


@metrics.log_metrics(service="status")
@tracing.capture_lambda_handler("status")
@logger.inject_lambda_context(clear_state=True)
def handler(event: dict, context: Any) -> PartialItemFailureResponse:
    applied: list[tuple[InboundEvent, dict[str, int]]] = []

    def apply(record: SQSRecord) -> None:
        status = InboundEvent.model_validate_json(record.body)
        applied.append((status, applier().apply(status)))

    response = process_partial_response(event=event, record_handler=apply, processor=processor, context=context)
    applier().count(applied)
    logger.info("statuses applied", extra={"received": len(event.get("Records", [])), "applied": len(applied),
                                           "failed": len(response.get("batchItemFailures", []))})
    return response


# SnapStart: build everything before the snapshot, reset connections and caches after a restore.
snapstart.register(applier)
