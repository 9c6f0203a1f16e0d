"""Turning a webhook notification into queue events (no AWS)."""

from __future__ import annotations

from webhook_ingress import normalize, signature_is_valid

from tests import payloads
from wabot.models.instance import InstanceConfig
from wabot.models.webhook import WebhookPayload

CONFIG = InstanceConfig(tenant_id="acme", instance_id="bot", name="Bot", phone_number_id="111", version=3)


def run(payload: dict):
    return normalize(WebhookPayload.model_validate(payload), CONFIG, request_id="rq", now=1_000)


def test_signature_check():
    raw = b'{"a": "\\u00e4"}'
    assert signature_is_valid("s3cret", raw, payloads.sign(raw, "s3cret"))
    assert signature_is_valid("s3cret", raw, payloads.sign(raw, "s3cret").upper().replace("SHA256=", "sha256="))
    assert not signature_is_valid("s3cret", raw, payloads.sign(raw, "other"))
    assert not signature_is_valid("s3cret", raw, None)
    assert not signature_is_valid("s3cret", raw, "md5=abc")
    assert not signature_is_valid("s3cret", raw + b" ", payloads.sign(raw, "s3cret"))


def test_event_carries_tenant_instance_and_config_version():
    [event] = run(payloads.text_notification("111")).events
    assert (event.tenant_id, event.instance_id, event.config_version, event.request_id) == ("acme", "bot", 3, "rq")


def test_contact_supplies_bsuid_when_message_has_only_the_phone():
    payload = payloads.notification(payloads.change(
        "111", contacts=[payloads.contact(payloads.PHONE, "US.42")],
        messages=[payloads.message("m", "text", {"body": "x"}, user_id=None)]))
    [event] = run(payload).events
    assert event.user_key == "US.42"
    assert event.phone == payloads.PHONE


def test_system_message_without_contacts():
    raw = payloads.message_of_kind("system", "m")
    [event] = run(payloads.notification(payloads.change("111", messages=[raw]))).events
    assert event.type == "system"
    assert event.user_key == payloads.BSUID
    assert event.profile_name is None


def test_message_without_any_identity_or_id_is_still_queued_with_stable_ids():
    raw = {"type": "text", "text": {"body": "x"}, "timestamp": "not-a-number"}
    first = run(payloads.notification(payloads.change("111", messages=[raw]))).events[0]
    again = run(payloads.notification(payloads.change("111", messages=[raw]))).events[0]
    assert first.message_id.startswith("synthetic.")
    assert first.message_id == again.message_id
    assert first.dedup_id == again.dedup_id
    assert first.user_key == f"unknown:{first.message_id}"
    assert first.timestamp == 1_000


def test_message_with_malformed_common_field_is_still_queued():
    raw = {"id": "wamid.BAD", "type": "text", "text": {"body": "x"}, "from": {"weird": 1}, "referral": "x"}
    [event] = run(payloads.notification(payloads.change("111", messages=[raw]))).events
    assert event.message_id == "wamid.BAD"
    assert event.raw == raw


def test_non_object_items_are_counted_not_queued():
    result = run(payloads.notification(payloads.change("111", messages=["junk"], statuses=[7])))
    assert result.events == []
    assert result.unreadable_items == 2


def test_group_status_is_keyed_by_the_group():
    raw = {"id": "w", "status": "read", "recipient_type": "group", "recipient_id": "120363",
           "recipient_participant_id": "1555"}
    [event] = run(payloads.notification(payloads.change("111", statuses=[raw]))).events
    assert event.user_key == "120363"
    assert event.phone is None


def test_missing_metadata_counts_as_foreign():
    payload = payloads.notification({"field": "messages", "value": {"messages": [
        payloads.message("m", "text", {"body": "x"})]}})
    result = run(payload)
    assert result.events == []
    assert result.foreign_phone_number_ids == ["missing"]


def test_dedup_ids_differ_between_message_and_each_status():
    message = run(payloads.text_notification("111", mid="wamid.1")).events[0]
    sent, read = run(payloads.notification(payloads.change("111", statuses=[
        payloads.status("wamid.1", "sent"), payloads.status("wamid.1", "read")]))).events
    assert len({message.dedup_id, sent.dedup_id, read.dedup_id}) == 3
    assert message.conversation_id == sent.conversation_id  # same user, same conversation


def test_booleans_in_id_fields_do_not_break_the_fallback():
    raw = {"id": True, "from": False, "type": True, "text": {"body": "x"}}
    [event] = run(payloads.notification(payloads.change("111", messages=[raw]))).events
    assert event.message_id.startswith("synthetic.")
    assert event.type == "unknown" and event.raw == raw
    [status] = run(payloads.notification(payloads.change("111", statuses=[{"id": 1.5, "status": True}]))).events
    assert status.message_id == "1.5" and status.type == "unknown"


def test_non_list_messages_and_statuses_are_ignored():
    payload = payloads.notification({"field": "messages", "value": {
        "metadata": {"phone_number_id": "111"}, "messages": True, "statuses": "x"}})
    assert run(payload).events == []
