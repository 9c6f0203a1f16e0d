"""An instance: one WhatsApp Business number of a tenant, with its bot settings.

Every field, limit and enum of an instance is declared here once. The admin API derives its
create, update and output models from `InstanceConfig` (functions/admin/admin_models.py): a new
field here is settable and shown by the API unless it is listed in `MANAGED_FIELDS`.

Secrets (access token, app secret, verify token, ...: `wabot.keys.SECRET_NAMES`) are never part of
this model: they live in SSM Parameter Store and are read through `wabot.repositories.secrets`.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime
from typing import Annotated, Any, Literal

from pydantic import AfterValidator, BaseModel, ConfigDict, Field, HttpUrl, field_validator

from wabot.identity import normalize_user_ref
from wabot.models.principal import PRINCIPAL_PATTERN
from wabot.tenancy import SLUG_PATTERN

TtsEngine = Literal["xtts", "piper", "openvoice"]
LLM_BACKEND_PATTERN = r"^(vllm|gemini|cloud:[a-z0-9](?:[a-z0-9-]{0,62}[a-z0-9])?)$"
STT_BACKEND_PATTERN = r"^(openai|gemini|cloud:[a-z0-9](?:[a-z0-9-]{0,62}[a-z0-9])?)$"
PHONE_NUMBER_ID_PATTERN = r"^[0-9]{5,32}$"  # ASCII digits: \d would take other scripts' digits too
# One instance item must stay far below DynamoDB's 400 KB: the lists' size is capped.
MAX_LIST_ENTRIES = 2000
MAX_LISTS_CHARACTERS = 100_000
# Set by the platform itself, never by a client: every other field is settable through the API.
MANAGED_FIELDS = frozenset({"tenant_id", "instance_id", "running", "auto_start", "sends_paused", "legacy_id",
                            "version", "created_at", "updated_at"})


def _plain_base_url(url: HttpUrl) -> HttpUrl:
    from wabot.net import base_url_problem  # here: wabot.net loads httpx, which the webhook never needs

    problem = base_url_problem(str(url))
    if problem:
        raise ValueError(problem)
    return url


# A server the platform will call for the tenant: shape checked here, addresses on every call (wabot.net).
BackendUrl = Annotated[HttpUrl, AfterValidator(_plain_base_url)]


def _normalized_refs(values: list[str]) -> list[str]:
    return sorted({normalize_user_ref(value) for value in values})


@dataclass(frozen=True)
class ClientInput:
    """Field metadata: rules for what a client sends through the admin API, beyond the stored
    model's own (configs the platform builds itself, in tests for example, are not held to them).
    `type` replaces the field's type on input; `admin_only`: only an admin may set it (a server the
    platform calls on the tenant's behalf: SSRF)."""

    type: Any = None
    metadata: tuple[Any, ...] = ()
    admin_only: bool = False


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
        return _normalized_refs(values)


PhoneList = Annotated[list[str], ClientInput(metadata=(AfterValidator(_normalized_refs),))]


class InstanceConfig(BaseModel):
    """The stored config of an instance (DynamoDB item `TENANT#{t}` / `INSTANCE#{id}`)."""

    model_config = ConfigDict(extra="ignore")

    tenant_id: str = Field(pattern=SLUG_PATTERN)
    instance_id: str = Field(pattern=SLUG_PATTERN)
    name: str = Field(min_length=1, max_length=100)
    phone_number_id: Annotated[str, ClientInput(metadata=(Field(pattern=PHONE_NUMBER_ID_PATTERN),))] = Field(
        description="the WhatsApp Business phone number id (Meta's, not the number itself)")
    waba_id: Annotated[str | None, ClientInput(metadata=(Field(pattern=PHONE_NUMBER_ID_PATTERN),))] = Field(
        default=None, description="the WhatsApp Business Account id (message templates, health)")
    enabled: bool = True
    running: bool = True
    auto_start: bool = True
    language: Literal["en", "ru"] = "en"
    llm_backend: str = Field(default="vllm", pattern=LLM_BACKEND_PATTERN,
                             description="vllm, gemini or cloud:{provider id}")
    llm_model: str | None = Field(default=None, min_length=1, max_length=200,
                                  description="overrides the tenant's model for this backend")
    llm_base_url: Annotated[str | None, ClientInput(type=BackendUrl, admin_only=True)] = Field(
        default=None, description="vllm only: overrides the tenant's server (admin only)")
    llm_history_turns: int = Field(default=10, ge=0, le=50)
    llm_fallback_message: str | None = Field(default=None, min_length=1, max_length=4096)
    system_prompt: str = Field(default="", max_length=20000)
    llm_params: LlmParams = Field(default_factory=LlmParams)
    tts_enabled: bool = False
    tts_engine: TtsEngine | None = None
    tts_voice: str | None = Field(default=None, max_length=64)
    tts_preset: str | None = Field(default=None, max_length=64)
    # Inbound conversation courtesy and voice notes in (see README: Voice notes in, typing, bursts).
    read_receipts: bool = True
    typing_indicator: bool = True
    stt_enabled: bool = False
    stt_backend: str = Field(default="openai", pattern=STT_BACKEND_PATTERN,
                             description="openai, gemini or cloud:{provider id} (kind openai or gemini)")
    llm_debounce_seconds: float = Field(default=2, ge=0, le=10,
                                        description="quiet window before answering a burst; 0 off")
    allowed_phones: PhoneList = Field(default_factory=list, max_length=MAX_LIST_ENTRIES)
    blocked_phones: PhoneList = Field(default_factory=list, max_length=MAX_LIST_ENTRIES)
    rate_limit_count: int = Field(default=5, ge=0, le=10000)
    rate_limit_hours: float = Field(default=5, ge=0.01, le=720, description="the window, 36 s at least")
    handoff_timeout_hours: float = Field(default=24, ge=0.1, le=720, description="a human conversation returns "
                                         "to the bot this long after the last manager message")
    handoff_notify: HandoffNotify = Field(default_factory=lambda: HandoffNotify())
    message_retention_days: int = Field(default=30, ge=1, le=365, description="the inbox's message log TTL")
    owner_id: str | None = Field(default=None, pattern=PRINCIPAL_PATTERN,
                                 description="the user principal the instance belongs to")
    notify_url: Annotated[str | None, ClientInput(type=BackendUrl, admin_only=True)] = Field(
        default=None, description="https URL for signed health notifications (admin only; null removes it)")
    sends_paused: bool = Field(default=False, description="set by the health check while the token is invalid: "
                                                          "nothing is sent")
    legacy_id: str | None = Field(default=None, description="id on the legacy platform, when migrated")
    version: int = Field(default=1, ge=1, description="bumped on every change; warm caches reload")
    created_at: datetime | None = None
    updated_at: datetime | None = None


def client_input(name: str) -> ClientInput:
    """The client-input rules of a field of InstanceConfig (none: an empty ClientInput)."""
    return next((m for m in InstanceConfig.model_fields[name].metadata if isinstance(m, ClientInput)),
                ClientInput())
