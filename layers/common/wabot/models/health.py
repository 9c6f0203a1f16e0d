"""An instance's WhatsApp account health: what the scheduled check and Meta's account webhooks
found, and the one-word summary the admin API and console show.

Jobs and account events travel through the health queue (`HealthJob`, `AccountEvent`); results
land in one health record per instance (`HealthRecord`, item `HEALTH` beside its runtime state).
"""

from __future__ import annotations

from datetime import datetime
from typing import Annotated, Any, Literal

from pydantic import BaseModel, ConfigDict, Field

from wabot.tenancy import SLUG_PATTERN

TokenStatus = Literal["valid", "invalid", "unknown"]
Summary = Literal["ok", "warning", "failing"]
ACCOUNT_FIELDS = frozenset({"account_update", "phone_number_quality_update", "phone_number_name_update",
                            "message_template_status_update", "account_alerts"})
MAX_TEMPLATE_CHANGES = 10
MAX_ACCOUNT_EVENTS = 10
Short = Annotated[str, Field(max_length=200)]


class _Target(BaseModel):
    model_config = ConfigDict(frozen=True)

    tenant_id: str = Field(pattern=SLUG_PATTERN)
    instance_id: str = Field(pattern=SLUG_PATTERN)


class HealthJob(_Target):
    """One scheduled check of one instance; `slot` is the start of the schedule's period (epoch
    seconds), so a job re-run within its period is recognised and changes nothing."""

    kind: Literal["check"] = "check"
    slot: int = Field(ge=0)


class AccountEvent(_Target):
    """One change of an account webhook field, as Meta sent it (`value`), with the entry's time."""

    kind: Literal["account"] = "account"
    field: str
    value: dict[str, Any]
    time: int = Field(ge=0, description="entry.time, or when the webhook received it")


class PhoneNumberInfo(BaseModel):
    """`GET /{phone_number_id}?fields=...`: only what health needs (Meta adds fields freely)."""

    model_config = ConfigDict(extra="ignore", coerce_numbers_to_str=True)

    display_phone_number: Short | None = None
    verified_name: Short | None = None
    quality_rating: Short | None = None
    messaging_limit_tier: Short | None = None
    name_status: Short | None = None
    code_verification_status: Short | None = None
    status: Short | None = None
    throughput: Short | None = None  # throughput.level


class TemplateChange(BaseModel):
    at: datetime
    template_id: Short | None = None
    name: Short | None = None
    language: Short | None = None
    event: Short
    reason: Short | None = None


class AccountAlert(BaseModel):
    at: datetime
    field: Short
    event: Short
    detail: Short | None = None


class HealthError(BaseModel):
    code: int | None = None
    message: Short
    at: datetime


class HealthRecord(BaseModel):
    """The stored record. Check results are written only by a newer `checked_at`."""

    model_config = ConfigDict(extra="ignore")

    token_status: TokenStatus = "unknown"  # noqa: S105 - a status word, not a secret
    token_expires_at: datetime | None = None
    checked_at: datetime | None = None
    check_slot: int | None = None
    phone: PhoneNumberInfo = Field(default_factory=PhoneNumberInfo)
    last_error: HealthError | None = None
    template_changes: list[TemplateChange] = Field(default_factory=list)
    account_events: list[AccountAlert] = Field(default_factory=list)
    account_restricted: bool = False
    updated_at: datetime | None = None


class HealthStatus(BaseModel):
    status: Summary
    reason: str


def summarize(record: HealthRecord) -> HealthStatus:
    """One word and the reason: failing stops the bot, warning needs attention soon."""
    phone = record.phone
    if record.token_status == "invalid":  # noqa: S105 - a status word, not a secret
        return HealthStatus(status="failing", reason="access token invalid or expired: sends are paused")
    if record.account_restricted:
        return HealthStatus(status="failing", reason="the WhatsApp account is banned or restricted")
    if phone.status and phone.status.upper() in ("DISCONNECTED", "FLAGGED", "RESTRICTED", "BANNED", "DELETED"):
        return HealthStatus(status="failing", reason=f"phone number status {phone.status}")
    if phone.quality_rating and phone.quality_rating.upper() == "RED":
        return HealthStatus(status="warning", reason="quality rating RED: the messaging limit may drop")
    if phone.quality_rating and phone.quality_rating.upper() == "YELLOW":
        return HealthStatus(status="warning", reason="quality rating YELLOW")
    if phone.name_status and phone.name_status.upper() in ("DECLINED", "REJECTED", "EXPIRED"):
        return HealthStatus(status="warning", reason=f"display name {phone.name_status}")
    if record.token_status == "unknown" and record.checked_at is None:  # noqa: S105 - a status word, not a secret
        return HealthStatus(status="warning", reason="not checked yet")
    if record.token_status == "unknown":  # noqa: S105 - a status word, not a secret
        return HealthStatus(status="warning", reason="last check could not reach the Graph API")
    return HealthStatus(status="ok", reason="token valid, number connected, quality fine")
