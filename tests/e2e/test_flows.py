"""Both shipped flow templates walked through the local stack, only over HTTP: each input goes in
as a signed webhook, and the outbox must hold exactly what `simulate` said the bot would send."""

from __future__ import annotations

import time

import pytest

from devstack.client import text_payload

pytestmark = pytest.mark.e2e

SALES = [
    "hi", "@sales:quiz", "@sales:qa:goal:docs", "@sales:qm:goal", "@sales:qa:goal:sales", "@sales:qd:goal",
    "@sales:qa:skills:help", "@sales:qa:budget:high", "@sales:custom_start", "A bank", "250", "1C, Bitrix24",
    "10,000 PDF contracts", "urgent, next month", "@tz:generate", "@faq:menu", "@faq:cat_product", "@faq:offline",
    "@faq:back_product", "@nav:menu", "@sales:manager",
]
CLINIC = [
    "hi", "@clinic:hours", "@clinic:book", "@clinic:service:cleaning", "Ann Lee", "yesterday", "31.12.2099",
    "+1 555 010 2030", "@clinic:change_date", "30.12.2099", "+1 555 010 2030", "@clinic:confirm", "@nav:menu",
    "@clinic:human",
]


def inputs(script: list[str]) -> list[dict]:
    return [{"reply": step[1:]} if step.startswith("@") else {"text": step} for step in script]


def sent_to(stack, phone_number_id: str, user: str) -> list[dict]:
    return [e["body"] for e in stack.client.outbox()
            if e.get("phone_number_id") == phone_number_id and "body" in e and e["body"].get("status") != "read"
            and e["body"].get("to") == f"+{user}" and "error" not in e]


def addressed(body: dict) -> dict:
    """The message itself: without its recipient, and without the tag every send carries for its statuses."""
    return {k: v for k, v in body.items() if k not in ("to", "recipient", "biz_opaque_callback_data")}


@pytest.mark.parametrize("template, script, phone_number_id", [
    ("sales", SALES, "106540352249001"), ("clinic", CLINIC, "106540352249002")])
def test_template_walked_through_the_local_stack_answers_as_simulated(local_stack, template, script,
                                                                      phone_number_id):
    secret = f"{template}-app-secret-1234"
    created = local_stack.client.admin("POST", "/admin/whatsapp/instances", {
        "name": f"{template} flow", "phone_number_id": phone_number_id, "access_token": "flow-access-token",
        "app_secret": secret, "verify_token": "flow-verify-token", "funnel_template": template})
    assert created.status_code == 201, created.text
    instance = created.json()["id"]
    simulated = local_stack.client.admin("POST", f"/admin/whatsapp/instances/{instance}/funnel/simulate",
                                         {"inputs": inputs(script)})
    assert simulated.status_code == 200, simulated.text
    turns = simulated.json()["turns"]
    user = "1555777" + phone_number_id[-4:]
    expected: list[dict] = []
    for step, turn in zip(script, turns, strict=True):
        assert turn["messages"], step  # every step of these scripts is answered by the flow itself
        expected += [addressed(message) for message in turn["messages"]]
        reply = ("button_reply", step[1:], step[1:21]) if step.startswith("@") else None
        payload = text_payload(phone_number_id, user, step, reply=reply)
        assert local_stack.client.post_webhook("demo", instance, secret, payload).status_code == 200
        deadline = time.monotonic() + 20
        while len(sent_to(local_stack, phone_number_id, user)) < len(expected) and time.monotonic() < deadline:
            time.sleep(0.1)
    time.sleep(1)  # time for anything unexpected to show up
    assert [addressed(body) for body in sent_to(local_stack, phone_number_id, user)] == expected
    stats = local_stack.client.admin("GET", f"/admin/whatsapp/instances/{instance}/funnel/stats").json()
    assert stats["totals"]["welcome"]["reached"] >= 1
    if template == "clinic":
        logs = local_stack.client.admin("GET", f"/admin/whatsapp/instances/{instance}/logs").json()["items"]
        assert sum(entry["summary"].startswith("hand-off") for entry in logs) == 2  # booking, reception
