"""moto-backed fixtures: the template's tables and queues, two tenants with the same instance id."""

from __future__ import annotations

import json
from dataclasses import dataclass

import boto3
import pytest
from moto import mock_aws

from devstack.provision import Stack, provision
from wabot import aws
from wabot.models.instance import InstanceConfig
from wabot.repositories.instances import InstanceRepository
from wabot.repositories.secrets import SecretStore
from wabot.tenancy import TenantContext


@dataclass(frozen=True)
class SeededInstance:
    tenant: TenantContext
    instance_id: str
    phone_number_id: str
    app_secret: str
    verify_token: str
    access_token: str


class WrittenPartitions:
    """Test-only: the partition of every DynamoDB item this process writes, recorded from the
    API calls themselves, so a test can read back everything written by Query and GetItem
    (no Scan, in tests either) to prove something is *nowhere*."""

    def __init__(self) -> None:
        self.keys: dict[str, dict[str, dict]] = {}  # table -> {partition value: hash-key attribute}

    def record(self, operation: str, params: dict) -> None:
        writes: list[tuple[str, dict]] = []
        if operation == "PutItem":
            writes.append((params["TableName"], params["Item"]))
        elif operation in ("UpdateItem", "DeleteItem"):
            writes.append((params["TableName"], params["Key"]))
        elif operation == "BatchWriteItem":
            for table, requests in params["RequestItems"].items():
                writes += [(table, r.get("PutRequest", {}).get("Item") or r["DeleteRequest"]["Key"]) for r in requests]
        elif operation == "TransactWriteItems":
            for entry in params["TransactItems"]:
                (kind, body), = entry.items()
                if kind != "ConditionCheck":
                    writes.append((body["TableName"], body.get("Item") or body["Key"]))
        for table, item in writes:
            name = "pk" if "pk" in item else "id"
            self.keys.setdefault(table, {})[item[name]["S"]] = {name: item[name]}

    def items(self, table: str) -> list[dict]:
        from wabot.dynamo import query_partition

        dynamodb = aws.client("dynamodb")
        found: list[dict] = []
        for value, key in self.keys.get(table, {}).items():
            if "pk" in key:
                found += query_partition(dynamodb, table, value)
            elif item := dynamodb.get_item(TableName=table, Key=key).get("Item"):
                found.append(item)
        return found


_written = WrittenPartitions()


@pytest.fixture
def stack(monkeypatch):
    from botocore.client import BaseClient

    original = BaseClient._make_api_call

    def recording(client, operation, params):
        result = original(client, operation, params)
        if client.meta.service_model.service_name == "dynamodb":
            _written.record(operation, params)
        return result

    monkeypatch.setattr(BaseClient, "_make_api_call", recording)
    _written.keys.clear()
    with mock_aws():
        aws.reset_clients()
        session = boto3.Session(region_name="eu-west-1")
        yield provision(session, stack_name="wabot-test")
        aws.reset_clients()


@pytest.fixture
def function_env(stack: Stack, monkeypatch):
    """Set a function's environment exactly as the template declares it."""
    def apply(logical_id: str) -> dict[str, str]:
        env = stack.environment(logical_id)
        for name, value in env.items():
            monkeypatch.setenv(name, value)
        return env
    return apply


def seed_instance(stack: Stack, tenant_id: str, instance_id: str, phone_number_id: str,
                  *, secrets: bool = True, version: int = 1) -> SeededInstance:
    tenant = TenantContext(tenant_id)
    dynamodb = aws.client("dynamodb")
    repository = InstanceRepository(dynamodb, stack.refs["AppTable"])
    repository.put(tenant, InstanceConfig(tenant_id=tenant_id, instance_id=instance_id, name=instance_id,
                                          phone_number_id=phone_number_id, version=version))
    seeded = SeededInstance(tenant, instance_id, phone_number_id,
                            app_secret=f"{tenant_id}-app-secret-0123456789",
                            verify_token=f"{tenant_id}-verify-token-abcdef",
                            access_token=f"EAAG{tenant_id}accesstoken9876")
    if secrets:
        store = SecretStore(stack.resolver.resolve({"Fn::Sub": "/${AWS::StackName}"}), aws.client("ssm"))
        store.put(tenant, instance_id, "app_secret", seeded.app_secret)
        store.put(tenant, instance_id, "verify_token", seeded.verify_token)
        store.put(tenant, instance_id, "access_token", seeded.access_token)
    return seeded


@pytest.fixture
def acme(stack: Stack) -> SeededInstance:
    return seed_instance(stack, "acme", "support-bot", "106540352242922")


@pytest.fixture
def globex(stack: Stack) -> SeededInstance:
    return seed_instance(stack, "globex", "support-bot", "209876543210987")


@pytest.fixture
def two_tenants(stack: Stack) -> tuple[SeededInstance, SeededInstance]:
    """acme and globex both run an instance called `support-bot`, with different numbers."""
    return (
        seed_instance(stack, "acme", "support-bot", "106540352242922"),
        seed_instance(stack, "globex", "support-bot", "209876543210987"),
    )


def drain(queue_url: str) -> list[dict]:
    """Every message currently on the queue (received, deleted), with body and attributes."""
    sqs = aws.client("sqs")
    received: list[dict] = []
    while True:
        batch = sqs.receive_message(QueueUrl=queue_url, MaxNumberOfMessages=10,
                                    AttributeNames=["MessageGroupId", "MessageDeduplicationId"],
                                    WaitTimeSeconds=0).get("Messages", [])
        if not batch:
            return received
        for item in batch:
            received.append({"body": json.loads(item["Body"]), "attributes": item["Attributes"]})
            sqs.delete_message(QueueUrl=queue_url, ReceiptHandle=item["ReceiptHandle"])


class FakeClock:
    def __init__(self) -> None:
        self.now = 1000.0

    def __call__(self) -> float:
        return self.now


@pytest.fixture
def clock() -> FakeClock:
    return FakeClock()


@pytest.fixture
def gateway(stack: Stack, function_env, clock):
    """Every function of the template behind the template's HTTP API routes, in process."""
    from devstack.gateway import HttpApiGateway, load_functions
    from devstack.template import resources_of_type

    for logical_id in resources_of_type(stack.template, "AWS::Serverless::Function"):
        function_env(logical_id)
    functions = load_functions(stack.template)
    import admin_handler
    import authorizer_handler
    import webhook_handler

    for factory in (webhook_handler.ingress, admin_handler.service, authorizer_handler.api_keys):
        factory.cache_clear()
    import httpx

    from tests.integration.funnel_harness import GraphFake

    # The admin API checks credentials against the Graph API: the local stack's fake, in process.
    graph = GraphFake()
    admin_handler.service().stores.graph.http = httpx.Client(transport=httpx.MockTransport(graph.handler))
    admin_handler.service().stores.graph.base_url = "http://graph.test"
    gateway = HttpApiGateway(stack.template, functions, clock=clock)
    gateway.graph = graph
    yield gateway
    for factory in (webhook_handler.ingress, admin_handler.service, authorizer_handler.api_keys):
        factory.cache_clear()


@pytest.fixture
def funnel(stack: Stack, function_env):
    """The funnel worker with the fake Graph API in process; yields a FunnelDriver."""
    import httpx

    from tests.integration.funnel_harness import FunnelDriver, GraphFake

    function_env("FunnelFunction")
    import funnel_handler

    funnel_handler.worker.cache_clear()
    fake = GraphFake()
    worker = funnel_handler.worker()
    worker.service.sender.graph.http = httpx.Client(transport=httpx.MockTransport(fake.handler))
    worker.service.sender.graph.base_url = "http://graph.test"
    yield FunnelDriver(funnel_handler, fake)
    funnel_handler.worker.cache_clear()


@pytest.fixture
def llm(stack: Stack, function_env):
    """The LLM worker with the local fakes (LLM, TTS, Graph API) behind httpx mock transports."""
    import httpx

    from tests.integration.funnel_harness import GraphFake
    from tests.integration.llm_harness import LlmDriver, ProviderFakes, guarded

    function_env("LlmFunction")
    import os

    os.environ["DEFAULT_VLLM_BASE_URL"] = "http://llm.test/_local/fake-llm"
    os.environ["DEFAULT_TTS_BASE_URL"] = "http://tts.test/_local/fake-tts"
    import llm_handler

    llm_handler.worker.cache_clear()
    graph, providers = GraphFake(), ProviderFakes()
    worker = llm_handler.worker()
    worker.service.sender.graph.http = httpx.Client(transport=httpx.MockTransport(graph.handler))
    worker.service.sender.graph.base_url = "http://graph.test"
    worker.service.http = guarded(providers.handler)
    yield LlmDriver(llm_handler, graph, providers)
    llm_handler.worker.cache_clear()
    os.environ.pop("DEFAULT_VLLM_BASE_URL", None)
    os.environ.pop("DEFAULT_TTS_BASE_URL", None)


def whole_table(stack: Stack, table: str = "AppTable") -> list[dict]:
    """Test-only: every item still in the partitions this test wrote to (read by Query), to prove
    something is nowhere: orphaned data after a delete, a secret in DynamoDB."""
    return _written.items(stack.refs[table])


@pytest.fixture
def health(stack: Stack, function_env):
    """The health worker with the fake Graph API and a notification receiver behind mock
    transports; yields a HealthDriver."""
    from tests.integration.health_harness import HealthDriver

    function_env("HealthFunction")
    import health_handler

    health_handler.service.cache_clear()
    yield HealthDriver(health_handler)
    health_handler.service.cache_clear()
