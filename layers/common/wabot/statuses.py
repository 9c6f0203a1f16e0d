"""Statuses of the messages the platform sent (sent, delivered, read, played, failed), applied in
batches with about one DynamoDB write each.

- Only the platform's own messages are tracked: every message it sends carries
  `biz_opaque_callback_data` = `OWN_MESSAGE_TAG`, which Meta echoes in that message's statuses.
  Statuses of messages another tool sent from the same number are only counted, apart
  (`foreign_statuses`), never stored or counted as the bot's.
- `sent` is not stored: a message the platform sent is sent; the rank condition of the outbound
  message's item ("never move backwards") makes every later status idempotent, so a status
  needs no idempotency record of its own.
- Counters are added once per instance and batch (one `ADD`), from the statuses that moved.
- A `failed` status's activity entry has a deterministic key written only if absent, before the
  status moves, so a retry after any failure records it exactly once.
"""

from __future__ import annotations

import hashlib
import time
from collections import Counter
from collections.abc import Iterable
from datetime import UTC, datetime
from typing import Any

from wabot.models.events import InboundEvent
from wabot.repositories.activity import ActivityLog
from wabot.repositories.conversations import ConversationStore
from wabot.repositories.stats import StatsRepository
from wabot.tenancy import TenantContext
from wabot.whatsapp.graph import OWN_MESSAGE_TAG

NOT_STORED = frozenset({"sent"})
FOREIGN_COUNTER = "foreign_statuses"
_COUNT_ATTEMPTS = 5


def is_own(event: InboundEvent) -> bool:
    """True when the status belongs to a message this platform sent."""
    return (event.raw or {}).get("biz_opaque_callback_data") == OWN_MESSAGE_TAG


class StatusApplier:
    def __init__(self, conversations: ConversationStore, stats: StatsRepository, activity: ActivityLog,
                 logger: Any) -> None:
        self.conversations = conversations
        self.stats = stats
        self.activity = activity
        self.logger = logger

    def apply(self, event: InboundEvent) -> dict[str, int]:
        """Store one status; returns what it adds to its instance's counters (not written yet)."""
        if not is_own(event):
            return {FOREIGN_COUNTER: 1}
        if event.type in NOT_STORED:
            return {}
        tenant = TenantContext(event.tenant_id)
        if event.type == "failed":
            self._record_failure(tenant, event)
        moved = self.conversations.update_outbound_status(tenant, event.instance_id, event.user_key,
                                                          event.message_id, event.type, event.timestamp)
        if not moved:
            return {}
        return {event.type: 1, "errors": 1} if event.type == "failed" else {event.type: 1}

    def _record_failure(self, tenant: TenantContext, event: InboundEvent) -> None:
        errors = [error for error in (event.content or {}).get("errors") or [] if isinstance(error, dict)]
        codes = [error.get("code") for error in errors]
        digest = hashlib.blake2b(event.message_id.encode(), digest_size=8).hexdigest()
        summary = f"message not delivered: {', '.join(map(str, codes)) or 'unknown error'}"
        self.activity.record_once(
            tenant, event.instance_id, "error", summary,
            {"message_id": event.message_id[-40:], "codes": codes,
             "titles": [str(error.get("title", ""))[:80] for error in errors]},
            at=datetime.fromtimestamp(event.timestamp, UTC), entry_id=f"failed-{digest}")

    def count(self, counted: Iterable[tuple[InboundEvent, dict[str, int]]]) -> None:
        """One counter write per instance for a whole batch. The statuses are already stored; a
        count that cannot be written after retries is logged (it is never re-derived)."""
        totals: dict[tuple[str, str], Counter[str]] = {}
        for event, counters in counted:
            if counters:
                totals.setdefault((event.tenant_id, event.instance_id), Counter()).update(counters)
        for (tenant_id, instance_id), counters in totals.items():
            self._count_instance(TenantContext(tenant_id), instance_id, dict(counters))

    def _count_instance(self, tenant: TenantContext, instance_id: str, counters: dict[str, int]) -> None:
        delay = 0.1
        for attempt in range(1, _COUNT_ATTEMPTS + 1):
            try:
                self.stats.increment(tenant, instance_id, counters)
                return
            except Exception:
                if attempt == _COUNT_ATTEMPTS:
                    self.logger.exception("status counters not written", extra={
                        "tenant_id": tenant.tenant_id, "instance_id": instance_id, "counters": counters})
                    return
                time.sleep(delay)
                delay *= 2
