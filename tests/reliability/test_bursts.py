"""Bursts bound to the LLM, with the quiet window on: funnel and LLM worker together over moto's
FIFO queues. Every message delivered three times, then the same with Graph API and DynamoDB
faults: each message is answered by exactly one LLM reply (or dead-lettered with an activity
entry), no reply is sent twice, and a burst is answered once."""

from __future__ import annotations

import random
import re
from collections import Counter

import httpx
import pytest
from botocore.exceptions import ClientError

from tests.aws_calls import intercept
from tests.integration.funnel_harness import graph_error, message_event, sqs_record
from tests.integration.test_funnel_worker import configure
from tests.reliability.queue_driver import drive
from wabot import aws
from wabot.repositories.activity import ActivityLog

USERS, PER_USER = 4, 12  # 12 messages: a burst of 10 (the most one call answers) and one of 2


def burst_events(acme, version: int):
    events = []
    for u in range(USERS):
        phone = f"3470000{u:04d}"
        events += [message_event(acme, text=f"u{u}m{m}", user_phone=phone, user_id=None, config_version=version)
                   for m in range(PER_USER)]
    return events


def through_funnel(funnel, events) -> None:
    """Each message three times (a quick SQS redelivery, a Meta retry as a new SQS message), in
    each user's order."""
    for event in events:
        first = sqs_record(event, f"sqs-{event.message_id}")
        again = {**first, "attributes": {**first["attributes"], "ApproximateReceiveCount": "2"}}
        for record in (first, again, sqs_record(event, f"late-{event.message_id}")):
            assert funnel.deliver(record) == []


def covered(llm) -> Counter:
    """How many sent LLM replies answered each message (the fake LLM echoes what it was asked)."""
    counts: Counter = Counter()
    for message in llm.graph.sent():
        if message["type"] == "text" and "Fake LLM" in message["text"]["body"]:
            counts.update(re.findall(r"u\d+m\d+", message["text"]["body"]))
    return counts


def llm_replies(llm) -> list[tuple[str, str]]:
    return [(m["to"], m["text"]["body"]) for m in llm.graph.sent() if m["type"] == "text"]


def test_bursts_answered_once_under_redelivery(stack, funnel, llm, acme):
    version = configure(stack, acme, rate_limit_count=1000, llm_debounce_seconds=0.5)
    events = burst_events(acme, version)
    through_funnel(funnel, events)

    def deliver_three_times(records):
        failed = llm.deliver(*records)
        llm.deliver(*records)  # a quick redelivery of the same SQS messages
        llm.deliver(*(sqs_record(_event(r), f"late-{r['messageId']}") for r in records))  # a late duplicate
        return failed

    drive(stack.refs["LlmQueue"], deliver_three_times)
    assert covered(llm) == Counter({event.content["body"]: 1 for event in events})
    replies = llm_replies(llm)
    assert len(replies) == USERS * 2  # two bursts per user, one answer each
    assert max(Counter(replies).values()) == 1
    assert len(llm.providers.llm_bodies()) == USERS * 2  # the LLM asked once per burst
    assert len(set(llm.graph.reads())) >= USERS * 2  # read receipts for the bursts' newest messages


def _event(record):
    from wabot.models.events import InboundEvent

    return InboundEvent.model_validate_json(record["body"])


@pytest.mark.parametrize("throttle_rate", [pytest.param(0.0, id="graph-faults"),
                                           pytest.param(0.05, id="graph-and-dynamodb-faults")])
def test_bursts_with_faults_answered_once_or_dead_lettered(stack, funnel, llm, acme, throttle_rate):
    version = configure(stack, acme, rate_limit_count=1000, llm_debounce_seconds=0.5)
    events = burst_events(acme, version)
    through_funnel(funnel, events)
    rng = random.Random(11)
    codes = [graph_error(131000, 500), graph_error(130429, 429), graph_error(131056, 400), (503, {})]
    original = llm.graph.handler

    def flaky(request):
        if request.url.path.endswith("/messages") and b'"status"' not in request.content and rng.random() < 0.3:
            status, body = rng.choice(codes)
            return httpx.Response(status, json=body)
        return original(request)

    llm.module.worker().service.sender.graph.http = httpx.Client(transport=httpx.MockTransport(flaky))
    throttle = ClientError({"Error": {"Code": "ProvisionedThroughputExceededException", "Message": "slow down"}},
                           "PutItem")

    def maybe_throttle(call):
        if rng.random() < throttle_rate:
            raise throttle
        return call()

    # A 20 s function: sends give up quickly enough for faults to reach the queue; the quiet
    # window has long passed (the funnel ran first).
    llm.timeout = 20.0
    with intercept("dynamodb", {"PutItem", "UpdateItem", "GetItem", "Query", "TransactWriteItems"},
                   maybe_throttle):
        # One job per invocation, as the template's LlmQueue event source (BatchSize 1): a batch
        # shares one deadline, which the Graph retries of earlier jobs would eat.
        drive(stack.refs["LlmQueue"], lambda records: llm.deliver(*records), retry_after=3, batch_size=1)
    replies = llm_replies(llm)
    assert max(Counter(replies).values()) == 1, "a reply was sent twice"
    answered = covered(llm)
    assert max(answered.values()) == 1, "a message was answered twice"
    dead = _drain(stack.refs["LlmDeadLetterQueue"])
    dead_ids = {_event({"body": m["Body"]}).message_id for m in dead}
    logs = ActivityLog(aws.client("dynamodb"), stack.refs["AppTable"]).recent(acme.tenant, acme.instance_id, 1000)
    logged_dead = {e.detail.get("message_id") for e in logs if "dead-letter" in e.summary}
    for event in events:
        if answered[event.content["body"]] == 0:
            assert event.message_id in dead_ids or _covered_by_dead(event, dead_ids, events), \
                f"{event.content['body']} was lost"
    for message_id in dead_ids:
        assert message_id[-40:] in logged_dead, "dead-lettered without an activity entry"


def _covered_by_dead(event, dead_ids, events) -> bool:
    """A message whose burst's first job was dead-lettered (its own job found itself covered)."""
    same_user = [e for e in events if e.user_key == event.user_key]
    earlier = same_user[:same_user.index(event) + 1]
    return any(e.message_id in dead_ids for e in earlier)


def _drain(queue_url: str) -> list[dict]:
    sqs = aws.client("sqs")
    found = []
    while True:
        batch = sqs.receive_message(QueueUrl=queue_url, MaxNumberOfMessages=10, VisibilityTimeout=60).get(
            "Messages", [])
        if not batch:
            return found
        found += batch
