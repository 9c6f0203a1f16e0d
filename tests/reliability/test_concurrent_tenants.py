"""Two tenants, the same WhatsApp user, interleaved traffic through the running local stack (over
HTTP only): no state, history, stats or logs cross. Then every secret the suite used is looked
for in every captured response body and in the stack's whole log: zero hits."""

from __future__ import annotations

import hashlib
import threading
import time
import uuid
from typing import ClassVar

import pytest

from devstack.client import LocalClient, text_payload
from tests.e2e.conftest import ADMIN_KEY, OTHER_KEY, ROOT, start_stack

USER = "15557770000"  # the same person writes to both tenants' numbers
STEPS = 6  # inbound messages per tenant, each chosen from the previous reply
SECRETS: set[str] = {ADMIN_KEY, OTHER_KEY}  # every secret value the suite creates, for the scan


class Capturing(LocalClient):
    """A client that keeps every response body, for the secrets scan."""

    bodies: ClassVar[list[str]] = []

    def __init__(self, *args, **kwargs) -> None:
        super().__init__(*args, **kwargs)
        self._http.event_hooks["response"].append(self._keep)

    def _keep(self, response) -> None:
        response.read()
        Capturing.bodies.append(response.text)


@pytest.fixture(scope="module")
def running():
    (ROOT / ".local").mkdir(exist_ok=True)
    stack = start_stack()
    acme, globex = Capturing(stack.api, ADMIN_KEY), Capturing(stack.api, OTHER_KEY)
    yield stack, acme, globex
    acme.close()
    globex.close()
    stack.stop()


def bot(client: LocalClient, tenant: str, instance: str, phone_number_id: str, language: str) -> dict:
    secrets = {name: f"{tenant}-{instance}-{name}-{uuid.uuid4().hex[:12]}"
               for name in ("access_token", "app_secret", "verify_token")}
    SECRETS.update(secrets.values())
    created = client.admin("POST", "/admin/whatsapp/instances", {
        "name": instance.title(), "phone_number_id": phone_number_id, "language": language, **secrets})
    assert created.status_code == 201, created.text
    return {"tenant": tenant, "instance": instance, "phone_number_id": phone_number_id, **secrets,
            "token_sha256": hashlib.sha256(secrets["access_token"].encode()).hexdigest()[:16]}


def replies_of(client: LocalClient, phone_number_id: str) -> list[dict]:
    return [e for e in client.outbox() if e.get("phone_number_id") == phone_number_id and "body" in e
            and e["body"].get("status") != "read"]


def shape(reply: dict) -> tuple:
    """What a reply offers, independent of its language: its type and its buttons' or rows' ids."""
    body = reply["body"]
    interactive = body.get("interactive") or {}
    action = interactive.get("action") or {}
    ids = [b["reply"]["id"] for b in action.get("buttons", [])]
    ids += [row["id"] for section in action.get("sections", []) for row in section.get("rows", [])]
    return body["type"], tuple(ids)


def next_input(reply: dict) -> tuple[str, str, str] | None:
    """Tap the first choice the last reply offers (a quick-reply button or a list row)."""
    kind, ids = shape(reply)
    if kind != "interactive" or not ids:
        return None
    is_list = reply["body"]["interactive"]["type"] == "list"
    return ("list_reply" if is_list else "button_reply", ids[0], "x")


def wait_for_more(client: LocalClient, phone_number_id: str, count: int, timeout: float = 20) -> list[dict]:
    deadline = time.monotonic() + timeout
    while True:
        found = replies_of(client, phone_number_id)
        if len(found) > count or time.monotonic() > deadline:
            time.sleep(0.5)  # the rest of this message's replies
            return replies_of(client, phone_number_id)
        time.sleep(0.1)


def walk(client: LocalClient, target: dict) -> list[tuple[str, str, str] | None]:
    """A conversation driven by the funnel's own choices, one message at a time; returns the inputs."""
    inputs: list[tuple[str, str, str] | None] = [None]  # None: the greeting "hi"
    seen = 0
    for _ in range(STEPS):
        send(client, target, inputs[-1])
        replies = wait_for_more(client, target["phone_number_id"], seen)
        assert len(replies) > seen, f"no reply to {inputs[-1]}"
        seen = len(replies)
        inputs.append(next_input(replies[-1]))
    return inputs[:-1]


def send(client: LocalClient, target: dict, reply: tuple[str, str, str] | None, text: str = "hi") -> None:
    payload = text_payload(target["phone_number_id"], USER, text, reply=reply)
    response = client.post_webhook(target["tenant"], target["instance"], target["app_secret"], payload)
    assert response.status_code == 200, response.text


def test_same_user_in_two_tenants_under_interleaved_traffic(running):
    _, acme, globex = running
    control = bot(acme, "demo", "control", "300000000000001", "en")
    inputs = walk(acme, control)  # sequential: what the funnel answers when nothing interferes
    expected = [shape(r) for r in replies_of(acme, control["phone_number_id"])]

    # The same instance id in both tenants, one English and one Russian, the same user.
    mine = bot(acme, "demo", "shop", "300000000000002", "en")
    theirs = bot(globex, "globex", "shop", "300000000000003", "ru")
    start = threading.Barrier(2)
    errors: list[BaseException] = []

    def converse(client: LocalClient, target: dict) -> None:
        try:
            start.wait()
            seen = 0
            for reply in inputs:  # each waits for its answer, so both users' steps interleave
                send(client, target, reply)
                seen = len(wait_for_more(client, target["phone_number_id"], seen))
            for n in (1, 2):  # free text: answered by the LLM worker from the conversation's history
                send(client, target, None, text=f"question {n} for {target['tenant']}")
                seen = len(wait_for_more(client, target["phone_number_id"], seen))
        except BaseException as error:  # re-raised in the test's thread
            errors.append(error)

    threads = [threading.Thread(target=converse, args=pair) for pair in ((acme, mine), (globex, theirs))]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(timeout=120)
    assert not errors, errors

    for target, language_marker in ((mine, "Hello"), (theirs, "Здравствуйте")):
        replies = replies_of(acme, target["phone_number_id"])
        # State: each conversation followed its own funnel path, exactly like the sequential one.
        assert [shape(r) for r in replies[:len(expected)]] == expected, target["tenant"]
        # History: the LLM saw this conversation's own earlier questions and answers only
        # (the local fake LLM says what it was asked and how many earlier turns it was given).
        answers = [r["body"]["text"]["body"] for r in replies[len(expected):]]
        tenant = target["tenant"]
        assert len(answers) == 2 and all(f"for {tenant}" in a and "for " + ("globex" if tenant == "demo" else "demo")
                                         not in a for a in answers), answers
        assert "0 earlier" in answers[0] and "2 earlier" in answers[1], answers
        # Sent with the instance's own token, to the user, in the instance's own language.
        assert {r["token_sha256"] for r in replies} == {target["token_sha256"]}
        assert {r["body"]["to"] for r in replies} == {f"+{USER}"}
        assert any(language_marker in str(r["body"]) for r in replies), target["tenant"]

    # Stats and logs: each tenant sees its own traffic only.
    for client, target, other in ((acme, mine, theirs), (globex, theirs, mine)):
        status = client.admin("GET", "/admin/whatsapp/instances/shop/status").json()
        assert status["today"].get("inbound") == len(inputs) + 2, target["tenant"]
        assert status["today"].get("outbound") == len(expected) + 2, target["tenant"]
        logs = client.admin("GET", "/admin/whatsapp/instances/shop/logs?limit=200").json()["items"]
        assert logs, target["tenant"]
        assert other["phone_number_id"] not in str(logs)
        stats = client.admin("GET", "/admin/whatsapp/stats").json()
        assert other["phone_number_id"] not in str(stats)
    # Forgetting the user in one tenant leaves the other tenant's data of the same person intact.
    for client in (acme, globex):
        reset = client.admin("DELETE", f"/admin/whatsapp/instances/shop/users/{USER}/state")
        assert reset.status_code == 200 and reset.json()["deleted_items"] >= 1, reset.text


def test_no_secret_in_any_response_or_log_line(running):
    stack, acme, globex = running
    bot(globex, "globex", "vault", "300000000000009", "en")
    api_key = "AIzaSecretProviderKey-" + uuid.uuid4().hex
    SECRETS.add(api_key)
    provider = globex.admin("POST", "/admin/llm/providers", {
        "name": "Gemini", "kind": "gemini", "base_url": "https://generativelanguage.googleapis.com",
        "model": "gemini-2.5-flash", "api_key": api_key})
    assert provider.status_code == 201, provider.text
    new_key = acme.admin("POST", "/admin/api-keys", {"principal_id": "ci-bot", "role": "user"})
    assert new_key.status_code == 201, new_key.text
    # The one response that may carry a secret: a new API key, shown once to its creator.
    Capturing.bodies.remove(new_key.text)
    SECRETS.add(new_key.json()["api_key"])
    for client in (acme, globex):
        for path in ("/admin/whatsapp/instances", "/admin/llm/providers", "/admin/api-keys", "/admin/settings"):
            assert client.admin("GET", path).status_code == 200, path
    time.sleep(1)  # the last log lines reach the file

    log = (ROOT / ".local" / f"e2e-{stack.api_port}.log").read_text(errors="replace")
    assert len(log.splitlines()) > 50 and len(Capturing.bodies) > 50, "too little captured to prove anything"
    assert len(SECRETS) >= 12
    for secret in SECRETS:
        assert secret not in log, f"a secret ending {secret[-4:]} is in the log"
        assert not any(secret in body for body in Capturing.bodies), f"a secret ending {secret[-4:]} was returned"
