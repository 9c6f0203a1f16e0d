"""Account health: the dispatcher's fan-out, the worker's checks, account webhooks, paused
sends, the admin view, and signed notifications, over moto with the template's resources."""

from __future__ import annotations

import json
from datetime import UTC, datetime, timedelta

import pytest

from devstack.gateway import LambdaContext
from scripts import create_tenant as cli
from tests import payloads
from tests.integration.admin_client import AdminClient
from tests.integration.conftest import SeededInstance, drain, seed_instance
from tests.integration.funnel_harness import message_event
from wabot import aws, notify
from wabot.models.health import HealthRecord
from wabot.queue import HealthQueue
from wabot.repositories.health import HealthRepository, RunningInstances, StaleResult
from wabot.repositories.instances import InstanceRepository
from wabot.repositories.secrets import SecretStore
from wabot.tenancy import TenantContext

WABA = "102290129340398"


def _instances(stack) -> InstanceRepository:
    return InstanceRepository(aws.client("dynamodb"), stack.refs["AppTable"])


def _health(stack) -> HealthRepository:
    return HealthRepository(aws.client("dynamodb"), stack.refs["AppTable"])


def _jobs(stack) -> list[dict]:
    return [message["body"] for message in drain(stack.refs["HealthQueue"])]


# ---- dispatcher ---------------------------------------------------------------------------


def test_dispatcher_pages_through_every_running_instance_of_every_tenant(stack, function_env):
    running = set()
    for n in range(23):
        tenant_id = f"tenant-{n:02d}"
        for i in range(1 + n % 2):
            seed_instance(stack, tenant_id, f"bot-{i}", f"1{n:03d}{i:03d}0000", secrets=False)
            running.add((tenant_id, f"bot-{i}"))
    stopped = _instances(stack).get(TenantContext("tenant-05"), "bot-0")
    _instances(stack).put(TenantContext("tenant-05"), stopped.model_copy(update={"running": False}))
    running.discard(("tenant-05", "bot-0"))

    from health_jobs import dispatch

    index = RunningInstances(aws.client("dynamodb"), stack.refs["AppTable"], page_size=4)  # many pages
    pages = list(index.pages())
    assert len(pages) > 5 and all(len(page) <= 4 for page in pages)
    queued = dispatch(index, HealthQueue(aws.client("sqs"), stack.refs["HealthQueue"]), slot=900)
    jobs = _jobs(stack)
    assert queued == len(jobs) == len(running)
    assert {(job["tenant_id"], job["instance_id"]) for job in jobs} == running  # each once, stopped left out
    assert {job["slot"] for job in jobs} == {900} and {job["kind"] for job in jobs} == {"check"}

    # The deployed handler: the schedule's time decides the period's slot.
    function_env("HealthDispatcherFunction")
    import dispatcher_handler

    dispatcher_handler._parts.cache_clear()
    result = dispatcher_handler.handler({"scheduled_time": "2026-12-01T10:07:00Z"},
                                        LambdaContext("HealthDispatcherFunction", 256, 120))
    slot = int(datetime(2026, 12, 1, 10, 0, tzinfo=UTC).timestamp())  # the 15-minute period it falls in
    assert result == {"queued": len(running), "slot": slot}
    assert {job["slot"] for job in _jobs(stack)} == {slot}
    dispatcher_handler._parts.cache_clear()


# ---- checks ---------------------------------------------------------------------------------


def test_a_check_records_the_numbers_fields_and_a_rerun_of_its_period_changes_nothing(stack, acme, health):
    assert health.check("acme", acme.instance_id, slot=900) == []
    record = _health(stack).get(acme.tenant, acme.instance_id)
    assert record.token_status == "valid" and record.check_slot == 900
    assert (record.phone.quality_rating, record.phone.messaging_limit_tier, record.phone.status,
            record.phone.throughput) == ("GREEN", "TIER_1K", "CONNECTED", "STANDARD")
    item = aws.client("dynamodb").get_item(TableName=stack.refs["AppTable"],
                                           Key={"pk": {"S": f"TENANT#acme#INSTANCE#{acme.instance_id}#STATS"},
                                                "sk": {"S": "HEALTH"}})["Item"]
    calls = len(health.graph.api.recorded())
    health.graph.api.control(json.dumps({"phone_number_id": acme.phone_number_id, "quality_rating": "RED"}).encode())
    assert health.check("acme", acme.instance_id, slot=900) == []  # the same period again (a redelivery)
    again = aws.client("dynamodb").get_item(TableName=stack.refs["AppTable"],
                                            Key={"pk": {"S": f"TENANT#acme#INSTANCE#{acme.instance_id}#STATS"},
                                                 "sk": {"S": "HEALTH"}})["Item"]
    assert again == item and len(health.graph.api.recorded()) == calls


def test_one_failing_tenant_does_not_stop_the_others(stack, two_tenants, health, monkeypatch):
    acme, globex = two_tenants
    broken = seed_instance(stack, "initech", "support-bot", "305555555555555")
    original = health.service.secrets.get

    def failing(tenant, config, name, force_fetch=False):
        if tenant.tenant_id == "initech":
            raise RuntimeError("throttled")
        return original(tenant, config, name, force_fetch)

    monkeypatch.setattr(health.service.secrets, "get", failing)
    from tests.integration.health_harness import health_record
    from wabot.models.health import HealthJob

    records = [health_record(HealthJob(tenant_id=i.tenant.tenant_id, instance_id=i.instance_id, slot=900))
               for i in (broken, acme, globex)]
    assert health.deliver(*records) == [records[0]["messageId"]]  # only its own record is retried
    for instance in (acme, globex):
        assert _health(stack).get(instance.tenant, instance.instance_id).token_status == "valid"
    assert _health(stack).get(broken.tenant, broken.instance_id).checked_at is None


def _with_notifications(stack, instance: SeededInstance, secret: str = "acme-notify-secret-0123456789") -> str:  # noqa: S107
    config = _instances(stack).get(instance.tenant, instance.instance_id)
    _instances(stack).put(instance.tenant, config.model_copy(update={"notify_url": "https://hooks.acme.test/wa"}))
    SecretStore("/wabot-test", aws.client("ssm")).put(instance.tenant, instance.instance_id, "notify_secret", secret)
    return secret


def test_expired_token_flips_health_pauses_sends_and_a_new_token_restores_them(stack, two_tenants, gateway, health,
                                                                                funnel):
    acme, globex = two_tenants
    secret = _with_notifications(stack, acme)
    assert health.check("acme", acme.instance_id, slot=900) == []
    assert health.check("globex", globex.instance_id, slot=900) == []
    assert [b["data"]["status"] for b in health.receiver.bodies()] == ["ok"]  # from "not checked yet"
    health.receiver.requests.clear()
    health.receiver.statuses = [503]  # the first delivery fails: retried with backoff

    health.graph.api.control(json.dumps({"expire_token": acme.access_token}).encode())
    assert health.check("acme", acme.instance_id, slot=1800) == []
    record = _health(stack).get(acme.tenant, acme.instance_id)
    assert record.token_status == "invalid" and record.last_error.code == 190
    config = _instances(stack).get(acme.tenant, acme.instance_id)
    assert config.sends_paused and config.version == 2  # warm workers reload at once
    assert not _instances(stack).get(globex.tenant, globex.instance_id).sends_paused  # same instance id, untouched

    # The change is in the activity log and went, signed, to the tenant's URL (second attempt).
    assert len(health.receiver.requests) == 2
    delivered = health.receiver.requests[-1]
    assert str(delivered.url).startswith("https://") and delivered.headers["host"] == "hooks.acme.test"
    assert notify.signature_is_valid(secret, delivered.content, delivered.headers[notify.SIGNATURE_HEADER])
    assert not notify.signature_is_valid("another-secret-0123456789", delivered.content,
                                         delivered.headers[notify.SIGNATURE_HEADER])
    body = json.loads(delivered.content)
    assert (body["event"], body["tenant_id"], body["data"]["status"]) == ("instance.health_changed", "acme",
                                                                          "failing")
    assert secret not in delivered.content.decode() and acme.access_token not in delivered.content.decode()

    # Sends stop being attempted; the inbound message is still recorded.
    before = len(funnel.graph.api.recorded())
    assert funnel.send(message_event(acme, text="hi", config_version=2)) == []
    assert len(funnel.graph.api.recorded()) == before
    assert funnel.exchange(message_event(globex, text="hi"))  # globex still answers

    # A new token through PUT (checked at once) resumes sends and makes health valid again.
    key = cli.create_tenant("acme", "Acme", "root", stack.refs["AppTable"], stack.refs["ApiKeyTable"])
    admin = AdminClient(gateway, key)
    response = admin.put(f"/admin/whatsapp/instances/{acme.instance_id}", {"access_token": "EAAGacmenewtoken123456"})
    assert response.status == 200, response.json()
    assert response.json()["sends_paused"] is False
    view = admin.get(f"/admin/whatsapp/instances/{acme.instance_id}/health").json()
    assert view["token"]["status"] == "valid" and view["status"] == "ok"
    assert funnel.exchange(message_event(acme, text="hi", config_version=4))


def test_a_passing_check_resumes_sends(stack, acme, health):
    health.graph.api.control(json.dumps({"expire_token": acme.access_token}).encode())
    assert health.check("acme", acme.instance_id, slot=900) == []
    assert _instances(stack).get(acme.tenant, acme.instance_id).sends_paused
    health.graph.api.control(json.dumps({"restore_token": acme.access_token}).encode())
    assert health.check("acme", acme.instance_id, slot=1800) == []
    assert not _instances(stack).get(acme.tenant, acme.instance_id).sends_paused
    logs = [e for e in health.service.activity.recent(acme.tenant, acme.instance_id) if e.kind == "health_changed"]
    assert [e.detail["to"] for e in logs] == ["ok", "failing"]  # newest first


def test_a_graph_outage_is_unknown_not_invalid(stack, acme, health, monkeypatch):
    from wabot.whatsapp.graph import GraphError

    def outage(phone_number_id, token):
        raise GraphError(2, "Service temporarily unavailable", 503)

    monkeypatch.setattr(health.service.graph, "phone_number", outage)
    assert health.check("acme", acme.instance_id, slot=900) == []
    record = _health(stack).get(acme.tenant, acme.instance_id)
    assert record.token_status == "unknown" and record.last_error.code == 2
    assert not _instances(stack).get(acme.tenant, acme.instance_id).sends_paused


def test_conditional_write_keeps_the_newest_result(stack, acme):
    repository = _health(stack)
    newer = datetime(2026, 12, 1, 10, 15, tzinfo=UTC)
    repository.record_check(acme.tenant, acme.instance_id,
                            HealthRecord(token_status="valid", checked_at=newer, updated_at=newer))
    with pytest.raises(StaleResult):  # a slow check that started earlier finishes later
        repository.record_check(acme.tenant, acme.instance_id, HealthRecord(
            token_status="invalid", checked_at=newer - timedelta(seconds=30), updated_at=newer))
    stored = repository.get(acme.tenant, acme.instance_id)
    assert stored.token_status == "valid" and stored.checked_at == newer
    with pytest.raises(StaleResult):
        repository.record_check(acme.tenant, acme.instance_id, HealthRecord(checked_at=newer, updated_at=newer))
    later = newer + timedelta(minutes=15)
    repository.record_check(acme.tenant, acme.instance_id, HealthRecord(token_status="invalid", checked_at=later,
                                                                        updated_at=later))
    assert repository.get(acme.tenant, acme.instance_id).token_status == "invalid"


# ---- account webhooks ------------------------------------------------------------------------


def _account_change(field: str, value: dict) -> dict:
    return {"field": field, "value": value}


def _post(gateway, instance: SeededInstance, *changes: dict, waba_id: str = WABA, time: int = 1764583200):
    payload = {"object": "whatsapp_business_account",
               "entry": [{"id": waba_id, "time": time, "changes": list(changes)}]}
    raw = payloads.body(payload)
    return gateway.request("POST", f"/webhook/{instance.tenant.tenant_id}/{instance.instance_id}", body=raw,
                           headers={"content-type": "application/json",
                                    "x-hub-signature-256": payloads.sign(raw, instance.app_secret)})


def test_quality_and_template_webhooks_update_health(stack, two_tenants, gateway, health):
    acme, globex = two_tenants
    assert health.check("acme", acme.instance_id, slot=900) == []
    response = _post(gateway, acme,
                     _account_change("phone_number_quality_update", {
                         "display_phone_number": "15550783881", "event": "FLAGGED", "current_limit": "TIER_250"}),
                     _account_change("message_template_status_update", {
                         "event": "REJECTED", "message_template_id": 806312974732579,
                         "message_template_name": "welcome", "message_template_language": "en_US",
                         "reason": "INCORRECT_CATEGORY"}),
                     _account_change("security", {"event": "PIN_CHANGED"}))  # unknown here: accepted, ignored
    assert response.status == 200
    assert drain(stack.refs["InboundQueue"]) == []  # not a conversation
    queued = _jobs(stack)
    assert [(q["kind"], q["field"]) for q in queued] == [("account", "phone_number_quality_update"),
                                                         ("account", "message_template_status_update")]
    assert health.queued(queued) == []
    assert health.queued(queued) == []  # Meta's retry: nothing twice

    key = cli.create_tenant("acme", "Acme", "root", stack.refs["AppTable"], stack.refs["ApiKeyTable"])
    admin = AdminClient(gateway, key)
    view = admin.get(f"/admin/whatsapp/instances/{acme.instance_id}/health").json()
    assert (view["status"], view["quality_rating"], view["messaging_limit_tier"]) == ("warning", "RED", "TIER_250")
    assert [(c["name"], c["event"], c["reason"]) for c in view["template_changes"]] == [
        ("welcome", "REJECTED", "INCORRECT_CATEGORY")]
    # Template statuses have their own list; other account events are listed as events.
    assert [(e["field"], e["event"]) for e in view["account_events"]] == [("phone_number_quality_update", "FLAGGED")]
    stats = admin.get("/admin/whatsapp/stats").json()
    assert stats["not_ok"] == [{"id": acme.instance_id, "status": "warning", "reason": view["reason"]}]
    # globex (same instance id) saw nothing of it.
    assert _health(stack).get(globex.tenant, globex.instance_id).phone.quality_rating is None


def test_account_bans_and_name_decisions(stack, acme, gateway, health):
    assert _post(gateway, acme, _account_change("account_update", {
        "phone_number": "15550783881", "event": "DISABLED_UPDATE",
        "ban_info": {"waba_ban_state": ["DISABLE"], "waba_ban_date": "2026-12-01"}}),
        _account_change("phone_number_name_update", {"display_phone_number": "15550783881", "decision": "REJECTED",
                                                     "requested_verified_name": "Acme"}),
        _account_change("account_alerts", {"entity_type": "WABA", "entity_id": WABA, "alert_severity": "WARNING",
                                           "alert_status": "ACTIVE", "alert_type": "OBA_APPROVED",
                                           "alert_description": "An alert"})).status == 200
    assert health.queued(_jobs(stack)) == []
    record = _health(stack).get(acme.tenant, acme.instance_id)
    assert record.account_restricted and record.phone.name_status == "REJECTED"
    assert {e.event for e in record.account_events} == {"DISABLED_UPDATE", "REJECTED", "OBA_APPROVED"}


def test_account_events_of_another_business_account_are_ignored(stack, acme, gateway):
    config = _instances(stack).get(acme.tenant, acme.instance_id)
    _instances(stack).put(acme.tenant, config.model_copy(update={"waba_id": WABA}))
    response = _post(gateway, acme, _account_change("account_alerts", {"alert_type": "X"}), waba_id="999999999999")
    assert response.status == 200 and _jobs(stack) == []


# ---- admin ----------------------------------------------------------------------------------


def test_credentials_are_checked_when_created_or_changed(stack, gateway):
    key = cli.create_tenant("acme", "Acme", "root", stack.refs["AppTable"], stack.refs["ApiKeyTable"])
    admin = AdminClient(gateway, key)
    gateway.graph.api.control(json.dumps({"expire_token": "EAAGexpiredtoken0000"}).encode())
    refused = admin.post("/admin/whatsapp/instances", {"name": "Bot", "phone_number_id": "555555555555",
                                                       "access_token": "EAAGexpiredtoken0000"})
    assert refused.status == 422
    (detail,) = refused.json()["detail"]
    assert detail["loc"][-1] == "access_token" and "cannot read this phone number" in detail["msg"]
    assert admin.get("/admin/whatsapp/instances").json()["items"] == []  # nothing created, no number claimed

    created = admin.post("/admin/whatsapp/instances", {"name": "Bot", "phone_number_id": "555555555555",
                                                       "access_token": "EAAGgoodtoken000000"})
    assert created.status == 201
    view = admin.get("/admin/whatsapp/instances/bot/health").json()
    assert view["token"]["status"] == "valid" and view["token"]["checked_at"] and view["status"] == "ok"
    changed = admin.put("/admin/whatsapp/instances/bot", {"access_token": "EAAGexpiredtoken0000"})
    assert changed.status == 422 and changed.json()["detail"][0]["loc"][-1] == "access_token"
    moved = admin.put("/admin/whatsapp/instances/bot", {"phone_number_id": "not-a-number-at-all"})
    assert moved.status == 422  # shape first
    assert admin.get("/admin/whatsapp/instances/other/health").status == 404


def test_notification_settings_generate_a_secret_shown_once_then_masked(stack, gateway):
    key = cli.create_tenant("acme", "Acme", "root", stack.refs["AppTable"], stack.refs["ApiKeyTable"])
    admin = AdminClient(gateway, key)
    assert admin.post("/admin/whatsapp/instances", {"name": "Bot", "phone_number_id": "555555555555"}).status == 201
    bad = admin.put("/admin/whatsapp/instances/bot", {"notify_url": "https://hooks.acme.test/wa?key=1"})
    assert bad.status == 422 and bad.json()["detail"][0]["loc"][-1] == "notify_url"
    set_url = admin.put("/admin/whatsapp/instances/bot", {"notify_url": "https://hooks.acme.test/wa"}).json()
    secret = set_url["generated_notify_secret"]
    assert secret and len(secret) >= 32 and set_url["secrets"]["notify_secret"] == "****" + secret[-4:]
    again = admin.get("/admin/whatsapp/instances/bot").json()
    assert again["generated_notify_secret"] is None and again["notify_url"] == "https://hooks.acme.test/wa"
    rotated = admin.put("/admin/whatsapp/instances/bot", {"rotate_notify_secret": True}).json()
    assert rotated["generated_notify_secret"] not in (None, secret)
