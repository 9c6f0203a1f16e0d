"""Lambda handler of the health worker: consumes the standard health queue (check jobs and
account webhook events), each record on its own, so one broken tenant fails only its record."""

from __future__ import annotations

from functools import cache
from typing import Any

from aws_lambda_powertools import Logger
from aws_lambda_powertools.utilities.batch import BatchProcessor, EventType, process_partial_response
from aws_lambda_powertools.utilities.batch.types import PartialItemFailureResponse
from aws_lambda_powertools.utilities.data_classes.sqs_event import SQSRecord
from health_jobs import HEALTH_MESSAGE

from wabot import metrics, snapstart, tracing
from wabot.health import HealthService
from wabot.models.health import HealthJob
from wabot.net import EgressPolicy, GuardedHttp, parse_networks
from wabot.notify import TenantNotifier
from wabot.repositories.activity import ActivityLog
from wabot.repositories.health import HealthRepository
from wabot.repositories.instances import InstanceRepository
from wabot.repositories.secrets import SecretStore
from wabot.settings import HealthSettings
from wabot.tenant_credentials import TenantCredentials
from wabot.whatsapp.graph import GraphClient

logger = Logger(service="health")
processor = BatchProcessor(event_type=EventType.SQS)


@cache
def service() -> HealthService:
    settings = HealthSettings.from_env()
    tenants = TenantCredentials(settings.health_tenant_role_arn)  # each tenant's data with its own credentials
    secrets = SecretStore(settings.ssm_prefix, tenants, settings.secret_cache_seconds)
    return HealthService(
        instances=InstanceRepository(tenants, settings.app_table),
        health=HealthRepository(tenants, settings.app_table),
        secrets=secrets,
        graph=GraphClient.from_settings(settings),
        activity=ActivityLog(tenants, settings.app_table, settings.activity_ttl_days),
        notifier=TenantNotifier(GuardedHttp(EgressPolicy(parse_networks(settings.outbound_allowed_networks))),
                                secrets, logger),
        logger=logger,
    )


def _handle(record: SQSRecord) -> None:
    message = HEALTH_MESSAGE.validate_json(record.body)
    logger.append_keys(tenant_id=message.tenant_id, instance_id=message.instance_id)
    if isinstance(message, HealthJob):
        outcome = service().run_check(message)
        logger.info("health check", extra={"outcome": outcome})
    else:
        service().apply_event(message)
        logger.info("account event applied", extra={"field": message.field})


@metrics.log_metrics(service="health")
@tracing.capture_lambda_handler("health")
@logger.inject_lambda_context(clear_state=True)
def handler(event: dict, context: Any) -> PartialItemFailureResponse:
    return process_partial_response(event=event, record_handler=_handle, processor=processor, context=context)


# SnapStart: build everything before the snapshot, reset connections and caches after a restore.
snapstart.register(service)
