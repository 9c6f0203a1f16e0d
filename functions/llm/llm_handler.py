"""Lambda handler of the LLM worker: consumes the LLM FIFO queue (one conversation in order)."""

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
from llm_service import Defaults, LlmService

from wabot import aws
from wabot.models.events import InboundEvent
from wabot.repositories.activity import ActivityLog
from wabot.repositories.conversations import ConversationStore
from wabot.repositories.instances import InstanceRegistry, InstanceRepository
from wabot.repositories.llm_config import LlmConfigRepository
from wabot.repositories.secrets import SecretStore
from wabot.repositories.stats import StatsRepository
from wabot.settings import LlmSettings
from wabot.whatsapp.graph import GraphClient
from wabot.whatsapp.sender import ReplySender

logger = Logger(service="llm")
processor = SqsFifoPartialProcessor(skip_group_on_error=True)
SAFETY_MARGIN_SECONDS = 3.0
IDEMPOTENCY_SECONDS = 8 * 24 * 3600


class Worker:
    def __init__(self) -> None:
        settings = LlmSettings.from_env()
        dynamodb = aws.client("dynamodb")
        stats = StatsRepository(dynamodb, settings.app_table)
        activity = ActivityLog(dynamodb, settings.app_table, settings.activity_ttl_days)
        secrets = SecretStore(settings.ssm_prefix, aws.client("ssm"), settings.secret_cache_seconds)
        instances = InstanceRepository(dynamodb, settings.app_table)
        self.service = LlmService(
            registry=InstanceRegistry(instances, settings.instance_cache_seconds),
            conversations=ConversationStore(dynamodb, settings.app_table),
            llm_config=LlmConfigRepository(dynamodb, settings.app_table),
            secrets=secrets, stats=stats, activity=activity,
            sender=ReplySender(GraphClient(settings.graph_api_base_url, settings.graph_api_version,
                                           httpx.Client(timeout=httpx.Timeout(8.0, connect=3.0))),
                               secrets, stats, activity, logger),
            http=httpx.Client(timeout=httpx.Timeout(30.0, connect=3.0)),
            defaults=Defaults(settings.default_vllm_base_url, settings.default_vllm_model,
                              settings.default_tts_base_url),
            logger=logger,
        )
        self.idempotency = IdempotencyConfig(expires_after_seconds=IDEMPOTENCY_SECONDS)
        persistence = DynamoDBPersistenceLayer(table_name=settings.idempotency_table, boto3_client=dynamodb)
        self.process = idempotent_function(self._process, data_keyword_argument="dedup_id",
                                           persistence_store=persistence, config=self.idempotency,
                                           key_prefix="llm-event")
        self.deadline = time.monotonic() + 60

    def _process(self, dedup_id: str, event: InboundEvent) -> dict[str, str]:
        self.service.handle(event, self.deadline)
        return {"handled": dedup_id}


@cache
def worker() -> Worker:
    return Worker()


def record_handler(record: SQSRecord) -> None:
    event = InboundEvent.model_validate_json(record.body)
    logger.append_keys(tenant_id=event.tenant_id, instance_id=event.instance_id, request_id=event.request_id)
    worker().process(dedup_id=event.dedup_id, event=event)


@logger.inject_lambda_context(clear_state=True)
def handler(event: dict, context: Any) -> dict:
    current = worker()
    current.idempotency.register_lambda_context(context)
    current.deadline = time.monotonic() + context.get_remaining_time_in_millis() / 1000 - SAFETY_MARGIN_SECONDS
    return process_partial_response(event=event, record_handler=record_handler, processor=processor, context=context)
