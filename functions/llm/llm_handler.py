"""Lambda handler of the LLM worker: consumes the LLM FIFO queue (see wabot.consumer)."""

from __future__ import annotations

from functools import cache
from typing import Any

from aws_lambda_powertools import Logger
from aws_lambda_powertools.utilities.batch.types import PartialItemFailureResponse
from llm_service import Defaults, LlmService

from wabot import metrics, snapstart, tracing
from wabot.bookkeeping import Bookkeeping
from wabot.consumer import FifoConsumer
from wabot.net import EgressPolicy, GuardedHttp, parse_networks
from wabot.repositories.activity import ActivityLog
from wabot.repositories.conversations import ConversationStore
from wabot.repositories.instances import InstanceRegistry, InstanceRepository
from wabot.repositories.llm_config import LlmConfigRepository
from wabot.repositories.messages import MessageLog
from wabot.repositories.secrets import SecretStore
from wabot.repositories.stats import StatsRepository
from wabot.settings import LlmSettings
from wabot.tenant_credentials import TenantCredentials
from wabot.whatsapp.graph import GraphClient
from wabot.whatsapp.sender import ReplySender

logger = Logger(service="llm")


class Worker:
    def __init__(self) -> None:
        settings = LlmSettings.from_env()
        tenants = TenantCredentials(settings.worker_tenant_role_arn)  # every tenant's data with its own credentials
        stats = StatsRepository(tenants, settings.app_table)
        activity = ActivityLog(tenants, settings.app_table, settings.activity_ttl_days)
        secrets = SecretStore(settings.ssm_prefix, tenants, settings.secret_cache_seconds)
        self.service = LlmService(
            registry=InstanceRegistry(InstanceRepository(tenants, settings.app_table),
                                      settings.instance_cache_seconds),
            conversations=ConversationStore(tenants, settings.app_table),
            llm_config=LlmConfigRepository(tenants, settings.app_table),
            secrets=secrets, bookkeeping=Bookkeeping(stats, activity, logger),
            sender=ReplySender(GraphClient.from_settings(settings), secrets, logger),
            messages=MessageLog(tenants, settings.app_table),
            http=GuardedHttp(EgressPolicy(parse_networks(settings.outbound_allowed_networks))),
            defaults=Defaults(settings.default_vllm_base_url, settings.default_vllm_model,
                              settings.default_tts_base_url),
            logger=logger,
            activity_per_message=settings.activity_per_message,
        )
        self.consumer = FifoConsumer(self.service.handle, idempotency_table=settings.idempotency_table,
                                     dynamodb=tenants, key_prefix="llm-event", logger=logger,
                                     max_receives=settings.max_receive_count, on_give_up=self.service.give_up)


@cache
def worker() -> Worker:
    return Worker()


@metrics.log_metrics(service="llm")
@tracing.capture_lambda_handler("llm")
@logger.inject_lambda_context(clear_state=True)
def handler(event: dict, context: Any) -> PartialItemFailureResponse:
    return worker().consumer(event, context)


# SnapStart: build everything before the snapshot, reset connections and caches after a restore.
snapstart.register(worker)
