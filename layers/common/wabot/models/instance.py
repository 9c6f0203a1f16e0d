"""An instance: one WhatsApp Business number of a tenant, with its bot settings.

Secrets (access token, app secret, verify token) are never part of this model: they live in
SSM Parameter Store and are read through `wabot.repositories.secrets`.
"""

from __future__ import annotations

from datetime import datetime
from typing import Literal

from pydantic import BaseModel, ConfigDict, Field, field_validator

from wabot.identity import normalize_user_ref
from wabot.tenancy import SLUG_PATTERN


class LlmParams(BaseModel):
    model_config = ConfigDict(extra="forbid")

    temperature: float | None = Field(default=None, ge=0, le=2)
    max_tokens: int | None = Field(default=None, ge=1, le=32768)
    top_p: float | None = Field(default=None, ge=0, le=1)


class HandoffNotify(BaseModel):
    """How managers learn that a conversation was handed to a person."""

    model_config = ConfigDict(extra="forbid")

    manager_phones: list[str] = Field(default_factory=list, max_length=20, description="WhatsApp numbers told "
                                      "of it, when inside their own 24-hour window with this number")
    webhook: bool = Field(default=False, description="also POST a signed `conversation.handoff` notification to "
                                                     "the instance's notify_url (see wabot.notify)")

    @field_validator("manager_phones")
    @classmethod
    def _normalize(cls, values: list[str]) -> list[str]:
        return sorted({normalize_user_ref(value) for value in values})


class InstanceConfig(BaseModel):
    """The stored config of an instance (DynamoDB item `TENANT#{t}` / `INSTANCE#{id}`)."""

    model_config = ConfigDict(extra="ignore")

    tenant_id: str = Field(pattern=SLUG_PATTERN)
    instance_id: str = Field(pattern=SLUG_PATTERN)
    name: str
    phone_number_id: str
    waba_id: str | None = None
    enabled: bool = True
    running: bool = True
    auto_start: bool = True
    language: Literal["en", "ru"] = "en"
    llm_backend: str = "vllm"
    llm_model: str | None = Field(default=None, description="overrides the tenant's model for this backend")
    llm_base_url: str | None = Field(default=None, description="vllm only: overrides the tenant's server")
    llm_history_turns: int = Field(default=10, ge=0, le=50)
    llm_fallback_message: str | None = None
    system_prompt: str = ""
    llm_params: LlmParams = Field(default_factory=LlmParams)
    tts_enabled: bool = False
    tts_engine: Literal["xtts", "piper", "openvoice"] | None = None
    tts_voice: str | None = None
    tts_preset: str | None = None
    # Inbound conversation courtesy and voice notes in (see README: Voice notes in, typing, bursts).
    read_receipts: bool = True
    typing_indicator: bool = True
    stt_enabled: bool = False
    stt_backend: str = Field(default="openai", description="openai (OpenAI-compatible), gemini or cloud:{provider}")
    llm_debounce_seconds: float = Field(default=2, ge=0, le=10, description="quiet window of a burst; 0 off")
    allowed_phones: list[str] = Field(default_factory=list)
    blocked_phones: list[str] = Field(default_factory=list)
    rate_limit_count: int = Field(default=5, ge=0)
    rate_limit_hours: float = Field(default=5, gt=0)
    handoff_timeout_hours: float = Field(default=24, gt=0, description="a human conversation returns to the "
                                         "bot this long after the last manager message")
    handoff_notify: HandoffNotify = Field(default_factory=lambda: HandoffNotify())
    message_retention_days: int = Field(default=30, ge=1, le=365, description="the inbox's message log TTL")
    owner_id: str | None = None
    notify_url: str | None = Field(default=None, description="https URL for signed health notifications")
    sends_paused: bool = Field(default=False, description="set by the health check while the token is invalid")
    legacy_id: str | None = Field(default=None, description="id on the legacy platform, when migrated")
    version: int = Field(default=1, ge=1, description="bumped on every change; warm caches reload")
    created_at: datetime | None = None
    updated_at: datetime | None = None
