"""Lambda handler of the funnel worker: consumes the inbound FIFO queue (see wabot.consumer)."""

from __future__ import annotations

from functools import cache
from typing import Any

from aws_lambda_powertools import Logger
from aws_lambda_powertools.utilities.batch.types import PartialItemFailureResponse
from funnel_service import FunnelService

from wabot import aws, metrics, snapstart, tracing
from wabot.bookkeeping import Bookkeeping
from wabot.consumer import FifoConsumer
from wabot.net import EgressPolicy, GuardedHttp, parse_networks
from wabot.notify import TenantNotifier
from wabot.queue import EventPublisher
from wabot.repositories.activity import ActivityLog
from wabot.repositories.conversations import ConversationStore
from wabot.repositories.funnels import FunnelRepository
from wabot.repositories.instances import InstanceRegistry, InstanceRepository
from wabot.repositories.llm_config import LlmConfigRepository
from wabot.repositories.messages import MessageLog
from wabot.repositories.secrets import SecretStore
from wabot.repositories.stats import BatchedStats
from wabot.settings import FunnelSettings
from wabot.statuses import StatusApplier
from wabot.stt import SttBackends, VoiceTranscriber
from wabot.tenant_credentials import TenantCredentials
from wabot.whatsapp.graph import GraphClient
from wabot.whatsapp.sender import ReplySender

logger = Logger(service="funnel")


class Worker:
    def __init__(self) -> None:
        settings = FunnelSettings.from_env()
        tenants = TenantCredentials(settings.worker_tenant_role_arn)  # every tenant's data with its own credentials
        # One counter write per instance and batch (flushed by the consumer after each batch).
        stats = BatchedStats(tenants, settings.app_table, logger)
        activity = ActivityLog(tenants, settings.app_table, settings.activity_ttl_days)
        graph = GraphClient.from_settings(settings)
        secrets = SecretStore(settings.ssm_prefix, tenants, settings.secret_cache_seconds)
        conversations = ConversationStore(tenants, settings.app_table)
        egress = GuardedHttp(EgressPolicy(parse_networks(settings.outbound_allowed_networks)))  # tenant-set URLs
        self.service = FunnelService(
            registry=InstanceRegistry(InstanceRepository(tenants, settings.app_table),
                                      settings.instance_cache_seconds),
            funnels=FunnelRepository(tenants, settings.app_table),
            conversations=conversations,
            bookkeeping=Bookkeeping(stats, activity, logger),
            sender=ReplySender(graph=graph, secrets=secrets, logger=logger),
            voice=VoiceTranscriber(
                graph=graph, secrets=secrets,
                backends=SttBackends(LlmConfigRepository(tenants, settings.app_table), secrets,
                                     settings.default_stt_base_url, settings.default_stt_model),
                http=egress),
            notifier=TenantNotifier(egress, secrets, logger),
            llm_queue=EventPublisher(aws.client("sqs"), settings.llm_queue_url),
            messages=MessageLog(tenants, settings.app_table),
            statuses=StatusApplier(conversations, stats, activity, logger),
            activity_per_message=settings.activity_per_message,
            logger=logger,
        )
        # No idempotency record: the user's profile is the duplicate check (see funnel_service).
        self.consumer = FifoConsumer(self.service.handle, idempotency_table=None,
                                     dynamodb=tenants, key_prefix="funnel-event", logger=logger,
                                     max_receives=settings.max_receive_count, on_give_up=self.service.give_up,
                                     after_batch=stats.flush)


@cache
def worker() -> Worker:
    return Worker()


@metrics.log_metrics(service="funnel")
@tracing.capture_lambda_handler("funnel")
@logger.inject_lambda_context(clear_state=True)
def handler(event: dict, context: Any) -> PartialItemFailureResponse:
    return worker().consumer(event, context)


# SnapStart: build everything before the snapshot, reset connections and caches after a restore.
snapstart.register(worker)
