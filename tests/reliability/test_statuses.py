"""Statuses through moto's real standard queue with redrive: each delivered three times, in any
order, with DynamoDB throttling past botocore's retries: every status applied, every counter
exact, every failure logged once, nothing dead-lettered."""

from __future__ import annotations

import json
import random

import pytest
from botocore.exceptions import ClientError

from tests.aws_calls import intercept
from tests.integration.funnel_harness import status_event
from tests.integration.test_status_worker import run
from tests.reliability.queue_driver import drive
from wabot import aws
from wabot.repositories.activity import ActivityLog
from wabot.repositories.conversations import ConversationStore
from wabot.repositories.stats import StatsRepository


@pytest.fixture
def status_worker(stack, function_env):
    function_env("StatusFunction")
    import status_handler

    status_handler.applier.cache_clear()
    yield status_handler
    status_handler.applier.cache_clear()


def queue_three_times(queue_url: str, events: list, rng: random.Random) -> None:
    bodies = [event.model_dump_json() for event in events for _ in range(3)]
    rng.shuffle(bodies)
    sqs = aws.client("sqs")
    for start in range(0, len(bodies), 10):
        sqs.send_message_batch(QueueUrl=queue_url, Entries=[
            {"Id": str(i), "MessageBody": body} for i, body in enumerate(bodies[start:start + 10])])


def test_statuses_redelivered_under_faults_are_applied_and_counted_exactly_once(stack, status_worker, acme):
    rng = random.Random(11)
    throttle = ClientError({"Error": {"Code": "ProvisionedThroughputExceededException", "Message": "slow"}},
                           "UpdateItem")

    injected = []

    def maybe_throttle(call):
        if rng.random() < 0.05:
            injected.append(1)
            raise throttle
        return call()

    delivered_phase = [status_event(acme, f"wamid.R{n}", kind) for n in range(40) for kind in ("sent", "delivered")]
    errors = [{"code": 131047, "title": "Re-engagement message"}]
    read_phase = [status_event(acme, f"wamid.R{n}", "read") for n in range(35)] + [
        status_event(acme, f"wamid.R{n}", "failed", errors=errors) for n in range(35, 40)]
    queue = stack.refs["StatusQueue"]
    with intercept("dynamodb", {"PutItem", "UpdateItem", "GetItem"}, maybe_throttle):
        for phase in (delivered_phase, read_phase):  # reads after deliveries: the expected counts are exact
            queue_three_times(queue, phase, rng)
            drive(queue, lambda records: run(status_worker, records), retry_after=1)

    assert len(injected) > 5  # the faults happened
    stats = StatsRepository(aws.client("dynamodb"), stack.refs["AppTable"]).days(acme.tenant, acme.instance_id, 1)
    assert stats[0]["counters"] == {"delivered": 40, "read": 35, "failed": 5, "errors": 5}
    store = ConversationStore(aws.client("dynamodb"), stack.refs["AppTable"])
    finals = [store.outbound_status(acme.tenant, acme.instance_id, event.user_key, event.message_id)
              for event in read_phase]
    assert finals == ["read"] * 35 + ["failed"] * 5
    logs = ActivityLog(aws.client("dynamodb"), stack.refs["AppTable"]).recent(acme.tenant, acme.instance_id, 100)
    assert sorted(e.detail["message_id"] for e in logs if e.kind == "error") == sorted(
        f"wamid.R{n}" for n in range(35, 40))
    dead = aws.client("sqs").receive_message(QueueUrl=stack.refs["StatusDeadLetterQueue"]).get("Messages", [])
    assert [json.loads(m["Body"])["message_id"] for m in dead] == []
