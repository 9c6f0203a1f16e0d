"""Drives the health worker like Lambda's SQS event source (a standard queue)."""

from __future__ import annotations

import json
import uuid
from dataclasses import dataclass, field
from typing import Any

import httpx

from devstack.gateway import LambdaContext
from tests.integration.funnel_harness import GraphFake
from tests.integration.llm_harness import guarded
from wabot.models.health import AccountEvent, HealthJob


@dataclass
class NotificationReceiver:
    """A tenant's notification endpoint: records what arrived, answers the queued statuses first."""

    requests: list[httpx.Request] = field(default_factory=list)
    statuses: list[int] = field(default_factory=list)

    def handler(self, request: httpx.Request) -> httpx.Response:
        self.requests.append(request)
        return httpx.Response(self.statuses.pop(0) if self.statuses else 200, json={"ok": True})

    def bodies(self) -> list[dict]:
        return [json.loads(request.content) for request in self.requests]


def health_record(message: HealthJob | AccountEvent | str) -> dict[str, Any]:
    body = message if isinstance(message, str) else message.model_dump_json()
    return {"messageId": str(uuid.uuid4()), "receiptHandle": "rh", "body": body,
            "attributes": {"ApproximateReceiveCount": "1", "SentTimestamp": "1"}, "messageAttributes": {},
            "md5OfBody": "", "eventSource": "aws:sqs", "eventSourceARN": "arn:aws:sqs:eu-west-1:123456789012:health",
            "awsRegion": "eu-west-1"}


class HealthDriver:
    """The fakes are put in whenever the service is (re)built: loading the functions (other
    fixtures do) starts a new execution environment, as Lambda would."""

    def __init__(self, module: Any) -> None:
        self.module = module
        self.graph = GraphFake()
        self.receiver = NotificationReceiver()

    @property
    def service(self):
        service = self.module.service()
        if not getattr(service, "_fakes", False):
            service.graph.http = httpx.Client(transport=httpx.MockTransport(self.graph.handler))
            service.graph.base_url = "http://graph.test"
            service.notifier.http = guarded(self.receiver.handler)
            service.notifier.sleep = lambda _seconds: None
            service._fakes = True
        return service

    def deliver(self, *records: dict[str, Any]) -> list[str]:
        """One SQS batch; the ids Lambda would retry."""
        assert self.service
        result = self.module.handler({"Records": list(records)}, LambdaContext("HealthFunction", 256, 60))
        return [item["itemIdentifier"] for item in result.get("batchItemFailures", [])]

    def check(self, tenant_id: str, instance_id: str, slot: int) -> list[str]:
        return self.deliver(health_record(HealthJob(tenant_id=tenant_id, instance_id=instance_id, slot=slot)))

    def queued(self, bodies: list[dict]) -> list[str]:
        return self.deliver(*(health_record(json.dumps(body)) for body in bodies))
