from __future__ import annotations

from unittest import mock

import pytest

from wabot.errors import QueueSendError
from wabot.models.events import InboundEvent
from wabot.queue import EventPublisher
from wabot.settings import SettingsError, WebhookSettings


def event(i: int) -> InboundEvent:
    return InboundEvent(kind="message", tenant_id="acme", instance_id="bot", config_version=1,
                        phone_number_id="1", user_key="US.1", message_id=f"wamid.{i}", type="text",
                        content={"body": "x"}, raw={"id": f"wamid.{i}"}, timestamp=1, request_id="rq")


def ok_all(**kwargs):
    return {"Successful": [{"Id": e["Id"]} for e in kwargs["Entries"]], "Failed": []}


def test_publishes_in_batches_of_ten():
    sqs = mock.Mock()
    sqs.send_message_batch.side_effect = ok_all
    EventPublisher(sqs, "url").publish([event(i) for i in range(21)])
    assert [len(c.kwargs["Entries"]) for c in sqs.send_message_batch.call_args_list] == [10, 10, 1]


def test_nothing_to_publish_makes_no_call():
    sqs = mock.Mock()
    EventPublisher(sqs, "url").publish([])
    sqs.send_message_batch.assert_not_called()


def test_sender_fault_is_not_retried():
    sqs = mock.Mock()
    sqs.send_message_batch.return_value = {
        "Successful": [], "Failed": [{"Id": "0", "Code": "InvalidParameterValue", "SenderFault": True}]}
    with pytest.raises(QueueSendError, match="InvalidParameterValue"):
        EventPublisher(sqs, "url").publish([event(0)])
    assert sqs.send_message_batch.call_count == 1


def test_persistent_server_failure_raises_after_bounded_retries():
    sqs = mock.Mock()
    sqs.send_message_batch.return_value = {
        "Successful": [], "Failed": [{"Id": "0", "Code": "InternalError", "SenderFault": False}]}
    with pytest.raises(QueueSendError):
        EventPublisher(sqs, "url").publish([event(0)])
    assert sqs.send_message_batch.call_count == 3


def test_settings_name_missing_variables():
    with pytest.raises(SettingsError) as raised:
        WebhookSettings.from_env({"SSM_PREFIX": "/stack"})
    assert "APP_TABLE" in str(raised.value)
    assert "INBOUND_QUEUE_URL" in str(raised.value)


ROLE = {"WEBHOOK_TENANT_ROLE_ARN": "arn:aws:iam::123456789012:role/stack-tenant-webhook", "HEALTH_QUEUE_URL": "h"}


def test_settings_from_env():
    settings = WebhookSettings.from_env({"APP_TABLE": "t", "SSM_PREFIX": "/stack", "INBOUND_QUEUE_URL": "q",
                                         "STATUS_QUEUE_URL": "s", "INSTANCE_CACHE_SECONDS": "30", **ROLE})
    assert settings.instance_cache_seconds == 30
    assert settings.max_body_bytes == 3 * 1024 * 1024
    with pytest.raises(SettingsError, match="INSTANCE_CACHE_SECONDS"):
        WebhookSettings.from_env({"APP_TABLE": "t", "SSM_PREFIX": "/s", "INBOUND_QUEUE_URL": "q",
                                  "STATUS_QUEUE_URL": "s", "INSTANCE_CACHE_SECONDS": "600", **ROLE})
    with pytest.raises(SettingsError, match="WEBHOOK_TENANT_ROLE_ARN"):
        WebhookSettings.from_env({"APP_TABLE": "t", "SSM_PREFIX": "/s", "INBOUND_QUEUE_URL": "q",
                                  "STATUS_QUEUE_URL": "s", "WEBHOOK_TENANT_ROLE_ARN": "not-an-arn",
                                  "HEALTH_QUEUE_URL": "h"})
    assert {"APP_TABLE", "SSM_PREFIX", "INBOUND_QUEUE_URL", "STATUS_QUEUE_URL", "WEBHOOK_TENANT_ROLE_ARN",
            "HEALTH_QUEUE_URL"} == \
        WebhookSettings.env_names(required_only=True)
