"""SnapStart hooks: what is built before the snapshot, and what is reset after a restore."""

from __future__ import annotations

import datetime as dt
import http.server
import random
import sys
import threading
import types
from pathlib import Path

import boto3
import httpx
import pytest
from botocore.stub import Stubber

from wabot import snapstart
from wabot.models.instance import InstanceConfig
from wabot.repositories.instances import InstanceRegistry
from wabot.repositories.secrets import SecretStore
from wabot.tenancy import TenantContext
from wabot.tenant_credentials import TenantCredentials

ACME = TenantContext("acme")
ROOT = Path(__file__).resolve().parents[2]


class _Ok(http.server.BaseHTTPRequestHandler):
    protocol_version = "HTTP/1.1"  # keep-alive: the client pools the connection

    def do_GET(self):
        self.send_response(200)
        self.send_header("Content-Length", "2")
        self.end_headers()
        self.wfile.write(b"ok")

    def log_message(self, *_):
        pass


@pytest.fixture
def local_server():
    server = http.server.ThreadingHTTPServer(("127.0.0.1", 0), _Ok)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    yield f"http://127.0.0.1:{server.server_address[1]}/"
    server.shutdown()
    server.server_close()


def test_pooled_http_connections_are_dropped_and_the_client_still_works(local_server):
    client = httpx.Client()
    assert client.get(local_server).text == "ok"
    assert len(client._transport._pool.connections) == 1  # the connection a snapshot would freeze

    counts = snapstart.after_restore()

    assert counts["http_clients"] >= 1
    assert client._transport._pool.connections == []
    assert client.get(local_server).text == "ok"  # reconnects
    client.close()


def test_aws_connection_pools_are_emptied():
    sqs = boto3.session.Session().client("sqs", region_name="eu-west-1")
    manager = sqs._endpoint.http_session._manager
    manager.connection_from_url("https://sqs.eu-west-1.amazonaws.com/")
    assert len(manager.pools) == 1

    counts = snapstart.after_restore()

    assert counts["aws_clients"] >= 1
    assert len(manager.pools) == 0


def test_secrets_cached_before_the_snapshot_are_read_again():
    ssm = boto3.session.Session().client("ssm", region_name="eu-west-1")
    store = SecretStore("/stack", ssm, max_age=300)
    with Stubber(ssm) as stub:
        for value in ("before-snapshot", "rotated"):
            stub.add_response("get_parameter", {"Parameter": {"Value": value}},
                              {"Name": "/stack/acme/settings/stt_api_key", "WithDecryption": True})
        assert store.get_tenant_secret(ACME, "settings", "stt_api_key") == "before-snapshot"
        assert store.get_tenant_secret(ACME, "settings", "stt_api_key") == "before-snapshot"  # cached

        snapstart.after_restore()

        assert store.get_tenant_secret(ACME, "settings", "stt_api_key") == "rotated"
        stub.assert_no_pending_responses()


class _Sts:
    def __init__(self):
        self.calls = 0

    def assume_role(self, **_):
        self.calls += 1
        return {"Credentials": {"AccessKeyId": "AKIA", "SecretAccessKey": "s", "SessionToken": "t",
                                "Expiration": dt.datetime.now(dt.UTC) + dt.timedelta(hours=1)}}


def test_tenant_credentials_are_assumed_again():
    sts = _Sts()
    tenants = TenantCredentials("arn:aws:iam::123456789012:role/x", sts=sts)
    before = tenants.client(ACME, "dynamodb")
    assert tenants.client(ACME, "dynamodb") is before and sts.calls == 1

    snapstart.after_restore()

    assert tenants.client(ACME, "dynamodb") is not before
    assert sts.calls == 2


class _Instances:
    def __init__(self):
        self.reads = 0

    def get(self, tenant, instance_id):
        self.reads += 1
        return InstanceConfig(tenant_id=tenant.tenant_id, instance_id=instance_id, name="b", phone_number_id="1")


def test_instance_configs_are_read_again():
    repository = _Instances()
    registry = InstanceRegistry(repository, max_age=60)
    registry.get(ACME, "bot")
    registry.get(ACME, "bot")
    assert repository.reads == 1

    snapstart.after_restore()

    registry.get(ACME, "bot")
    assert repository.reads == 2


def test_random_is_reseeded():
    random.seed(42)
    frozen = random.random()
    random.seed(42)
    snapstart.after_restore()
    assert random.random() != frozen


def test_before_snapshot_imports_and_builds():
    sys.modules.pop("colorsys", None)
    built = snapstart.before_snapshot(lambda: "service", preload=("colorsys",))
    assert built == "service"
    assert "colorsys" in sys.modules


def test_register_does_nothing_outside_the_lambda_runtime(monkeypatch):
    monkeypatch.setitem(sys.modules, "snapshot_restore_py", None)  # import fails
    assert snapstart.register(lambda: None) is False


def test_register_hooks_in_the_lambda_runtime(monkeypatch):
    hooks: dict[str, list] = {"before": [], "after": []}
    runtime = types.ModuleType("snapshot_restore_py")
    runtime.register_before_snapshot = hooks["before"].append
    runtime.register_after_restore = hooks["after"].append
    monkeypatch.setitem(sys.modules, "snapshot_restore_py", runtime)
    prepared = []

    assert snapstart.register(lambda: prepared.append(True)) is True

    hooks["before"][0]()
    assert prepared == [True]
    assert hooks["after"] == [snapstart.after_restore]


@pytest.mark.parametrize("path", sorted((ROOT / "functions").glob("*/*_handler.py")), ids=lambda p: p.name)
def test_every_handler_registers_the_hooks_and_is_measured_and_traced(path):
    source = path.read_text()
    assert "\nsnapstart.register(" in source
    assert "@metrics.log_metrics(service=" in source
    assert "@tracing.capture_lambda_handler(" in source


def test_models_deferred_to_first_use_are_built_before_the_snapshot():
    from pydantic import BaseModel, ConfigDict

    class Deferred(BaseModel):
        model_config = ConfigDict(defer_build=True)
        x: int

    assert not Deferred.__pydantic_complete__
    snapstart.before_snapshot(lambda: None)
    assert Deferred.__pydantic_complete__
    assert Deferred.model_validate({"x": 1}).x == 1
