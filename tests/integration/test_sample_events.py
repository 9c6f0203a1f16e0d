"""Every sample event in events/ runs through its handler with the documented result."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from tests.integration.conftest import drain
from tests.integration.test_webhook import LambdaContext, webhook  # noqa: F401 - fixture
from wabot import aws
from wabot.models.instance import InstanceConfig
from wabot.repositories.instances import InstanceRepository
from wabot.repositories.secrets import SecretStore
from wabot.tenancy import TenantContext

EVENTS = Path(__file__).resolve().parents[2] / "events"
EXPECTED = {
    "webhook-verify.json": (200, 0),
    "webhook-post-text.json": (200, 1),
    "webhook-post-base64.json": (200, 1),
    "webhook-post-interactive.json": (200, 1),
    "webhook-post-statuses.json": (200, 3),
    "webhook-post-username-user.json": (200, 1),
}


def test_every_sample_event_is_listed():
    assert {p.name for p in EVENTS.glob("*.json")} == set(EXPECTED)


@pytest.mark.parametrize("name", sorted(EXPECTED))
def test_sample_event(webhook, stack, name):  # noqa: F811 - fixture
    tenant = TenantContext("demo")
    InstanceRepository(aws.client("dynamodb"), stack.refs["AppTable"]).put(
        tenant, InstanceConfig(tenant_id="demo", instance_id="support-bot", name="Support Bot",
                               phone_number_id="106540352242922"))
    secrets = SecretStore("/wabot-test", aws.client("ssm"))
    secrets.put(tenant, "support-bot", "app_secret", "sample-app-secret-change-me")
    secrets.put(tenant, "support-bot", "verify_token", "sample-verify-token")
    status, queued = EXPECTED[name]
    response = webhook.handler(json.loads((EVENTS / name).read_text()), LambdaContext())
    assert response["statusCode"] == status
    assert len(drain(stack.refs["InboundQueue"])) == queued
    if name == "webhook-verify.json":
        assert response["body"] == "1158201444"
