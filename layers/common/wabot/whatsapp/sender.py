"""Sending a conversation's replies in order, reliably, for every worker: transport only.

Each reply goes out after the previous send returned. Transient Graph errors are retried with
backoff until the deadline and then raised as `DeliveryInterrupted` (the queue retries the
event; progress already recorded means nothing is sent twice). A permanent error ends the
delivery, and error 190 (after re-reading the access token once) marks the token invalid: both
come back in the `Delivery` outcome. Counting and logging what happened is the caller's
(`wabot.bookkeeping`), in one place per worker.
"""

from __future__ import annotations

import time
from collections.abc import Callable
from dataclasses import dataclass
from datetime import UTC, datetime
from functools import partial
from typing import Any

from wabot.models.instance import InstanceConfig
from wabot.repositories.secrets import SecretStore
from wabot.tenancy import TenantContext
from wabot.whatsapp.graph import GraphClient, GraphError, send_with_retries


def iso_now(clock: Callable[[], float] = time.time) -> str:
    return datetime.fromtimestamp(clock(), UTC).isoformat()


@dataclass(frozen=True)
class Delivery:
    sent: int
    completed: bool  # False: a permanent failure ended it (recorded as an error)
    message_ids: tuple[str, ...] = ()  # the wamids Meta gave the replies sent now, in order
    held: bool = False  # True: a person took the conversation over; the rest was not sent
    failure: str | None = None  # why a permanent failure ended it
    token_error_code: int | None = None  # the Graph error that showed the access token invalid

    def counters(self, clock: Callable[[], float] = time.time) -> tuple[dict[str, int], dict[str, str]]:
        """(counters, latest facts) for one stats write."""
        counters = {"outbound": self.sent} if self.sent else {}
        if not self.completed:
            counters["errors"] = 1
        return counters, ({"last_outbound_at": iso_now(clock)} if self.sent else {})


PROGRESS_RESERVE_SECONDS = 1.0


class DeliveryStopped(Exception):
    """A permanent failure: the rest of the replies are dropped."""

    def __init__(self, reason: str, token_error_code: int | None = None) -> None:
        super().__init__(reason)
        self.token_error_code = token_error_code


class DeliveryInterrupted(Exception):
    """A transient failure after `sent` replies went out now: the queue retries the rest."""

    def __init__(self, sent: int) -> None:
        super().__init__(f"delivery interrupted after {sent} replies")
        self.sent = sent


@dataclass
class ReplySender:
    graph: GraphClient
    secrets: SecretStore
    logger: Any

    def deliver(self, tenant: TenantContext, config: InstanceConfig, replies: list[dict[str, Any]], start: int,
                deadline: float, on_sent: Callable[[int, str], None], mark_read: str | None = None,
                bot_may_send: Callable[[], bool] | None = None) -> Delivery:
        """Send `replies[start:]` in order, `on_sent(n, wamid)` recording progress after each one (the last
        included: a failure after it, even of the idempotency record, must not resend anything).
        The bot's own replies pass `bot_may_send`, asked right before each send (the hand-off
        check, `wabot.handoff`): once it says no, nothing more is sent (`held`)."""
        sent_now = 0
        if config.sends_paused:  # each send would fail with 190 until the token is replaced
            self.logger.warning("reply not sent: sends paused while the access token is invalid")
            return Delivery(0, completed=False)
        wamids: list[str] = []
        try:
            if bot_may_send is not None and start < len(replies) and not bot_may_send():
                return Delivery(0, completed=True, held=True)
            token = self.secrets.get(tenant, config, "access_token")
            if not token:
                raise DeliveryStopped("no access token configured")
            if mark_read and start == 0 and replies:
                self._mark_read(config, token, mark_read)
            for index in range(start, len(replies)):
                if index > start and bot_may_send is not None and not bot_may_send():
                    return Delivery(sent_now, completed=True, message_ids=tuple(wamids), held=True)
                # Sends stop retrying early enough to leave time to record that they happened.
                token, wamid = self._send(tenant, config, token, replies[index], deadline - PROGRESS_RESERVE_SECONDS)
                sent_now += 1
                wamids.append(wamid)
                self._record_progress(on_sent, index + 1, wamid, deadline)
            return Delivery(sent_now, completed=True, message_ids=tuple(wamids))
        except DeliveryStopped as stop:
            self.logger.warning("reply not delivered", extra={"reason": str(stop)})
            return Delivery(sent_now, completed=False, message_ids=tuple(wamids), failure=str(stop)[:500],
                            token_error_code=stop.token_error_code)
        except GraphError as error:
            raise DeliveryInterrupted(sent_now) from error

    def _record_progress(self, on_sent: Callable[[int, str], None], sent: int, wamid: str, deadline: float) -> None:
        """A message is out: losing this write would resend it on a retry, so try hard."""
        delay = 0.05
        for attempt in range(1, 10):
            try:
                on_sent(sent, wamid)
                return
            except Exception:
                if attempt >= 3 and time.monotonic() + delay >= deadline:
                    self.logger.error("progress not recorded after a send: a retry may resend it",
                                      extra={"sent": sent})
                    raise
                time.sleep(delay)
                delay = min(delay * 2, 1.0)

    def upload_media(self, tenant: TenantContext, config: InstanceConfig, data: bytes, mime_type: str,
                     filename: str, deadline: float) -> str:
        token = self.secrets.get(tenant, config, "access_token")
        if not token:
            raise DeliveryStopped("no access token configured")
        return send_with_retries(
            lambda: self.graph.upload_media(config.phone_number_id, token, data, mime_type, filename), deadline)

    def _send(self, tenant: TenantContext, config: InstanceConfig, token: str, payload: dict,
              deadline: float) -> tuple[str, str]:
        """(the token that worked, the wamid Meta assigned)."""
        refreshed = False
        while True:
            try:
                wamid = send_with_retries(partial(self.graph.send, config.phone_number_id, token, payload), deadline)
                return token, wamid
            except GraphError as error:
                if error.token_invalid and not refreshed:
                    # Maybe rotated since we cached it: read it once more before giving up.
                    refreshed = True
                    token = self.secrets.get(tenant, config, "access_token", force_fetch=True) or token
                    continue
                if error.retriable:
                    raise
                raise DeliveryStopped(f"Graph API error {error.code}: {error.message[:200]}",
                                      token_error_code=error.code if error.token_invalid else None) from error

    def show_reading(self, tenant: TenantContext, config: InstanceConfig, message_id: str, typing: bool) -> None:
        """A read receipt, with the typing indicator when `typing`: a courtesy, never a reason to fail."""
        token = self.secrets.get(tenant, config, "access_token")
        if not token:
            return
        if not typing:
            self._mark_read(config, token, message_id)
            return
        try:
            self.graph.typing_indicator(config.phone_number_id, token, message_id)
        except GraphError as error:
            self.logger.info("typing indicator failed", extra={"code": error.code})

    def _mark_read(self, config: InstanceConfig, token: str, message_id: str) -> None:
        try:
            self.graph.mark_read(config.phone_number_id, token, message_id)
        except GraphError as error:  # a read receipt is a courtesy: never a reason to fail
            self.logger.info("mark-as-read failed", extra={"code": error.code})
