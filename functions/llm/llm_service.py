"""Answering what the funnel could not: the instance's LLM backend, persona and parameters,
the user's recent history, WhatsApp formatting, and optionally a voice reply.

Exactly once: the answer (text pieces and the uploaded voice note) is stored as a reply plan
before anything is sent; a redelivered job resumes the plan and never asks the LLM again.
"""

from __future__ import annotations

import time
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

from wabot.errors import NotFoundError
from wabot.llm.backends import Backend, ChatRequest, LlmError, complete
from wabot.llm.formatting import split_message, to_whatsapp
from wabot.llm.voice import VOICE_MIME_TYPE, TtsRequest, VoiceError, synthesize, to_ogg_opus
from wabot.models.events import InboundEvent
from wabot.models.instance import InstanceConfig
from wabot.net import GuardedHttp
from wabot.repositories.activity import ActivityLog
from wabot.repositories.conversations import ConversationStore, ReplyPlan
from wabot.repositories.instances import InstanceRegistry
from wabot.repositories.llm_config import LlmConfigRepository
from wabot.repositories.secrets import SecretStore
from wabot.repositories.stats import StatsRepository
from wabot.tenancy import TenantContext
from wabot.whatsapp.graph import GraphError
from wabot.whatsapp.messages import AudioMessage, Recipient, TextMessage, to_graph_payload
from wabot.whatsapp.sender import DeliveryStopped, ReplySender, record_dead_letter

FALLBACK = {"en": "Sorry, I cannot answer right now. Please try again later or use the menu.",
            "ru": "Извините, сейчас не получается ответить. Попробуйте позже или воспользуйтесь меню."}
# Time kept back from the LLM call for the voice reply and the sends.
RESERVE_SECONDS = 12.0
TTS_TIMEOUT_SECONDS = 20.0


class BackendNotConfigured(Exception):
    pass


@dataclass(frozen=True)
class Defaults:
    vllm_base_url: str
    vllm_model: str
    tts_base_url: str


@dataclass
class LlmService:
    registry: InstanceRegistry
    conversations: ConversationStore
    llm_config: LlmConfigRepository
    secrets: SecretStore
    stats: StatsRepository
    activity: ActivityLog
    sender: ReplySender
    http: GuardedHttp  # every backend URL here is the tenant's: only through the SSRF guard
    defaults: Defaults
    logger: Any
    clock: Callable[[], float] = time.monotonic
    clock_wall: Callable[[], float] = time.time
    activity_per_message: bool = False  # else only gates, errors and dead letters are logged

    def handle(self, event: InboundEvent, deadline: float) -> None:
        tenant = TenantContext(event.tenant_id)
        config = self.registry.get(tenant, event.instance_id, min_version=event.config_version)
        plan = self.conversations.get_llm_plan(tenant, config.instance_id, event.user_key, event.message_id)
        if plan is None:
            if not config.running:
                self.activity.record(tenant, config.instance_id, "message_handled",
                                     "LLM question recorded, no reply: stopped", {"gate": "stopped"})
                return
            plan = self._answer(tenant, config, event, deadline)
            self.conversations.save_llm_plan(tenant, config.instance_id, event.user_key, plan)
        if plan.sent >= len(plan.replies):
            return
        current = {"plan": plan}

        def record_progress(sent: int) -> None:
            current["plan"] = current["plan"].model_copy(update={"sent": sent})
            self.conversations.save_llm_plan(tenant, config.instance_id, event.user_key, current["plan"])

        delivery = self.sender.deliver(tenant, config, plan.replies, plan.sent, deadline, record_progress)
        try:  # best effort: a failure here must not make a retry resend what is out
            counters, latest = delivery.counters(self.clock_wall)
            self.stats.increment(tenant, config.instance_id, {**plan.counters, **counters}, latest=latest)
            if delivery.completed and self.activity_per_message:
                self.activity.record(tenant, config.instance_id, "reply_sent", "LLM reply sent",
                                     {"message_id": event.message_id[-40:], "parts": len(plan.replies)})
        except Exception:
            self.logger.exception("bookkeeping after sending failed; the replies are out")

    def give_up(self, event: InboundEvent, error: Exception) -> None:
        record_dead_letter(self.activity, self.stats, event, error)

    # ---- the answer --------------------------------------------------------------------------

    def _answer(self, tenant: TenantContext, config: InstanceConfig, event: InboundEvent,
                deadline: float) -> ReplyPlan:
        question = event.llm.prompt if event.llm and event.llm.prompt else _question(event)
        system = event.llm.system_prompt if event.llm and event.llm.system_prompt else config.system_prompt
        request = ChatRequest(system=system,
                              history=self.conversations.history(tenant, config.instance_id, event.user_key,
                                                                 config.llm_history_turns),
                              message=question, params=config.llm_params)
        answered = True
        counters: dict[str, int] = {}  # added once the plan is done, with what was sent
        try:
            backend = self._backend(tenant, config)
            result = complete(self.http, backend, request, deadline - RESERVE_SECONDS, clock=self.clock)
            text = to_whatsapp(result.text)
            counters = {"llm_calls": 1, "prompt_tokens": result.prompt_tokens,
                        "completion_tokens": result.completion_tokens}
        except (LlmError, BackendNotConfigured, NotFoundError) as error:
            answered = False
            text = config.llm_fallback_message or FALLBACK.get(config.language, FALLBACK["en"])
            self.logger.warning("LLM failed, fallback sent", extra={"backend": config.llm_backend,
                                                                    "error": str(error)[:200]})
            self.activity.record(tenant, config.instance_id, "error",
                                 f"LLM ({config.llm_backend}) failed: {str(error)[:200]}", {})
            counters = {"llm_errors": 1, "errors": 1}
        recipient = Recipient(phone=event.phone) if event.phone else Recipient(user_id=event.user_id or event.user_key)
        replies = [to_graph_payload(TextMessage(body=piece), recipient) for piece in split_message(text)]
        if answered:
            self.conversations.append_history(tenant, config.instance_id, event.user_key,
                                              [("user", question), ("assistant", text)])
            if config.tts_enabled:
                media_id = self._voice(tenant, config, text, deadline)
                counter = "voice_replies" if media_id else "errors"
                counters[counter] = counters.get(counter, 0) + 1
                if media_id:
                    replies.append(to_graph_payload(AudioMessage(media_id=media_id, voice=True), recipient))
        return ReplyPlan(message_id=event.message_id, replies=replies, counters=counters)

    def _backend(self, tenant: TenantContext, config: InstanceConfig) -> Backend:
        settings = self.llm_config.settings(tenant)
        if config.llm_backend == "vllm":
            base = config.llm_base_url or (str(settings.vllm_base_url) if settings.vllm_base_url else "") \
                or self.defaults.vllm_base_url
            if not base:
                raise BackendNotConfigured("no vLLM server configured for this instance or tenant")
            return Backend("openai", base, config.llm_model or settings.vllm_model or self.defaults.vllm_model)
        if config.llm_backend == "gemini":
            key = self.secrets.get_tenant_secret(tenant, "settings", "gemini_api_key")
            if not key:
                raise BackendNotConfigured("no Gemini API key configured for this tenant")
            return Backend("gemini", str(settings.gemini_base_url), config.llm_model or settings.gemini_model, key)
        provider_id = config.llm_backend.removeprefix("cloud:")
        provider = self.llm_config.provider(tenant, provider_id)
        key = self.secrets.get_tenant_secret(tenant, "llm-providers", provider_id, "api_key")
        return Backend(provider.kind, str(provider.base_url), config.llm_model or provider.model, key)

    def _voice(self, tenant: TenantContext, config: InstanceConfig, text: str, deadline: float) -> str | None:
        """The uploaded voice note's media id, or None (logged) when anything fails: the text goes anyway."""
        engine = config.tts_engine or "piper"
        base = self.llm_config.settings(tenant).tts_base_urls.get(engine)
        try:
            base_url = str(base) if base else self.defaults.tts_base_url
            if not base_url:
                raise VoiceError(f"no {engine} URL configured for this tenant")
            audio = synthesize(self.http, TtsRequest(engine, base_url, text[:2000], config.tts_voice,
                                                     config.tts_preset, config.language),
                               timeout=min(TTS_TIMEOUT_SECONDS, max(1.0, deadline - self.clock() - 5)))
            ogg = to_ogg_opus(audio)
            media_id = self.sender.upload_media(tenant, config, ogg, VOICE_MIME_TYPE, "reply.ogg", deadline - 3)
        except (VoiceError, GraphError, DeliveryStopped) as error:
            self.logger.warning("voice reply failed, text only", extra={"engine": engine, "error": str(error)[:200]})
            self.activity.record(tenant, config.instance_id, "error", f"voice reply failed: {str(error)[:200]}", {})
            return None
        return media_id


def _question(event: InboundEvent) -> str:
    content = event.content if isinstance(event.content, dict) else {}
    text = content.get("body") or content.get("caption") or content.get("text")
    return str(text) if text else f"[the user sent a {event.type} message without text]"
