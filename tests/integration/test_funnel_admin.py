"""Admin routes of the funnel: custom funnels, user state reset, a manager's reply."""

from __future__ import annotations

import copy
import json

import pytest

from scripts import create_tenant as cli
from tests import payloads
from tests.integration.admin_client import AdminClient
from tests.integration.funnel_harness import body_text, message_event, sqs_record
from wabot import aws
from wabot.funnel.default_funnel import DEFAULT_FUNNEL
from wabot.models.events import InboundEvent
from wabot.repositories.conversations import ConversationStore
from wabot.tenancy import TenantContext

BASE = "/admin/whatsapp/instances"


@pytest.fixture
def setup(gateway, funnel, stack):
    tables = stack.refs["AppTable"], stack.refs["ApiKeyTable"]
    admin = AdminClient(gateway, cli.create_tenant("acme", "Acme", "root", *tables))
    other = AdminClient(gateway, cli.create_tenant("globex", "Globex", "root", *tables))
    guest_key = admin.post("/admin/api-keys", {"role": "guest", "principal_id": "g"}).json()["api_key"]
    guest = AdminClient(gateway, guest_key)
    created = admin.post(BASE, {"name": "Bot", "phone_number_id": "106540352242922", "access_token": "EAAG-token-1234",
                                "app_secret": "app-secret-1234", "verify_token": "verify-1234"})
    assert created.status == 201
    from tests.integration.conftest import SeededInstance

    instance = SeededInstance(TenantContext("acme"), "bot", "106540352242922", "app-secret-1234", "verify-1234",
                              "EAAG-token-1234")
    return admin, other, guest, instance, funnel, stack


def pump(stack, funnel) -> None:
    """Deliver what is on the inbound queue to the worker (as the SQS event source would)."""
    sqs = aws.client("sqs")
    while True:
        messages = sqs.receive_message(QueueUrl=stack.refs["InboundQueue"], MaxNumberOfMessages=10).get("Messages", [])
        if not messages:
            return
        for message in messages:
            event = InboundEvent.model_validate_json(message["Body"])
            assert funnel.deliver(sqs_record(event, message["MessageId"])) == []
            sqs.delete_message(QueueUrl=stack.refs["InboundQueue"], ReceiptHandle=message["ReceiptHandle"])


def test_get_funnel_is_the_default_until_replaced(setup):
    _, other, guest, *_ = setup
    response = guest.get(f"{BASE}/bot/funnel")
    assert response.status == 200
    assert response.json()["custom"] is False
    assert response.json()["definition"]["start_node"] == "welcome"
    assert other.get(f"{BASE}/bot/funnel").status == 404


def test_custom_funnel_is_used_by_the_worker_and_can_be_reset(setup):
    admin, _, guest, instance, funnel, _ = setup
    custom = copy.deepcopy(DEFAULT_FUNNEL)
    custom["nodes"]["welcome"]["text"] = {"en": "Welcome to *Acme*!", "ru": "Добро пожаловать в *Acme*!"}
    assert guest.put(f"{BASE}/bot/funnel", json.loads(json.dumps(custom))).status == 403
    saved = admin.put(f"{BASE}/bot/funnel", custom)
    assert saved.status == 200 and saved.json()["custom"] is True
    version = admin.get(f"{BASE}/bot").json()["version"]
    [welcome] = funnel.exchange(message_event(instance, text="hi", config_version=version))
    assert body_text(welcome) == "Welcome to *Acme*!"
    assert admin.delete(f"{BASE}/bot/funnel").json()["custom"] is False
    version = admin.get(f"{BASE}/bot").json()["version"]
    [welcome] = funnel.exchange(message_event(instance, text="hi", config_version=version))
    assert "LocalAI" in body_text(welcome)


@pytest.mark.parametrize("mutate, location", [
    (lambda f: f["nodes"]["welcome"]["buttons"][0]["title"].update(en="Far too long for a button"),
     ["body", "nodes", "welcome", "buttons", "0", "title"]),
    (lambda f: f["nodes"]["welcome"]["buttons"].append({"id": "x:y", "title": {"en": "4th", "ru": "4"}}),
     ["body", "nodes", "welcome", "buttons"]),
    (lambda f: f["nodes"]["faq_menu"].update(list_button={"en": "x" * 21, "ru": "x"}),
     ["body", "nodes", "faq_menu", "button"]),
    (lambda f: f["nodes"]["basic_demo"]["text"].update(ru="x" * 1025), ["body", "nodes", "basic_demo", "body"]),
    (lambda f: f["routes"].update({"sales:x": "nowhere"}), ["body", "definition"]),
    (lambda f: f.pop("start_node"), ["body", "start_node"]),
])
def test_invalid_funnel_is_422_naming_node_and_field(setup, mutate, location):
    admin, *_ = setup
    custom = copy.deepcopy(DEFAULT_FUNNEL)
    mutate(custom)
    response = admin.put(f"{BASE}/bot/funnel", custom)
    assert response.status == 422, response.body
    locations = [detail["loc"] for detail in response.json()["detail"]]
    assert any(loc[:len(location)] == location for loc in locations), locations
    assert admin.get(f"{BASE}/bot/funnel").json()["custom"] is False


def test_reset_one_users_state(setup):
    admin, other, _, instance, funnel, stack = setup
    funnel.exchange(message_event(instance, reply=("button_reply", "sales:quiz")))
    store = ConversationStore(aws.client("dynamodb"), stack.refs["AppTable"])
    assert store.get_profile(instance.tenant, "bot", payloads.BSUID) is not None
    assert store.steps(instance.tenant, "bot", payloads.BSUID)
    assert other.delete(f"{BASE}/bot/users/{payloads.PHONE}/state").status == 404
    response = admin.delete(f"{BASE}/bot/users/+{payloads.PHONE}/state")  # by phone, as people write it
    assert response.status == 200 and response.json()["deleted_items"] >= 1
    assert store.get_profile(instance.tenant, "bot", payloads.BSUID) is None
    assert store.steps(instance.tenant, "bot", payloads.BSUID) == []
    assert admin.delete(f"{BASE}/bot/users/{payloads.BSUID}/state").status == 404


def test_manager_reply_goes_through_the_queue_and_sender(setup):
    admin, other, guest, instance, funnel, stack = setup
    funnel.exchange(message_event(instance, text="hi"))
    assert admin.post(f"{BASE}/bot/send", {"text": "hello"}).status == 422  # user required
    assert admin.post(f"{BASE}/bot/send", {"user": "79990000000", "text": "hello"}).status == 404
    assert guest.post(f"{BASE}/bot/send", {"user": payloads.PHONE, "text": "x"}).status == 403
    assert other.post(f"{BASE}/bot/send", {"user": payloads.PHONE, "text": "x"}).status == 404
    accepted = admin.post(f"{BASE}/bot/send", {"user": payloads.PHONE, "text": "A manager here: how can I help?"})
    assert accepted.status == 202, accepted.body
    pump(stack, funnel)
    last = funnel.graph.sent()[-1]
    assert last == {"messaging_product": "whatsapp", "recipient_type": "individual", "to": "+" + payloads.PHONE,
                    "type": "text", "text": {"preview_url": False, "body": "A manager here: how can I help?"}}
    logs = admin.get(f"{BASE}/bot/logs").json()["items"]
    assert any(e["summary"] == "manager reply queued for sending" and e["actor"] == "root" for e in logs)


def test_manager_reply_outside_the_24_hour_window_is_409(setup):
    admin, _, _, instance, funnel, _ = setup
    import time

    funnel.exchange(message_event(instance, text="hi", timestamp=int(time.time()) - 25 * 3600))
    response = admin.post(f"{BASE}/bot/send", {"user": payloads.BSUID, "text": "late"})
    assert response.status == 409
    assert "24-hour" in response.json()["message"]
