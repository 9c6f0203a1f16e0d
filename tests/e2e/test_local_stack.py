"""End to end through `make run`'s stack, only over HTTP: webhook in, reply in the outbox."""

from __future__ import annotations

import time
import uuid

import httpx
import pytest

from devstack.client import text_payload
from tests.e2e.conftest import port_is_free, start_stack

pytestmark = pytest.mark.e2e

PHONE_NUMBER_ID = "106540352240001"  # not one of the legacy fixtures' numbers
SECRET = "e2e-app-secret-1234"


@pytest.fixture(scope="module")
def bot(local_stack):
    created = local_stack.client.admin("POST", "/admin/whatsapp/instances", {
        "name": "E2E Bot", "phone_number_id": PHONE_NUMBER_ID, "access_token": "e2e-access-token",
        "app_secret": SECRET, "verify_token": "e2e-verify-token"})
    assert created.status_code == 201, created.text
    assert created.json()["webhook_url"] == f"{local_stack.api}/webhook/demo/e2e-bot"
    return created.json()


def replies(stack, user: str) -> list[dict]:
    return [e for e in stack.client.outbox()
            if "body" in e and e["body"].get("status") != "read" and e["body"].get("to") == f"+{user}"]


def wait_for(predicate, timeout: float = 20.0):
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        value = predicate()
        if value:
            return value
        time.sleep(0.2)
    return predicate()


def test_health_and_verification(local_stack, bot):
    assert httpx.get(f"{local_stack.api}/_local/health").json() == {"ready": True}
    response = httpx.get(f"{local_stack.api}/webhook/demo/e2e-bot", params={
        "hub.mode": "subscribe", "hub.verify_token": "e2e-verify-token", "hub.challenge": "8675309"})
    assert (response.status_code, response.text) == (200, "8675309")


def test_signed_webhook_gets_a_reply_in_the_outbox(local_stack, bot):
    user = "15550000001"
    status, _ = local_stack.client.send_text("demo", "e2e-bot", SECRET, PHONE_NUMBER_ID, "hello", user=user)
    assert status == 200
    [welcome] = wait_for(lambda: replies(local_stack, user))
    assert welcome["phone_number_id"] == PHONE_NUMBER_ID
    assert welcome["body"]["interactive"]["action"]["buttons"][0]["reply"]["id"] == "sales:quiz"


def test_same_webhook_twice_gives_one_reply(local_stack, bot):
    user = "15550000002"
    payload = text_payload(PHONE_NUMBER_ID, user, "menu", message_id=f"wamid.{uuid.uuid4().hex}")
    for _ in range(2):
        assert local_stack.client.post_webhook("demo", "e2e-bot", SECRET, payload).status_code == 200
    wait_for(lambda: replies(local_stack, user))
    time.sleep(2)  # time for a duplicate to show up, if there were one
    assert len(replies(local_stack, user)) == 1


def test_bad_signature_is_401_and_nothing_is_sent(local_stack, bot):
    user = "15550000003"
    response = local_stack.client.post_webhook("demo", "e2e-bot", "not-the-secret",
                                               text_payload(PHONE_NUMBER_ID, user, "hi"))
    assert response.status_code == 401
    time.sleep(2)
    assert replies(local_stack, user) == []


def test_tenants_are_apart_over_http(local_stack, bot):
    other = local_stack.other
    assert other.admin("GET", "/admin/whatsapp/instances/e2e-bot").status_code == 404
    assert other.admin("GET", "/admin/whatsapp/instances").json()["items"] == []
    created = other.admin("POST", "/admin/whatsapp/instances", {
        "name": "E2E Bot", "phone_number_id": "209876543210987", "app_secret": "globex-secret-1234",
        "access_token": "globex-access-token"})
    assert created.status_code == 201
    user = "15550000004"
    assert other.send_text("globex", "e2e-bot", "globex-secret-1234", "209876543210987", "hi",
                           user=user)[0] == 200
    [reply] = wait_for(lambda: replies(local_stack, user))
    assert reply["phone_number_id"] == "209876543210987"
    assert local_stack.client.admin("GET", "/admin/whatsapp/instances/e2e-bot/status").json()["today"].get(
        "inbound", 0) == 2


def test_fake_graph_api_answers_like_meta(local_stack):
    graph = f"{local_stack.api}/_local/graph/v25.0"
    auth = {"authorization": "Bearer x"}
    too_long = {"messaging_product": "whatsapp", "to": "+1555", "type": "text", "text": {"body": "x" * 4097}}
    error = httpx.post(f"{graph}/123/messages", json=too_long, headers=auth)
    assert error.status_code == 400 and error.json()["error"]["code"] == 100
    assert httpx.post(f"{graph}/123/messages", json=too_long).json()["error"]["code"] == 190
    upload = httpx.post(f"{graph}/123/media", headers=auth, data={"messaging_product": "whatsapp",
                                                                   "type": "audio/ogg; codecs=opus"},
                        files={"file": ("v.ogg", b"OggS-bytes", "audio/ogg")})
    media_id = upload.json()["id"]
    info = httpx.get(f"{graph}/{media_id}", headers=auth).json()
    assert info["mime_type"] == "audio/ogg; codecs=opus" and info["file_size"] == 10
    assert httpx.get(info["url"], headers=auth).content == b"OggS-bytes"
    assert httpx.get(info["url"]).json()["error"]["code"] == 190  # as Meta: the media URL needs the token


def test_stopping_leaves_no_process_and_no_port():
    stack = start_stack()
    assert stack.stop() == 0
    assert stack.process.poll() is not None
    assert port_is_free(stack.api_port) and port_is_free(stack.aws_port)


def test_free_text_gets_an_llm_reply_and_a_voice_note(local_stack, bot):
    assert local_stack.client.admin("PUT", "/admin/whatsapp/instances/e2e-bot", {
        "tts_enabled": True, "tts_engine": "piper", "tts_voice": "marina"}).status_code == 200
    user = "15550000005"
    status, _ = local_stack.client.send_text("demo", "e2e-bot", SECRET, PHONE_NUMBER_ID,
                                             "What is the warranty period?", user=user)
    assert status == 200
    sent = wait_for(lambda: len(replies(local_stack, user)) >= 2 and replies(local_stack, user), timeout=30)
    assert [m["body"]["type"] for m in sent] == ["text", "audio"]
    assert "Fake LLM" in sent[0]["body"]["text"]["body"]
    assert "warranty period" in sent[0]["body"]["text"]["body"]
    upload = next(e for e in local_stack.client.outbox() if e.get("media_id") == sent[1]["body"]["audio"]["id"])
    assert upload["mime_type"] == "audio/ogg; codecs=opus" and upload["size"] > 100
    assert sent[1]["body"]["audio"]["voice"] is True


def test_migration_script_against_the_running_stack(local_stack, tmp_path):
    import os
    import subprocess
    import sys

    from tests.e2e.conftest import ROOT
    from tests.integration.legacy_fixtures import build_legacy

    db, data = build_legacy(tmp_path)
    command = [sys.executable, "scripts/migrate_whatsapp.py", "--db", str(db), "--data-dir", str(data),
               "--tenant", "demo", "--source-tenant", "acme", "--api-port", str(local_stack.api_port)]
    env = {k: v for k, v in os.environ.items() if not k.startswith("AWS_")}
    first = subprocess.run(command, cwd=ROOT, env=env, capture_output=True, text=True, timeout=120)
    assert first.returncode == 0, first.stderr
    assert "instances  created 2" in first.stdout
    listed = local_stack.client.admin("GET", "/admin/whatsapp/instances").json()["items"]
    migrated = next(item for item in listed if item["id"] == "prodazhi")
    assert migrated["secrets"]["app_secret"] == "****3333"
    again = subprocess.run(command, cwd=ROOT, env=env, capture_output=True, text=True, timeout=120)
    assert "0 change(s) were made" in again.stdout
