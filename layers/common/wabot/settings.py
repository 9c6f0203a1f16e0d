"""Settings read from environment variables, one pydantic model per function's needs.

Each function builds exactly the model it needs at cold start; a missing variable fails the
cold start with the variable's name instead of failing later inside a request.
"""

from __future__ import annotations

import os
from collections.abc import Mapping

from pydantic import BaseModel, ConfigDict, Field, ValidationError, field_validator


class SettingsError(RuntimeError):
    """The function's environment is incomplete or malformed."""


class _EnvSettings(BaseModel):
    # Built on first use: each function reads one settings class of the many defined here.
    model_config = ConfigDict(frozen=True, extra="ignore", populate_by_name=True, defer_build=True)

    @classmethod
    def from_env(cls, environ: Mapping[str, str] | None = None):
        env = os.environ if environ is None else environ
        try:
            return cls.model_validate(dict(env))
        except ValidationError as exc:
            names = ", ".join(str(err["loc"][0]) for err in exc.errors())
            raise SettingsError(f"{cls.__name__}: missing or invalid environment variables: {names}") from exc

    @classmethod
    def env_names(cls, required_only: bool = False) -> set[str]:
        """Environment variable names this model reads (used by the template tests)."""
        return {
            field.alias or name
            for name, field in cls.model_fields.items()
            if not required_only or field.is_required()
        }


class StorageSettings(_EnvSettings):
    """What every function needs to reach tenant data and secrets."""

    app_table: str = Field(alias="APP_TABLE", min_length=1)
    ssm_prefix: str = Field(alias="SSM_PREFIX", pattern=r"^/[A-Za-z0-9_.\-/]+[^/]$")
    instance_cache_seconds: float = Field(default=60.0, alias="INSTANCE_CACHE_SECONDS", gt=0, le=60)
    secret_cache_seconds: float = Field(default=300.0, alias="SECRET_CACHE_SECONDS", gt=0, le=3600)
    activity_ttl_days: int = Field(default=14, alias="ACTIVITY_TTL_DAYS", ge=1, le=365)


# The tenant roles each function assumes, tagged with the tenant, for that tenant's data
# (one variable per role: the local stack runs every function in one process).
ROLE_ARN_PATTERN = r"^arn:[a-z-]+:iam::\d{12}:role/.+$"


class WebhookSettings(StorageSettings):
    webhook_tenant_role_arn: str = Field(alias="WEBHOOK_TENANT_ROLE_ARN", pattern=ROLE_ARN_PATTERN)
    inbound_queue_url: str = Field(alias="INBOUND_QUEUE_URL", min_length=1)
    status_queue_url: str = Field(alias="STATUS_QUEUE_URL", min_length=1,
                                  description="statuses need no conversation order: a standard queue, large batches")
    health_queue_url: str = Field(alias="HEALTH_QUEUE_URL", min_length=1, description="account webhook events")
    max_body_bytes: int = Field(default=3 * 1024 * 1024, alias="WEBHOOK_MAX_BODY_BYTES", gt=0)


class GraphApiSettings(_EnvSettings):
    graph_api_base_url: str = Field(default="https://graph.facebook.com", alias="GRAPH_API_BASE_URL")
    graph_api_version: str = Field(default="v25.0", alias="GRAPH_API_VERSION", pattern=r"^v\d+\.\d+$")


class WorkerSettings(StorageSettings, GraphApiSettings):
    """What every SQS worker that answers users needs."""

    worker_tenant_role_arn: str = Field(alias="WORKER_TENANT_ROLE_ARN", pattern=ROLE_ARN_PATTERN)
    idempotency_table: str = Field(alias="IDEMPOTENCY_TABLE", min_length=1)
    max_receive_count: int = Field(alias="MAX_RECEIVE_COUNT", ge=1, description="the queue's redrive maxReceiveCount")
    activity_per_message: bool = Field(default=False, alias="ACTIVITY_PER_MESSAGE",
                                       description="an activity entry for every answered message")


class OutboundSettings(_EnvSettings):
    # Networks outbound calls may reach although private, loopback or link-local, and the only
    # ones plain http may reach (the local stack: its own fakes on 127.0.0.1). Comma-separated CIDRs.
    outbound_allowed_networks: str = Field(default="", alias="OUTBOUND_ALLOWED_NETWORKS")

    @field_validator("outbound_allowed_networks")
    @classmethod
    def _networks(cls, value: str) -> str:
        from wabot.net import parse_networks

        parse_networks(value)  # ValueError: the cold start fails naming the variable
        return value


class StatusSettings(StorageSettings):
    """The status worker: statuses of sent messages, in large batches from a standard queue."""

    worker_tenant_role_arn: str = Field(alias="WORKER_TENANT_ROLE_ARN", pattern=ROLE_ARN_PATTERN)


class FunnelSettings(WorkerSettings, OutboundSettings):
    llm_queue_url: str = Field(alias="LLM_QUEUE_URL", min_length=1)
    # Speech to text when neither tenant nor provider names a server (OpenAI-compatible).
    default_stt_base_url: str = Field(default="", alias="DEFAULT_STT_BASE_URL")
    default_stt_model: str = Field(default="whisper-1", alias="DEFAULT_STT_MODEL")


class AuthorizerSettings(_EnvSettings):
    api_key_table: str = Field(alias="API_KEY_TABLE", min_length=1)


class DispatcherSettings(_EnvSettings):
    app_table: str = Field(alias="APP_TABLE", min_length=1)
    health_queue_url: str = Field(alias="HEALTH_QUEUE_URL", min_length=1)
    health_period_minutes: int = Field(default=15, alias="HEALTH_PERIOD_MINUTES", ge=1, le=1440)
    health_slot_seconds: int | None = Field(default=None, alias="HEALTH_SLOT_SECONDS", ge=1,
                                            description="the local stack's shorter period (it runs every N seconds)")

    @property
    def slot_seconds(self) -> int:
        return self.health_slot_seconds or self.health_period_minutes * 60


class HealthSettings(StorageSettings, GraphApiSettings):
    health_tenant_role_arn: str = Field(alias="HEALTH_TENANT_ROLE_ARN", pattern=ROLE_ARN_PATTERN)
    outbound_allowed_networks: str = Field(default="", alias="OUTBOUND_ALLOWED_NETWORKS",
                                           description="networks tenant notification URLs may reach although private")


class AdminSettings(StorageSettings, AuthorizerSettings, GraphApiSettings):
    admin_tenant_role_arn: str = Field(alias="ADMIN_TENANT_ROLE_ARN", pattern=ROLE_ARN_PATTERN)
    inbound_queue_url: str = Field(alias="INBOUND_QUEUE_URL", min_length=1)
    public_api_url: str = Field(default="", alias="PUBLIC_API_URL", pattern=r"^(https?://[^/?#\s]+/?)?$",
                                description="base of the webhook URLs shown to admins; empty: the API's own")


class LlmSettings(WorkerSettings, OutboundSettings):
    # Platform-wide defaults, used when neither the instance nor the tenant names a server.
    default_vllm_base_url: str = Field(default="", alias="DEFAULT_VLLM_BASE_URL")
    default_vllm_model: str = Field(default="default", alias="DEFAULT_VLLM_MODEL")
    default_tts_base_url: str = Field(default="", alias="DEFAULT_TTS_BASE_URL")
