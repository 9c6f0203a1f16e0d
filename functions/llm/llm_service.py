"""Answering what the funnel could not: the instance's LLM backend, persona and parameters,
the user's recent history, WhatsApp formatting, and optionally a voice reply.

Exactly once: the answer (text pieces and the uploaded voice note) is stored as a reply plan
before anything is sent; a redelivered job resumes the plan and never asks the LLM again.

Bursts ("hi" / "I need" / "a price for 20 seats" within seconds): the funnel leaves every
LLM-bound message as a pending entry of the conversation; the job of the burst's first
message waits until `llm_debounce_seconds` passed after the newest entry, answers all of
them in one call, and stores - in one transaction - its plan (`covers`), a `covered_by` plan
for each other message and the entries' removal. The later messages' jobs, behind it in the
FIFO group, find their `covered_by` plan and send nothing.
"""

from __future__ import annotations

import time
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

from wabot.bookkeeping import Bookkeeping
from wabot.errors import NotFoundError
from wabot.handoff import bot_may_send
from wabot.llm.backends import Backend, ChatRequest, LlmError, complete
from wabot.llm.formatting import split_message, to_whatsapp
from wabot.llm.voice import VOICE_MIME_TYPE, TtsRequest, VoiceError, synthesize, to_ogg_opus
from wabot.models.conversation import PendingLlmMessage, ReplyPlan
from wabot.models.events import InboundEvent
from wabot.models.instance import InstanceConfig
from wabot.models.message_log import event_entry, outbound_entry
from wabot.net import GuardedHttp
from wabot.repositories.conversations import ConversationStore
from wabot.repositories.instances import InstanceRegistry
from wabot.repositories.llm_config import LlmConfigRepository
from wabot.repositories.messages import MessageLog
from wabot.repositories.secrets import SecretStore
from wabot.tenancy import TenantContext
from wabot.whatsapp.graph import GraphError
from wabot.whatsapp.messages import AudioMessage, Recipient, TextMessage, to_graph_payload
from wabot.whatsapp.sender import Delivery, DeliveryInterrupted, DeliveryStopped, ReplySender

FALLBACK = {"en": "Sorry, I cannot answer right now. Please try again later or use the menu.",
            "ru": "Извините, сейчас не получается ответить. Попробуйте позже или воспользуйтесь меню."}
# Time kept back from the LLM call for the voice reply and the sends.
RESERVE_SECONDS = 12.0
TTS_TIMEOUT_SECONDS = 20.0
# A burst answers at most this many messages in one call; later ones start the next burst.
MAX_BURST = 10
# The quiet window is cut short rather than leave the LLM call less than this.
MIN_LLM_SECONDS = 30.0


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
    bookkeeping: Bookkeeping  # every counter and activity entry of this worker
    sender: ReplySender
    messages: MessageLog
    http: GuardedHttp  # every backend URL here is the tenant's: only through the SSRF guard
    defaults: Defaults
    logger: Any
    clock: Callable[[], float] = time.monotonic
    clock_wall: Callable[[], float] = time.time
    sleep: Callable[[float], None] = time.sleep
    activity_per_message: bool = False  # else only gates, errors and dead letters are logged

    def handle(self, event: InboundEvent, deadline: float) -> None:
        tenant = TenantContext(event.tenant_id)
        config = self.registry.get(tenant, event.instance_id, min_version=event.config_version)
        plan = self.conversations.get_llm_plan(tenant, config.instance_id, event.user_key, event.message_id)

        def may_send() -> bool:  # the hand-off check, right before each send (text and voice)
            profile = self.conversations.get_profile(tenant, config.instance_id, event.user_key)
            return bot_may_send(profile, config, event.message_id, self.clock_wall())

        if plan is not None and plan.covered_by:
            self.logger.info("answered together with an earlier message of its burst")
            return
        if plan is None:
            plan = self._new_plan(tenant, config, event, may_send, deadline)
            if plan is None:
                return
        if plan.sent >= len(plan.replies):
            return
        current = {"plan": plan}

        def record_progress(sent: int, wamid: str) -> None:
            current["plan"] = current["plan"].model_copy(update={"sent": sent})
            self.conversations.save_llm_plan(tenant, config.instance_id, event.user_key, current["plan"])

        try:
            delivery = self.sender.deliver(tenant, config, plan.replies, plan.sent, deadline, record_progress,
                                           bot_may_send=may_send)
        except DeliveryInterrupted as interrupted:
            self.bookkeeping.interrupted(tenant, config.instance_id, interrupted.sent)
            raise
        if delivery.held:  # dropped for good: a retry finds it complete and sends nothing
            self.conversations.save_llm_plan(tenant, config.instance_id, event.user_key,
                                             current["plan"].model_copy(update={"sent": len(plan.replies)}))
        self._log_sent(tenant, config, event, plan, delivery)
        self.bookkeeping.delivered(tenant, config.instance_id, delivery, plan.counters,
                                   "voice" if plan.counters.get("voice_replies") else "llm",
                                   "LLM reply sent" if delivery.completed and self.activity_per_message else None,
                                   {"message_id": event.message_id[-40:], "parts": len(plan.replies)})

    def _new_plan(self, tenant: TenantContext, config: InstanceConfig, event: InboundEvent,
                  may_send: Callable[[], bool], deadline: float) -> ReplyPlan | None:
        """The answer to a question seen the first time, stored before anything is sent; None when
        no answer is due (the instance stopped, or a person took the conversation over)."""
        if not config.running:
            self.bookkeeping.note(tenant, config.instance_id, "message_handled",
                                  "LLM question recorded, no reply: stopped", {"gate": "stopped"})
            return None
        if not may_send():  # a person took over while the question waited: no LLM call either
            self.logger.info("LLM question not answered: a person handles the conversation")
            return None
        burst = self._burst(tenant, config, event, deadline)
        if burst and not may_send():  # ... or during the burst's quiet window: no "typing..." either
            self.logger.info("LLM question not answered: a person handles the conversation")
            return None
        self._show_reading(tenant, config, burst[-1].message_id if burst else event.message_id)
        plan = self._answer(tenant, config, event, burst, deadline)
        if burst:
            self.conversations.save_burst_plan(tenant, config.instance_id, event.user_key, plan, burst)
        else:
            self.conversations.save_llm_plan(tenant, config.instance_id, event.user_key, plan)
        return plan

    def _log_sent(self, tenant: TenantContext, config: InstanceConfig, event: InboundEvent, plan: ReplyPlan,
                  delivery: Delivery) -> None:
        """The replies sent now (and a hold) in the inbox's log."""
        try:  # best effort: a failure here must not make a retry resend what is out
            now = self.clock_wall()
            entries = [outbound_entry(payload, wamid, now + index / 1000, "llm")
                       for index, (payload, wamid) in enumerate(zip(plan.replies[plan.sent:], delivery.message_ids,
                                                                    strict=False))]
            if delivery.held:
                entries.append(event_entry("held", now, None, "LLM answer dropped: a person took over"))
            self.messages.record(tenant, config.instance_id, event.user_key, entries, config.message_retention_days)
        except Exception:
            self.logger.exception("message log write after sending failed; the replies are out")

    def give_up(self, event: InboundEvent, error: Exception) -> None:
        self.bookkeeping.dead_lettered(event, error)

    # ---- the burst and the typing indicator ----------------------------------------------------

    def _burst(self, tenant: TenantContext, config: InstanceConfig, event: InboundEvent,
               deadline: float) -> list[PendingLlmMessage]:
        """The pending entries this job answers, its own first (empty: not pending, answered alone).
        With a quiet window, waits until it has passed after the newest plain message that follows."""
        while True:
            pending = self.conversations.pending_llm(tenant, config.instance_id, event.user_key)
            index = next((i for i, entry in enumerate(pending) if entry.message_id == event.message_id), None)
            if index is None:
                return []
            burst = [pending[index]]
            if config.llm_debounce_seconds <= 0 or not burst[0].plain:
                return burst
            for entry in pending[index + 1:]:
                if not entry.plain or len(burst) >= MAX_BURST:
                    break  # a flow's llm step is answered on its own, in its order
                burst.append(entry)
            wait = burst[-1].at + config.llm_debounce_seconds - self.clock_wall()
            if wait <= 0 or self.clock() + wait > deadline - RESERVE_SECONDS - MIN_LLM_SECONDS:
                return burst
            self.sleep(wait)

    def _show_reading(self, tenant: TenantContext, config: InstanceConfig, last_message_id: str) -> None:
        """Read receipt, with "typing..." when on: a reply always follows (the answer or the
        fallback; the hand-off check ran just before). Marking the burst's newest message read
        marks the earlier ones too."""
        if not config.read_receipts:
            return
        self.sender.show_reading(tenant, config, last_message_id, typing=config.typing_indicator)

    # ---- the answer --------------------------------------------------------------------------

    def _answer(self, tenant: TenantContext, config: InstanceConfig, event: InboundEvent,
                burst: list[PendingLlmMessage], deadline: float) -> ReplyPlan:
        if event.llm and event.llm.prompt:
            question = event.llm.prompt
        else:
            question = "\n".join(entry.text for entry in burst) if len(burst) > 1 else event.question
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
            self.bookkeeping.note(tenant, config.instance_id, "error",
                                  f"LLM ({config.llm_backend}) failed: {str(error)[:200]}")
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
        covers = [entry.message_id for entry in burst[1:]]
        if covers:
            counters["burst_messages"] = len(burst)
        return ReplyPlan(message_id=event.message_id, replies=replies, counters=counters, covers=covers)

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
            self.bookkeeping.note(tenant, config.instance_id, "error", f"voice reply failed: {str(error)[:200]}")
            return None
        return media_id

