"""Every sample event in events/ runs through its handler with the documented result."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from tests.integration.conftest import drain
from tests.integration.test_webhook import LambdaContext, webhook  # noqa: F401 - fixture
from wabot import aws
from wabot.models.instance import InstanceConfig
from wabot.repositories.apikeys import ApiKeyRepository
from wabot.repositories.instances import InstanceRepository
from wabot.repositories.secrets import SecretStore
from wabot.repositories.stats import StatsRepository
from wabot.tenancy import TenantContext

EVENTS = Path(__file__).resolve().parents[2] / "events"
OTHER_FUNCTIONS = {"admin-list-instances.json", "authorizer-request.json", "funnel-inbound-text.json",
                   "llm-question.json", "status-batch.json"}
EXPECTED = {
    "webhook-verify.json": (200, 0),
    "webhook-post-text.json": (200, 1),
    "webhook-post-base64.json": (200, 1),
    "webhook-post-interactive.json": (200, 1),
    "webhook-post-statuses.json": (200, 3),
    "webhook-post-username-user.json": (200, 1),
}


def test_every_sample_event_is_listed():
    assert {p.name for p in EVENTS.glob("*.json")} == set(EXPECTED) | OTHER_FUNCTIONS


def seed_demo(stack) -> None:
    tenant = TenantContext("demo")
    InstanceRepository(aws.client("dynamodb"), stack.refs["AppTable"]).put(
        tenant, InstanceConfig(tenant_id="demo", instance_id="support-bot", name="Support Bot",
                               phone_number_id="106540352242922"))
    secrets = SecretStore("/wabot-test", aws.client("ssm"))
    secrets.put(tenant, "support-bot", "app_secret", "sample-app-secret-change-me")
    secrets.put(tenant, "support-bot", "verify_token", "sample-verify-token")
    secrets.put(tenant, "support-bot", "access_token", "sample-access-token")


def load(name: str) -> dict:
    return json.loads((EVENTS / name).read_text())


def test_authorizer_and_admin_samples(stack, function_env):
    seed_demo(stack)
    ApiKeyRepository(aws.client("dynamodb"), stack.refs["ApiKeyTable"]).import_key(
        TenantContext("demo"), "wab.demo.0123456789ab." + "S" * 32, "admin", "admin")
    function_env("AdminAuthorizerFunction")
    function_env("AdminFunction")
    import admin_handler
    import authorizer_handler

    authorizer_handler.api_keys.cache_clear()
    admin_handler.service.cache_clear()
    allowed = authorizer_handler.handler(load("authorizer-request.json"), LambdaContext())
    assert allowed["isAuthorized"] is True and allowed["context"]["tenant_id"] == "demo"
    listed = admin_handler.handler(load("admin-list-instances.json"), LambdaContext())
    assert listed["statusCode"] == 200
    assert [item["id"] for item in json.loads(listed["body"])["items"]] == ["support-bot"]


def test_funnel_sample(stack, funnel):
    seed_demo(stack)
    assert funnel.deliver(*load("funnel-inbound-text.json")["Records"]) == []
    assert len(funnel.graph.sent()) == 1


def test_llm_sample(stack, llm):
    seed_demo(stack)
    assert llm.deliver(*load("llm-question.json")["Records"]) == []
    assert "Does it work offline?" in llm.graph.sent()[0]["text"]["body"]


@pytest.mark.parametrize("name", sorted(EXPECTED))
def test_sample_event(webhook, stack, name):  # noqa: F811 - fixture
    seed_demo(stack)
    status, queued = EXPECTED[name]
    response = webhook.handler(json.loads((EVENTS / name).read_text()), LambdaContext())
    assert response["statusCode"] == status
    assert len(drain(stack.refs["InboundQueue"])) + len(drain(stack.refs["StatusQueue"])) == queued
    if name == "webhook-verify.json":
        assert response["body"] == "1158201444"


def test_status_sample(stack, function_env):
    seed_demo(stack)
    function_env("StatusFunction")
    import status_handler

    status_handler.applier.cache_clear()
    result = status_handler.handler(load("status-batch.json"), LambdaContext())
    assert result == {"batchItemFailures": []}
    counters = StatsRepository(aws.client("dynamodb"), stack.refs["AppTable"]).days(TenantContext("demo"),
                                                                                     "support-bot", 1)
    assert counters and counters[0]["counters"] == {"delivered": 1, "read": 1}  # `sent` is not stored
