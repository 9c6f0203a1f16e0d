"""Conversation operations through the local stack, only over HTTP: hand-off by button, by a
manager's send and by the API; the bot silent while human; release; the inbox and history in
order across the funnel, LLM and manager paths, per tenant; the window's 409 and templates."""

from __future__ import annotations

import time

import pytest

from devstack.client import text_payload
from tests.e2e.test_local_stack import wait_for

pytestmark = pytest.mark.e2e

SECRET = "conv-app-secret-1234"
NUMBER, OTHER_NUMBER = "106540352248001", "106540352248002"
USER = "15557770001"
BASE = "/admin/whatsapp/instances/inbox-bot"


@pytest.fixture(scope="module")
def bots(local_stack):
    for client, number in ((local_stack.client, NUMBER), (local_stack.other, OTHER_NUMBER)):
        created = client.admin("POST", "/admin/whatsapp/instances", {
            "name": "Inbox Bot", "phone_number_id": number, "waba_id": "102290129340398",
            "access_token": "conv-access-token", "app_secret": SECRET, "verify_token": "conv-verify-token",
            "funnel_template": "clinic"})
        assert created.status_code == 201, created.text
    return local_stack


def say(stack, text: str | None = None, *, tap: str | None = None, tenant: str = "demo", number: str = NUMBER,
        user: str = USER, age: int = 0) -> None:
    payload = text_payload(number, user, text or "", reply=("button_reply", tap, tap[:20]) if tap else None)
    payload["entry"][0]["changes"][0]["value"]["messages"][0]["timestamp"] = str(int(time.time()) - age)
    assert stack.client.post_webhook(tenant, "inbox-bot", SECRET, payload).status_code == 200


def sent_to(stack, user: str = USER, number: str = NUMBER) -> list[dict]:
    return [e["body"] for e in stack.client.outbox() if e.get("phone_number_id") == number and "body" in e
            and e["body"].get("status") != "read" and e["body"].get("to") == f"+{user}" and "error" not in e]


def settle(stack, count: int, user: str = USER) -> list[dict]:
    """Wait for `count` messages to the user, then a moment for anything unexpected."""
    wait_for(lambda: len(sent_to(stack, user)) >= count)
    time.sleep(1.5)
    return sent_to(stack, user)


def inbox(client, query: str = "") -> list[dict]:
    response = client.admin("GET", f"{BASE}/conversations{query}")
    assert response.status_code == 200, response.text
    return response.json()["items"]


def history(client, user: str = USER) -> list[dict]:
    response = client.admin("GET", f"{BASE}/conversations/{user}/messages?limit=100")
    assert response.status_code == 200, response.text
    return response.json()["items"]


def test_handoff_release_and_history_across_funnel_llm_and_manager(bots):
    stack = bots
    say(stack, "hi")
    assert len(settle(stack, 1)) == 1
    say(stack, tap="clinic:ask")
    say(stack, "Do you do braces?")  # answered by the LLM (the local fake)
    assert len(settle(stack, 3)) == 3
    say(stack, tap="clinic:human")
    handed = settle(stack, 4)
    assert handed[-1]["text"]["body"].startswith("A receptionist will answer you")
    say(stack, "hello? anyone?")
    say(stack, "hi")
    assert len(settle(stack, 5)) == 4  # silent while a person handles the user
    [listed] = inbox(stack.client)
    assert listed["handoff"] == "human" and listed["unread"] == 2 and listed["window_open"] is True
    sent = stack.client.admin("POST", f"{BASE}/send", {"user": USER, "text": "Hi, this is Anna from reception."})
    assert sent.status_code == 202, sent.text
    assert settle(stack, 5)[-1]["text"]["body"] == "Hi, this is Anna from reception."
    assert inbox(stack.client)[0]["unread"] == 0
    released = stack.client.admin("POST", f"{BASE}/conversations/{USER}/release")
    assert released.status_code == 200 and released.json()["handoff"] == "bot"
    say(stack, "hi")
    assert len(settle(stack, 6)) == 6  # the bot answers again
    log = history(stack.client)
    assert [(m["direction"], m["sender"]) for m in log] == [
        ("in", "user"), ("out", "bot"),  # hi
        ("in", "user"), ("out", "bot"),  # ask
        ("in", "user"), ("out", "llm"),  # the question
        ("in", "user"), ("event", "system"), ("out", "bot"),  # talk to a person
        ("in", "user"), ("in", "user"),  # unanswered while human
        ("out", "manager"), ("event", "system"),  # Anna, release
        ("in", "user"), ("out", "bot")]
    assert log[6]["reply_id"] == "clinic:human" and log[4]["text"] == "Do you do braces?"
    assert log[11]["actor"] == "admin" and [m["type"] for m in log if m["direction"] == "event"] == ["handoff",
                                                                                                  "release"]
    # The same phone number at another tenant is another conversation, never listed here.
    say(stack, "globex hi", tenant="globex", number=OTHER_NUMBER)
    wait_for(lambda: sent_to(stack, number=OTHER_NUMBER))
    assert [m["text"] for m in history(stack.other) if m["direction"] == "in"] == ["globex hi"]
    assert "globex hi" not in [m["text"] for m in history(stack.client)]
    assert len(inbox(stack.client)) == 1 and len(inbox(stack.other)) == 1


def test_handoff_by_api_holds_queued_messages(bots):
    stack, user = bots, "15557770002"
    say(stack, "hi", user=user)
    assert len(settle(stack, 1, user)) == 1
    taken = stack.client.admin("POST", f"{BASE}/conversations/{user}/handoff")
    assert taken.status_code == 200 and taken.json()["handoff"] == "human" and taken.json()["human_by"] == "admin"
    say(stack, "hi", user=user)
    say(stack, tap="clinic:book", user=user)
    assert len(settle(stack, 2, user)) == 1
    assert [c["user"] for c in inbox(stack.client, "?status=human")] == [user]


def test_window_closed_409_then_a_template_and_wrong_parameters_422(bots):
    stack, user = bots, "15557770003"
    say(stack, "hi", user=user, age=25 * 3600)
    settle(stack, 1, user)
    late = stack.client.admin("POST", f"{BASE}/send", {"user": user, "text": "Still interested?"})
    assert late.status_code == 409 and "template" in late.json()["hint"] and late.json()["window_closes_at"]
    templates = stack.client.admin("GET", f"{BASE}/templates").json()["items"]
    follow_up = next(t for t in templates if t["name"] == "follow_up")
    assert follow_up["parameters"] == {"header": 0, "body": 1, "buttons": []}
    wrong = stack.client.admin("POST", f"{BASE}/conversations/{user}/template",
                               {"name": "follow_up", "language": "ru", "body": []})
    assert wrong.status_code == 422 and wrong.json()["detail"][0]["loc"] == ["body", "body"]
    sent = stack.client.admin("POST", f"{BASE}/conversations/{user}/template",
                              {"name": "follow_up", "language": "ru", "body": ["Анна"]})
    assert sent.status_code == 202, sent.text
    [template] = [m for m in settle(stack, 2, user) if m["type"] == "template"]
    assert template["template"] == {"name": "follow_up", "language": {"code": "ru"}, "components": [
        {"type": "body", "parameters": [{"type": "text", "text": "Анна"}]}]}
    assert stack.other.admin("POST", f"{BASE}/conversations/{user}/template",
                             {"name": "follow_up", "language": "ru", "body": ["x"]}).status_code == 404
