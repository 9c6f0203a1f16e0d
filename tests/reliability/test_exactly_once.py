"""Duplicates, faults and poison messages: every message answered exactly once, in order per
user, or dead-lettered with an activity entry; nothing silently lost. Bounded in time."""

from __future__ import annotations

import random
from collections import Counter

import pytest
from botocore.exceptions import ClientError

from tests.aws_calls import intercept
from tests.integration.funnel_harness import graph_error, message_event, sqs_record
from tests.reliability.queue_driver import drive, queue_events
from wabot import aws
from wabot.funnel.templates import default_funnel
from wabot.repositories.activity import ActivityLog

# The FAQ answers of the default funnel (11): each row's reply id and the answer it leads to.
FAQ = [(row.id, default_funnel().nodes[row.next].text["en"])
       for name in ("faq_product", "faq_install", "faq_pricing")
       for section in default_funnel().nodes[name].sections for row in section.rows]


def faq_messages(instance, users: int):
    """(user, faq key) pairs, each a distinct expected reply, in the order each user sends them."""
    events, expected = [], {}
    for u in range(users):
        phone = f"3460000{u:04d}"
        for reply_id, answer in FAQ:
            event = message_event(instance, reply=("list_reply", reply_id), user_phone=phone, user_id=None)
            events.append(event)
            expected[event.message_id] = (f"+{phone}", answer)
    return events, expected


def replies(funnel) -> list[tuple[str, str]]:
    return [(m["to"], m["interactive"]["body"]["text"]) for m in funnel.graph.sent() if m["type"] == "interactive"]


def test_300_messages_each_delivered_three_times(funnel, acme):
    events = faq_messages(acme, users=28)[0][:300]
    rng = random.Random(7)
    deliveries = []
    for event in events:
        first = sqs_record(event, f"sqs-{event.message_id}")
        # A quick SQS redelivery (same SQS message) and a Meta retry after the dedup window (a new one).
        deliveries += [first, {**first, "attributes": {**first["attributes"], "ApproximateReceiveCount": "2"}},
                       sqs_record(event, f"late-{event.message_id}")]
    # Per user, in order: interleave users like SQS FIFO groups do, in batches of 10.
    by_user: dict[str, list] = {}
    for record in deliveries:
        by_user.setdefault(record["attributes"]["MessageGroupId"], []).append(record)
    queues = list(by_user.values())
    while any(queues):
        batch = []
        for queue in rng.sample(queues, len(queues)):
            if queue and len(batch) < 10:
                batch.append(queue.pop(0))
        assert funnel.deliver(*batch) == []
    sent = replies(funnel)
    assert len(sent) == 300
    assert Counter(sent).most_common(1)[0][1] == 1  # every (user, answer) exactly once
    for phone in {to for to, _ in sent}:
        user_order = [text for to, text in sent if to == phone]
        wanted = [answer for _, answer in FAQ][:len(user_order)]
        assert user_order == wanted, phone


@pytest.fixture(params=[pytest.param(0.0, id="graph-faults"),
                        pytest.param(0.05, id="graph-and-dynamodb-faults")])
def faults(request, funnel):
    """The Graph API fails 30% of sends (5xx, 429, throttling codes); DynamoDB throttles some calls."""
    throttle_rate = request.param
    rng = random.Random(int(__import__("os").environ.get("RELIABILITY_SEED", "42")))
    codes = [graph_error(131000, 500), graph_error(130429, 429), graph_error(131056, 400), graph_error(4, 400),
             graph_error(80007, 400), (503, {})]
    original = funnel.graph.handler

    def flaky(request):
        is_send = request.url.path.endswith("/messages") and b'"status": "read"' not in request.content \
            and b'"status":"read"' not in request.content
        if is_send and rng.random() < 0.3:
            status, body = rng.choice(codes)
            import httpx

            return httpx.Response(status, json=body)
        return original(request)

    funnel.module.worker().service.sender.graph.http = __import__("httpx").Client(
        transport=__import__("httpx").MockTransport(flaky))
    throttle = ClientError({"Error": {"Code": "ProvisionedThroughputExceededException", "Message": "slow down"}},
                           "PutItem")

    def maybe_throttle(call):
        if rng.random() < throttle_rate:
            raise throttle
        return call()

    # Every DynamoDB client: the worker's are its tenants' (wabot.tenant_credentials).
    with intercept("dynamodb", {"PutItem", "UpdateItem", "GetItem"}, maybe_throttle):
        yield


def test_faults_every_message_answered_once_or_dead_lettered(stack, funnel, acme, faults):
    events, expected = faq_messages(acme, users=4)  # 44 messages
    queue_events(stack.refs["InboundQueue"], events)
    # A 2 s function (0.5 s kept back): faults reach the queue, and a failed event comes back
    # after 3 s, when its idempotency lock (held for the function's remaining time) has expired.
    funnel.timeout = 2.0
    consumer = funnel.module.worker().consumer
    consumer.safety_margin = 0.5
    try:
        drive(stack.refs["InboundQueue"], lambda records: funnel.deliver(*records), retry_after=3)
    finally:
        consumer.safety_margin, funnel.timeout = 3.0, 30.0
    sent = Counter(replies(funnel))
    assert max(sent.values()) == 1, "a reply was sent twice"
    dead = [m for m in _all(stack.refs["InboundDeadLetterQueue"])]
    dead_ids = {__import__("json").loads(m["Body"])["message_id"] for m in dead}
    logs = ActivityLog(aws.client("dynamodb"), stack.refs["AppTable"]).recent(acme.tenant, acme.instance_id, 1000)
    logged_dead = {e.detail.get("message_id") for e in logs if "dead-letter" in e.summary}
    for message_id, reply in expected.items():
        if message_id in dead_ids:
            assert message_id[-40:] in logged_dead, "dead-lettered without an activity entry"
        else:
            assert sent[reply] == 1, f"message {message_id} was lost"
    assert len(dead_ids) < len(expected) / 2  # faults were survivable for most


def _all(queue_url: str) -> list[dict]:
    sqs = aws.client("sqs")
    found = []
    while True:
        batch = sqs.receive_message(QueueUrl=queue_url, MaxNumberOfMessages=10, VisibilityTimeout=60).get(
            "Messages", [])
        if not batch:
            return found
        found += batch


def test_poison_message_is_dead_lettered_without_blocking_others(stack, funnel, acme):
    poison = message_event(acme, msg_type="text", content={"body": {"not": "a string"}}, user_phone="34611111111",
                           user_id=None)
    others = [message_event(acme, text="hi", user_phone=f"3462222{i:04d}", user_id=None) for i in range(5)]
    queue_events(stack.refs["InboundQueue"], [poison, *others])
    drive(stack.refs["InboundQueue"], lambda records: funnel.deliver(*records))
    assert sorted(m["to"] for m in funnel.graph.sent()) == sorted(f"+3462222{i:04d}" for i in range(5))
    [dead] = _all(stack.refs["InboundDeadLetterQueue"])
    assert poison.message_id in dead["Body"]
    logs = ActivityLog(aws.client("dynamodb"), stack.refs["AppTable"]).recent(acme.tenant, acme.instance_id)
    assert any("dead-letter" in e.summary and e.detail["message_id"] == poison.message_id[-40:] for e in logs)
