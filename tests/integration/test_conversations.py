"""Conversation operations over moto: the inbox, human hand-off, the 24-hour window, templates."""

from __future__ import annotations

import time

import httpx
import pytest

from scripts import create_tenant as cli
from tests import payloads
from tests.integration.admin_client import AdminClient
from tests.integration.conftest import SeededInstance
from tests.integration.funnel_harness import body_text, graph_error, message_event, sqs_record, status_event
from tests.integration.test_funnel_admin import pump
from wabot import aws, keys
from wabot.dynamo import query_partition
from wabot.models.events import InboundEvent
from wabot.repositories.conversations import ConversationStore
from wabot.tenancy import TenantContext

BASE = "/admin/whatsapp/instances"
USER = payloads.BSUID


@pytest.fixture
def setup(gateway, funnel, stack):
    import admin_handler

    tables = stack.refs["AppTable"], stack.refs["ApiKeyTable"]
    admin = AdminClient(gateway, cli.create_tenant("acme", "Acme", "root", *tables))
    other = AdminClient(gateway, cli.create_tenant("globex", "Globex", "root", *tables))
    guest_key = admin.post("/admin/api-keys", {"role": "guest", "principal_id": "g"}).json()["api_key"]
    guest = AdminClient(gateway, guest_key)
    for client, number in ((admin, "106540352242922"), (other, "106540352242923")):
        created = client.post(BASE, {"name": "Bot", "phone_number_id": number, "waba_id": "102290129340398",
                                     "access_token": "EAAG-token-1234", "app_secret": "app-secret-1234",
                                     "verify_token": "verify-1234"})
        assert created.status == 201, created.body
    # The admin function reads templates from the same fake Graph API the worker sends to.
    graph = admin_handler.service().graph
    graph.http, graph.base_url = httpx.Client(transport=httpx.MockTransport(funnel.graph.handler)), "http://graph.test"
    acme = SeededInstance(TenantContext("acme"), "bot", "106540352242922", "app-secret-1234", "verify-1234",
                          "EAAG-token-1234")
    globex = SeededInstance(TenantContext("globex"), "bot", "106540352242923", "app-secret-1234", "verify-1234",
                            "EAAG-token-1234")
    return admin, other, guest, acme, globex, funnel, stack


def clinic(admin) -> int:
    assert admin.put(f"{BASE}/bot/funnel", {"template": "clinic"}).status == 200
    return admin.get(f"{BASE}/bot").json()["version"]


def conversation(client, user: str = USER) -> dict:
    [found] = [c for c in client.get(f"{BASE}/bot/conversations").json()["items"] if c["user"] == user]
    return found


def messages(client, user: str = USER) -> list[dict]:
    response = client.get(f"{BASE}/bot/conversations/{user}/messages")
    assert response.status == 200, response.body
    return response.json()["items"]


def store(stack) -> ConversationStore:
    return ConversationStore(aws.client("dynamodb"), stack.refs["AppTable"])


def test_handoff_by_the_funnels_button_silences_the_bot_and_shows_in_the_inbox(setup):
    admin, _, guest, acme, _, funnel, _ = setup
    version = clinic(admin)
    funnel.exchange(message_event(acme, text="hi", config_version=version))
    [told] = funnel.exchange(message_event(acme, reply=("button_reply", "clinic:human"), config_version=version))
    assert body_text(told).startswith("A receptionist will answer you")  # the hand-off's own reply still goes
    assert funnel.exchange(message_event(acme, text="Are you there?", config_version=version)) == []
    assert funnel.exchange(message_event(acme, text="hi", config_version=version)) == []  # not even a greeting
    listed = conversation(guest)
    assert listed["handoff"] == "human" and listed["human_by"] == "user" and listed["unread"] == 2
    assert listed["preview"] == "hi" and listed["window_open"] is True and listed["phone"] == payloads.PHONE
    log = messages(guest)
    assert [(m["direction"], m["sender"], m["type"]) for m in log] == [
        ("in", "user", "text"), ("out", "bot", "interactive"),
        ("in", "user", "interactive"), ("event", "system", "handoff"), ("out", "bot", "text"),
        ("in", "user", "text"), ("in", "user", "text")]
    assert log[1]["options"] and log[2]["reply_id"] == "clinic:human" and log[2]["reply_title"] == "x"
    assert log[-2]["text"] == "Are you there?"
    assert guest.get(f"{BASE}/bot/conversations", query={"status": "bot"}).json()["items"] == []


def test_a_handoff_by_button_is_posted_signed_to_the_tenants_url(setup):
    from tests.integration.health_harness import NotificationReceiver
    from tests.integration.llm_harness import guarded
    from wabot.notify import signature_is_valid

    admin, _, _, acme, _, funnel, _ = setup
    clinic(admin)
    updated = admin.put(f"{BASE}/bot", {"notify_url": "https://hooks.acme.test/wa",
                                        "handoff_notify": {"webhook": True}})
    assert updated.status == 200, updated.body
    secret, version = updated.json()["generated_notify_secret"], updated.json()["version"]
    receiver = NotificationReceiver(statuses=[503])  # the first attempt fails: the notifier retries
    service = funnel.module.worker().service
    service.notifier.http, service.notifier.sleep = guarded(receiver.handler), lambda _seconds: None
    funnel.exchange(message_event(acme, text="hi", config_version=version))
    assert receiver.requests == []  # no hand-off, no notification
    funnel.exchange(message_event(acme, reply=("button_reply", "clinic:human"), config_version=version))
    assert len(receiver.requests) == 2
    request = receiver.requests[-1]
    assert (request.headers["host"], request.url.path) == ("hooks.acme.test", "/wa")  # pinned to the checked address
    assert signature_is_valid(secret, request.content, request.headers["x-wabot-signature-256"])
    body = receiver.bodies()[-1]
    assert (body["event"], body["tenant_id"], body["instance_id"]) == ("conversation.handoff", "acme", "bot")
    assert body["data"]["mode"] == "human" and body["data"]["user"] == USER
    assert conversation(admin)["handoff"] == "human"


def test_manager_send_takes_over_and_release_gives_back(setup):
    admin, _, guest, acme, _, funnel, stack = setup
    funnel.exchange(message_event(acme, text="hi"))
    assert conversation(admin)["handoff"] == "bot"
    assert admin.post(f"{BASE}/bot/send", {"user": payloads.PHONE, "text": "Anna here, hello!"}).status == 202
    assert conversation(admin)["handoff"] == "human" and conversation(admin)["human_by"] == "root"
    pump(stack, funnel)
    assert body_text(funnel.graph.sent()[-1]) == "Anna here, hello!"
    assert funnel.exchange(message_event(acme, text="hi")) == []  # the bot does not talk over Anna
    log = messages(admin)
    manager = [m for m in log if m["sender"] == "manager"]
    assert [(m["text"], m["actor"]) for m in manager] == [("Anna here, hello!", "root")]
    assert [m["type"] for m in log if m["direction"] == "event"] == ["handoff"]
    assert guest.post(f"{BASE}/bot/conversations/{USER}/release").status == 403
    released = admin.post(f"{BASE}/bot/conversations/{payloads.PHONE}/release")
    assert released.status == 200 and released.json()["handoff"] == "bot"
    assert funnel.exchange(message_event(acme, text="hi"))  # the bot answers again
    assert [m["type"] for m in messages(admin) if m["direction"] == "event"] == ["handoff", "release"]


def test_handoff_by_api_holds_replies_already_queued_and_already_planned(setup):
    admin, _, _, acme, _, funnel, stack = setup
    funnel.exchange(message_event(acme, text="hi"))
    # A message waiting in the queue when the manager takes over is recorded, never answered.
    queued = message_event(acme, reply=("button_reply", "sales:quiz"))
    assert admin.post(f"{BASE}/bot/conversations/{USER}/handoff").json()["handoff"] == "human"
    before = len(funnel.graph.sent())
    assert funnel.send(queued) == []
    assert len(funnel.graph.sent()) == before
    admin.post(f"{BASE}/bot/conversations/{USER}/release")
    # Replies planned before the hand-off: the first went out, the second failed and is retried
    # after the manager took over: it is dropped, never sent.
    planned = message_event(acme, reply=("button_reply", "sales:quiz"))  # two replies: intro + question
    funnel.graph.failures = [graph_error(131000, 500)] * 20
    funnel.graph.fail_when = lambda body: body.get("type") == "interactive"
    consumer = funnel.module.worker().consumer
    consumer.safety_margin = 29.9  # no time for in-function retries: the failure reaches the queue
    try:
        assert funnel.deliver(sqs_record(planned, "sqs-1")) == ["sqs-1"]
    finally:
        consumer.safety_margin = 3.0
    assert [m["type"] for m in funnel.graph.sent()[before:]] == ["text"]
    funnel.graph.failures = []
    admin.post(f"{BASE}/bot/conversations/{USER}/handoff")
    assert funnel.deliver(sqs_record(planned, "sqs-1", receive_count=2)) == []
    assert funnel.deliver(sqs_record(planned, "sqs-2")) == []
    assert [m["type"] for m in funnel.graph.sent()[before:]] == ["text"]
    assert store(stack).get_profile(acme.tenant, "bot", USER).plan is None
    assert "held" in [m["type"] for m in messages(admin)]


def test_handoff_times_out_without_a_manager_message(setup):
    admin, _, _, acme, _, funnel, stack = setup
    assert admin.put(f"{BASE}/bot", {"handoff_timeout_hours": 1}).status == 200
    version = admin.get(f"{BASE}/bot").json()["version"]
    funnel.exchange(message_event(acme, text="hi", config_version=version))
    admin.post(f"{BASE}/bot/conversations/{USER}/handoff")
    assert funnel.exchange(message_event(acme, text="hi", config_version=version)) == []
    # Two hours later, nobody has written: the bot answers again.
    store(stack).update(acme.tenant, "bot", USER, lambda p: {"human_since": int(time.time()) - 7200})
    assert conversation(admin)["handoff"] == "bot"
    assert funnel.exchange(message_event(acme, text="hi", config_version=version))
    assert [m["type"] for m in messages(admin) if m["direction"] == "event"] == ["handoff", "timeout"]


def test_inbox_is_per_tenant_and_instance(setup):
    admin, other, _, acme, globex, funnel, _ = setup
    funnel.exchange(message_event(acme, text="hi"))
    funnel.exchange(message_event(acme, text="hello", user_id="US.other", user_phone="15550001111"))
    funnel.exchange(message_event(globex, text="globex hi"))
    mine = admin.get(f"{BASE}/bot/conversations", query={"limit": 1})
    assert [c["user"] for c in mine.json()["items"]] == ["US.other"]
    rest = admin.get(f"{BASE}/bot/conversations", query={"cursor": mine.json()["next"]}).json()
    assert [c["user"] for c in rest["items"]] == [USER] and rest["next"] is None
    assert [c["user"] for c in other.get(f"{BASE}/bot/conversations").json()["items"]] == [USER]
    assert [m["text"] for m in messages(other) if m["direction"] == "in"] == ["globex hi"]
    assert [m["text"] for m in messages(admin) if m["direction"] == "in"] == ["hi"]
    # Another tenant's cursor, or a forged one, is a 422, never another inbox.
    assert admin.get(f"{BASE}/bot/conversations", query={"cursor": mine.json()["next"] + "x"}).status == 422
    assert other.get(f"{BASE}/bot/conversations", query={"cursor": mine.json()["next"]}).status == 422
    assert other.get(f"{BASE}/nobot/conversations").status == 404
    assert admin.get(f"{BASE}/bot/conversations/US.nobody/messages").status == 404


def test_window_closed_is_409_and_a_template_reaches_the_user(setup):
    admin, other, guest, acme, _, funnel, stack = setup
    funnel.exchange(message_event(acme, text="hi", timestamp=int(time.time()) - 25 * 3600))
    closed = admin.post(f"{BASE}/bot/send", {"user": USER, "text": "late"})
    assert closed.status == 409 and closed.json()["window_closes_at"] and "template" in closed.json()["hint"]
    assert conversation(admin)["window_open"] is False
    listed = guest.get(f"{BASE}/bot/templates").json()["items"]
    assert {(t["name"], t["language"]) for t in listed} == {("hello_world", "en_US"), ("order_update", "en"),
                                                           ("follow_up", "ru")}  # approved only
    order = next(t for t in listed if t["name"] == "order_update")
    assert order["parameters"] == {"header": 1, "body": 2, "buttons": [1, 0]}
    send = {"name": "order_update", "language": "en", "header": ["A-17"], "body": ["Ann", "A-17"],
            "buttons": [["A-17"]]}
    assert guest.post(f"{BASE}/bot/conversations/{USER}/template", send).status == 403
    assert other.post(f"{BASE}/bot/conversations/{USER}/template", send).status == 404
    accepted = admin.post(f"{BASE}/bot/conversations/{USER}/template", send)
    assert accepted.status == 202, accepted.body
    pump(stack, funnel)
    sent = funnel.graph.sent()[-1]
    assert sent["type"] == "template" and sent["template"]["name"] == "order_update"
    assert next(m for m in messages(admin) if m["sender"] == "manager")["template"] == "order_update"
    assert conversation(admin)["handoff"] == "human"


@pytest.mark.parametrize("change, field", [
    ({"body": ["Ann"]}, "body"), ({"header": []}, "header"), ({"buttons": []}, "buttons"),
    ({"name": "no_such_template"}, "name"), ({"language": "ru"}, "name"), ({"name": "Bad Name"}, "name"),
])
def test_template_values_are_checked_against_the_template(setup, change, field):
    admin, _, _, acme, _, funnel, _ = setup
    funnel.exchange(message_event(acme, text="hi"))
    send = {"name": "order_update", "language": "en", "header": ["A-17"], "body": ["Ann", "A-17"],
            "buttons": [["A-17"]], **change}
    response = admin.post(f"{BASE}/bot/conversations/{USER}/template", send)
    assert response.status == 422, response.body
    assert ["body", field] in [d["loc"][:2] for d in response.json()["detail"]]


def test_the_fake_graph_api_answers_metas_template_errors(setup):
    *_, funnel, _ = setup
    api = funnel.graph.api

    def send(template: dict) -> dict:
        import json

        body = {"messaging_product": "whatsapp", "to": "+15550001111", "type": "template", "template": template}
        answer = api.handle("POST", "/v25.0/106540352242922/messages", {"authorization": "Bearer t"},
                            json.dumps(body).encode())
        return json.loads(answer.body)

    assert send({"name": "nope", "language": {"code": "en"}})["error"]["code"] == 132001
    assert send({"name": "follow_up", "language": {"code": "ru"}})["error"]["code"] == 132000
    ok = send({"name": "follow_up", "language": {"code": "ru"},
               "components": [{"type": "body", "parameters": [{"type": "text", "text": "Ann"}]}]})
    assert ok["messages"][0]["id"].startswith("wamid.")


def test_failed_status_shows_in_the_inbox_and_the_log(setup):
    admin, _, _, acme, _, funnel, _ = setup
    funnel.exchange(message_event(acme, text="hi"))
    [reply] = [m for m in messages(admin) if m["direction"] == "out"]
    assert reply["status"] is None
    wamid = _wamids(funnel)[-1]
    funnel.send(status_event(acme, wamid, "delivered"))
    assert next(m for m in messages(admin) if m["direction"] == "out")["status"] == "delivered"
    funnel.send(status_event(acme, wamid, "failed", errors=[{"code": 131047, "title": "Re-engagement message"}]))
    [reply] = [m for m in messages(admin) if m["direction"] == "out"]
    assert reply["status"] == "failed" and reply["error"]["code"] == 131047
    assert conversation(admin)["last_failure"]["code"] == 131047


def _wamids(funnel) -> list[str]:
    return [entry["message_id"] for entry in funnel.graph.api.recorded() if "message_id" in entry]


def test_every_message_item_carries_the_retention_ttl_and_goes_with_the_user_reset(setup):
    admin, _, _, acme, _, funnel, stack = setup
    assert admin.put(f"{BASE}/bot", {"message_retention_days": 7}).status == 200
    version = admin.get(f"{BASE}/bot").json()["version"]
    funnel.exchange(message_event(acme, text="hi", config_version=version))
    admin.post(f"{BASE}/bot/conversations/{USER}/handoff")
    admin.post(f"{BASE}/bot/send", {"user": USER, "text": "hello"})
    pump(stack, funnel)
    items = list(query_partition(aws.client("dynamodb"), stack.refs["AppTable"],
                                 keys.user_pk(acme.tenant, "bot", USER), "MSG#"))
    # A turn is one item: (in, bot reply), hand-off, manager reply.
    assert [[e["M"]["type"]["S"] for e in item["entries"]["L"]] for item in items] == [
        ["text", "interactive"], ["handoff"], ["text"]]
    now = time.time()
    for item in items:
        assert now + 7 * 86400 - 60 < int(item["expires_at"]["N"]) <= now + 7 * 86400 + 60
    assert admin.delete(f"{BASE}/bot/users/{USER}/state").status == 200
    assert not list(query_partition(aws.client("dynamodb"), stack.refs["AppTable"],
                                    keys.user_pk(acme.tenant, "bot", USER), "MSG#"))
    assert admin.get(f"{BASE}/bot/conversations").json()["items"] == []


def test_managers_listed_for_handoff_notices_get_a_whatsapp_message_inside_their_window(setup):
    admin, _, _, acme, _, funnel, _ = setup
    clinic(admin)
    manager_phone, away_phone = "15550002222", "15550003333"
    assert admin.put(f"{BASE}/bot", {"handoff_notify": {"manager_phones": [f"+{manager_phone}", away_phone]}}
                     ).status == 200
    version = admin.get(f"{BASE}/bot").json()["version"]
    # The manager wrote to the bot today (window open); the other one never did.
    funnel.exchange(message_event(acme, text="hi", user_id=None, user_phone=manager_phone, config_version=version))
    sent = funnel.exchange(message_event(acme, reply=("button_reply", "clinic:human"), config_version=version))
    notices = [m for m in sent if m.get("to") == f"+{manager_phone}"]
    assert len(notices) == 1 and "needs a person" in body_text(notices[0])
    assert not [m for m in sent if m.get("to") == f"+{away_phone}"]
    # The notice is not part of the customer's conversation.
    assert all(m["text"] is None or "needs a person" not in m["text"] for m in messages(admin))


def test_an_llm_job_waiting_when_a_person_took_over_is_never_answered(setup, llm):
    admin, _, _, acme, _, funnel, _ = setup
    funnel.exchange(message_event(acme, text="hi"))
    job = message_event(acme, text="What do you sell?")
    admin.post(f"{BASE}/bot/conversations/{USER}/handoff")
    assert llm.ask(job) == []
    assert llm.providers.llm_bodies() == [] and llm.graph.sent() == []
    admin.post(f"{BASE}/bot/conversations/{USER}/release")
    assert llm.ask(message_event(acme, text="And now?")) == []
    assert len(llm.graph.sent()) == 1
    assert [m["sender"] for m in messages(admin) if m["direction"] == "out"][-1] == "llm"


def test_inbound_event_content_for_media_is_type_and_id(setup):
    admin, _, _, acme, _, funnel, _ = setup
    image = InboundEvent.model_validate({**message_event(acme, text="x").model_dump(), "type": "image",
                                         "content": {"id": "media-1", "mime_type": "image/jpeg", "caption": "look"}})
    funnel.deliver(sqs_record(image))
    [entry] = [m for m in messages(admin) if m["direction"] == "in"]
    assert (entry["media_type"], entry["media_id"], entry["text"]) == ("image", "media-1", "look")
