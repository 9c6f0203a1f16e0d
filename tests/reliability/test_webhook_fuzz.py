"""Hostile input at the webhook: random bodies, headers, encodings and sizes never give a 5xx
(the queue works here), and nothing is ever queued without a valid signature."""

from __future__ import annotations

import json

from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from devstack.apigw import http_api_event
from tests import payloads
from tests.integration.conftest import drain, seed_instance
from tests.integration.test_webhook import LambdaContext, webhook  # noqa: F401 - fixture

ROUTE = "POST /webhook/{tenant_id}/{instance_id}"
json_values = st.recursive(st.none() | st.booleans() | st.integers() | st.floats(allow_nan=False) | st.text(),
                           lambda children: st.lists(children, max_size=4)
                           | st.dictionaries(st.text(max_size=10), children, max_size=4), max_leaves=20)
notifications = st.builds(
    lambda messages, extra: {"object": "whatsapp_business_account", "entry": [{"id": "1", "changes": [
        {"field": "messages", "value": {"metadata": {"phone_number_id": "106540352242922"}, "messages": messages,
                                        **extra}}]}]},
    st.lists(st.dictionaries(st.sampled_from(["id", "from", "type", "text", "timestamp", "interactive", "x"]),
                             json_values, max_size=6), max_size=5),
    st.dictionaries(st.sampled_from(["contacts", "statuses", "errors", "y"]), json_values, max_size=3))
bodies = st.one_of(st.binary(max_size=2048), json_values.map(lambda v: json.dumps(v).encode()),
                   notifications.map(lambda v: json.dumps(v).encode()))


@settings(max_examples=150, deadline=None, derandomize=True, suppress_health_check=[HealthCheck.function_scoped_fixture,
                                                                  HealthCheck.too_slow])
@given(body=bodies, sign=st.sampled_from(["valid", "wrong", "missing", "garbage"]), base64=st.booleans(),
       header_case=st.sampled_from(["x-hub-signature-256", "X-Hub-Signature-256"]))
def test_fuzzed_webhooks(webhook, stack, body, sign, base64, header_case):  # noqa: F811 - fixture
    instance = seed_instance(stack, "acme", "support-bot", "106540352242922")
    signature = {"valid": payloads.sign(body, instance.app_secret), "wrong": payloads.sign(body, "nope"),
                 "missing": None, "garbage": "sha256=" + "zz" * 32}[sign]
    headers = {header_case: signature} if signature else {}
    try:
        body.decode("utf-8")
        text_ok = True
    except UnicodeDecodeError:
        text_ok = False
    event = http_api_event("POST", "/webhook/acme/support-bot", route_key=ROUTE, headers=headers, body=body,
                           path_parameters={"tenant_id": "acme", "instance_id": "support-bot"},
                           base64_encoded=base64 or not text_ok)
    response = webhook.handler(event, LambdaContext())
    queued = drain(stack.refs["InboundQueue"])
    assert response["statusCode"] < 500, response
    if sign != "valid":
        assert response["statusCode"] == 401 and queued == []
