"""The admin function's settings and services, built once per execution environment."""

from __future__ import annotations

from dataclasses import dataclass
from functools import cache

from admin_service import AdminStores
from admin_services.funnels import FunnelService
from admin_services.inbox import InboxService
from admin_services.instances import InstanceService
from admin_services.keys import ApiKeyService
from admin_services.lifecycle import LifecycleService
from admin_services.settings import TenantSettingsService
from admin_services.stats import StatsService

from wabot import aws
from wabot.queue import EventPublisher
from wabot.repositories.activity import ActivityLog
from wabot.repositories.apikeys import ApiKeyRepository
from wabot.repositories.conversations import ConversationStore, InstanceDataPurger
from wabot.repositories.funnels import FunnelRepository
from wabot.repositories.health import HealthRepository
from wabot.repositories.instances import InstanceRegistry, InstanceRepository
from wabot.repositories.llm_config import LlmConfigRepository
from wabot.repositories.messages import MessageLog
from wabot.repositories.secrets import SecretStore
from wabot.repositories.stats import StatsRepository
from wabot.settings import AdminSettings
from wabot.tenant_credentials import TenantCredentials
from wabot.whatsapp.graph import GraphClient


@dataclass
class AdminServices:
    """One service per resource, over the same stores."""

    stores: AdminStores
    instances: InstanceService
    lifecycle: LifecycleService
    stats: StatsService
    funnels: FunnelService
    inbox: InboxService
    settings: TenantSettingsService
    keys: ApiKeyService

    @classmethod
    def over(cls, stores: AdminStores) -> AdminServices:
        return cls(stores=stores, instances=InstanceService(stores), lifecycle=LifecycleService(stores),
                   stats=StatsService(stores), funnels=FunnelService(stores), inbox=InboxService(stores),
                   settings=TenantSettingsService(stores), keys=ApiKeyService(stores))


@cache
def settings() -> AdminSettings:
    return AdminSettings.from_env()


@cache
def service() -> AdminServices:
    settings_ = settings()
    # The caller's tenant's data, secrets and API keys with that tenant's credentials; the
    # function's own role writes only the platform's phone-number claims.
    tenants = TenantCredentials(settings_.admin_tenant_role_arn)
    instances = InstanceRepository(tenants, settings_.app_table, claims=aws.client("dynamodb"))
    return AdminServices.over(AdminStores(
        instances=instances,
        registry=InstanceRegistry(instances, settings_.instance_cache_seconds),
        secrets=SecretStore(settings_.ssm_prefix, tenants, settings_.secret_cache_seconds),
        activity=ActivityLog(tenants, settings_.app_table, settings_.activity_ttl_days),
        stats=StatsRepository(tenants, settings_.app_table),
        purger=InstanceDataPurger(tenants, settings_.app_table),
        api_keys=ApiKeyRepository(tenants, settings_.api_key_table),
        funnels=FunnelRepository(tenants, settings_.app_table),
        conversations=ConversationStore(tenants, settings_.app_table),
        inbound=EventPublisher(aws.client("sqs"), settings_.inbound_queue_url),
        llm_config=LlmConfigRepository(tenants, settings_.app_table),
        messages=MessageLog(tenants, settings_.app_table),
        graph=GraphClient.from_settings(settings_),
        health=HealthRepository(tenants, settings_.app_table),
    ))
