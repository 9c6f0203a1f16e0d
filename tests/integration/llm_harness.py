"""Drives the LLM worker with the local stack's fake LLM and TTS, with scripted failures."""

from __future__ import annotations

import json
from dataclasses import dataclass, field
from typing import Any

import httpx
from aws_lambda_powertools.utilities.batch.exceptions import BatchProcessingError

from devstack import fakes
from devstack.gateway import LambdaContext
from tests.integration.funnel_harness import GraphFake, sqs_record
from wabot.models.events import InboundEvent
from wabot.net import EgressPolicy, GuardedHttp, parse_networks

PUBLIC_ADDRESS = "93.184.215.14"  # what any other test host resolves to: a public address


def guarded(handler: Any) -> GuardedHttp:
    """The worker's SSRF guard as deployed, over a mock transport; `llm.test` and `tts.test` (the
    local fakes' stand-ins) resolve to loopback, allowed as the local stack allows its own fakes."""
    return GuardedHttp(EgressPolicy(parse_networks("127.0.0.1/32")),
                       client=httpx.Client(transport=httpx.MockTransport(handler)),
                       resolve=lambda host, _port: [{"llm.test": "127.0.0.1", "tts.test": "127.0.0.1"}.get(
                           host, PUBLIC_ADDRESS)])


@dataclass
class ProviderFakes:
    requests: list[httpx.Request] = field(default_factory=list)
    failures: list[Any] = field(default_factory=list)  # status codes or exceptions, answered first
    tts_failures: int = 0

    def handler(self, request: httpx.Request) -> httpx.Response:
        self.requests.append(request)
        is_tts = "fake-tts" in request.url.path
        if is_tts and self.tts_failures:
            self.tts_failures -= 1
            return httpx.Response(500, text="tts down")
        if not is_tts and self.failures:
            failure = self.failures.pop(0)
            if isinstance(failure, Exception):
                raise failure
            return httpx.Response(failure, json={"error": "scripted"})
        answer = fakes.handle("POST", request.url.path, request.content, request.headers.get("content-type", ""))
        if answer is None:
            return httpx.Response(404)
        status, content_type, body = answer
        return httpx.Response(status, content=body, headers={"content-type": content_type})

    def llm_bodies(self) -> list[dict]:
        return [json.loads(r.content) for r in self.requests if "fake-llm" in r.url.path]


class LlmDriver:
    def __init__(self, module: Any, graph: GraphFake, providers: ProviderFakes) -> None:
        self.module, self.graph, self.providers = module, graph, providers
        self.timeout = 90.0  # the Lambda's timeout, as its context reports it

    def deliver(self, *records: dict[str, Any]) -> list[str]:
        try:
            result = self.module.handler({"Records": list(records)},
                                         LambdaContext("LlmFunction", 1024, self.timeout))
        except BatchProcessingError:
            return [record["messageId"] for record in records]
        return [item["itemIdentifier"] for item in result.get("batchItemFailures", [])]

    def ask(self, event: InboundEvent, message_id: str | None = None) -> list[str]:
        return self.deliver(sqs_record(event, message_id))
