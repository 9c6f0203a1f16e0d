"""`make demo`: a short scripted conversation against the running local stack, printed."""

from __future__ import annotations

import json
import sys
import time
from urllib.parse import urlsplit

from devstack.client import LocalClient, text_payload
from devstack.state import read_live_state

PHONE_NUMBER_ID = "106540352242922"
APP_SECRET = "demo-app-secret"  # noqa: S105 - the local demo instance's own secret
USER = "16505551234"
SCRIPT = [
    ("says", "Hi", None),
    ("taps", "Pick a solution", ("button_reply", "sales:quiz", "Pick a solution")),
    ("picks", "Search in documents", ("list_reply", "sales:qa:goal:docs", "Search in documents")),
    ("taps", "Done", ("button_reply", "sales:qd:goal", "Done")),
    ("picks", "Our IT team", ("list_reply", "sales:qa:skills:self", "Our IT team")),
    ("picks", "Under 100,000 ₽", ("list_reply", "sales:qa:budget:low", "Under 100,000 ₽")),
    ("taps", "Check my GPU", ("button_reply", "sales:gpu_list", "Check my GPU")),
    ("picks", "RTX 3090 24 GB", ("list_reply", "sales:gpu:rtx3090", "RTX 3090 24 GB")),
    ("taps", "Questions", ("button_reply", "faq:menu", "Questions")),
    ("picks", "About the product", ("list_reply", "faq:cat_product", "About the product")),
    ("picks", "Does it work offline?", ("list_reply", "faq:offline", "Does it work offline?")),
]


def describe(body: dict) -> str:
    if body.get("type") == "text":
        return body["text"]["body"]
    if body.get("type") == "interactive":
        interactive = body["interactive"]
        action = interactive["action"]
        options = [b["reply"]["title"] for b in action.get("buttons", [])] or [
            row["title"] for s in action.get("sections", []) for row in s["rows"]]
        return f"{interactive['body']['text']}\n      [{' | '.join(options)}]"
    return json.dumps(body, ensure_ascii=False)


def wait_for_replies(client: LocalClient, before: int, timeout: float = 15.0) -> list[dict]:
    """The bot's messages after `before`, once at least one came and no more follow for a moment."""
    deadline, seen, stable_since = time.monotonic() + timeout, -1, time.monotonic()
    while time.monotonic() < deadline:
        sent = [e for e in client.outbox()[before:] if "body" in e and e["body"].get("status") != "read"]
        if len(sent) != seen:
            seen, stable_since = len(sent), time.monotonic()
        elif sent and time.monotonic() - stable_since > 0.7:
            return sent
        time.sleep(0.1)
    return sent


def find_key(api: str) -> str | None:
    state = read_live_state(urlsplit(api).port or 80)
    return state["tenant_keys"].get("demo") if state else None


def run_demo(api: str, admin_key: str | None) -> int:
    key = admin_key or find_key(api)
    client = LocalClient(api, key)
    try:
        client.admin("GET", "/_local/health")
    except Exception:
        print(f"No local stack answers at {api}: start it with `make run` first.", file=sys.stderr)
        return 1
    if not key:
        print("No admin key: set LOCAL_ADMIN_KEY to the key `make run` printed.", file=sys.stderr)
        return 1
    if client.admin("GET", "/admin/whatsapp/instances/demo-bot").status_code == 404:
        created = client.admin("POST", "/admin/whatsapp/instances", {
            "name": "Demo Bot", "phone_number_id": PHONE_NUMBER_ID, "access_token": "demo-access-token",
            "app_secret": APP_SECRET, "verify_token": "demo-verify-token"})
        if created.status_code != 201:
            print(f"could not create the demo instance: {created.status_code} {created.text}", file=sys.stderr)
            return 1
    client.admin("DELETE", f"/admin/whatsapp/instances/demo-bot/users/{USER}/state")
    for verb, shown, reply in SCRIPT:
        before = len(client.outbox())
        print(f"\nuser {verb}: {shown}")
        payload = text_payload(PHONE_NUMBER_ID, USER, shown, reply=reply)
        response = client.post_webhook("demo", "demo-bot", APP_SECRET, payload)
        if response.status_code != 200:
            print(f"  webhook answered {response.status_code}: {response.text}")
            return 1
        for entry in wait_for_replies(client, before):
            print("  bot: " + describe(entry["body"]).replace("\n", "\n       "))
    client.close()
    print("\nThe whole path worked: signed webhook -> queue -> funnel -> Graph API (fake). "
          f"Everything the bot sent: {api}/_local/outbox")
    return 0
