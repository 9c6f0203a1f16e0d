"""Voice notes in, read receipts, typing indicators and bursts, end to end through the local
stack: a signed webhook in, the fake Graph API's outbox out (the fake STT hears the text the
test's voice note carries)."""

from __future__ import annotations

import time
import uuid

import pytest

from devstack.client import text_payload
from devstack.fakes import voice_note

pytestmark = pytest.mark.e2e

PHONE_NUMBER_ID = "106540352249016"
SECRET = "e2e-voice-app-secret"
BLOCKED = "15550016099"
FLOW = {
    "languages": ["en"], "start": "name",
    "routes": {"greetings": {"en": ["hi", "hello"]}, "stop_words": ["stop"]},
    "nodes": {
        "name": {"kind": "ask", "var": "name", "text": "Welcome! What is your name?", "next": "thanks"},
        "thanks": {"kind": "message", "text": "Nice to meet you, {name}!"},
    },
}


@pytest.fixture(scope="module")
def voice_bot(local_stack):
    created = local_stack.client.admin("POST", "/admin/whatsapp/instances", {
        "name": "Voice Bot", "phone_number_id": PHONE_NUMBER_ID, "access_token": "e2e-voice-token",
        "app_secret": SECRET, "verify_token": "e2e-voice-verify", "stt_enabled": True,
        "blocked_phones": [BLOCKED], "rate_limit_count": 50})
    assert created.status_code == 201, created.text
    body = created.json()
    assert (body["stt_enabled"], body["typing_indicator"], body["read_receipts"], body["llm_debounce_seconds"]) \
        == (True, True, True, 2)
    saved = local_stack.client.admin("PUT", f"/admin/whatsapp/instances/{body['id']}/funnel", FLOW)
    assert saved.status_code == 200, saved.text
    return body["id"]


def _send(stack, instance: str, user: str, *, text: str = "", voice: str | None = None) -> str:
    message_id = f"wamid.{uuid.uuid4().hex}"
    media_id = stack.client.add_inbound_media(voice_note(voice)) if voice is not None else None
    response = stack.client.post_webhook("demo", instance, SECRET, text_payload(
        PHONE_NUMBER_ID, user, text, message_id=message_id, voice_media_id=media_id))
    assert response.status_code == 200, response.text
    return message_id


def _texts(stack, user: str) -> list[str]:
    return [e["body"]["text"]["body"] for e in stack.client.outbox()
            if "body" in e and e["body"].get("to") == f"+{user}" and e["body"].get("type") == "text"]


def _reads(stack, message_ids: set[str]) -> list[dict]:
    return [e for e in stack.client.outbox()
            if "body" in e and e["body"].get("status") == "read" and e["body"].get("message_id") in message_ids]


def _wait(predicate, timeout: float = 25.0):
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        value = predicate()
        if value:
            return value
        time.sleep(0.2)
    return predicate()


def test_a_spoken_hi_greets_and_a_spoken_answer_fills_the_ask_step(local_stack, voice_bot):
    user = "15550016001"
    _send(local_stack, voice_bot, user, voice="hi")
    assert _wait(lambda: _texts(local_stack, user)) == ["Welcome! What is your name?"]
    _send(local_stack, voice_bot, user, voice="Alice")
    assert _wait(lambda: len(_texts(local_stack, user)) == 2 and _texts(local_stack, user))[1] \
        == "Nice to meet you, Alice!"
    downloads = [e for e in local_stack.client.outbox() if e.get("path") == "/media/{id}"]
    assert len(downloads) >= 2  # the bytes were fetched from the Graph API with the instance's token


def test_a_voice_note_the_backend_cannot_transcribe_answers_please_type(local_stack, voice_bot):
    user = "15550016002"
    _send(local_stack, voice_bot, user, voice="!fail")
    [answer] = _wait(lambda: _texts(local_stack, user))
    assert "could not understand your voice message" in answer
    logs = local_stack.client.admin("GET", f"/admin/whatsapp/instances/{voice_bot}/logs").json()
    assert any("voice message not transcribed" in entry["summary"] for entry in logs["items"])


def test_a_voice_note_without_speech_to_text_answers_please_type(local_stack, voice_bot):
    user = "15550016003"
    created = local_stack.client.admin("POST", "/admin/whatsapp/instances", {
        "name": "Deaf Bot", "phone_number_id": "106540352249017", "access_token": "e2e-deaf-token",
        "app_secret": SECRET, "verify_token": "e2e-deaf-verify"})
    assert created.status_code == 201 and created.json()["stt_enabled"] is False
    media_id = local_stack.client.add_inbound_media(voice_note("hi"))
    response = local_stack.client.post_webhook("demo", "deaf-bot", SECRET, text_payload(
        "106540352249017", user, "", voice_media_id=media_id))
    assert response.status_code == 200
    [answer] = _wait(lambda: _texts(local_stack, user))
    assert "Please type it" in answer


def test_llm_reply_follows_a_typing_indicator_that_marks_the_message_read(local_stack, voice_bot):
    user = "15550016004"
    _send(local_stack, voice_bot, user, text="hi")
    _wait(lambda: _texts(local_stack, user))
    question = _send(local_stack, voice_bot, user, text="Alice")  # the ask step takes it
    _wait(lambda: len(_texts(local_stack, user)) == 2)
    question = _send(local_stack, voice_bot, user, text="what are your opening hours?")
    answer = _wait(lambda: [e for e in local_stack.client.outbox() if "body" in e
                            and e["body"].get("to") == f"+{user}" and "Fake LLM" in str(e["body"])])
    assert len(answer) == 1
    [typing] = _reads(local_stack, {question})
    assert typing["body"]["typing_indicator"] == {"type": "text"}
    assert typing["time"] <= answer[0]["time"]


def test_no_typing_indicator_for_blocked_or_opted_out_users(local_stack, voice_bot):
    blocked = _send(local_stack, voice_bot, BLOCKED, text="what are your opening hours?")
    opted = "15550016005"
    _send(local_stack, voice_bot, opted, text="stop")
    _wait(lambda: _texts(local_stack, opted))
    after_stop = _send(local_stack, voice_bot, opted, text="what are your opening hours?")
    time.sleep(5)  # the quiet window and the LLM worker's turn, had anything been queued
    assert _reads(local_stack, {blocked, after_stop}) == []
    assert _texts(local_stack, BLOCKED) == [] and len(_texts(local_stack, opted)) == 1


def test_a_burst_of_three_messages_gets_one_llm_reply_covering_all(local_stack, voice_bot):
    user = "15550016006"
    _send(local_stack, voice_bot, user, text="hi")
    _wait(lambda: _texts(local_stack, user))
    _send(local_stack, voice_bot, user, text="Bob")
    _wait(lambda: len(_texts(local_stack, user)) == 2)
    ids = [_send(local_stack, voice_bot, user, text=text)
           for text in ("hello again", "I need", "a price for 20 seats")]
    answers = _wait(lambda: [t for t in _texts(local_stack, user) if "Fake LLM" in t])
    time.sleep(4)  # a second answer, had the later jobs not found themselves covered
    answers = [t for t in _texts(local_stack, user) if "Fake LLM" in t]
    assert len(answers) == 1
    assert "I need" in answers[0] and "a price for 20 seats" in answers[0]
    assert _reads(local_stack, set(ids))  # the burst's newest message is marked read
