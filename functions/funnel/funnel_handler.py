"""Lambda handler of the funnel worker: consumes the inbound FIFO queue.

A batch can hold several conversations. `SqsFifoPartialProcessor(skip_group_on_error=True)`
reports a failed record and the later records of *its* conversation as failures (so its order
holds), while the other conversations in the batch go on.
"""

from __future__ import annotations

import time
from functools import cache
from typing import Any

import httpx
from aws_lambda_powertools import Logger
from aws_lambda_powertools.utilities.batch import SqsFifoPartialProcessor, process_partial_response
from aws_lambda_powertools.utilities.data_classes.sqs_event import SQSRecord
from aws_lambda_powertools.utilities.idempotency import (
    DynamoDBPersistenceLayer,
    IdempotencyConfig,
    idempotent_function,
)
from funnel_service import FunnelService

from wabot import aws
from wabot.models.events import InboundEvent
from wabot.queue import EventPublisher
from wabot.repositories.activity import ActivityLog
from wabot.repositories.conversations import ConversationStore
from wabot.repositories.funnels import FunnelRepository
from wabot.repositories.instances import InstanceRegistry, InstanceRepository
from wabot.repositories.secrets import SecretStore
from wabot.repositories.stats import StatsRepository
from wabot.settings import FunnelSettings
from wabot.whatsapp.graph import GraphClient
from wabot.whatsapp.sender import ReplySender

logger = Logger(service="funnel")
processor = SqsFifoPartialProcessor(skip_group_on_error=True)
# Leave this much of the function's time for recording progress after the last Graph API call.
SAFETY_MARGIN_SECONDS = 3.0
# Meta retries a webhook for up to 7 days: remember handled events a day longer.
IDEMPOTENCY_SECONDS = 8 * 24 * 3600


class Worker:
    def __init__(self) -> None:
        settings = FunnelSettings.from_env()
        dynamodb = aws.client("dynamodb")
        instances = InstanceRepository(dynamodb, settings.app_table)
        stats = StatsRepository(dynamodb, settings.app_table)
        activity = ActivityLog(dynamodb, settings.app_table, settings.activity_ttl_days)
        self.service = FunnelService(
            registry=InstanceRegistry(instances, settings.instance_cache_seconds),
            funnels=FunnelRepository(dynamodb, settings.app_table),
            conversations=ConversationStore(dynamodb, settings.app_table),
            stats=stats,
            activity=activity,
            sender=ReplySender(
                graph=GraphClient(settings.graph_api_base_url, settings.graph_api_version,
                                  httpx.Client(timeout=httpx.Timeout(8.0, connect=3.0))),
                secrets=SecretStore(settings.ssm_prefix, aws.client("ssm"), settings.secret_cache_seconds),
                stats=stats, activity=activity, logger=logger),
            llm_queue=EventPublisher(aws.client("sqs"), settings.llm_queue_url),
            logger=logger,
        )
        self.idempotency = IdempotencyConfig(expires_after_seconds=IDEMPOTENCY_SECONDS)
        persistence = DynamoDBPersistenceLayer(table_name=settings.idempotency_table, boto3_client=dynamodb)
        # The key is the event's dedup id: (tenant, instance, WhatsApp id[, status]), never the SQS id.
        self.process = idempotent_function(self._process, data_keyword_argument="dedup_id",
                                           persistence_store=persistence, config=self.idempotency,
                                           key_prefix="funnel-event")
        self.deadline = time.monotonic() + 30

    def _process(self, dedup_id: str, event: InboundEvent) -> dict[str, str]:
        self.service.handle(event, self.deadline)
        return {"handled": dedup_id}


@cache
def worker() -> Worker:
    return Worker()


def record_handler(record: SQSRecord) -> None:
    event = InboundEvent.model_validate_json(record.body)
    logger.append_keys(tenant_id=event.tenant_id, instance_id=event.instance_id, request_id=event.request_id,
                       event_kind=event.kind, event_type=event.type)
    worker().process(dedup_id=event.dedup_id, event=event)


@logger.inject_lambda_context(clear_state=True)
def handler(event: dict, context: Any) -> dict:
    current = worker()
    current.idempotency.register_lambda_context(context)
    current.deadline = time.monotonic() + context.get_remaining_time_in_millis() / 1000 - SAFETY_MARGIN_SECONDS
    return process_partial_response(event=event, record_handler=record_handler, processor=processor, context=context)
