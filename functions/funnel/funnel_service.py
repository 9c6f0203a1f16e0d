"""Handling one queued event: statuses, gates, the funnel decision, and reliable sending.

Exactly once, with the user's own profile item as the record (no separate idempotency record:
the inbound queue is FIFO per user, so no two deliveries of one user's messages run at once and
a conditional write on the profile is a sound duplicate check). The queue dedups Meta's quick
retries; the reply plan stored in the profile (conditional on its version) before the first
send makes a retry after a crash send only the replies not sent yet, and a plan marked done
makes a redelivery find nothing left to do; the profile remembers the last messages it
answered, for a retry that arrives after later messages (a Meta retry after SQS's 5-minute
dedup window, a DLQ redrive).
"""

from __future__ import annotations

import time
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

from wabot.bookkeeping import Bookkeeping
from wabot.funnel.engine import FunnelEngine, Outcome
from wabot.funnel.flow import Flow
from wabot.funnel.templates import default_funnel
from wabot.handoff import bot_may_send, human_is_handling, window_is_open
from wabot.models.conversation import ReplyPlan, UserProfile
from wabot.models.events import InboundEvent
from wabot.models.instance import InstanceConfig
from wabot.models.message_log import LogEntry, Sender, event_entry, inbound_entry, outbound_entry
from wabot.notify import TenantNotifier
from wabot.queue import EventPublisher
from wabot.repositories.conversations import ConversationStore
from wabot.repositories.funnels import FunnelRepository
from wabot.repositories.instances import InstanceRegistry
from wabot.repositories.messages import MessageLog
from wabot.statuses import StatusApplier
from wabot.stt import SttError, VoiceTranscriber
from wabot.tenancy import TenantContext
from wabot.whatsapp.messages import Recipient, TextMessage, to_graph_payload
from wabot.whatsapp.sender import Delivery, DeliveryInterrupted, ReplySender


def _utc_day(timestamp: int | None) -> int:
    return -1 if timestamp is None else timestamp // 86400


@dataclass
class FunnelService:
    registry: InstanceRegistry
    funnels: FunnelRepository
    conversations: ConversationStore
    bookkeeping: Bookkeeping  # every counter and activity entry of this worker
    sender: ReplySender
    llm_queue: EventPublisher
    messages: MessageLog
    statuses: StatusApplier
    logger: Any
    voice: VoiceTranscriber | None = None  # speech to text for voice notes (None: not set up)
    notifier: TenantNotifier | None = None  # signed hand-off notifications to the tenant's URL
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
        decided_now = profile.plan is None or profile.plan.message_id != event.message_id
        if decided_now:
            decide = self._outbound if event.kind == "outbound" else self._decide
            profile = decide(tenant, config, self._replacing_plan(tenant, config, profile), event, deadline)
        if profile.plan is not None and profile.plan.message_id == event.message_id and not profile.plan.done:
            self._deliver(tenant, config, profile, event, deadline, decided_now)

    # ---- deciding ----------------------------------------------------------------------------

    def _replacing_plan(self, tenant: TenantContext, config: InstanceConfig, profile: UserProfile) -> UserProfile:
        """The profile about to get a new plan: the old plan's message is remembered as answered
        if its turn's log item says it was done (its replies out, its LLM job handed on), so a
        late redelivery of it is not answered again; one replaced before it was sent is not, so
        it is decided again (a redrive after a failure)."""
        old = profile.plan
        if old is None or old.done or not old.log or profile.already_remembered(old.message_id):
            return profile
        if not self.messages.turn_written(tenant, config.instance_id, profile.user_key, old.log[0]):
            return profile
        return profile.model_copy(update={"handled": profile.remember(old.message_id)})

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
                self.bookkeeping.note(tenant, config.instance_id, "error",
                                      f"voice message not transcribed: {str(error)[:200]}",
                                      {"message_id": event.message_id[-40:]})
                return event, {"stt_errors": 1, "errors": 1}
            self.conversations.save_transcript(tenant, config.instance_id, event.user_key, event.message_id, text)
        return event.model_copy(update={"type": "text", "content": {"body": text}}), {"transcribed": 1}

    def _decide(self, tenant: TenantContext, config: InstanceConfig, profile: UserProfile,
                event: InboundEvent, deadline: float) -> UserProfile:
        heard: InboundEvent = event
        voice_counters: dict[str, int] = {}
        if event.kind == "message" and event.type == "audio":
            heard, voice_counters = self._hear(tenant, config, profile, event, deadline)
        now = self.clock()
        log_in = inbound_entry(event, now)
        if heard is not event:
            log_in.text = str(heard.content["body"])[:1000]  # a voice note's transcript, shown in the inbox
        log: list[LogEntry] = [log_in]
        handoff: dict[str, Any] = {}
        if profile.mode == "human" and not human_is_handling(profile, config, now):
            log.insert(0, event_entry("timeout", now - 0.001, None, "back to the bot: no manager message in "
                                      f"{config.handoff_timeout_hours:g} h"))
            handoff = {"mode": "bot", "human_message": None}
        if human_is_handling(profile, config, now):
            # A person handles the user: recorded, counted and shown in the inbox; the flow waits.
            outcome = Outcome(state=profile.state)
        else:
            outcome = self._engine(tenant, config).handle(profile.state, heard, config, now)
        recipient = Recipient(phone=event.phone) if event.phone else Recipient(user_id=event.user_id or event.user_key)
        replies = [to_graph_payload(reply, recipient) for reply in outcome.replies]
        handoff_node = outcome.handoff["node"] if outcome.handoff else None
        node = self._engine(tenant, config).flow.nodes.get(handoff_node) if handoff_node else None
        # A handoff step that ends the flow gives the conversation to a person; one with a `next`
        # (a booking to confirm) only tells the managers, and the bot carries on.
        takeover = outcome.handoff is not None and getattr(node, "next", None) is None
        if takeover:
            handoff = {"mode": "human", "human_since": int(now), "human_by": "user", "human_message": event.message_id,
                       "last_manager_at": None}
            log.append(event_entry("handoff", now + 0.001, "user", f"at {handoff_node}"))
        if outcome.handoff:
            # Managers learn of it in the same plan, so exactly once with the user's replies.
            replies += self._manager_notices(tenant, config, event, outcome.handoff, now)
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
            plan = ReplyPlan(message_id=event.message_id, replies=replies, counters=inbound, llm_job=llm_job, log=log)
        profile = self.conversations.save_profile(tenant, config.instance_id, profile.model_copy(update={
            "state": outcome.state, "plan": plan, "steps": profile.with_steps(outcome.steps),
            # Nothing to send: answered now (a plan is remembered once its last reply is out).
            "handled": profile.handled if plan else profile.remember(event.message_id),
            "phone": event.phone or profile.phone, "user_id": event.user_id or profile.user_id,
            "profile_name": event.profile_name or profile.profile_name,
            "last_inbound_at": max(profile.last_inbound_at or 0, event.timestamp),
            "preview": (log_in.text or log_in.reply_title or f"[{event.type}]")[:80],
            "unread": 0 if replies else profile.unread + 1, "failure": None, **handoff,
        }))
        self._record_decision(tenant, config, event, outcome, takeover, log if plan is None else None, inbound)
        return profile

    def _record_decision(self, tenant: TenantContext, config: InstanceConfig, event: InboundEvent, outcome: Outcome,
                         takeover: bool, log: list[LogEntry] | None, inbound: dict[str, int]) -> None:
        """After the decision is stored: a turn with nothing to send (`log` given) is logged and
        counted now; gates and hand-offs go to the activity log, hand-offs to the notifier."""
        if log is not None:
            # Nothing to send: the turn is logged now (with replies, it is logged once they are out).
            self._log(tenant, config, event, log)
            self.bookkeeping.received(tenant, config.instance_id, inbound)
        if outcome.gate:
            self.bookkeeping.note(tenant, config.instance_id, "message_handled",
                                  f"{event.type} message recorded, no reply: {outcome.gate}", {"gate": outcome.gate})
        if outcome.handoff:
            what = "conversation handed to a person" if takeover else "a person was asked to follow up"
            self.bookkeeping.note(tenant, config.instance_id, "message_handled", f"{what} at {outcome.handoff['node']}",
                                  {"handoff": outcome.handoff, "user": event.user_key})
            self._notify_handoff(tenant, config, event, outcome.handoff, takeover)

    def _notify_handoff(self, tenant: TenantContext, config: InstanceConfig, event: InboundEvent,
                        handoff: dict[str, str], takeover: bool) -> None:
        """The tenant's own endpoint learns of it (signed, retried by the notifier), after the
        decision is stored: a failure here never costs the user a reply."""
        if self.notifier is None or not config.handoff_notify.webhook:
            return
        try:
            self.notifier.send(tenant, config, "conversation.handoff", {
                "user": event.user_key, "phone": event.phone, "profile_name": event.profile_name,
                "node": handoff.get("node"), "note": handoff.get("note"),
                "mode": "human" if takeover else "follow_up", "message_id": event.message_id})
        except Exception:
            self.logger.exception("hand-off notification failed; the hand-off itself is stored")

    def _manager_notices(self, tenant: TenantContext, config: InstanceConfig, event: InboundEvent,
                         handoff: dict[str, str], now: float) -> list[dict[str, Any]]:
        """A WhatsApp text to each listed manager whose own 24-hour window with this number is
        open (outside it WhatsApp would refuse a free-form message)."""
        notices = []
        who = event.profile_name or event.phone or event.user_key
        for phone in config.handoff_notify.manager_phones:
            if phone == event.phone or not window_is_open(self.conversations.get_profile(
                    tenant, config.instance_id, phone), now):
                continue
            text = f"Conversation with {who} needs a person ({handoff['node']})"
            if handoff.get("note"):
                text += f": {handoff['note']}"
            notices.append(to_graph_payload(TextMessage(body=text[:4096]), Recipient(phone=phone)))
        return notices

    def _outbound(self, tenant: TenantContext, config: InstanceConfig, profile: UserProfile,
                  event: InboundEvent, deadline: float) -> UserProfile:
        """A manager's text, sent as the bot in the conversation's order (not while stopped)."""
        if not config.running:
            self.bookkeeping.note(tenant, config.instance_id, "message_handled", "manager reply not sent: stopped",
                                  {"gate": "stopped"}, actor=event.actor)
            return profile
        recipient = Recipient(phone=profile.phone) if profile.phone else Recipient(user_id=profile.user_id
                                                                                   or profile.user_key)
        if event.type == "template":
            reply = {"messaging_product": "whatsapp", "recipient_type": "individual", **recipient.graph_fields(),
                     "type": "template", "template": event.content["template"]}
        else:
            reply = to_graph_payload(TextMessage(body=event.content["body"]), recipient)
        what = "manager template" if event.type == "template" else "manager reply"
        self.bookkeeping.note(tenant, config.instance_id, "admin_change", f"{what} queued for sending",
                              actor=event.actor)
        return self.conversations.save_profile(tenant, config.instance_id, profile.model_copy(update={
            "plan": ReplyPlan(message_id=event.message_id, replies=[reply])}))

    # ---- sending ---------------------------------------------------------------------------

    def _deliver(self, tenant: TenantContext, config: InstanceConfig, profile: UserProfile,
                 event: InboundEvent, deadline: float, decided_now: bool) -> None:
        """Send the plan's replies not sent yet, hand on its LLM job, log the turn.

        A message's plan is marked done by its turn's log item (keyed by the plan's first log
        entry, so known before sending): written right after the last send (or once the LLM
        job is handed on), it is the progress record of that step, and saves the profile a
        second write. Earlier replies of a longer plan, and a manager's message (no log entry
        to key by), record their progress in the profile."""
        plan = profile.plan
        assert plan is not None
        instance_id = config.instance_id
        marker = plan.log[0] if plan.log else None
        if marker is not None and not decided_now and self.messages.turn_written(
                tenant, instance_id, event.user_key, marker):
            self.logger.info("event already handled; its turn is logged")
            return
        current = {"profile": profile}
        sent_entries: list[LogEntry] = []
        sender: Sender = "manager" if event.kind == "outbound" else "bot"
        actor = event.actor if event.kind == "outbound" else None

        def record_progress(sent: int, wamid: str) -> None:
            payload = plan.replies[sent - 1]
            # Managers' hand-off notices ride in the plan but are not part of this conversation.
            if "to" not in payload or payload["to"].lstrip("+") == (event.phone or ""):
                sent_entries.append(outbound_entry(payload, wamid, self.clock(), sender, actor))
            if marker is not None and sent == len(plan.replies) and plan.llm_job is None:
                self._write_turn(tenant, config, event, [*plan.log, *sent_entries])
            else:
                current["profile"] = self.conversations.mark_sent(tenant, instance_id, current["profile"], sent,
                                                                  at=int(self.clock()))

        def may_send() -> bool:  # the hand-off check, re-read right before each of the bot's sends
            latest = self.conversations.get_profile(tenant, instance_id, event.user_key)
            return bot_may_send(latest, config, plan.message_id, self.clock())

        try:
            delivery = self.sender.deliver(tenant, config, plan.replies, plan.sent, deadline, record_progress,
                                           mark_read=event.message_id if event.kind == "message"
                                           and config.read_receipts else None,
                                           bot_may_send=None if event.kind == "outbound" else may_send)
        except DeliveryInterrupted as interrupted:
            self.bookkeeping.interrupted(tenant, instance_id, interrupted.sent)
            raise
        self._after_delivery(tenant, config, event, plan, delivery, [*plan.log, *sent_entries], current["profile"])
        self._bookkeeping(tenant, instance_id, event, plan, delivery)

    def _after_delivery(self, tenant: TenantContext, config: InstanceConfig, event: InboundEvent, plan: ReplyPlan,
                        delivery: Delivery, turn: list[LogEntry], profile: UserProfile) -> None:
        """What the delivery's outcome leaves to do: drop a plan a person took over, hand on the
        LLM job, give up the rest after a permanent failure; and the turn's log item, unless the
        last send wrote it."""
        instance_id = config.instance_id
        marker = plan.log[0] if plan.log else None
        if delivery.held:
            # A person took over after this plan was decided: it is dropped, never sent later.
            self.conversations.abandon_plan(tenant, instance_id, event.user_key, plan.message_id)
            self._log(tenant, config, event, [*turn, event_entry("held", self.clock(), None,
                                                                   "planned replies dropped: a person took over")])
        elif plan.llm_job is not None:
            job = InboundEvent.model_validate(plan.llm_job)
            if config.llm_debounce_seconds > 0:
                # The burst's LLM job finds its neighbours here (wabot.llm.burst); idempotent.
                self.conversations.add_pending_llm(tenant, instance_id, event.user_key, job.message_id,
                                                   job.question, float(plan.llm_job.get("decided_at") or self.clock()),
                                                   plain=job.llm is None)
            # Queue and LLM worker both dedup on the event's id: a retry cannot ask twice.
            self.llm_queue.publish([job])
            # Done (the replies a permanent failure stopped are given up with it).
            if marker is not None:
                self._write_turn(tenant, config, event, turn)
            else:
                self.conversations.mark_sent(tenant, instance_id, profile, len(plan.replies), llm_queued=True)
        elif not delivery.completed:
            # A permanent failure (recorded by the bookkeeping): the rest of the plan is given up,
            # and a redelivery of the message finds it handled.
            self.conversations.abandon_plan(tenant, instance_id, event.user_key, plan.message_id)
            self._log(tenant, config, event, turn)
        elif marker is None:
            self._log(tenant, config, event, turn)

    def _write_turn(self, tenant: TenantContext, config: InstanceConfig, event: InboundEvent,
                    entries: list[LogEntry]) -> None:
        """The turn's log item as the plan's done marker: losing it would resend the last reply
        on a retry, so try hard (as the sender does for progress), then fail the event."""
        delay = 0.05
        for attempt in range(1, 6):
            try:
                self.messages.record(tenant, config.instance_id, event.user_key, entries,
                                     config.message_retention_days)
                return
            except Exception:
                if attempt == 5:
                    raise
                time.sleep(delay)
                delay *= 2

    def _log(self, tenant: TenantContext, config: InstanceConfig, event: InboundEvent, entries: list[LogEntry]) -> None:
        """One turn into the conversation's message log (best effort: it only shows what happened)."""
        try:
            self.messages.record(tenant, config.instance_id, event.user_key, entries, config.message_retention_days)
        except Exception:
            self.logger.exception("message log write failed; the conversation itself is saved")

    def _bookkeeping(self, tenant: TenantContext, instance_id: str, event: InboundEvent, plan: ReplyPlan,
                     delivery: Any) -> None:
        """Counters and activity after sending (best effort: the replies are out)."""
        summary = None
        if event.kind == "outbound" or self.activity_per_message:
            summary = "manager reply sent" if event.kind == "outbound" else f"{event.type} message answered, " \
                f"{delivery.sent} repl" + ("y" if delivery.sent == 1 else "ies") + " sent"
        self.bookkeeping.delivered(tenant, instance_id, delivery, plan.counters, "funnel", summary,
                                   {"message_id": event.message_id[-40:]})

    def give_up(self, event: InboundEvent, error: Exception) -> None:
        """The last attempt failed: the queue moves the event to its dead-letter queue now. What
        the user sent still shows in the inbox (its decision's log waited for the replies)."""
        self.bookkeeping.dead_lettered(event, error)
        if event.kind != "message":
            return
        tenant = TenantContext(event.tenant_id)
        profile = self.conversations.get_profile(tenant, event.instance_id, event.user_key)
        if profile is not None and profile.plan is not None and profile.plan.message_id == event.message_id:
            config = self.registry.get(tenant, event.instance_id)
            self._log(tenant, config, event, profile.plan.log)

    # ---- statuses ----------------------------------------------------------------------------

    def _status(self, event: InboundEvent) -> None:
        """Statuses go to the status worker; one queued here before that (an older webhook) is
        applied the same way."""
        self.statuses.count([(event, self.statuses.apply(event))])
