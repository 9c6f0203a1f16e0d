"""Admin routes of the funnel: custom funnels, user state reset, a manager's reply."""

from __future__ import annotations

import copy
import json

import pytest

from scripts import create_tenant as cli
from tests import payloads
from tests.integration.admin_client import AdminClient
from tests.integration.funnel_harness import body_text, message_event, sqs_record
from tests.legacy_funnel import LEGACY_SALES_FUNNEL
from wabot import aws
from wabot.funnel.templates import template_document
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
    assert response.json()["definition"]["start"] == "welcome"
    assert response.json()["definition"] == template_document("sales")
    assert other.get(f"{BASE}/bot/funnel").status == 404


def test_custom_funnel_is_used_by_the_worker_and_can_be_reset(setup):
    admin, _, guest, instance, funnel, _ = setup
    custom = template_document("sales")
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
    (lambda f: f["nodes"]["welcome"]["buttons"].append({"id": "x:y", "title": {"en": "4th", "ru": "4"},
                                                        "next": "welcome"}),
     ["body", "nodes", "welcome", "buttons"]),
    (lambda f: f["nodes"]["faq_menu"].update(button={"en": "x" * 21, "ru": "x"}),
     ["body", "nodes", "faq_menu", "button"]),
    (lambda f: f["nodes"]["basic_demo"]["text"].update(ru="x" * 1025), ["body", "nodes", "basic_demo", "text"]),
    (lambda f: f["nodes"]["welcome"]["buttons"][0].update(next="nowhere"),
     ["body", "nodes", "welcome", "buttons", "0", "next"]),
    (lambda f: f.pop("start"), ["body", "start"]),
    (lambda f: f["nodes"]["quote_calc"].update(next="quote_calc"), ["body", "nodes", "quote_calc"]),
])
def test_invalid_funnel_is_422_naming_node_and_field(setup, mutate, location):
    admin, *_ = setup
    custom = template_document("sales")
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
                    "type": "text", "text": {"preview_url": False, "body": "A manager here: how can I help?"},
                    "biz_opaque_callback_data": "wabot"}  # Meta echoes it in the statuses: our own message
    logs = admin.get(f"{BASE}/bot/logs").json()["items"]
    assert any(e["summary"] == "manager reply queued for sending" and e["actor"] == "root" for e in logs)


def test_manager_reply_outside_the_24_hour_window_is_409(setup):
    admin, _, _, instance, funnel, _ = setup
    import time

    funnel.exchange(message_event(instance, text="hi", timestamp=int(time.time()) - 25 * 3600))
    response = admin.post(f"{BASE}/bot/send", {"user": payloads.BSUID, "text": "late"})
    assert response.status == 409
    assert "24-hour" in response.json()["message"]


# ---- the flow language through the API ---------------------------------------------------------


def test_old_shape_funnel_stored_before_flows_still_answers(setup):
    """An item written before the flow language (the old document as text) is converted on read."""
    admin, _, _, instance, funnel, stack = setup
    legacy = copy.deepcopy(LEGACY_SALES_FUNNEL)
    legacy["nodes"]["welcome"]["text"] = {"en": "Old-shape welcome {with braces}", "ru": "Старый"}
    aws.client("dynamodb").put_item(TableName=stack.refs["AppTable"], Item={
        "pk": {"S": "TENANT#acme"}, "sk": {"S": "FUNNEL#bot"}, "definition": {"S": json.dumps(legacy)}})
    response = admin.get(f"{BASE}/bot/funnel")
    assert response.json()["custom"] is True and response.json()["definition"]["start"] == "welcome"
    [welcome] = funnel.exchange(message_event(instance, text="hi"))
    assert body_text(welcome) == "Old-shape welcome {with braces}"
    quiz = funnel.exchange(message_event(instance, reply=("button_reply", "sales:quiz")))
    assert body_text(quiz[1]).startswith("What do you need the assistant for?")
    # An old-shape document may still be PUT: it is converted and stored as a flow.
    assert admin.put(f"{BASE}/bot/funnel", legacy).status == 200


def test_schema_validates_the_templates_and_rejects_a_broken_flow(setup):
    import jsonschema

    admin, *_ = setup
    response = admin.get("/admin/funnel/schema.json")
    assert response.status == 200
    schema = response.json()
    listed = admin.get("/admin/funnel/templates").json()["items"]
    assert [t["name"] for t in listed] == ["sales", "clinic"]
    for item in listed:
        document = admin.get(f"/admin/funnel/templates/{item['name']}").json()["definition"]
        jsonschema.validate(document, schema)
    broken = template_document("clinic")
    broken["nodes"]["welcome"]["kind"] = "teleport"
    with pytest.raises(jsonschema.ValidationError):
        jsonschema.validate(broken, schema)
    assert admin.get("/admin/funnel/templates/nope").status == 404


def test_instance_created_and_reset_with_a_named_template(setup):
    admin, other, guest, *_ = setup
    created = admin.post(BASE, {"name": "Clinic", "phone_number_id": "106540352242923", "funnel_template": "clinic"})
    assert created.status == 201, created.body
    clinic = admin.get(f"{BASE}/clinic/funnel").json()
    assert clinic["custom"] is True and clinic["definition"] == template_document("clinic")
    assert admin.post(BASE, {"name": "X", "phone_number_id": "106540352242924",
                             "funnel_template": "nope"}).status == 422
    assert guest.put(f"{BASE}/clinic/funnel", {"template": "sales"}).status == 403
    assert other.put(f"{BASE}/clinic/funnel", {"template": "sales"}).status == 404
    reset = admin.put(f"{BASE}/clinic/funnel", {"template": "sales"})
    assert reset.status == 200 and reset.json()["definition"]["nodes"]["welcome"]["kind"] == "buttons"
    bad = admin.put(f"{BASE}/clinic/funnel", {"template": "nope"})
    assert bad.status == 422 and bad.json()["detail"][0]["loc"] == ["body", "template"]


def test_put_answers_warnings(setup):
    admin, *_ = setup
    document = template_document("clinic")
    document["nodes"]["orphan"] = {"kind": "message", "text": "Hello {nickname}"}
    response = admin.put(f"{BASE}/bot/funnel", document)
    assert response.status == 200
    assert {"loc": ["nodes", "orphan"], "msg": "unreachable: no path leads here"} in response.json()["warnings"]


def test_simulate_the_instance_flow_and_a_draft_sends_and_stores_nothing(setup):
    admin, other, guest, instance, funnel, stack = setup
    inputs = [{"text": "hi"}, {"reply": "sales:quiz"}, {"reply": "sales:qa:goal:docs"}, {"text": "what is RAG?"}]
    response = guest.post(f"{BASE}/bot/funnel/simulate", {"inputs": inputs, "language": "ru"})
    assert response.status == 200, response.body
    turns = response.json()["turns"]
    assert turns[0]["messages"][0]["interactive"]["body"]["text"].startswith("👋 Здравствуйте")
    assert [m["type"] for m in turns[1]["messages"]] == ["text", "interactive"]
    assert turns[3]["llm"] == {"message": "what is RAG?"} and turns[3]["messages"] == []
    assert response.json()["variables"]["quiz.goal"] == ["docs"]
    assert other.post(f"{BASE}/bot/funnel/simulate", {"inputs": inputs}).status == 404
    assert funnel.graph.sent() == []
    store = ConversationStore(aws.client("dynamodb"), stack.refs["AppTable"])
    assert store.get_profile(instance.tenant, "bot", "simulated-user") is None

    draft = template_document("clinic")
    response = admin.post("/admin/funnel/simulate", {"definition": draft, "inputs": [
        {"text": "hi"}, {"reply": "clinic:book"}, {"reply": "clinic:service:checkup"}, {"text": "Ann"},
        {"text": "31.12.2099"}, {"text": "+1 555 010 2030"}, {"reply": "clinic:confirm"}]})
    assert response.status == 200, response.body
    last = response.json()["turns"][-1]
    assert last["handoff"]["note"] == "New booking: Check-up on 2099-12-31 for Ann, +15550102030"
    draft["nodes"]["welcome"]["buttons"][0]["next"] = "nowhere"
    invalid = admin.post("/admin/funnel/simulate", {"definition": draft, "inputs": [{"text": "hi"}]})
    assert invalid.status == 422
    assert invalid.json()["detail"][0]["loc"] == ["body", "nodes", "welcome", "buttons", "0", "next"]
    assert admin.post("/admin/funnel/simulate", {"inputs": [{"text": "hi"}]}).status == 422
    assert admin.post("/admin/funnel/simulate", {"definition": draft, "inputs": [{}]}).status == 422
    assert admin.post("/admin/funnel/simulate", {"definition": draft, "inputs": []}).status == 422


def test_funnel_stats_show_where_users_leave(setup):
    admin, other, guest, instance, funnel, _ = setup
    for user in ("A.1", "B.2", "C.3"):
        funnel.exchange(message_event(instance, text="hi", user_id=user))
    for user in ("A.1", "B.2"):
        funnel.exchange(message_event(instance, reply=("button_reply", "faq:menu"), user_id=user))
    funnel.exchange(message_event(instance, reply=("list_reply", "faq:cat_product"), user_id="A.1"))
    response = guest.get(f"{BASE}/bot/funnel/stats", query={"days": 3})
    assert response.status == 200, response.body
    totals = response.json()["totals"]
    assert totals["welcome"] == {"reached": 3, "left": 1}
    assert totals["faq_menu"] == {"reached": 2, "left": 1}
    assert totals["faq_product"] == {"reached": 1, "left": 1}
    assert response.json()["days"][0]["nodes"] == totals
    assert "fn:in:welcome" not in admin.get(f"{BASE}/bot/stats").json()["days"][0]["counters"]
    assert other.get(f"{BASE}/bot/funnel/stats").status == 404
    assert admin.get(f"{BASE}/bot/funnel/stats", query={"days": 0}).status == 422


def test_llm_node_and_handoff_reach_the_llm_job_and_the_activity_log(setup):
    admin, _, _, instance, funnel, stack = setup
    assert admin.put(f"{BASE}/bot/funnel", {"template": "clinic"}).status == 200
    version = admin.get(f"{BASE}/bot").json()["version"]
    [prompt] = funnel.exchange(message_event(instance, reply=("button_reply", "clinic:ask"), config_version=version))
    assert body_text(prompt).startswith("Ask me anything")
    assert funnel.exchange(message_event(instance, text="Do you do braces?", config_version=version)) == []
    from tests.integration.conftest import drain

    [job] = drain(stack.refs["LlmQueue"])
    assert job["body"]["llm"]["system_prompt"].startswith("You are the friendly receptionist")
    assert job["body"]["content"] == {"body": "Do you do braces?"}
    [told] = funnel.exchange(message_event(instance, reply=("button_reply", "clinic:human"), config_version=version))
    assert body_text(told).startswith("A receptionist will answer you")
    logs = admin.get(f"{BASE}/bot/logs").json()["items"]
    [handoff] = [e for e in logs if e["summary"].startswith("hand-off")]
    assert handoff["detail"]["handoff"] == {"node": "reception", "note": "The user asked to talk to reception"}


ANSWERS = {"text": "Ann Lee", "number": "3", "phone": "+1 555 010 2030", "email": "ann@example.org",
           "date": "31.12.2099"}


# Each reply id is tapped once, on the first path that offers it: these paths also take the
# branches that first taps would not (the sales quiz's Basic segment, the clinic's emergency).
SEEDS = {
    "sales": [[{"text": "hi"}, *({"reply": r} for r in ("sales:quiz", "sales:qa:goal:support", "sales:qd:goal",
                                                        "sales:qa:skills:help", "sales:qa:budget:low"))]],
    "clinic": [[{"text": "hi"}, {"reply": "clinic:book"}, {"reply": f"clinic:service:{service}"}, {"text": "Bo"},
                {"text": "31.12.2099"}, {"text": "+1 555 010 2030"}] for service in ("emergency", "implant")],
}


@pytest.mark.parametrize("name", ["sales", "clinic"])
def test_every_option_of_every_node_of_both_templates_through_simulate(setup, name):
    """Breadth-first through the simulate API: every reply id any message offers is tapped, and
    every question is answered (with a valid answer of its kind), from a fresh conversation."""
    admin, *_ = setup
    document = template_document(name)
    kinds = {node_id: node.get("validate", {}).get("type", "text") for node_id, node in document["nodes"].items()}
    pending = [[{"text": "hi"}], *SEEDS[name]]
    tapped, answered, seen_paths = set(), set(), 0
    while pending:
        path = pending.pop(0)
        response = admin.post("/admin/funnel/simulate", {"definition": document, "inputs": path})
        assert response.status == 200, (path, response.body)
        result = response.json()
        seen_paths += 1
        last = result["turns"][-1]
        assert last["messages"] or last["llm"] or last["handoff"], path
        assert not any(step.startswith(("unknown_reply", "missing", "error", "invalid")) for step in last["steps"])
        if result["waiting_for"] == "text" and result["at"] not in answered and document["nodes"][result["at"]][
                "kind"] == "ask":
            answered.add(result["at"])
            pending.append([*path, {"text": ANSWERS[kinds[result["at"]]]}])
        for message in last["messages"]:
            if message["type"] != "interactive":
                continue
            action = message["interactive"]["action"]
            ids = [b["reply"]["id"] for b in action.get("buttons", [])] + [
                row["id"] for section in action.get("sections", []) for row in section["rows"]]
            for reply_id in ids:
                if reply_id not in tapped:
                    tapped.add(reply_id)
                    pending.append([*path, {"reply": reply_id}])
    offered = set()
    for node in document["nodes"].values():
        offered |= {b["id"] for b in node.get("buttons", [])}
        offered |= {r["id"] for s in node.get("sections", []) for r in s["rows"]}
        offered |= {o["id"] for o in node.get("options", [])}
    assert offered <= tapped  # every option of every node
    assert answered == {node_id for node_id, node in document["nodes"].items() if node["kind"] == "ask"}
