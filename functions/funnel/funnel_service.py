"""Handling one queued event: statuses, gates, the funnel decision, and reliable sending.

Exactly once, in four layers: the queue dedups Meta's quick retries; Powertools idempotency
(keyed on tenant, instance and WhatsApp id, kept 8 days) skips events already handled; the
reply plan stored in the user's profile before the first send makes a retry after a crash
send only the replies that were not sent yet; and the profile remembers the last messages it
answered, for a retry that arrives after later messages (a DLQ redrive, or an idempotency
record whose completion failed).
"""

from __future__ import annotations

import time
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

from wabot.funnel.engine import FunnelEngine
from wabot.funnel.flow import Flow
from wabot.funnel.templates import default_funnel
from wabot.models.events import InboundEvent
from wabot.models.instance import InstanceConfig
from wabot.queue import EventPublisher
from wabot.repositories.activity import ActivityLog
from wabot.repositories.conversations import ConversationStore, ReplyPlan, UserProfile
from wabot.repositories.funnels import FunnelRepository
from wabot.repositories.instances import InstanceRegistry
from wabot.repositories.stats import StatsRepository
from wabot.statuses import StatusApplier
from wabot.stt import SttError, VoiceTranscriber
from wabot.tenancy import TenantContext
from wabot.whatsapp.messages import Recipient, TextMessage, to_graph_payload
from wabot.whatsapp.sender import ReplySender, iso_now, record_dead_letter


def _utc_day(timestamp: int | None) -> int:
    return -1 if timestamp is None else timestamp // 86400


@dataclass
class FunnelService:
    registry: InstanceRegistry
    funnels: FunnelRepository
    conversations: ConversationStore
    stats: StatsRepository
    activity: ActivityLog
    sender: ReplySender
    llm_queue: EventPublisher
    statuses: StatusApplier
    logger: Any
    voice: VoiceTranscriber | None = None  # speech to text for voice notes (None: not set up)
    clock: Callable[[], float] = time.time
    activity_per_message: bool = False  # else only manager replies, gates and errors are logged

    def __post_init__(self) -> None:
        self._engines: dict[tuple[str, str, int], FunnelEngine] = {}

    # ---- entry point -------------------------------------------------------------------------

    def handle(self, event: InboundEvent, deadline: float) -> None:
        tenant = TenantContext(event.tenant_id)
        if event.kind == "status":
            self._status(event)
            return
        config = self.registry.get(tenant, event.instance_id, min_version=event.config_version)
        profile = self.conversations.get_profile(tenant, event.instance_id, event.user_key)
        profile = profile or UserProfile(user_key=event.user_key)
        if profile.already_answered(event.message_id):
            self.logger.info("event already handled; nothing to do")
            return
        if profile.plan is None or profile.plan.message_id != event.message_id:
            decide = self._outbound if event.kind == "outbound" else self._decide
            profile = decide(tenant, config, profile, event, deadline)
        plan = profile.plan
        if plan is not None and (plan.sent < len(plan.replies) or plan.llm_job is not None):
            self._deliver(tenant, config, profile, event, deadline)

    # ---- deciding ----------------------------------------------------------------------------

    def _engine(self, tenant: TenantContext, config: InstanceConfig) -> FunnelEngine:
        cache_key = (tenant.tenant_id, config.instance_id, config.version)
        if cache_key not in self._engines:
            custom: Flow | None = self.funnels.get(tenant, config.instance_id)
            self._engines[cache_key] = FunnelEngine(custom or default_funnel())
        return self._engines[cache_key]

    def _hear(self, tenant: TenantContext, config: InstanceConfig, profile: UserProfile, event: InboundEvent,
              deadline: float) -> tuple[InboundEvent, dict[str, int]]:
        """A voice note as the text it says (transcribed once: the transcript is kept with the
        message), and its counters; the voice note itself when it cannot be heard, which the
        engine answers with "please type" (or not at all for a gated user: never transcribed)."""
        if not config.stt_enabled or self.voice is None:
            return event, {}
        # A dry run of the (pure) engine on a copy of the state: is the user gated?
        if self._engine(tenant, config).handle(profile.state.model_copy(deep=True), event, config,
                                               self.clock()).gate:
            return event, {}
        text = self.conversations.transcript(tenant, config.instance_id, event.user_key, event.message_id)
        if text is None:
            try:
                text = self.voice.transcribe(tenant, config, event.content if isinstance(event.content, dict) else {},
                                             deadline)
            except SttError as error:
                self.logger.warning("voice message not transcribed", extra={"backend": config.stt_backend,
                                                                            "error": str(error)[:200]})
                self.activity.record(tenant, config.instance_id, "error",
                                     f"voice message not transcribed: {str(error)[:200]}",
                                     {"message_id": event.message_id[-40:]})
                return event, {"stt_errors": 1, "errors": 1}
            self.conversations.save_transcript(tenant, config.instance_id, event.user_key, event.message_id, text)
        return event.model_copy(update={"type": "text", "content": {"body": text}}), {"transcribed": 1}

    def _decide(self, tenant: TenantContext, config: InstanceConfig, profile: UserProfile,
                event: InboundEvent, deadline: float) -> UserProfile:
        heard, voice_counters = event, {}
        if event.kind == "message" and event.type == "audio":
            heard, voice_counters = self._hear(tenant, config, profile, event, deadline)
        now = self.clock()
        outcome = self._engine(tenant, config).handle(profile.state, heard, config, now)
        recipient = Recipient(phone=event.phone) if event.phone else Recipient(user_id=event.user_id or event.user_key)
        replies = [to_graph_payload(reply, recipient) for reply in outcome.replies]
        # The flow's analytics (nodes reached and moved on from) ride on the same stats write.
        inbound = {"inbound": 1, f"inbound_{event.type}": 1, **outcome.counters, **voice_counters}
        if _utc_day(profile.last_inbound_at) < _utc_day(event.timestamp):
            # The user's first message of the day: unique users counted from the profile,
            # with no per-user data (or extra write) in the stats item.
            inbound["unique_users"] = 1
        plan = None
        if replies or outcome.to_llm:
            # Counted when the plan is done, in the same write as what was sent.
            llm_job = None
            if outcome.to_llm:
                # `decided_at` orders the messages of a burst (kept in the plan, so retries agree).
                llm_job = {**heard.model_dump(mode="json"), **({"llm": outcome.llm} if outcome.llm else {}),
                           "decided_at": now}
            plan = ReplyPlan(message_id=event.message_id, replies=replies, counters=inbound, llm_job=llm_job)
        profile = self.conversations.save_profile(tenant, config.instance_id, profile.model_copy(update={
            "state": outcome.state, "plan": plan, "steps": profile.with_steps(outcome.steps),
            # Nothing to send: answered now (a plan is remembered once its last reply is out).
            "handled": profile.handled if plan else profile.remember(event.message_id),
            "phone": event.phone or profile.phone, "user_id": event.user_id or profile.user_id,
            "profile_name": event.profile_name or profile.profile_name,
            "last_inbound_at": max(profile.last_inbound_at or 0, event.timestamp),
        }))
        if plan is None:
            self.stats.increment(tenant, config.instance_id, inbound, latest={"last_inbound_at": iso_now(lambda: now)})
        if outcome.gate:
            self.activity.record(tenant, config.instance_id, "message_handled",
                                 f"{event.type} message recorded, no reply: {outcome.gate}", {"gate": outcome.gate})
        if outcome.handoff:
            # Until conversation operations land, a person learns of a hand-off from the activity log.
            self.activity.record(tenant, config.instance_id, "message_handled",
                                 f"hand-off to a person requested at {outcome.handoff['node']}",
                                 {"handoff": outcome.handoff, "user": event.user_key})
        return profile

    def _outbound(self, tenant: TenantContext, config: InstanceConfig, profile: UserProfile,
                  event: InboundEvent, deadline: float) -> UserProfile:
        """A manager's text, sent as the bot in the conversation's order (not while stopped)."""
        if not config.running:
            self.activity.record(tenant, config.instance_id, "message_handled", "manager reply not sent: stopped",
                                 {"gate": "stopped"}, actor=event.actor)
            return profile
        recipient = Recipient(phone=profile.phone) if profile.phone else Recipient(user_id=profile.user_id
                                                                                   or profile.user_key)
        reply = to_graph_payload(TextMessage(body=event.content["body"]), recipient)
        self.activity.record(tenant, config.instance_id, "admin_change", "manager reply queued for sending", {},
                             actor=event.actor)
        return self.conversations.save_profile(tenant, config.instance_id, profile.model_copy(update={
            "plan": ReplyPlan(message_id=event.message_id, replies=[reply])}))

    # ---- sending ---------------------------------------------------------------------------

    def _deliver(self, tenant: TenantContext, config: InstanceConfig, profile: UserProfile,
                 event: InboundEvent, deadline: float) -> None:
        plan = profile.plan
        assert plan is not None
        instance_id = config.instance_id
        current = {"profile": profile}

        def record_progress(sent: int) -> None:
            current["profile"] = self.conversations.mark_sent(tenant, instance_id, current["profile"], sent)

        delivery = self.sender.deliver(tenant, config, plan.replies, plan.sent, deadline, record_progress,
                                       mark_read=event.message_id if event.kind == "message"
                                       and config.read_receipts else None)
        if plan.llm_job is not None:
            job = InboundEvent.model_validate(plan.llm_job)
            if config.llm_debounce_seconds > 0:
                # The burst's LLM job finds its neighbours here (wabot.llm.burst); idempotent.
                self.conversations.add_pending_llm(tenant, instance_id, event.user_key, job.message_id,
                                                   job.question, float(plan.llm_job.get("decided_at") or self.clock()),
                                                   plain=job.llm is None)
            # Queue and LLM worker both dedup on the event's id: a retry cannot ask twice.
            self.llm_queue.publish([job])
        self._bookkeeping(tenant, instance_id, event, plan, delivery)

    def _bookkeeping(self, tenant: TenantContext, instance_id: str, event: InboundEvent, plan: ReplyPlan,
                     delivery: Any) -> None:
        """Counters and activity after sending: best effort, so that their failure can never
        make a retry of an event whose replies are already out."""
        try:
            counters, latest = delivery.counters(self.clock)
            if plan.counters:
                latest["last_inbound_at"] = iso_now(self.clock)
            self.stats.increment(tenant, instance_id, {**plan.counters, **counters}, latest=latest)
            if delivery.sent and (event.kind == "outbound" or self.activity_per_message):
                what = "manager reply" if event.kind == "outbound" else f"{event.type} message answered, " \
                    f"{delivery.sent} repl" + ("y" if delivery.sent == 1 else "ies")
                self.activity.record(tenant, instance_id, "reply_sent", f"{what} sent",
                                     {"message_id": event.message_id[-40:]})
        except Exception:
            self.logger.exception("bookkeeping after sending failed; the replies are out")

    def give_up(self, event: InboundEvent, error: Exception) -> None:
        """The last attempt failed: the queue moves the event to its dead-letter queue now."""
        record_dead_letter(self.activity, self.stats, event, error)

    # ---- statuses ----------------------------------------------------------------------------

    def _status(self, event: InboundEvent) -> None:
        """Statuses go to the status worker; one queued here before that (an older webhook) is
        applied the same way."""
        self.statuses.count([(event, self.statuses.apply(event))])
