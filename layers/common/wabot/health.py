"""Account health: the scheduled per-instance check and Meta's account webhook events.

Both end in the instance's health record (`HealthRepository`); a change of the one-word summary
leaves an activity entry and, when the tenant set a notification URL, a signed notification
(`wabot.notify`). An invalid token pauses the instance's sends (`InstanceConfig.sends_paused`,
checked by the sender before any send); a valid one resumes them.
"""

from __future__ import annotations

import time
from collections.abc import Callable
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any, Literal

from wabot.errors import InstanceNotFound
from wabot.models.health import (
    MAX_ACCOUNT_EVENTS,
    MAX_TEMPLATE_CHANGES,
    AccountAlert,
    AccountEvent,
    HealthError,
    HealthJob,
    HealthRecord,
    PhoneNumberInfo,
    TemplateChange,
    TokenStatus,
    summarize,
)
from wabot.models.instance import InstanceConfig
from wabot.notify import TenantNotifier
from wabot.repositories.activity import ActivityLog
from wabot.repositories.health import HealthRepository, StaleResult
from wabot.repositories.instances import InstanceRepository
from wabot.repositories.secrets import SecretStore
from wabot.tenancy import TenantContext
from wabot.whatsapp.graph import GraphClient, GraphError

CheckOutcome = Literal["checked", "skipped", "stale", "gone"]
RESTRICTING_EVENTS = frozenset({"DISABLED_UPDATE", "ACCOUNT_RESTRICTION"})


def _short(value: Any) -> str | None:
    return None if value is None or isinstance(value, dict | list) else str(value)[:200]


def phone_info(body: dict[str, Any]) -> PhoneNumberInfo:
    throughput = body.get("throughput")
    level = throughput.get("level") if isinstance(throughput, dict) else throughput
    return PhoneNumberInfo.model_validate({**body, "throughput": _short(level)})


@dataclass
class CheckResult:
    token_status: TokenStatus
    token_expires_at: datetime | None = None
    phone: PhoneNumberInfo | None = None
    error: GraphError | None = None


def check_credentials(graph: GraphClient, phone_number_id: str, token: str | None,
                      app_token: str | None = None) -> CheckResult:
    """Can `token` read `phone_number_id`? `/debug_token` when an app token is configured,
    otherwise inferred from the phone-number call (190 / 10 / 200: no). Transient failures
    answer `unknown`, never `invalid`."""
    if not token:
        return CheckResult("invalid", error=GraphError(None, "no access token configured"))
    if not _header_safe(token):  # could never be sent in an Authorization header, so never valid
        return CheckResult("invalid", error=GraphError(190, "the access token has characters no token has"))
    expires_at = None
    if app_token and _header_safe(app_token):
        try:
            debug = graph.debug_token(token, app_token)
            if debug.get("is_valid") is False:
                return CheckResult("invalid", error=GraphError(190, "access token invalid or expired"))
            if isinstance(debug.get("expires_at"), int) and debug["expires_at"] > 0:
                expires_at = datetime.fromtimestamp(debug["expires_at"], UTC)
        except GraphError:
            pass  # a broken app token says nothing about the access token: the call below decides
    try:
        body = graph.phone_number(phone_number_id, token)
    except GraphError as error:
        return CheckResult("invalid" if error.no_access else "unknown", expires_at, error=error)
    return CheckResult("valid", expires_at, phone=phone_info(body))


def _header_safe(token: str) -> bool:
    return token.isascii() and token.isprintable()


def _event_time(seconds: int) -> datetime:
    return datetime.fromtimestamp(seconds, UTC)


def apply_account_event(record: HealthRecord, event: AccountEvent) -> HealthRecord:
    """What one account webhook change means for the record (pure; repeats change nothing)."""
    value, at = event.value, _event_time(event.time)
    name = _short(value.get("event") or value.get("decision") or value.get("alert_type")) or "UNKNOWN"
    phone = record.phone.model_copy()
    if event.field == "message_template_status_update":
        return _with_template_change(record, value, name, at).model_copy(update={"phone": phone})
    if event.field == "phone_number_quality_update":
        _apply_quality_update(phone, value, name)
    elif event.field == "phone_number_name_update":
        phone.name_status = _short(value.get("decision")) or phone.name_status
    elif event.field == "account_update":
        record = _with_account_update(record, value, name)
    detail = _short(value.get("alert_description") or value.get("reason") or value.get("rejection_reason")
                    or value.get("current_limit"))
    alert = AccountAlert(at=at, field=event.field, event=name, detail=detail)
    events = record.account_events
    if alert not in events:
        events = sorted([alert, *events], key=lambda a: a.at, reverse=True)[:MAX_ACCOUNT_EVENTS]
    return record.model_copy(update={"phone": phone, "account_events": events})


def _apply_quality_update(phone: PhoneNumberInfo, value: dict[str, Any], name: str) -> None:
    if value.get("current_limit"):
        phone.messaging_limit_tier = _short(value["current_limit"])
    if name == "FLAGGED":
        phone.quality_rating = "RED"
    elif name == "UNFLAGGED":
        phone.quality_rating = "GREEN"


def _with_template_change(record: HealthRecord, value: dict[str, Any], name: str, at: datetime) -> HealthRecord:
    change = TemplateChange(at=at, template_id=_short(value.get("message_template_id")),
                            name=_short(value.get("message_template_name")),
                            language=_short(value.get("message_template_language")),
                            event=name, reason=_short(value.get("reason")))
    if change in record.template_changes:
        return record
    changes = sorted([change, *record.template_changes], key=lambda c: c.at, reverse=True)
    return record.model_copy(update={"template_changes": changes[:MAX_TEMPLATE_CHANGES]})


def _with_account_update(record: HealthRecord, value: dict[str, Any], name: str) -> HealthRecord:
    """A ban lifted or a restriction: whether the account may send."""
    ban = value.get("ban_info")
    if not isinstance(ban, dict):
        ban = {}
    if ban.get("waba_ban_state") == "REINSTATE":
        return record.model_copy(update={"account_restricted": False})
    if name in RESTRICTING_EVENTS:
        return record.model_copy(update={"account_restricted": True})
    return record


def store_check(health: HealthRepository, instances: InstanceRepository, tenant: TenantContext, instance_id: str,
                result: CheckResult, now: datetime, slot: int | None = None) -> HealthRecord:
    """Write a check's result (newest wins: StaleResult otherwise) and pause or resume the
    instance's sends by the token's verdict (an `unknown` leaves them as they are)."""
    stored = health.get(tenant, instance_id)
    record = stored.model_copy(update={
        "token_status": result.token_status, "token_expires_at": result.token_expires_at,
        "checked_at": now, "check_slot": slot if slot is not None else stored.check_slot,
        "phone": result.phone or stored.phone, "updated_at": now,
        "last_error": HealthError(code=result.error.code, message=result.error.message[:200], at=now)
        if result.error else stored.last_error})
    health.record_check(tenant, instance_id, record)
    if result.token_status != "unknown":  # noqa: S105 - a status word
        instances.set_sends_paused(tenant, instance_id, result.token_status == "invalid")  # noqa: S105
    return record


@dataclass
class HealthService:
    instances: InstanceRepository
    health: HealthRepository
    secrets: SecretStore
    graph: GraphClient
    activity: ActivityLog
    notifier: TenantNotifier
    logger: Any
    clock: Callable[[], float] = time.time

    def _now(self) -> datetime:
        return datetime.fromtimestamp(self.clock(), UTC)

    def run_check(self, job: HealthJob) -> CheckOutcome:
        tenant = TenantContext(job.tenant_id)
        try:
            config = self.instances.get(tenant, job.instance_id)
        except InstanceNotFound:
            return "gone"
        before = self.health.get(tenant, job.instance_id)
        if not config.running or (before.check_slot is not None and before.check_slot >= job.slot):
            return "skipped"  # stopped since dispatched, or this period's check already ran
        token = self.secrets.get(tenant, config, "access_token", force_fetch=True)
        app_token = self.secrets.get(tenant, config, "app_token")
        result = check_credentials(self.graph, config.phone_number_id, token, app_token)
        try:
            after = store_check(self.health, self.instances, tenant, config.instance_id, result, self._now(),
                                slot=job.slot)
        except StaleResult:
            return "stale"
        self.after_change(tenant, config, before, after)
        return "checked"

    def apply_event(self, event: AccountEvent) -> None:
        tenant = TenantContext(event.tenant_id)
        try:
            config = self.instances.get(tenant, event.instance_id)
        except InstanceNotFound:
            return
        before, after = self.health.update(tenant, event.instance_id,
                                           lambda record: apply_account_event(record, event), self._now())
        self.after_change(tenant, config, before, after)

    def after_change(self, tenant: TenantContext, config: InstanceConfig, before: HealthRecord,
                     after: HealthRecord) -> None:
        """A new summary: an activity entry and the tenant's notification (best effort)."""
        old, new = summarize(before), summarize(after)
        if (old.status, old.reason) == (new.status, new.reason):
            return
        self.activity.record(tenant, config.instance_id, "health_changed", f"health {new.status}: {new.reason}",
                             {"from": old.status, "to": new.status})
        outcome = self.notifier.send(tenant, config, "instance.health_changed", {
            "status": new.status, "reason": new.reason, "previous_status": old.status,
            "token_status": after.token_status, "quality_rating": after.phone.quality_rating})
        self.logger.info("health changed", extra={"instance_id": config.instance_id, "status": new.status,
                                                  "notification": outcome})
