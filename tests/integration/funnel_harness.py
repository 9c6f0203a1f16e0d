"""Drives the funnel worker like Lambda's SQS event source, with the fake Graph API in process."""

from __future__ import annotations

import json
import uuid
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

import httpx
from aws_lambda_powertools.utilities.batch.exceptions import BatchProcessingError

from devstack.fake_graph import FakeGraphApi
from devstack.gateway import LambdaContext
from tests import payloads
from tests.integration.conftest import SeededInstance
from wabot.models.events import InboundEvent


@dataclass
class GraphFake:
    """The local stack's fake Graph API, optionally failing some calls first."""

    api: FakeGraphApi = field(default_factory=lambda: FakeGraphApi(base_url="http://graph.test"))
    failures: list[tuple[int, dict]] = field(default_factory=list)  # (status, body) answered before real ones
    fail_when: Callable[[dict], bool] | None = None

    def handler(self, request: httpx.Request) -> httpx.Response:
        body = json.loads(request.content) if request.headers.get("content-type", "").startswith(
            "application/json") else None
        if self.failures and body is not None and body.get("status") != "read" and (
                self.fail_when is None or self.fail_when(body)):
            status, error = self.failures.pop(0)
            return httpx.Response(status, json=error)
        path = request.url.path
        answer = self.api.handle(request.method, path, {k.lower(): v for k, v in request.headers.items()},
                                 request.content, request.url.query.decode())
        return httpx.Response(answer.status, content=answer.body, headers={"content-type": answer.content_type})

    def sent(self) -> list[dict]:
        """Message bodies accepted by the fake (read receipts and refused bodies left out)."""
        return [e["body"] for e in self.api.recorded()
                if "body" in e and e["body"].get("status") != "read" and "error" not in e]

    def reads(self) -> list[str]:
        return [e["body"]["message_id"] for e in self.api.recorded()
                if "body" in e and e["body"].get("status") == "read"]


def graph_error(code: int, status: int = 400, message: str = "error") -> tuple[int, dict]:
    return status, {"error": {"message": message, "type": "OAuthException", "code": code}}


def sqs_record(event: InboundEvent, message_id: str | None = None, receive_count: int = 1) -> dict[str, Any]:
    return {
        "messageId": message_id or str(uuid.uuid4()), "receiptHandle": "rh", "body": event.model_dump_json(),
        "attributes": {"ApproximateReceiveCount": str(receive_count), "MessageGroupId": event.conversation_id,
                       "MessageDeduplicationId": event.dedup_id, "SentTimestamp": "1", "SequenceNumber": "1"},
        "messageAttributes": {}, "md5OfBody": "", "eventSource": "aws:sqs",
        "eventSourceARN": "arn:aws:sqs:eu-west-1:123456789012:inbound.fifo", "awsRegion": "eu-west-1",
    }


def message_event(instance: SeededInstance, *, text: str | None = None, reply: tuple[str, str] | None = None,
                  user_phone: str | None = payloads.PHONE, user_id: str | None = payloads.BSUID,
                  message_id: str | None = None, msg_type: str | None = None, content: Any = None,
                  timestamp: int | None = None, config_version: int = 1) -> InboundEvent:
    if reply:
        kind, reply_id = reply
        msg_type, content = "interactive", {"type": kind, kind: {"id": reply_id, "title": "x"}}
    elif text is not None:
        msg_type, content = "text", {"body": text}
    import time as _time

    return InboundEvent(
        kind="message", tenant_id=instance.tenant.tenant_id, instance_id=instance.instance_id,
        config_version=config_version, phone_number_id=instance.phone_number_id,
        user_key=user_id or user_phone or "unknown", user_id=user_id, phone=user_phone,
        message_id=message_id or f"wamid.{uuid.uuid4().hex}", type=msg_type or "text", content=content,
        raw={}, timestamp=timestamp or int(_time.time()), request_id="rq")


def status_event(instance: SeededInstance, wamid: str, status: str, *, errors: list | None = None,
                 user_id: str | None = payloads.BSUID, own: bool = True) -> InboundEvent:
    """A status as the webhook queues it; `own`: of a message the platform sent (Meta echoes the tag)."""
    raw = payloads.status(wamid, status, user_id=user_id, errors=errors, own=own)
    return InboundEvent(
        kind="status", tenant_id=instance.tenant.tenant_id, instance_id=instance.instance_id, config_version=1,
        phone_number_id=instance.phone_number_id, user_key=user_id or payloads.PHONE, user_id=user_id,
        phone=payloads.PHONE, message_id=wamid, type=status, content={"errors": errors, "pricing": None},
        raw=raw, timestamp=1767225600, request_id="rq")


class FunnelDriver:
    def __init__(self, module: Any, graph: GraphFake) -> None:
        self.module = module
        self.graph = graph
        self.timeout = 30.0  # the Lambda's timeout, as its context reports it

    def deliver(self, *records: dict[str, Any]) -> list[str]:
        """Invoke the worker with one SQS batch; returns the ids that will be retried (those
        it reported as failed, or all of them when the invocation itself failed, as in Lambda)."""
        try:
            result = self.module.handler({"Records": list(records)},
                                         LambdaContext("FunnelFunction", 512, self.timeout))
        except BatchProcessingError:
            return [record["messageId"] for record in records]
        return [item["itemIdentifier"] for item in result.get("batchItemFailures", [])]

    def send(self, *events: InboundEvent) -> list[str]:
        return self.deliver(*(sqs_record(event) for event in events))

    def exchange(self, event: InboundEvent) -> list[dict]:
        """Deliver one message and return the bodies the bot sent for it."""
        before = len(self.graph.sent())
        assert self.send(event) == []
        return self.graph.sent()[before:]


def body_text(message: dict) -> str:
    if message["type"] == "text":
        return message["text"]["body"]
    if message["type"] == "interactive":
        return message["interactive"]["body"]["text"]
    return ""


def reply_ids(message: dict) -> list[str]:
    if message.get("type") != "interactive":
        return []
    action = message["interactive"]["action"]
    if "buttons" in action:
        return [b["reply"]["id"] for b in action["buttons"]]
    return [row["id"] for section in action["sections"] for row in section["rows"]]
