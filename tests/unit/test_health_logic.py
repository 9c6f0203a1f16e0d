"""Account health without AWS: the summary, account events, signed notifications, paused sends."""

from __future__ import annotations

import json
from datetime import UTC, datetime

import httpx

from tests.integration.llm_harness import guarded
from wabot.health import apply_account_event
from wabot.models.health import AccountEvent, HealthRecord, PhoneNumberInfo, summarize
from wabot.models.instance import InstanceConfig
from wabot.notify import SIGNATURE_HEADER, TenantNotifier, signature_is_valid
from wabot.tenancy import TenantContext
from wabot.whatsapp.sender import ReplySender

NOW = datetime(2026, 12, 1, 10, 0, tzinfo=UTC)
ACME = TenantContext("acme")


def config(**fields) -> InstanceConfig:
    return InstanceConfig(tenant_id="acme", instance_id="bot", name="Bot", phone_number_id="1065403522", **fields)


def test_summary_words_and_reasons():
    ok = HealthRecord(token_status="valid", checked_at=NOW, phone=PhoneNumberInfo(quality_rating="GREEN",
                                                                                 status="CONNECTED"))
    assert summarize(ok).status == "ok"
    assert summarize(HealthRecord()).model_dump() == {"status": "warning", "reason": "not checked yet"}
    assert summarize(ok.model_copy(update={"token_status": "invalid"})).status == "failing"
    assert summarize(ok.model_copy(update={"account_restricted": True})).status == "failing"
    red = ok.model_copy(update={"phone": PhoneNumberInfo(quality_rating="RED")})
    assert summarize(red).status == "warning" and "RED" in summarize(red).reason
    assert summarize(ok.model_copy(update={"token_status": "unknown"})).status == "warning"


def test_account_events_are_idempotent_and_bounded():
    record = HealthRecord()
    for n in range(15):
        event = AccountEvent(tenant_id="acme", instance_id="bot", field="message_template_status_update",
                             value={"event": "APPROVED", "message_template_id": n, "message_template_name": f"t{n}"},
                             time=1764583200 + n)
        record = apply_account_event(record, event)
        assert apply_account_event(record, event) == record  # Meta's retry changes nothing
    assert [c.name for c in record.template_changes] == [f"t{n}" for n in range(14, 4, -1)]  # newest 10
    ban = AccountEvent(tenant_id="acme", instance_id="bot", field="account_update",
                       value={"event": "ACCOUNT_RESTRICTION"}, time=1764583300)
    record = apply_account_event(record, ban)
    assert record.account_restricted and record.account_events[0].event == "ACCOUNT_RESTRICTION"
    back = AccountEvent(tenant_id="acme", instance_id="bot", field="account_update",
                        value={"event": "DISABLED_UPDATE", "ban_info": {"waba_ban_state": "REINSTATE"}},
                        time=1764583400)
    assert not apply_account_event(record, back).account_restricted


class Secrets:
    def __init__(self, value: str | None) -> None:
        self.value = value

    def get(self, tenant, config, name, force_fetch=False):
        assert name == "notify_secret"
        return self.value


class Log:
    def __init__(self) -> None:
        self.lines: list[tuple[str, dict]] = []

    def warning(self, message, extra=None):
        self.lines.append((message, extra or {}))

    info = warning


def test_notifications_are_signed_retried_and_never_unsigned():
    answers = [503, 429, 200]
    seen: list[httpx.Request] = []

    def receiver(request: httpx.Request) -> httpx.Response:
        seen.append(request)
        return httpx.Response(answers.pop(0))

    secret = "a-notify-secret-0123456789"
    notifier = TenantNotifier(guarded(receiver), Secrets(secret), Log(), sleep=lambda _s: None)
    target = config(notify_url="https://hooks.example.test/in")
    assert notifier.send(ACME, target, "instance.health_changed", {"status": "failing"}) == "delivered"
    assert len(seen) == 3 and len({r.headers["x-wabot-delivery"] for r in seen}) == 1
    assert signature_is_valid(secret, seen[-1].content, seen[-1].headers[SIGNATURE_HEADER])
    assert json.loads(seen[-1].content)["data"] == {"status": "failing"}

    refused = TenantNotifier(guarded(lambda r: httpx.Response(400)), Secrets(secret), Log(), sleep=lambda _s: None)
    assert refused.send(ACME, target, "e", {}) == "failed"  # 4xx is final: no retry
    blocked = TenantNotifier(guarded(receiver), Secrets(secret), Log(), sleep=lambda _s: None)
    assert blocked.send(ACME, config(notify_url="https://127.0.0.2/in"), "e", {}) == "failed"  # SSRF guard
    assert TenantNotifier(guarded(receiver), Secrets(None), Log()).send(ACME, target, "e", {}) == "not_configured"
    assert TenantNotifier(guarded(receiver), Secrets(secret), Log()).send(ACME, config(), "e", {}) == "not_configured"


def test_paused_sends_attempt_nothing():
    class Untouchable:
        def __getattr__(self, name):
            raise AssertionError(f"{name} used while sends are paused")

    log = Log()
    sender = ReplySender(Untouchable(), Untouchable(), log)
    delivery = sender.deliver(ACME, config(sends_paused=True), [{"type": "text"}], 0, deadline=1e12,
                              on_sent=lambda n, wamid: None)
    assert (delivery.sent, delivery.completed) == (0, False)
    assert log.lines and "paused" in log.lines[0][0]


def test_a_token_no_header_can_carry_is_invalid_without_a_call():
    from wabot.health import check_credentials

    class NoCalls:
        def __getattr__(self, name):
            raise AssertionError("no Graph API call for such a token")

    result = check_credentials(NoCalls(), "1065403522", "EAAG\udb1f\udc9atoken")
    assert result.token_status == "invalid" and result.error.code == 190
