"""The webhook function end to end over moto: verification, signatures, routing, queueing."""

from __future__ import annotations

import base64
import io
import json
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from typing import Any
from unittest import mock

import pytest
from botocore.exceptions import ClientError

from devstack.apigw import http_api_event
from tests import payloads
from tests.aws_calls import intercept
from tests.integration.conftest import SeededInstance, drain, seed_instance
from wabot import aws
from wabot.repositories.activity import ActivityLog

ROUTE = "/webhook/{tenant_id}/{instance_id}"


@dataclass
class LambdaContext:
    function_name: str = "webhook"
    memory_limit_in_mb: int = 256
    invoked_function_arn: str = "arn:aws:lambda:eu-west-1:123456789012:function:webhook"
    aws_request_id: str = "req-1"


@pytest.fixture
def logs(webhook):
    """The webhook's structured log lines, as dicts (the logger writes JSON to its stream)."""
    stream = io.StringIO()
    handlers = webhook.logger.handlers
    previous = [handler.setStream(stream) for handler in handlers]
    yield lambda: [json.loads(line) for line in stream.getvalue().splitlines() if line.strip()]
    for handler, old in zip(handlers, previous, strict=True):
        handler.setStream(old)


@pytest.fixture
def webhook(stack, function_env):
    function_env("WebhookFunction")
    import webhook_handler

    webhook_handler.ingress.cache_clear()
    yield webhook_handler
    webhook_handler.ingress.cache_clear()


def call(handler_module, method: str, tenant_id: str, instance_id: str, *, body: bytes | None = None,
         headers: dict[str, str] | None = None, query: dict[str, str] | None = None,
         base64_encoded: bool = False, request_id: str | None = None) -> dict[str, Any]:
    path = f"/webhook/{tenant_id}/{instance_id}"
    event = http_api_event(
        method, path, route_key=f"{method} {ROUTE}",
        path_parameters={"tenant_id": tenant_id, "instance_id": instance_id},
        query=query, headers=headers, body=body, base64_encoded=base64_encoded, request_id=request_id,
    )
    return handler_module.handler(event, LambdaContext())


def post(handler_module, instance: SeededInstance, payload: dict | bytes, *, secret: str | None = None,
         signature: str | None = None, **kwargs) -> dict[str, Any]:
    raw = payload if isinstance(payload, bytes) else payloads.body(payload)
    headers = {"Content-Type": "application/json"}
    sig = signature if signature is not None else payloads.sign(raw, secret or instance.app_secret)
    if sig:
        headers["X-Hub-Signature-256"] = sig
    try:
        raw.decode("utf-8")
    except UnicodeDecodeError:
        kwargs.setdefault("base64_encoded", True)  # API Gateway base64-encodes non-text bodies
    return call(handler_module, "POST", instance.tenant.tenant_id, instance.instance_id,
                body=raw, headers=headers, **kwargs)


def queued(stack) -> list[dict]:
    """Messages from the conversation (FIFO) queue, then statuses from the status queue."""
    return drain(stack.refs["InboundQueue"]) + drain(stack.refs["StatusQueue"])


def activity(stack, instance: SeededInstance) -> list:
    return ActivityLog(aws.client("dynamodb"), stack.refs["AppTable"]).recent(instance.tenant, instance.instance_id)


# ---- GET verification ------------------------------------------------------------------


def verify_query(token: str, mode: str = "subscribe", challenge: str = "1158201444") -> dict[str, str]:
    return {"hub.mode": mode, "hub.verify_token": token, "hub.challenge": challenge}


def test_verification_with_right_token_echoes_challenge_as_text(webhook, two_tenants):
    acme, _ = two_tenants
    response = call(webhook, "GET", "acme", "support-bot", query=verify_query(acme.verify_token, challenge="ab-1?"))
    assert response["statusCode"] == 200
    assert response["body"] == "ab-1?"
    assert response["headers"]["Content-Type"] == "text/plain"


@pytest.mark.parametrize("case", ["wrong token", "other tenant's token", "wrong mode", "no token", "no challenge"])
def test_verification_refused_with_403(webhook, two_tenants, case):
    acme, globex = two_tenants
    query = {
        "wrong token": verify_query("nope"),
        "other tenant's token": verify_query(globex.verify_token),
        "wrong mode": verify_query(acme.verify_token, mode="unsubscribe"),
        "no token": {"hub.mode": "subscribe", "hub.challenge": "1"},
        "no challenge": {"hub.mode": "subscribe", "hub.verify_token": acme.verify_token},
    }[case]
    response = call(webhook, "GET", "acme", "support-bot", query=query)
    assert response["statusCode"] == 403
    assert acme.verify_token not in response["body"]


@pytest.mark.parametrize("tenant_id, instance_id", [("acme", "unknown-bot"), ("nobody", "support-bot"),
                                                    ("Not_A_Slug", "support-bot"), ("acme", "UPPER")])
def test_verification_of_unknown_instance_answers_like_a_wrong_token(webhook, two_tenants, tenant_id, instance_id):
    """Nobody can find out which bots exist: unknown answers exactly as a known one refusing."""
    acme, _ = two_tenants
    response = call(webhook, "GET", tenant_id, instance_id, query=verify_query(acme.verify_token))
    known = call(webhook, "GET", "acme", "support-bot", query=verify_query("wrong-token"))
    assert response["statusCode"] == known["statusCode"] == 403
    assert (response["body"], response["headers"]) == (known["body"], known["headers"])


def test_verification_without_configured_token_is_refused(webhook, stack):
    seed_instance(stack, "initech", "bot", "300000000000001", secrets=False)
    response = call(webhook, "GET", "initech", "bot", query=verify_query(""))
    assert response["statusCode"] == 403


# ---- POST signatures -------------------------------------------------------------------


def test_signed_text_message_is_queued_with_200(webhook, stack, two_tenants):
    acme, _ = two_tenants
    response = post(webhook, acme, payloads.text_notification(acme.phone_number_id), request_id="rq-42")
    assert response["statusCode"] == 200
    [item] = queued(stack)
    event = item["body"]
    assert event["kind"] == "message"
    assert (event["tenant_id"], event["instance_id"]) == ("acme", "support-bot")
    assert event["user_key"] == payloads.BSUID
    assert event["user_id"] == payloads.BSUID
    assert event["phone"] == payloads.PHONE
    assert event["profile_name"] == "Kerry Fisher"
    assert event["message_id"] == "wamid.TEXT1"
    assert event["type"] == "text"
    assert event["content"] == {"body": "hello"}
    assert event["timestamp"] == int(payloads.TS)
    assert event["request_id"] == "rq-42"
    assert event["config_version"] == 1
    assert event["waba_id"] == "102290129340398"


def test_base64_encoded_body_is_verified_over_decoded_bytes(webhook, stack, two_tenants):
    acme, _ = two_tenants
    raw = payloads.body(payloads.text_notification(acme.phone_number_id, text="base64 ✓"))
    response = call(webhook, "POST", "acme", "support-bot", body=raw, base64_encoded=True,
                    headers={"X-Hub-Signature-256": payloads.sign(raw, acme.app_secret)})
    assert response["statusCode"] == 200
    assert queued(stack)[0]["body"]["content"] == {"body": "base64 ✓"}


def test_signature_is_over_raw_bytes_not_reserialized_json(webhook, stack, two_tenants):
    """Meta's bytes: escaped unicode, odd spacing and key order. Re-serializing would differ."""
    acme, _ = two_tenants
    raw = ('{"object":"whatsapp_business_account",  "entry":[{"id":"1","changes":[{"value":{"metadata":'
           '{"phone_number_id":"PNID","display_phone_number":"1"},"messages":[{"from":"16505551234",'
           '"id":"wamid.UNI","timestamp":"1767225600","type":"text","text":{"body":"\\u00e4\\u00f6\\u00e5 '
           '\\u043f\\u0440\\u0438\\u0432\\u0435\\u0442 \\/ ok"}}]},"field":"messages"}]}]}'
           ).replace("PNID", acme.phone_number_id).encode()
    assert json.dumps(json.loads(raw)).encode() != raw
    response = post(webhook, acme, raw)
    assert response["statusCode"] == 200
    assert queued(stack)[0]["body"]["content"] == {"body": "äöå привет / ok"}


def test_raw_non_ascii_utf8_body(webhook, stack, two_tenants):
    acme, _ = two_tenants
    response = post(webhook, acme, payloads.text_notification(acme.phone_number_id, text="Здравствуйте 👋"))
    assert response["statusCode"] == 200
    assert queued(stack)[0]["body"]["content"] == {"body": "Здравствуйте 👋"}


@pytest.mark.parametrize("case", ["missing", "wrong secret", "other tenant's secret", "no prefix",
                                  "tampered body", "garbage"])
def test_bad_signature_is_401_and_nothing_queued(webhook, stack, two_tenants, case):
    acme, globex = two_tenants
    payload = payloads.text_notification(acme.phone_number_id)
    raw = payloads.body(payload)
    good = payloads.sign(raw, acme.app_secret)
    signature = {
        "missing": "",
        "wrong secret": payloads.sign(raw, "not-the-secret"),
        "other tenant's secret": payloads.sign(raw, globex.app_secret),
        "no prefix": good.removeprefix("sha256="),
        "tampered body": payloads.sign(raw + b" ", acme.app_secret),
        "garbage": "sha256=zz",
    }[case]
    response = post(webhook, acme, raw, signature=signature)
    assert response["statusCode"] == 401
    assert good.removeprefix("sha256=") not in response["body"]
    assert queued(stack) == []
    [entry] = activity(stack, acme)
    assert entry.kind == "webhook_rejected"


def test_instance_without_app_secret_fails_closed(webhook, stack):
    initech = seed_instance(stack, "initech", "bot", "300000000000001", secrets=False)
    raw = payloads.body(payloads.text_notification(initech.phone_number_id))
    for signature in ("", payloads.sign(raw, ""), payloads.sign(raw, "anything")):
        response = post(webhook, initech, raw, signature=signature)
        assert response["statusCode"] == 401
    assert queued(stack) == []
    assert activity(stack, initech)[0].detail["reasons"] == {"no app secret configured": 3}


@pytest.mark.parametrize("tenant_id, instance_id", [("acme", "ghost"), ("nobody", "support-bot"),
                                                    ("Not_A_Slug", "support-bot")])
def test_post_to_unknown_instance_answers_like_a_bad_signature(webhook, stack, two_tenants, tenant_id, instance_id):
    acme, _ = two_tenants
    raw = payloads.body(payloads.text_notification(acme.phone_number_id))
    response = call(webhook, "POST", tenant_id, instance_id, body=raw,
                    headers={"X-Hub-Signature-256": payloads.sign(raw, acme.app_secret)})
    known = post(webhook, acme, raw, signature=payloads.sign(raw, "not-the-secret"))
    assert response["statusCode"] == known["statusCode"] == 401
    assert (response["body"], response["headers"]) == (known["body"], known["headers"])
    assert queued(stack) == []


def test_oversized_body_is_413(webhook, stack, two_tenants):
    acme, _ = two_tenants
    raw = b"{" + b" " * (3 * 1024 * 1024) + b"}"
    response = post(webhook, acme, raw)
    assert response["statusCode"] == 413
    assert queued(stack) == []


@pytest.mark.parametrize("raw", [b"not json", b"\xff\xfe\x00garbage", b"[1, 2]", b'{"entry": "nope"}'])
def test_signed_but_not_a_notification_is_400(webhook, stack, two_tenants, raw):
    acme, _ = two_tenants
    response = post(webhook, acme, raw)
    assert response["statusCode"] == 400
    assert queued(stack) == []


def test_invalid_base64_is_400(webhook, stack, two_tenants):
    event = http_api_event("POST", "/webhook/acme/support-bot", route_key=f"POST {ROUTE}",
                           path_parameters={"tenant_id": "acme", "instance_id": "support-bot"},
                           headers={"X-Hub-Signature-256": "sha256=00"}, body="x")
    event["isBase64Encoded"] = True
    event["body"] = "###"
    assert webhook.handler(event, LambdaContext())["statusCode"] == 400


# ---- what gets queued ------------------------------------------------------------------


@pytest.mark.parametrize("kind", sorted(payloads.ALL_MESSAGE_CONTENTS))
def test_every_message_type_is_queued_exactly_as_sent(webhook, stack, two_tenants, kind):
    acme, _ = two_tenants
    raw_message = payloads.message_of_kind(kind, f"wamid.{kind}")
    payload = payloads.notification(payloads.change(acme.phone_number_id, contacts=[payloads.contact()],
                                                    messages=[raw_message]))
    assert post(webhook, acme, payload)["statusCode"] == 200
    [item] = queued(stack)
    event = item["body"]
    assert event["raw"] == raw_message
    assert event["type"] == raw_message["type"]
    assert event["content"] == raw_message[raw_message["type"]]
    assert event["message_id"] == f"wamid.{kind}"


def test_unknown_future_type_and_fields_are_queued(webhook, stack, two_tenants):
    acme, _ = two_tenants
    future = {"from": payloads.PHONE, "id": "wamid.FUTURE", "timestamp": payloads.TS, "type": "hologram",
              "hologram": {"frames": 3, "shape": {"x": 1}}, "brand_new_field": [1, 2]}
    payload = payloads.notification(payloads.change(acme.phone_number_id, messages=[future]))
    payload["entry"][0]["changes"][0]["value"]["new_value_field"] = {"a": 1}
    payload["entry"][0]["future_entry_field"] = True
    assert post(webhook, acme, payload)["statusCode"] == 200
    [item] = queued(stack)
    assert item["body"]["type"] == "hologram"
    assert item["body"]["content"] == {"frames": 3, "shape": {"x": 1}}
    assert item["body"]["raw"] == future


def test_username_user_without_phone_is_keyed_by_bsuid(webhook, stack, two_tenants):
    acme, _ = two_tenants
    payload = payloads.notification(payloads.change(
        acme.phone_number_id,
        contacts=[payloads.contact(phone=None, user_id="BR.998877", username="@maria")],
        messages=[payloads.message("wamid.NOPHONE", "text", {"body": "oi"}, phone=None, user_id="BR.998877")],
    ))
    assert post(webhook, acme, payload)["statusCode"] == 200
    event = queued(stack)[0]["body"]
    assert event["user_key"] == "BR.998877"
    assert event["phone"] is None
    assert event["username"] == "@maria"


def test_legacy_payload_without_bsuid_is_keyed_by_phone(webhook, stack, two_tenants):
    acme, _ = two_tenants
    payload = payloads.text_notification(acme.phone_number_id, user_id=None)
    assert post(webhook, acme, payload)["statusCode"] == 200
    event = queued(stack)[0]["body"]
    assert event["user_key"] == payloads.PHONE
    assert event["user_id"] is None


def test_several_entries_and_changes_become_one_event_each_in_order(webhook, stack, two_tenants):
    acme, _ = two_tenants
    number = acme.phone_number_id
    payload = {
        "object": "whatsapp_business_account",
        "entry": [
            {"id": "w1", "changes": [
                payloads.change(number, contacts=[payloads.contact()], messages=[
                    payloads.message("wamid.A1", "text", {"body": "1"}),
                    payloads.message("wamid.A2", "text", {"body": "2"}),
                ]),
                payloads.change(number, statuses=[payloads.status("wamid.OUT1", "delivered")]),
            ]},
            {"id": "w2", "changes": [
                payloads.change(number, contacts=[payloads.contact("79001112233", "RU.555")],
                                messages=[payloads.message("wamid.B1", "text", {"body": "3"},
                                                           phone="79001112233", user_id="RU.555")]),
            ]},
        ],
    }
    assert post(webhook, acme, payload)["statusCode"] == 200
    events = [item["body"] for item in queued(stack)]
    assert sorted(e["message_id"] for e in events) == ["wamid.A1", "wamid.A2", "wamid.B1", "wamid.OUT1"]
    by_user = {}
    for e in events:
        by_user.setdefault(e["user_key"], []).append(e["message_id"])
    assert by_user[payloads.BSUID][:2] == ["wamid.A1", "wamid.A2"]  # FIFO per conversation


def test_statuses_go_to_the_status_queue_without_conversation_order(webhook, stack, two_tenants):
    acme, _ = two_tenants
    failure = [{"code": 131047, "title": "Re-engagement message", "message": "Re-engagement message",
                "error_data": {"details": "more than 24 hours"}}]
    statuses = [payloads.status("wamid.OUT1", "sent"), payloads.status("wamid.OUT1", "delivered"),
                payloads.status("wamid.OUT1", "read"), payloads.status("wamid.OUT2", "played"),
                payloads.status("wamid.OUT3", "failed", user_id=None, errors=failure)]
    payload = payloads.notification(payloads.change(acme.phone_number_id, statuses=statuses))
    assert post(webhook, acme, payload)["statusCode"] == 200
    assert drain(stack.refs["InboundQueue"]) == []  # nothing in the conversations' FIFO queue
    items = drain(stack.refs["StatusQueue"])
    assert sorted(i["body"]["type"] for i in items if i["body"]["message_id"] == "wamid.OUT1") == [
        "delivered", "read", "sent"]
    assert all("MessageGroupId" not in i["attributes"] for i in items)  # a standard queue
    failed = next(i["body"] for i in items if i["body"]["type"] == "failed")
    assert failed["kind"] == "status"
    assert failed["user_key"] == payloads.PHONE
    assert failed["content"]["errors"][0]["code"] == 131047


def test_group_and_dedup_ids(webhook, stack, two_tenants):
    acme, globex = two_tenants
    for instance in (acme, globex):
        post(webhook, instance, payloads.text_notification(instance.phone_number_id, mid="wamid.SAME"))
    post(webhook, acme, payloads.text_notification(acme.phone_number_id, mid="wamid.OTHER"))
    items = queued(stack)
    assert len(items) == 3
    groups = {(i["body"]["tenant_id"], i["body"]["message_id"]): i["attributes"]["MessageGroupId"] for i in items}
    dedups = {(i["body"]["tenant_id"], i["body"]["message_id"]): i["attributes"]["MessageDeduplicationId"]
              for i in items}
    # Same user, same conversation inside a tenant; never shared across tenants.
    assert groups[("acme", "wamid.SAME")] == groups[("acme", "wamid.OTHER")]
    assert groups[("acme", "wamid.SAME")] != groups[("globex", "wamid.SAME")]
    assert dedups[("acme", "wamid.SAME")] != dedups[("globex", "wamid.SAME")]
    assert all(len(g) <= 128 and payloads.PHONE not in g for g in groups.values())


def test_foreign_phone_number_id_is_not_processed(webhook, stack, two_tenants):
    acme, globex = two_tenants
    payload = payloads.notification(
        payloads.change(globex.phone_number_id, messages=[payloads.message("wamid.FOREIGN", "text", {"body": "x"})]),
        payloads.change(acme.phone_number_id, messages=[payloads.message("wamid.MINE", "text", {"body": "y"})]),
    )
    assert post(webhook, acme, payload)["statusCode"] == 200
    assert [i["body"]["message_id"] for i in queued(stack)] == ["wamid.MINE"]
    [entry] = activity(stack, acme)
    assert entry.detail["foreign_phone_number_ids"] == [globex.phone_number_id]


def test_other_objects_and_fields_are_acknowledged_and_ignored(webhook, stack, two_tenants):
    acme, _ = two_tenants
    other_object = {"object": "page", "entry": []}
    other_field = payloads.notification({"field": "message_template_status_update",
                                         "value": {"event": "APPROVED", "message_template_id": 1}})
    for payload in (other_object, other_field):
        assert post(webhook, acme, payload)["statusCode"] == 200
    assert queued(stack) == []


def test_value_level_errors_are_recorded(webhook, stack, two_tenants):
    acme, _ = two_tenants
    errors = [{"code": 131000, "title": "Something went wrong", "message": "Something went wrong"}]
    payload = payloads.notification(payloads.change(acme.phone_number_id, errors=errors))
    assert post(webhook, acme, payload)["statusCode"] == 200
    assert activity(stack, acme)[0].detail["value_error_codes"] == [131000]


def test_fifteen_messages_are_sent_in_two_batches(webhook, stack, two_tenants):
    acme, _ = two_tenants
    messages = [payloads.message(f"wamid.M{i:02d}", "text", {"body": str(i)}) for i in range(15)]
    payload = payloads.notification(payloads.change(acme.phone_number_id, messages=messages))
    sqs = aws.client("sqs")
    with mock.patch.object(sqs, "send_message_batch", wraps=sqs.send_message_batch) as spy:
        assert post(webhook, acme, payload)["statusCode"] == 200
    assert [len(c.kwargs["Entries"]) for c in spy.call_args_list] == [10, 5]
    assert [i["body"]["message_id"] for i in queued(stack)] == [f"wamid.M{i:02d}" for i in range(15)]


# ---- failure before the queue: Meta must retry, and the retry is the same ----------------


def test_queue_failure_gives_5xx_and_retry_queues_the_same_messages(webhook, stack, two_tenants):
    acme, _ = two_tenants
    payload = payloads.notification(payloads.change(
        acme.phone_number_id, contacts=[payloads.contact()],
        messages=[payloads.message(f"wamid.R{i}", "text", {"body": str(i)}) for i in range(12)]))
    sqs = aws.client("sqs")
    real = sqs.send_message_batch
    calls = {"n": 0}

    def fail_second_batch(**kwargs):
        calls["n"] += 1
        if calls["n"] == 2:
            raise ClientError({"Error": {"Code": "InternalError", "Message": "boom"}}, "SendMessageBatch")
        return real(**kwargs)

    with mock.patch.object(sqs, "send_message_batch", side_effect=fail_second_batch):
        first = post(webhook, acme, payload)
    assert first["statusCode"] >= 500
    retry = post(webhook, acme, payload)
    assert retry["statusCode"] == 200
    items = queued(stack)
    # The first 10 went out before the failure; the retry's copies of them were deduplicated.
    assert sorted(i["body"]["message_id"] for i in items) == sorted(f"wamid.R{i}" for i in range(12))


def test_partially_failed_batch_entries_are_retried(webhook, stack, two_tenants):
    acme, _ = two_tenants
    sqs = aws.client("sqs")
    real = sqs.send_message_batch
    calls = {"n": 0}

    def fail_one_entry_once(**kwargs):
        calls["n"] += 1
        if calls["n"] == 1:
            entries = kwargs["Entries"]
            result = real(**{**kwargs, "Entries": entries[1:]})
            result["Failed"] = [{"Id": entries[0]["Id"], "Code": "InternalError", "SenderFault": False}]
            return result
        return real(**kwargs)

    payload = payloads.notification(payloads.change(
        acme.phone_number_id, messages=[payloads.message(f"wamid.P{i}", "text", {"body": "x"}) for i in range(3)]))
    with mock.patch.object(sqs, "send_message_batch", side_effect=fail_one_entry_once):
        assert post(webhook, acme, payload)["statusCode"] == 200
    assert sorted(i["body"]["message_id"] for i in queued(stack)) == ["wamid.P0", "wamid.P1", "wamid.P2"]


def _raise(error: Exception):
    raise error


def test_registry_failure_gives_5xx(webhook, stack, two_tenants):
    acme, _ = two_tenants
    error = ClientError({"Error": {"Code": "ProvisionedThroughputExceededException", "Message": "x"}}, "GetItem")
    with intercept("dynamodb", {"GetItem"}, lambda call: _raise(error)):
        response = post(webhook, acme, payloads.text_notification(acme.phone_number_id))
    assert response["statusCode"] == 500
    assert queued(stack) == []


def test_activity_log_failure_does_not_fail_an_accepted_webhook(webhook, stack, two_tenants):
    acme, _ = two_tenants
    error = ClientError({"Error": {"Code": "InternalServerError", "Message": "x"}}, "PutItem")
    with intercept("dynamodb", {"PutItem"}, lambda call: _raise(error)):
        response = post(webhook, acme, payloads.text_notification(acme.phone_number_id))
    assert response["statusCode"] == 200
    assert len(queued(stack)) == 1


# ---- logs and activity -----------------------------------------------------------------


def test_accepted_webhook_is_logged_without_personal_data(webhook, stack, two_tenants, logs):
    acme, globex = two_tenants
    post(webhook, acme, payloads.text_notification(acme.phone_number_id, text="my secret question"),
         request_id="rq-6")
    assert activity(stack, acme) == []  # ordinary traffic: counted in stats, not in the activity log
    # A notification with something ignored (here another number's change) is in the activity log.
    notification = payloads.text_notification(acme.phone_number_id, text="my secret question")
    notification["entry"][0]["changes"].append(payloads.text_notification(globex.phone_number_id)["entry"][0]
                                               ["changes"][0])
    post(webhook, acme, notification, request_id="rq-7")
    [entry] = activity(stack, acme)
    assert entry.kind == "webhook_accepted"
    assert entry.detail["messages"] == 1 and entry.detail["foreign_phone_number_ids"] == [globex.phone_number_id]
    assert entry.detail["request_id"] == "rq-7"
    log_lines = logs()
    assert log_lines
    dumped = entry.model_dump_json() + json.dumps(log_lines)
    for private in ("my secret question", payloads.PHONE, payloads.BSUID, acme.app_secret):
        assert private not in dumped
    assert all(line.get("tenant_id") == "acme" for line in log_lines)


def test_logs_carry_tenant_and_instance(webhook, stack, two_tenants, logs):
    acme, _ = two_tenants
    post(webhook, acme, payloads.text_notification(acme.phone_number_id))
    accepted = next(line for line in logs() if line["message"] == "webhook accepted")
    assert accepted["tenant_id"] == "acme"
    assert accepted["instance_id"] == "support-bot"
    assert accepted["messages"] == 1


def test_rejections_are_in_the_activity_log(webhook, stack, two_tenants):
    acme, _ = two_tenants
    post(webhook, acme, payloads.text_notification(acme.phone_number_id), signature="sha256=" + "0" * 64)
    call(webhook, "GET", "acme", "support-bot", query=verify_query("wrong"))
    [entry] = activity(stack, acme)  # one item per minute counts them all
    assert entry.kind == "webhook_rejected"
    assert entry.detail["reasons"] == {"invalid signature": 1, "verification refused: wrong mode or verify token": 1}


def test_an_anonymous_flood_is_counted_in_one_item_per_minute(webhook, stack, two_tenants):
    acme, globex = two_tenants
    minute = [datetime(2026, 12, 1, 10, 0, 5, tzinfo=UTC)]
    webhook.ingress()._activity._clock = lambda: minute[0]
    raw = payloads.body(payloads.text_notification(acme.phone_number_id))
    for n in range(30):
        assert post(webhook, acme, raw, signature="" if n % 3 == 0 else "sha256=" + "0" * 64,
                    request_id=f"req-{n}")["statusCode"] == 401
    [entry] = activity(stack, acme)
    assert entry.detail["count"] == 30
    assert entry.detail["reasons"] == {"missing signature": 10, "invalid signature": 20}
    assert [sample["request_id"] for sample in entry.detail["first"]] == [f"req-{n}" for n in range(5)]
    minute[0] += timedelta(minutes=1)
    post(webhook, acme, raw, signature="sha256=" + "0" * 64)
    assert [e.detail["count"] for e in activity(stack, acme)] == [1, 30]  # newest first
    assert activity(stack, globex) == []


# ---- tenant isolation ------------------------------------------------------------------


def test_same_instance_id_and_user_in_two_tenants_stay_apart(webhook, stack, two_tenants):
    acme, globex = two_tenants
    # globex's app secret cannot sign for acme's path, and vice versa.
    raw = payloads.body(payloads.text_notification(acme.phone_number_id))
    assert post(webhook, acme, raw, secret=globex.app_secret)["statusCode"] == 401
    # Each tenant's own traffic lands tagged with that tenant only.
    assert post(webhook, acme, payloads.text_notification(acme.phone_number_id, mid="wamid.X"))["statusCode"] == 200
    assert post(webhook, globex, payloads.text_notification(globex.phone_number_id,
                                                            mid="wamid.X"))["statusCode"] == 200
    events = [i["body"] for i in queued(stack)]
    assert {(e["tenant_id"], e["phone_number_id"]) for e in events} == {
        ("acme", acme.phone_number_id), ("globex", globex.phone_number_id)}
    # Only the rejected attempt is in a log, and only in the log of the tenant it targeted.
    assert [e.detail["reasons"] for e in activity(stack, acme)] == [{"invalid signature": 1}]
    assert activity(stack, globex) == []


def test_base64_helper_roundtrip_matches_api_gateway():
    raw = "тест".encode()
    event = http_api_event("POST", "/x", route_key="POST /x", body=raw, base64_encoded=True)
    assert base64.b64decode(event["body"]) == raw


def test_accepted_and_rejected_webhooks_are_counted_without_tenant_dimensions(webhook, stack, two_tenants, capsys):
    acme, _ = two_tenants
    capsys.readouterr()
    assert post(webhook, acme, payloads.text_notification(acme.phone_number_id))["statusCode"] == 200
    assert post(webhook, acme, payloads.text_notification(acme.phone_number_id), signature="sha256=zz"
                )["statusCode"] == 401
    lines = [json.loads(line) for line in capsys.readouterr().out.splitlines() if line.startswith('{"_aws"')]
    counted = {(name, line.get("reason")): line[name] for line in lines
               for name in ("WebhooksAccepted", "WebhooksRejected", "WebhookMessages") if name in line}
    assert counted == {("WebhooksAccepted", None): [1.0], ("WebhookMessages", None): [1.0],
                       ("WebhooksRejected", "invalid_signature"): [1.0]}
    for line in lines:
        assert line["service"] == "webhook"
        assert line["tenant_id"] == "acme"  # metadata only
        dimensions = {d for directive in line["_aws"]["CloudWatchMetrics"] for s in directive["Dimensions"] for d in s}
        assert "tenant_id" not in dimensions and "instance_id" not in dimensions
