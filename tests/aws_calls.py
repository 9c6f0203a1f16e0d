"""Test-only views of every AWS call the process makes, whatever client (a function's own, or a
tenant's from wabot.tenant_credentials) makes it: fault injection by operation, and a record
of which access key signed each request and what it touched."""

from __future__ import annotations

import contextlib
import json
import re
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from typing import Any
from unittest import mock
from urllib.parse import parse_qs

import boto3
from botocore.client import BaseClient


@contextlib.contextmanager
def intercept(service: str, operations: set[str], action: Callable[[Callable[[], Any]], Any]) -> Iterator[None]:
    """Route `service`'s `operations` through `action(call)`, where `call()` makes the real
    request: `action` may raise instead (a fault) or call through."""
    original = BaseClient._make_api_call

    def routed(client: BaseClient, operation: str, params: dict) -> Any:
        if client.meta.service_model.service_name == service and operation in operations:
            return action(lambda: original(client, operation, params))
        return original(client, operation, params)

    with mock.patch.object(BaseClient, "_make_api_call", routed):
        yield


@dataclass(frozen=True)
class SignedRequest:
    service: str
    operation: str
    access_key: str
    touched: tuple[str, ...]  # DynamoDB partition keys (and prefixes), SSM names and paths
    table: str | None = None  # DynamoDB: the table (the first, for multi-table requests)
    index: str | None = None  # DynamoDB: the secondary index a Query reads
    # DynamoDB transactions: the item operations IAM authorizes them by (PutItem, DeleteItem, ...)
    item_operations: tuple[str, ...] = ()


_CREDENTIAL = re.compile(r"Credential=([A-Z0-9]+)/")


def _strings(value: Any) -> Iterator[str]:
    if isinstance(value, str):
        yield value
    elif isinstance(value, dict):
        for item in value.values():
            yield from _strings(item)
    elif isinstance(value, list):
        for item in value:
            yield from _strings(item)


def _table(body: dict) -> str | None:
    if "TableName" in body:
        return body["TableName"]
    if "RequestItems" in body:
        return next(iter(body["RequestItems"]), None)
    for entry in body.get("TransactItems", []):
        return next(iter(entry.values())).get("TableName")
    return None


def _item_operations(body: dict) -> tuple[str, ...]:
    """TransactWriteItems needs, per item, the permission of its own kind (no action of its own)."""
    kinds = {"Put": "PutItem", "Delete": "DeleteItem", "Update": "UpdateItem", "ConditionCheck": "ConditionCheckItem"}
    return tuple(sorted({kinds[kind] for entry in body.get("TransactItems", []) for kind in entry}))


def _touched(service: str, body: dict) -> tuple[str, ...]:
    if service == "dynamodb":
        # Every key value and key-condition value of the request: tenant keys start with
        # TENANT#, the platform's claims with PHONE#, the running-instances index's with
        # RUNNING# (a key only in a Query of that index: on a config item it is an attribute).
        prefixes = ("TENANT#", "PHONE#", "RUNNING#") if "IndexName" in body else ("TENANT#", "PHONE#")
        return tuple(s for s in _strings(body) if s.startswith(prefixes))
    if service == "ssm":
        names = body.get("Names") or [body.get("Name") or body.get("Path")]
        return tuple(name for name in names if name)
    return ()


class SignatureRecorder:
    """Records the access key that signed every request sent while it is installed (a hook on
    the shared boto3 session's events, run after the request is signed): clients made later,
    including each tenant's, inherit it."""

    def __init__(self) -> None:
        self.requests: list[SignedRequest] = []
        self.tenant_of_key: dict[str, str] = {}  # from the AssumeRole exchanges themselves
        self.role_of_key: dict[str, str] = {}

    def install(self, session: boto3.session.Session) -> None:
        events = session.events
        events.register_last("request-created", self._signed)
        events.register("before-parameter-build.sts.AssumeRole", self._assume_role_params)
        events.register("after-call.sts.AssumeRole", self._assume_role_answer)

    def _signed(self, request: Any, operation_name: str | None = None, **_: Any) -> None:
        authorization = request.headers.get("Authorization", b"")
        if isinstance(authorization, bytes):
            authorization = authorization.decode()
        match = _CREDENTIAL.search(authorization)
        service = request.url.split("//", 1)[-1].split(".", 1)[0]
        target = request.headers.get("X-Amz-Target", b"")
        target = target.decode() if isinstance(target, bytes) else target
        data = request.body or b""
        data = data.decode() if isinstance(data, bytes) else data
        body: dict = {}
        if target:
            service = {"DynamoDB": "dynamodb", "AmazonSSM": "ssm"}.get(target.split("_")[0].split(".")[0], service)
            body = json.loads(data or "{}")
            operation = target.rsplit(".", 1)[-1]
        else:
            operation = (parse_qs(data).get("Action") or [operation_name or "?"])[0]
        self.requests.append(SignedRequest(service, operation, match.group(1) if match else "",
                                           _touched(service, body),
                                           _table(body) if service == "dynamodb" else None,
                                           body.get("IndexName") if service == "dynamodb" else None,
                                           _item_operations(body)))

    def _assume_role_params(self, params: dict, context: dict, **_: Any) -> None:
        context["tenant_tag"] = next(t["Value"] for t in params.get("Tags", []) if t["Key"] == "tenant")
        context["role_arn"] = params["RoleArn"]

    def _assume_role_answer(self, parsed: dict, context: dict, **_: Any) -> None:
        if "Credentials" in parsed:
            self.tenant_of_key[parsed["Credentials"]["AccessKeyId"]] = context["tenant_tag"]
            self.role_of_key[parsed["Credentials"]["AccessKeyId"]] = context["role_arn"]

    def clear(self) -> None:
        self.requests.clear()
