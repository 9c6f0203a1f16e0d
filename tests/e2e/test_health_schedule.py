"""The local stack runs the template's schedule: on demand (`POST /_local/schedules/run`), the
dispatcher queues a check per running instance, the health worker reads the fake Graph API, and
an expired token (told to the fake) flips health and pauses sends until a check passes again."""

from __future__ import annotations

import httpx
import pytest

from tests.e2e.test_local_stack import replies, wait_for

pytestmark = pytest.mark.e2e

PHONE_NUMBER_ID = "106540352249999"
SECRET = "e2e-health-app-secret"
TOKEN = "e2e-health-access-token"


def _health(stack) -> dict:
    return stack.client.admin("GET", "/admin/whatsapp/instances/health-bot/health").json()


def _run(stack) -> list[dict]:
    response = httpx.post(f"{stack.api}/_local/schedules/run", timeout=30)
    assert response.status_code == 200
    return response.json()["ran"]


def _graph(stack, order: dict) -> None:
    assert httpx.post(f"{stack.api}/_local/graph/control", json=order).status_code == 200


def test_the_local_schedule_runs_on_demand_and_pauses_sends_while_the_token_is_expired(local_stack):
    created = local_stack.client.admin("POST", "/admin/whatsapp/instances", {
        "name": "Health Bot", "phone_number_id": PHONE_NUMBER_ID, "access_token": TOKEN,
        "app_secret": SECRET, "verify_token": "e2e-health-verify"})
    assert created.status_code == 201, created.text
    assert _health(local_stack)["token"]["status"] == "valid"  # checked at once by the admin API

    _graph(local_stack, {"expire_token": TOKEN, "phone_number_id": PHONE_NUMBER_ID, "quality_rating": "YELLOW"})
    (run,) = _run(local_stack)
    assert run["function"] == "HealthDispatcherFunction" and run["result"]["queued"] >= 1
    failing = wait_for(lambda: (h := _health(local_stack))["status"] == "failing" and h)
    assert failing["token"]["status"] == "invalid" and failing["last_error"]["code"] == 190
    overview = local_stack.client.admin("GET", "/admin/whatsapp/stats").json()
    assert {"id": "health-bot", "status": "failing", "reason": failing["reason"]} in overview["not_ok"]

    user = "15550000042"
    status, _ = local_stack.client.send_text("demo", "health-bot", SECRET, PHONE_NUMBER_ID, "hello", user=user)
    assert status == 200  # inbound is still accepted and recorded
    wait_for(lambda: local_stack.client.admin("GET", "/admin/whatsapp/instances/health-bot/status")
             .json()["last_inbound_at"], timeout=10)
    assert replies(local_stack, user) == []  # nothing was attempted

    _graph(local_stack, {"restore_token": TOKEN})
    _run(local_stack)
    restored = wait_for(lambda: (h := _health(local_stack))["token"]["status"] == "valid" and h)
    assert restored["status"] == "warning" and restored["quality_rating"] == "YELLOW"
    # Warm functions hold a config up to 60 s (INSTANCE_CACHE_SECONDS): sends resume within that.
    def answered() -> bool:
        local_stack.client.send_text("demo", "health-bot", SECRET, PHONE_NUMBER_ID, "hi", user=user)
        return bool(wait_for(lambda: replies(local_stack, user), timeout=5))

    assert wait_for(answered, timeout=75)
