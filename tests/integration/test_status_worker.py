"""The status worker over moto: statuses of sent messages in large batches, about one write each."""

from __future__ import annotations

import json
import uuid

import pytest
from aws_lambda_powertools.utilities.batch.exceptions import BatchProcessingError
from botocore.client import BaseClient

from devstack.gateway import LambdaContext
from tests import payloads
from tests.integration.funnel_harness import status_event
from wabot import aws
from wabot.models.events import InboundEvent
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


def record(event: InboundEvent | str) -> dict:
    body = event if isinstance(event, str) else event.model_dump_json()
    return {"messageId": str(uuid.uuid4()), "receiptHandle": "rh", "body": body,
            "attributes": {"ApproximateReceiveCount": "1", "SentTimestamp": "1"}, "messageAttributes": {},
            "md5OfBody": "", "eventSource": "aws:sqs", "awsRegion": "eu-west-1",
            "eventSourceARN": "arn:aws:sqs:eu-west-1:123456789012:status"}


def run(worker, records: list[dict]) -> list[str]:
    """The ids the queue will deliver again (all of them when the invocation failed, as in Lambda)."""
    try:
        result = worker.handler({"Records": records}, LambdaContext("StatusFunction", 256, 30))
    except BatchProcessingError:
        return [r["messageId"] for r in records]
    return [item["itemIdentifier"] for item in result["batchItemFailures"]]


class DynamoWrites:
    """Every DynamoDB write the code under test makes, by operation and key."""

    def __init__(self, monkeypatch) -> None:
        self.calls: list[tuple[str, dict]] = []
        original = BaseClient._make_api_call

        def recording(client, operation, params):
            if client.meta.service_model.service_name == "dynamodb" and operation in (
                    "PutItem", "UpdateItem", "DeleteItem", "BatchWriteItem", "TransactWriteItems"):
                self.calls.append((operation, params))
            return original(client, operation, params)

        monkeypatch.setattr(BaseClient, "_make_api_call", recording)

    def to_stats(self) -> int:
        return sum(1 for _, params in self.calls if params.get("Key", {}).get("pk", {}).get("S", "").endswith("#STATS"))


def counters(stack, instance) -> dict[str, int]:
    stats = StatsRepository(aws.client("dynamodb"), stack.refs["AppTable"])
    days = stats.days(instance.tenant, instance.instance_id, 1)
    return days[0]["counters"] if days else {}


def test_a_batch_costs_one_write_per_stored_status_and_one_counter_write_per_instance(
        status_worker, stack, acme, monkeypatch):
    batch = []
    for n in range(20):
        wamid = f"wamid.OUT{n}"
        batch += [status_event(acme, wamid, "sent"), status_event(acme, wamid, "delivered"),
                  status_event(acme, wamid, "read")]
    writes = DynamoWrites(monkeypatch)
    assert run(status_worker, [record(e) for e in batch]) == []
    assert len(writes.calls) == 40 + 1  # delivered and read stored (sent is not), one counter write
    assert writes.to_stats() == 1
    assert counters(stack, acme) == {"delivered": 20, "read": 20}
    store = ConversationStore(aws.client("dynamodb"), stack.refs["AppTable"])
    assert store.outbound_status(acme.tenant, acme.instance_id, payloads.BSUID, "wamid.OUT7") == "read"


def test_redelivered_and_out_of_order_statuses_count_once(status_worker, stack, acme):
    read, delivered = status_event(acme, "wamid.X", "read"), status_event(acme, "wamid.X", "delivered")
    assert run(status_worker, [record(read), record(delivered)]) == []
    assert run(status_worker, [record(read), record(delivered), record(read)]) == []  # the whole batch again
    assert counters(stack, acme) == {"read": 1}
    store = ConversationStore(aws.client("dynamodb"), stack.refs["AppTable"])
    assert store.outbound_status(acme.tenant, acme.instance_id, payloads.BSUID, "wamid.X") == "read"


def test_statuses_of_messages_another_tool_sent_are_counted_apart_and_not_stored(status_worker, stack, acme):
    foreign = [status_event(acme, "wamid.THEIRS", kind, own=False) for kind in ("sent", "delivered", "read")]
    assert run(status_worker, [record(e) for e in foreign]) == []
    assert counters(stack, acme) == {"foreign_statuses": 3}
    store = ConversationStore(aws.client("dynamodb"), stack.refs["AppTable"])
    assert store.outbound_status(acme.tenant, acme.instance_id, payloads.BSUID, "wamid.THEIRS") is None


def test_a_failed_status_is_logged_and_counted_once_even_when_its_batch_fails_midway(
        status_worker, stack, acme, monkeypatch):
    errors = [{"code": 131026, "title": "Message undeliverable"}]
    failed = status_event(acme, "wamid.F", "failed", errors=errors)
    original = BaseClient._make_api_call
    broken = {"left": 1}

    def failing_status_update(client, operation, params):
        # The activity entry is written, then the status update fails once: the queue retries it.
        if operation == "UpdateItem" and params.get("Key", {}).get("sk", {}).get("S") == "OUT#wamid.F" \
                and broken["left"]:
            broken["left"] -= 1
            raise RuntimeError("injected")
        return original(client, operation, params)

    monkeypatch.setattr(BaseClient, "_make_api_call", failing_status_update)
    first = record(failed)
    assert run(status_worker, [first]) == [first["messageId"]]
    assert run(status_worker, [record(failed)]) == []
    assert run(status_worker, [record(failed)]) == []  # Meta's duplicate
    logs = [e for e in ActivityLog(aws.client("dynamodb"), stack.refs["AppTable"]).recent(acme.tenant, acme.instance_id)
            if e.kind == "error"]
    assert len(logs) == 1 and logs[0].detail["codes"] == [131026]
    assert counters(stack, acme) == {"failed": 1, "errors": 1}


def test_two_tenants_in_one_batch_stay_apart(status_worker, stack, acme, globex):
    batch = [status_event(acme, "wamid.SAME", "read"), status_event(globex, "wamid.SAME", "delivered")]
    assert run(status_worker, [record(e) for e in batch]) == []
    assert counters(stack, acme) == {"read": 1}
    assert counters(stack, globex) == {"delivered": 1}
    store = ConversationStore(aws.client("dynamodb"), stack.refs["AppTable"])
    assert store.outbound_status(globex.tenant, globex.instance_id, payloads.BSUID, "wamid.SAME") == "delivered"


def test_an_unreadable_record_fails_alone(status_worker, stack, acme):
    good = record(status_event(acme, "wamid.G", "read"))
    bad = record(json.dumps({"kind": "status", "tenant_id": "acme"}))
    assert run(status_worker, [good, bad]) == [bad["messageId"]]
    assert counters(stack, acme) == {"read": 1}
