"""Tenant-level LLM, TTS and STT settings, and the LLM providers a tenant registered.

Items: `TENANT#{t}` / `SETTINGS` and `TENANT#{t}` / `LLMPROVIDER#{id}`. API keys are never in
DynamoDB: SSM `{stack}/{tenant}/settings/gemini_api_key` and
`{stack}/{tenant}/llm-providers/{id}/api_key`, and the speech-to-text server's key
`{stack}/{tenant}/settings/stt_api_key`.
"""

from __future__ import annotations

from typing import Any, Literal

from pydantic import BaseModel, Field, HttpUrl

from wabot.dynamo import from_item, key, query_partition, to_item
from wabot.errors import NotFoundError
from wabot.keys import tenant_pk
from wabot.tenancy import SLUG_PATTERN, TenantContext
from wabot.tenant_credentials import client_for

ProviderKind = Literal["openai", "gemini", "anthropic"]
GEMINI_BASE_URL = "https://generativelanguage.googleapis.com"
PROVIDER_SK_PREFIX = "LLMPROVIDER#"


class TenantSettings(BaseModel):
    vllm_base_url: HttpUrl | None = None
    vllm_model: str | None = Field(default=None, max_length=200)
    gemini_model: str = Field(default="gemini-2.0-flash", max_length=200)
    gemini_base_url: HttpUrl = HttpUrl(GEMINI_BASE_URL)
    tts_base_urls: dict[Literal["xtts", "piper", "openvoice"], HttpUrl] = Field(default_factory=dict)
    stt_base_url: HttpUrl | None = Field(default=None, description="OpenAI-compatible speech-to-text server")
    stt_model: str = Field(default="whisper-1", max_length=200)


class LlmProvider(BaseModel):
    id: str = Field(pattern=SLUG_PATTERN)
    name: str = Field(min_length=1, max_length=100)
    kind: ProviderKind
    base_url: HttpUrl
    model: str = Field(min_length=1, max_length=200)


class LlmConfigRepository:
    def __init__(self, dynamodb: Any, table: str) -> None:
        self._db = client_for(dynamodb, "dynamodb")
        self._table = table

    def settings(self, tenant: TenantContext) -> TenantSettings:
        item = self._db(tenant).get_item(TableName=self._table, Key=key(tenant_pk(tenant), "SETTINGS")).get("Item")
        data = from_item(item) if item else {}
        return TenantSettings.model_validate({k: v for k, v in data.items() if k not in ("pk", "sk")})

    def save_settings(self, tenant: TenantContext, settings: TenantSettings) -> None:
        self._db(tenant).put_item(TableName=self._table, Item=to_item(
            {"pk": tenant_pk(tenant), "sk": "SETTINGS", **settings.model_dump(mode="json")}))

    def provider(self, tenant: TenantContext, provider_id: str) -> LlmProvider:
        item = self._db(tenant).get_item(TableName=self._table,
                                       Key=key(tenant_pk(tenant), PROVIDER_SK_PREFIX + provider_id)).get("Item")
        if not item:
            raise NotFoundError(provider_id)
        return LlmProvider.model_validate(from_item(item))

    def providers(self, tenant: TenantContext) -> list[LlmProvider]:
        items = query_partition(self._db(tenant), self._table, tenant_pk(tenant), PROVIDER_SK_PREFIX)
        return [LlmProvider.model_validate(from_item(item)) for item in items]

    def save_provider(self, tenant: TenantContext, provider: LlmProvider, create: bool) -> bool:
        """Returns False when `create` and the id is taken."""
        arguments: dict[str, Any] = {"TableName": self._table, "Item": to_item(
            {"pk": tenant_pk(tenant), "sk": PROVIDER_SK_PREFIX + provider.id, **provider.model_dump(mode="json")})}
        arguments["ConditionExpression"] = "attribute_not_exists(pk)" if create else "attribute_exists(pk)"
        try:
            self._db(tenant).put_item(**arguments)
        except self._db(tenant).exceptions.ConditionalCheckFailedException:
            if create:
                return False
            raise NotFoundError(provider.id) from None
        return True

    def delete_provider(self, tenant: TenantContext, provider_id: str) -> None:
        try:
            self._db(tenant).delete_item(TableName=self._table,
                                       Key=key(tenant_pk(tenant), PROVIDER_SK_PREFIX + provider_id),
                                       ConditionExpression="attribute_exists(pk)")
        except self._db(tenant).exceptions.ConditionalCheckFailedException:
            raise NotFoundError(provider_id) from None
