"""The first request of a cold start, answered in-process: run inside the bench's fresh
interpreter after the handler's import, so that a cold start counts import + first request.

AWS calls are answered at botocore's HTTP layer (`URLLib3Session.send`): each call is still
serialized, signed and its answer parsed, as in Lambda, without a socket. Outbound HTTPS (the
Graph API, the LLM) is answered at httpx's transport. The answers are fixed: the sample instance
`demo/support-bot` of events/ (its config item comes from the parent, built by the models).
"""

from __future__ import annotations

import json
import os
import sys
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parent.parent
SECRET = "sample-app-secret-change-me"  # noqa: S105 - the sample events' documented secret
CONFIG_ITEM_ENV = "BENCH_CONFIG_ITEM"
# function -> (sample event, handler module); the LLM worker's backend and the Graph API are httpx.
REQUESTS = {
    "webhook": ("webhook-post-text.json", "webhook_handler"),
    "funnel": ("funnel-inbound-text.json", "funnel_handler"),
    "llm": ("llm-question.json", "llm_handler"),
    "admin": ("admin-list-instances.json", "admin_handler"),
    "status": ("status-batch.json", "status_handler"),
}
# The floor's first request: one call per client it created, answered the same way.
FLOOR_CALLS = {
    "dynamodb": ("get_item", {"TableName": "t", "Key": {"pk": {"S": "x"}, "sk": {"S": "y"}}}),
    "ssm": ("get_parameter", {"Name": "/bench/x", "WithDecryption": True}),
    "sqs": ("send_message", {"QueueUrl": "https://sqs.eu-west-1.amazonaws.com/1/q", "MessageBody": "x"}),
}


class _Context:
    function_name = "bench"
    memory_limit_in_mb = 256
    invoked_function_arn = "arn:aws:lambda:eu-west-1:123456789012:function:bench"
    aws_request_id = "bench-request"

    @staticmethod
    def get_remaining_time_in_millis() -> int:
        return 30_000


def _sts_answer() -> bytes:
    return (b'<AssumeRoleResponse xmlns="https://sts.amazonaws.com/doc/2011-06-15/"><AssumeRoleResult>'
            b"<Credentials><AccessKeyId>ASIABENCH</AccessKeyId><SecretAccessKey>bench</SecretAccessKey>"
            b"<SessionToken>bench</SessionToken><Expiration>2099-01-01T00:00:00Z</Expiration></Credentials>"
            b"<AssumedRoleUser><Arn>arn:aws:sts::123456789012:assumed-role/r/s</Arn>"
            b"<AssumedRoleId>AROA:s</AssumedRoleId></AssumedRoleUser></AssumeRoleResult></AssumeRoleResponse>")


def _json_answer(target: str, request: dict[str, Any], config_item: dict[str, Any]) -> dict[str, Any]:
    operation = target.rsplit(".", 1)[-1]
    if operation == "GetItem":
        sk = request.get("Key", {}).get("sk", {}).get("S", "")
        return {"Item": config_item} if sk == config_item["sk"]["S"] else {}
    if operation == "Query":
        values = json.dumps(request.get("ExpressionAttributeValues", {}))
        items = [config_item] if "INSTANCE#" in values and "#INSTANCE#" not in values else []
        return {"Items": items, "Count": len(items), "ScannedCount": len(items)}
    if operation == "BatchGetItem":
        return {"Responses": {table: [] for table in request.get("RequestItems", {})}}
    if operation == "GetParameter":
        return {"Parameter": {"Name": request["Name"], "Type": "SecureString", "Value": SECRET, "Version": 1}}
    if operation == "GetParameters":
        return {"Parameters": [{"Name": n, "Type": "SecureString", "Value": SECRET, "Version": 1}
                               for n in request["Names"]], "InvalidParameters": []}
    if operation == "SendMessageBatch":
        return {"Successful": [{"Id": e["Id"], "MessageId": e["Id"], "MD5OfMessageBody": ""}
                               for e in request["Entries"]], "Failed": []}
    if operation == "SendMessage":
        return {"MessageId": "bench", "MD5OfMessageBody": ""}
    return {}  # PutItem, UpdateItem, DeleteItem, TransactWriteItems: accepted


def _install_aws(config_item: dict[str, Any], calls: list[str]) -> None:
    from botocore.awsrequest import AWSResponse
    from botocore.httpsession import URLLib3Session

    def send(self: Any, request: Any) -> AWSResponse:
        body = request.body or b""
        body = body if isinstance(body, bytes) else body.encode()
        target = request.headers.get("X-Amz-Target")
        if target:
            target = target.decode() if isinstance(target, bytes) else target
            calls.append(target)
            answer = json.dumps(_json_answer(target, json.loads(body or b"{}"), config_item)).encode()
            headers = {"Content-Type": "application/x-amz-json-1.0", "x-amzn-RequestId": "bench"}
        else:  # STS, the only query-protocol service the functions call
            calls.append("sts.AssumeRole")
            answer, headers = _sts_answer(), {"Content-Type": "text/xml"}
        return AWSResponse(request.url, 200, headers, _Raw(answer))

    URLLib3Session.send = send


class _Raw:
    """What botocore reads an answer from (urllib3's response, reduced)."""

    def __init__(self, data: bytes) -> None:
        self._data = data

    def stream(self, *_: Any, **__: Any):
        yield self._data

    def read(self, *_: Any) -> bytes:
        data, self._data = self._data, b""
        return data


def _http_answer(request: Any) -> tuple[int, dict[str, Any]]:
    path = request.url.path
    if path.endswith("/messages"):
        return 200, {"messaging_product": "whatsapp", "messages": [{"id": "wamid.BENCH"}]}
    if path.endswith("/chat/completions"):
        return 200, {"choices": [{"message": {"content": "It works offline."}}],
                     "usage": {"prompt_tokens": 20, "completion_tokens": 5}}
    return 200, {}


def _install_http(calls: list[str]) -> None:
    """Answer httpx at its transport, now or when it is first imported (it may be lazy)."""

    def patch(httpx: Any) -> None:
        def handle_request(self: Any, request: Any) -> Any:
            calls.append(f"https {request.method} {request.url.path}")
            status, body = _http_answer(request)
            return httpx.Response(status, json=body, request=request)

        httpx.HTTPTransport.handle_request = handle_request

    if "httpx" in sys.modules:
        patch(sys.modules["httpx"])
        return
    import importlib.abc
    import importlib.util

    class _Finder(importlib.abc.MetaPathFinder):
        def find_spec(self, name: str, path: Any, target: Any = None) -> Any:
            if name != "httpx":
                return None
            sys.meta_path.remove(self)
            spec = importlib.util.find_spec(name)
            loader = spec.loader
            original = loader.exec_module

            def exec_module(module: Any) -> None:
                original(module)
                patch(module)

            loader.exec_module = exec_module
            return spec

    sys.meta_path.insert(0, _Finder())


def install() -> list[str]:
    """Answer every AWS and HTTPS call from here on; returns the list the calls are noted in."""
    calls: list[str] = []
    _install_aws(json.loads(os.environ[CONFIG_ITEM_ENV]), calls)
    _install_http(calls)
    # The sample events' instance resolves through the SSRF guard's resolver without DNS.
    return calls


def first_request(function: str) -> Any:
    """Hand the function's sample event to its handler; the answer must be a success."""
    event_file, module = REQUESTS[function]
    event = json.loads((ROOT / "events" / event_file).read_text())
    result = sys.modules[module].handler(event, _Context())
    if "statusCode" in result and result["statusCode"] != 200:
        raise AssertionError(f"{function}: {result}")
    if result.get("batchItemFailures"):
        raise AssertionError(f"{function}: {result}")
    return result


def floor_request(session_clients: dict[str, Any]) -> None:
    for service, client in session_clients.items():
        operation, params = FLOOR_CALLS[service]
        getattr(client, operation)(**params)
