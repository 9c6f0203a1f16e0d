"""The whole platform on this machine, without Docker: moto for AWS, the template's routes and
queue pollers, a fake Graph API, all in one process that stops cleanly."""

from __future__ import annotations

import errno
import json
import logging
import math
import os
import secrets
import socket
import sys
import threading
import time
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit

import boto3
from moto.server import DomainDispatcherApplication, MotoRequestHandler, create_backend_app
from werkzeug.serving import BaseWSGIServer, make_server

from devstack import fakes
from devstack.fake_graph import FakeGraphApi
from devstack.gateway import Function, HttpApiGateway, load_functions
from devstack.provision import Stack, provision
from devstack.state import remove_state, state_path, write_state
from devstack.template import resources_of_type, scheduled_functions
from wabot import aws
from wabot.repositories.apikeys import ApiKeyRepository
from wabot.repositories.tenants import TenantRepository
from wabot.tenancy import TenantContext

REGION = "eu-west-1"


def log(message: str, level: str = "INFO", **fields: Any) -> None:
    """The runner's own lines: structured, like the functions' Powertools logs."""
    line = {"level": level, "service": "local", "message": message, **fields,
            "timestamp": time.strftime("%Y-%m-%d %H:%M:%S%z")}
    sys.stdout.write(json.dumps(line) + "\n")
    sys.stdout.flush()


class PortUnavailable(OSError):
    """One of the stack's ports cannot be listened on; the message says which and what to do."""

    def __init__(self, port: int, variable: str, cause: OSError, note: str = "", example: int = 0) -> None:
        if cause.errno == errno.EADDRINUSE:
            problem = f"port {port} is already in use by another program{note}"
        else:
            problem = f"cannot listen on port {port} ({cause.strerror})"
        super().__init__(f"{problem}: stop that program or choose another port with {variable}, "
                         f"e.g. `{variable}={example or port + 1} make run`")
        self.errno, self.port, self.variable = cause.errno, port, variable


def reserve_port(port: int, variable: str, note: str = "", example: int = 0) -> socket.socket:
    """A listening socket on 127.0.0.1:`port`, taken before anything starts so a busy port fails
    at once (and no other program can take it between the check and the server's start)."""
    sock = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
    sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
    try:
        sock.bind(("127.0.0.1", port))
        sock.listen(128)
    except OSError as exc:
        sock.close()
        raise PortUnavailable(port, variable, exc, note, example) from exc
    return sock


def new_api_key(tenant_id: str) -> str:
    return f"wab.{tenant_id}.{secrets.token_hex(6)}.{secrets.token_urlsafe(24)}"


class SqsPoller(threading.Thread):
    """Plays Lambda's SQS event source mapping: receive, invoke, delete what succeeded."""

    def __init__(self, sqs: Any, queue_url: str, queue_arn: str, function: Function, batch_size: int,
                 stop: threading.Event, window_seconds: float = 0) -> None:
        super().__init__(name=f"poller-{function.logical_id}", daemon=True)
        self._sqs, self._url, self._arn = sqs, queue_url, queue_arn
        self._function, self._batch, self._stopping = function, batch_size, stop
        self._window = window_seconds

    def run(self) -> None:
        while not self._stopping.is_set():
            try:
                messages = self._receive_batch()
            except Exception as exc:
                if not self._stopping.is_set():
                    log("poller receive failed", function=self._function.logical_id, error=type(exc).__name__)
                    time.sleep(1)
                continue
            if messages:
                self._deliver(messages)

    def _receive_batch(self) -> list[dict[str, Any]]:
        """Up to the event source's batch size, gathered for up to its batching window once the
        first message is there, as Lambda does (SQS hands out at most 10 per call)."""
        messages: list[dict[str, Any]] = []
        closes = None
        while len(messages) < self._batch and not self._stopping.is_set():
            left = 1.0 if closes is None else closes - time.monotonic()
            if left <= 0:
                break
            received = self._sqs.receive_message(
                QueueUrl=self._url, MaxNumberOfMessages=min(10, self._batch - len(messages)),
                WaitTimeSeconds=max(0, min(1, math.ceil(left))) if closes is not None else 1,
                AttributeNames=["All"], MessageAttributeNames=["All"]).get("Messages", [])
            if not received:
                if closes is None or not messages:
                    break
                continue
            messages += received
            if closes is None:
                closes = time.monotonic() + self._window
        return messages

    def _deliver(self, messages: list[dict[str, Any]]) -> None:
        event = {"Records": [self._record(m) for m in messages]}
        try:
            result = self._function.invoke(event) or {}
            failed = {item["itemIdentifier"] for item in result.get("batchItemFailures", [])}
        except Exception as exc:
            log("function failed, batch left for retry", function=self._function.logical_id,
                error=type(exc).__name__)
            return
        done = [m for m in messages if m["MessageId"] not in failed]
        for start in range(0, len(done), 10):
            self._sqs.delete_message_batch(QueueUrl=self._url, Entries=[
                {"Id": str(i), "ReceiptHandle": m["ReceiptHandle"]} for i, m in enumerate(done[start:start + 10])])

    def _record(self, message: dict[str, Any]) -> dict[str, Any]:
        return {
            "messageId": message["MessageId"], "receiptHandle": message["ReceiptHandle"], "body": message["Body"],
            "attributes": message.get("Attributes", {}), "messageAttributes": message.get("MessageAttributes", {}),
            "md5OfBody": message.get("MD5OfBody"), "eventSource": "aws:sqs", "eventSourceARN": self._arn,
            "awsRegion": REGION,
        }


class LocalPlatform:
    def __init__(self, aws_port: int = 4566, api_port: int = 3000, stack_name: str = "wabot-local",
                 tenants: dict[str, str | None] | None = None, schedule_seconds: float = 60.0) -> None:
        self.aws_port, self.api_port, self.stack_name = aws_port, api_port, stack_name
        self.schedule_seconds = schedule_seconds  # the template's schedules run this often (0: on demand only)
        self.scheduled: list[Function] = []
        self._schedule_lock = threading.Lock()
        self._last_scheduled = 0
        self.tenant_keys: dict[str, str | None] = tenants if tenants is not None else {"demo": None}
        self.api_url = f"http://127.0.0.1:{api_port}"
        self.graph = FakeGraphApi(base_url=f"{self.api_url}/_local/graph")
        self.ready = False
        self._stop = threading.Event()
        self._threads: list[threading.Thread] = []
        self.stack: Stack | None = None
        self.gateway: HttpApiGateway | None = None
        self._sockets: list[socket.socket] = []
        self._moto: BaseWSGIServer | None = None
        self._server: ThreadingHTTPServer | None = None
        self._serving: dict[str, tuple[Any, threading.Thread]] = {}

    # ---- lifecycle -------------------------------------------------------------------------

    def start(self) -> None:
        """Raises PortUnavailable before starting anything when a port is taken. Safe to
        interrupt at any point (a signal handler raising): `stop` undoes whatever was started."""
        def example(port: int) -> int:  # a suggestion that is not the other port
            return port + 2 if port + 1 in (self.aws_port, self.api_port) else port + 1

        localstack = " (LocalStack uses 4566 too)" if self.aws_port == 4566 else ""
        self._sockets = [reserve_port(self.aws_port, "LOCAL_AWS_PORT", localstack, example(self.aws_port))]
        self._sockets.append(reserve_port(self.api_port, "LOCAL_API_PORT", example=example(self.api_port)))
        state_path(self.api_port).unlink(missing_ok=True)  # we hold its port: any file there is stale
        logging.getLogger("werkzeug").setLevel(logging.ERROR)  # moto's per-request access log
        self._moto = make_server("127.0.0.1", self.aws_port, DomainDispatcherApplication(create_backend_app),
                                 threaded=True, request_handler=MotoRequestHandler,
                                 fd=self._sockets[0].fileno())
        self._serve(self._moto, "moto")
        log("provisioning the template's tables and queues")
        os.environ.update({
            "AWS_ENDPOINT_URL": f"http://127.0.0.1:{self.aws_port}",
            "AWS_ACCESS_KEY_ID": "local", "AWS_SECRET_ACCESS_KEY": "local", "AWS_DEFAULT_REGION": REGION,
        })
        os.environ.pop("AWS_PROFILE", None)
        os.environ.pop("AWS_SESSION_TOKEN", None)
        aws.reset_clients()
        session = boto3.Session(region_name=REGION)
        self.stack = provision(session, self.stack_name)
        os.environ.update(self.function_environment())
        functions = load_functions(self.stack.template)
        self.gateway = HttpApiGateway(self.stack.template, functions, log=lambda m: log(m))
        self._server = ThreadingHTTPServer(("127.0.0.1", self.api_port), _handler_class(self),
                                           bind_and_activate=False)
        self._server.socket.close()
        self._server.socket = self._sockets[1]
        self._server.server_address = self._sockets[1].getsockname()
        self._server.daemon_threads = True
        self._serve(self._server, "http")
        self._start_pollers(session, functions)
        self.scheduled = [functions[logical_id] for logical_id in scheduled_functions(self.stack.template)]
        log("creating the tenants and their admin keys")
        self._bootstrap()
        self._write_state_file()
        if self.schedule_seconds > 0 and self.scheduled:
            self._spawn(threading.Thread(target=self._schedule_loop, name="schedules", daemon=True))
        self.ready = True

    def stop(self) -> None:
        """Stops whatever `start` got to; bounded: a few seconds at most."""
        self.ready = False
        remove_state(self.api_port)
        self._stop.set()
        self._shut_down("http")
        serving_threads = {thread for _, thread in self._serving.values()}
        for thread in self._threads:  # the pollers, while moto still answers their last call
            if thread not in serving_threads:
                thread.join(timeout=5)
        self._shut_down("moto")
        for sock in self._sockets:
            sock.close()

    def _shut_down(self, name: str) -> None:
        if name not in self._serving:
            return
        server, thread = self._serving.pop(name)
        if thread.is_alive():  # shutdown() waits for serve_forever, so only when it runs
            server.shutdown()
            thread.join(timeout=5)
        server.server_close()

    @property
    def state_file(self) -> Path:
        return state_path(self.api_port)

    def _write_state_file(self) -> None:
        """Where the running stack is, for `make demo` and operator commands (local only)."""
        assert self.stack is not None
        write_state(self.api_port, {
            "api_url": self.api_url, "aws_endpoint": f"http://127.0.0.1:{self.aws_port}",
            "app_table": self.stack.refs["AppTable"], "tenant_keys": self.tenant_keys})

    def _serve(self, server: Any, name: str) -> None:
        thread = threading.Thread(target=server.serve_forever, name=name, daemon=True)
        self._serving[name] = (server, thread)
        self._spawn(thread)

    def _spawn(self, thread: threading.Thread) -> None:
        self._threads.append(thread)
        thread.start()

    def function_environment(self) -> dict[str, str]:
        """Every function's variables as the template sets them; outbound calls go to the fake."""
        assert self.stack is not None
        env: dict[str, str] = {}
        for logical_id in resources_of_type(self.stack.template, "AWS::Serverless::Function"):
            env.update(self.stack.environment(logical_id))
        env.pop("POWERTOOLS_SERVICE_NAME", None)  # each function's Logger names its own service
        env["GRAPH_API_BASE_URL"] = self.graph.base_url
        env["DEFAULT_VLLM_BASE_URL"] = f"{self.api_url}/_local/fake-llm"
        env["DEFAULT_VLLM_MODEL"] = "fake-llm"
        env["DEFAULT_TTS_BASE_URL"] = f"{self.api_url}/_local/fake-tts"
        env["DEFAULT_STT_BASE_URL"] = f"{self.api_url}/_local/fake-stt"
        env["OUTBOUND_ALLOWED_NETWORKS"] = "127.0.0.1/32"  # the fakes above, over plain http
        env["PUBLIC_API_URL"] = self.api_url  # the webhook URLs admins are shown
        env["HEALTH_SLOT_SECONDS"] = "1"  # schedules run every few seconds here: each run is a new period
        return env

    def _start_pollers(self, session: boto3.Session, functions: dict[str, Function]) -> None:
        assert self.stack is not None
        sqs = session.client("sqs")
        for logical_id, resource in resources_of_type(self.stack.template, "AWS::Serverless::Function").items():
            for event in resource["Properties"].get("Events", {}).values():
                if event["Type"] != "SQS":
                    continue
                queue_id = event["Properties"]["Queue"]["Fn::GetAtt"][0]
                self._spawn(SqsPoller(sqs, self.stack.refs[queue_id], self.stack.attributes[(queue_id, "Arn")],
                                      functions[logical_id], event["Properties"].get("BatchSize", 10), self._stop,
                                      float(self.stack.resolver.resolve(
                                          event["Properties"].get("MaximumBatchingWindowInSeconds", 0)))))

    def run_schedules(self) -> list[dict[str, Any]]:
        """Invoke every scheduled function once now, as EventBridge Scheduler would (one run at a
        time: the loop and `POST /_local/schedules/run` never overlap)."""
        ran = []
        with self._schedule_lock:
            # Each run its own scheduled time, a second after the last at least: with the local
            # 1-second period (HEALTH_SLOT_SECONDS) two runs are never one period.
            self._last_scheduled = max(int(time.time()), self._last_scheduled + 1)
            for function in self.scheduled:
                event = {"scheduled_time": time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime(self._last_scheduled))}
                try:
                    ran.append({"function": function.logical_id, "result": function.invoke(event)})
                except Exception as exc:
                    log("scheduled function failed", level="ERROR", function=function.logical_id,
                        error=type(exc).__name__)
                    ran.append({"function": function.logical_id, "error": type(exc).__name__})
        return ran

    def _schedule_loop(self) -> None:
        while not self._stop.wait(self.schedule_seconds):
            self.run_schedules()

    def _bootstrap(self) -> None:
        assert self.stack is not None
        table, api_key_table = self.stack.refs["AppTable"], self.stack.refs["ApiKeyTable"]
        dynamodb = aws.client("dynamodb")  # the operator's credentials, as scripts/create_tenant.py
        for tenant_id, key in list(self.tenant_keys.items()):
            tenant = TenantContext(tenant_id)
            TenantRepository(dynamodb, table).create(tenant, tenant_id)
            key = key or new_api_key(tenant_id)
            ApiKeyRepository(dynamodb, api_key_table).import_key(tenant, key, "admin", "admin")
            self.tenant_keys[tenant_id] = key

    # ---- local endpoints -------------------------------------------------------------------

    def handle_local(self, method: str, path: str, headers: dict[str, str], body: bytes,
                     query: str = "") -> tuple[int, str, bytes]:
        if path == "/_local/health":
            status = 200 if self.ready else 503
            return status, "application/json", json.dumps({"ready": self.ready}).encode()
        if path == "/_local/outbox":
            if method == "DELETE":
                self.graph.clear()
                return 204, "application/json", b""
            return 200, "application/json", json.dumps(self.graph.recorded()).encode()
        if path == "/_local/inbound-media" and method == "POST":
            media_id = self.graph.add_inbound_media(headers.get("content-type") or "audio/ogg; codecs=opus", body)
            return 200, "application/json", json.dumps({"id": media_id}).encode()
        faked = fakes.handle(method, path, body, headers.get("content-type", ""))
        if faked is not None:
            return faked
        if path == "/_local/graph/control" and method == "POST":
            answer = self.graph.control(body)
            return answer.status, answer.content_type, answer.body
        if path == "/_local/schedules/run" and method == "POST":
            return 200, "application/json", json.dumps({"ran": self.run_schedules()}).encode()
        if path.startswith("/_local/graph/"):
            answer = self.graph.handle(method, path.removeprefix("/_local/graph"), headers, body, query)
            return answer.status, answer.content_type, answer.body
        return 404, "application/json", b'{"message": "Not Found"}'


def _handler_class(platform: LocalPlatform) -> type[BaseHTTPRequestHandler]:
    class Handler(BaseHTTPRequestHandler):
        protocol_version = "HTTP/1.1"

        def _dispatch(self) -> None:
            url = urlsplit(self.path)
            length = int(self.headers.get("content-length") or 0)
            body = self.rfile.read(length) if length else b""
            headers = {name.lower(): value for name, value in self.headers.items()}
            if url.path.startswith("/_local/"):
                status, content_type, payload = platform.handle_local(self.command, url.path, headers, body,
                                                                      url.query)
                response_headers = {"content-type": content_type}
            elif platform.gateway is None:
                status, response_headers, payload = 503, {"content-type": "application/json"}, b"{}"
            else:
                answer = platform.gateway.request(self.command, url.path, query=url.query, headers=headers,
                                                  body=body, source_ip=self.client_address[0])
                status, response_headers, payload = answer.status, answer.headers, answer.body
            self.send_response(status)
            for name, value in response_headers.items():
                if name not in ("content-length", "connection"):
                    self.send_header(name, value)
            self.send_header("content-length", str(len(payload)))
            self.end_headers()
            if self.command != "HEAD":
                self.wfile.write(payload)

        do_GET = do_POST = do_PUT = do_DELETE = do_PATCH = do_HEAD = _dispatch

        def log_message(self, format: str, *args: Any) -> None:
            pass  # the functions log each request themselves

    return Handler
