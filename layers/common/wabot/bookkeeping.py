"""What a worker counts and logs about its work, in one place: the day's counters (stats) and
the instance's activity log. The services call it; the sender only reports outcomes.

Every write here comes after the real work and is best effort where noted: a failed counter
must never make a retry resend a reply that is already out.
"""

from __future__ import annotations

import time
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

from wabot import metrics
from wabot.models.activity import ActivityKind
from wabot.models.events import InboundEvent
from wabot.repositories.activity import ActivityLog
from wabot.repositories.stats import StatsRepository
from wabot.tenancy import TenantContext
from wabot.whatsapp.sender import Delivery, iso_now


@dataclass
class Bookkeeping:
    stats: StatsRepository
    activity: ActivityLog
    logger: Any
    clock: Callable[[], float] = time.time

    def note(self, tenant: TenantContext, instance_id: str, kind: ActivityKind, text: str,
             details: dict[str, Any] | None = None, actor: str | None = None) -> None:
        """An entry in the instance's activity log (gates, hand-offs, errors, manager actions)."""
        self.activity.record(tenant, instance_id, kind, text, details or {}, actor=actor)

    def received(self, tenant: TenantContext, instance_id: str, counters: dict[str, int]) -> None:
        """A message handled with nothing to send: its counters, and when it came."""
        self.stats.increment(tenant, instance_id, counters, latest={"last_inbound_at": iso_now(self.clock)})

    def delivered(self, tenant: TenantContext, instance_id: str, delivery: Delivery, counters: dict[str, int],
                  path: str, summary: str | None = None, details: dict[str, Any] | None = None) -> None:
        """After a delivery: what it sent with the plan's `counters` in one write, its failure (and an
        access token found invalid), and `summary` as a `reply_sent` entry; a message answered on
        `path` (funnel, llm, voice) in the metrics. Best effort."""
        if delivery.sent:
            metrics.count("MessagesAnswered", path=path)
        try:
            sent, latest = delivery.counters(self.clock)
            if counters.get("inbound"):
                latest["last_inbound_at"] = iso_now(self.clock)
            if delivery.failure:
                self.activity.record(tenant, instance_id, "error", f"reply not delivered: {delivery.failure}"[:500], {})
            if delivery.token_error_code is not None:
                self.stats.set_state(tenant, instance_id, last_error={
                    "code": delivery.token_error_code, "message": "access token expired or invalid",
                    "at": iso_now(self.clock)})
            self.stats.increment(tenant, instance_id, {**counters, **sent}, latest=latest)
            if summary and delivery.sent:
                self.activity.record(tenant, instance_id, "reply_sent", summary, details or {})
        except Exception:
            self.logger.exception("bookkeeping after sending failed; the replies are out")

    def interrupted(self, tenant: TenantContext, instance_id: str, sent: int) -> None:
        """Replies that went out before a transient failure (the retry sends the rest, counted then)."""
        if sent:
            self.stats.increment(tenant, instance_id, {"outbound": sent},
                                 latest={"last_outbound_at": iso_now(self.clock)})

    def dead_lettered(self, event: InboundEvent, error: Exception) -> None:
        """An event that failed every attempt, in the instance's activity log, error count and metrics."""
        metrics.count("DeadLettered")
        tenant = TenantContext(event.tenant_id)
        self.activity.record(tenant, event.instance_id, "error",
                             f"{event.kind} {event.type} moved to the dead-letter queue after its last attempt: "
                             f"{type(error).__name__}", {"message_id": event.message_id[-40:]})
        self.stats.increment(tenant, event.instance_id, {"errors": 1, "dead_lettered": 1})
