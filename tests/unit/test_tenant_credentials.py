"""Tenant credentials: one AssumeRole per tenant per cache lifetime, tagged with the tenant."""

from __future__ import annotations

from datetime import UTC, datetime

import pytest

from wabot.errors import TenantContextError
from wabot.tenancy import TenantContext
from wabot.tenant_credentials import TenantCredentials, client_for

ROLE = "arn:aws:iam::123456789012:role/stack-tenant-worker"


class FakeSts:
    def __init__(self, clock) -> None:
        self.calls: list[dict] = []
        self._clock = clock

    def assume_role(self, **arguments):
        self.calls.append(arguments)
        n = len(self.calls)
        return {"Credentials": {"AccessKeyId": f"ASIA{n:016d}", "SecretAccessKey": f"secret{n}",
                                "SessionToken": f"token{n}",
                                "Expiration": datetime.fromtimestamp(self._clock() + 3600, UTC)}}


class Clock:
    now = 1_800_000_000.0

    def __call__(self) -> float:
        return self.now


@pytest.fixture
def setup(monkeypatch):
    monkeypatch.setenv("AWS_DEFAULT_REGION", "eu-west-1")
    clock = Clock()
    sts = FakeSts(clock)
    return TenantCredentials(ROLE, sts=sts, clock=clock), sts, clock


def _key(client) -> str:
    return client._request_signer._credentials.access_key


def test_assumes_the_role_tagged_with_the_tenant_once_per_tenant(setup):
    credentials, sts, _ = setup
    acme, globex = TenantContext("acme"), TenantContext("globex")
    first = credentials.dynamodb(acme)
    assert credentials.dynamodb(acme) is first and credentials.dynamodb(TenantContext("acme", role="admin")) is first
    ssm = credentials.ssm(acme)
    assert _key(first) == _key(ssm) == "ASIA0000000000000001"
    other = credentials.dynamodb(globex)
    assert _key(other) == "ASIA0000000000000002"
    assert [(c["RoleArn"], c["Tags"], c["RoleSessionName"]) for c in sts.calls] == [
        (ROLE, [{"Key": "tenant", "Value": "acme"}], "tenant-acme"),
        (ROLE, [{"Key": "tenant", "Value": "globex"}], "tenant-globex")]


def test_refreshes_shortly_before_expiry_only(setup):
    credentials, sts, clock = setup
    acme = TenantContext("acme")
    first = credentials.dynamodb(acme)
    clock.now += 3600 - 301
    assert credentials.dynamodb(acme) is first and len(sts.calls) == 1
    clock.now += 2  # within the 300 s margin
    fresh = credentials.dynamodb(acme)
    assert fresh is not first and _key(fresh) == "ASIA0000000000000002" and len(sts.calls) == 2


def test_no_client_without_a_tenant_context(setup):
    credentials, sts, _ = setup
    for source in (credentials, object()):
        with pytest.raises(TenantContextError):
            client_for(source, "dynamodb")(None)
        with pytest.raises(TenantContextError):
            client_for(source, "dynamodb")("acme")
    assert sts.calls == []


def test_a_shared_client_serves_operator_tools():
    shared = object()
    assert client_for(shared, "dynamodb")(TenantContext("acme")) is shared
