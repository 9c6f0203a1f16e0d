"""Lifecycle and status: start, stop, restart; runtime state and WhatsApp account health.

Logic only: no HTTP here (admin_routes maps it).
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import UTC, datetime

from admin_models import (
    InstanceHealth,
    InstanceOut,
    InstanceStatus,
    LastError,
    TokenHealth,
)
from admin_service import ResourceService

from wabot.models.health import HealthRecord, summarize
from wabot.models.instance import InstanceConfig
from wabot.tenancy import TenantContext


def _health_view(config: InstanceConfig, record: HealthRecord) -> InstanceHealth:
    summary = summarize(record)
    phone = record.phone
    return InstanceHealth(
        id=config.instance_id, status=summary.status, reason=summary.reason,
        token=TokenHealth(status=record.token_status, checked_at=record.checked_at,
                          expires_at=record.token_expires_at),
        sends_paused=config.sends_paused, display_phone_number=phone.display_phone_number,
        verified_name=phone.verified_name, quality_rating=phone.quality_rating,
        messaging_limit_tier=phone.messaging_limit_tier, name_status=phone.name_status,
        code_verification_status=phone.code_verification_status, phone_status=phone.status,
        throughput=phone.throughput, account_restricted=record.account_restricted,
        template_changes=record.template_changes, account_events=record.account_events,
        last_error=record.last_error)


@dataclass
class LifecycleService(ResourceService):
    """Start, stop, restart; runtime state and WhatsApp account health."""

    def lifecycle(self, caller: TenantContext, instance_id: str, action: str, base_url: str) -> InstanceOut:
        old = self._load(caller, instance_id, write=True)
        changes = {
            "start": {"running": True, "auto_start": True},
            "stop": {"running": False, "auto_start": False},
            "restart": {},  # the version bump alone makes every warm function reload
        }[action]
        new = self._validated({**old.model_dump(), **changes, "version": old.version + 1,
                               "updated_at": datetime.now(UTC)})
        self.stores.instances.replace(caller, old, new)
        self.stores.registry.invalidate(caller, instance_id)
        self._audit(caller, instance_id, f"instance {action}", [])
        return self._views(caller, [new], base_url)[0]

    def status(self, caller: TenantContext, instance_id: str) -> InstanceStatus:
        config = self._load(caller, instance_id)
        state = self.stores.stats.state(caller, instance_id)
        today = self.stores.stats.days(caller, instance_id, days=1)
        masked = self.stores.secrets.masked(caller, [instance_id])[instance_id]
        return InstanceStatus(
            id=instance_id,
            running=config.running,
            enabled=config.enabled,
            auto_start=config.auto_start,
            config_version=config.version,
            last_inbound_at=state.get("last_inbound_at"),
            last_outbound_at=state.get("last_outbound_at"),
            last_error=LastError(**state["last_error"]) if state.get("last_error") else None,
            today=today[0]["counters"] if today else {},
            secrets_configured={name: value is not None for name, value in masked.items()},
        )

    def health_of(self, caller: TenantContext, instance_id: str) -> InstanceHealth:
        config = self._load(caller, instance_id)
        return _health_view(config, self.stores.health.get(caller, instance_id))
