"""Plays API Gateway (HTTP API, payload 2.0) for the template's routes, in process.

Routes, handlers and the Lambda authorizer (with its result cache) come from template.yaml.
The same code serves the end-to-end tests and the local stack's HTTP server.
"""

from __future__ import annotations

import base64
import importlib
import json
import re
import sys
import threading
import time
import uuid
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any
from urllib.parse import parse_qsl

from devstack.apigw import http_api_event
from devstack.template import function_of, resources_of_type

ROOT = Path(__file__).resolve().parent.parent
TEXT_TYPES = ("text/", "application/json", "application/xml", "application/x-www-form-urlencoded")


@dataclass
class LambdaContext:
    function_name: str
    memory_limit_in_mb: int = 256
    timeout_seconds: float = 10
    aws_request_id: str = field(default_factory=lambda: uuid.uuid4().hex)
    started: float = field(default_factory=time.monotonic)

    @property
    def invoked_function_arn(self) -> str:
        return f"arn:aws:lambda:local:123456789012:function:{self.function_name}"

    def get_remaining_time_in_millis(self) -> int:
        return max(0, int((self.timeout_seconds - (time.monotonic() - self.started)) * 1000))


@dataclass
class Function:
    """One function; like one Lambda execution environment it runs one invocation at a time
    (Powertools' resolver and logger keep per-invocation state on module objects)."""

    logical_id: str
    handler: Callable[[dict, Any], Any]
    memory: int
    timeout: float
    _lock: threading.Lock = field(default_factory=threading.Lock)

    def invoke(self, event: dict) -> Any:
        with self._lock:
            context = LambdaContext(self.logical_id, self.memory, self.timeout)
            return self.handler(event, context)


def load_functions(template: dict[str, Any]) -> dict[str, Function]:
    """Import every function's handler from its CodeUri (module names are unique across functions)."""
    globals_ = template.get("Globals", {}).get("Function", {})
    functions = {}
    for logical_id, resource in resources_of_type(template, "AWS::Serverless::Function").items():
        props = resource["Properties"]
        code_dir = str(ROOT / props["CodeUri"])
        if code_dir not in sys.path:
            sys.path.insert(0, code_dir)
        module_name, attribute = props["Handler"].rsplit(".", 1)
        module = importlib.import_module(module_name)
        for value in vars(module).values():  # a new execution environment: nothing cached from before
            if callable(getattr(value, "cache_clear", None)):
                value.cache_clear()
        handler = getattr(module, attribute)
        functions[logical_id] = Function(logical_id, handler, props.get("MemorySize", globals_.get("MemorySize", 128)),
                                         props.get("Timeout", globals_.get("Timeout", 3)))
    return functions


@dataclass
class Route:
    method: str
    path: str
    function: str
    authorizer: str | None
    pattern: re.Pattern[str] = field(init=False)
    params: list[str] = field(init=False)

    def __post_init__(self) -> None:
        self.params = []
        regex = ""
        for part in re.split(r"(\{[^}]+\})", self.path):
            if part.startswith("{"):
                name = part[1:-1]
                greedy = name.endswith("+")
                name = name.rstrip("+")
                self.params.append(name)
                regex += f"(?P<{name}>.+)" if greedy else f"(?P<{name}>[^/]+)"
            else:
                regex += re.escape(part)
        # API Gateway matches a path with or without a trailing slash to the same route.
        self.pattern = re.compile(f"^{regex}/?$")

    @property
    def specificity(self) -> tuple[int, int]:
        return ("+}" in self.path, -len(self.path))


@dataclass
class HttpResponse:
    status: int
    headers: dict[str, str]
    body: bytes

    def json(self) -> Any:
        return json.loads(self.body)


class HttpApiGateway:
    def __init__(self, template: dict[str, Any], functions: dict[str, Function],
                 clock: Callable[[], float] = time.monotonic, log: Callable[[str], None] | None = None) -> None:
        self._functions = functions
        self._clock = clock
        self._log = log
        self.routes: list[Route] = []
        api = next(iter(resources_of_type(template, "AWS::Serverless::HttpApi").values()))
        self._authorizers = api["Properties"].get("Auth", {}).get("Authorizers", {})
        for logical_id, resource in resources_of_type(template, "AWS::Serverless::Function").items():
            for event in resource["Properties"].get("Events", {}).values():
                if event["Type"] != "HttpApi":
                    continue
                props = event["Properties"]
                auth = props.get("Auth", {}).get("Authorizer")
                self.routes.append(Route(props["Method"].upper(), props["Path"], logical_id, auth))
        self.routes.sort(key=lambda route: route.specificity)
        self._auth_cache: dict[tuple[str, str], tuple[float, dict[str, Any]]] = {}

    def _match(self, method: str, path: str) -> tuple[Route, dict[str, str]] | None:
        for route in self.routes:
            if route.method not in (method, "ANY"):
                continue
            found = route.pattern.match(path)
            if found:
                return route, found.groupdict()
        return None

    def request(self, method: str, path: str, *, query: str = "", headers: dict[str, str] | None = None,
                body: bytes = b"", source_ip: str = "127.0.0.1") -> HttpResponse:
        method = method.upper()
        headers = {name.lower(): value for name, value in (headers or {}).items()}
        matched = self._match(method, path)
        if matched is None:
            return _json_response(404, {"message": "Not Found"})
        route, path_params = matched
        content_type = headers.get("content-type", "")
        # API Gateway passes text bodies as they are and base64-encodes everything else.
        is_text = not body or (content_type.startswith(TEXT_TYPES) and _is_utf8(body))
        event = http_api_event(
            method, path, route_key=f"{route.method} {route.path}",
            path_parameters=path_params, headers=headers, body=body if body else None,
            base64_encoded=not is_text, source_ip=source_ip,
        )
        event["rawQueryString"] = query
        params = dict(parse_qsl(query, keep_blank_values=True))
        if params:
            event["queryStringParameters"] = params
        if route.authorizer:
            denied = self._authorize(route, event)
            if denied is not None:
                return denied
        return self._invoke(route.function, event)

    def _authorize(self, route: Route, event: dict[str, Any]) -> HttpResponse | None:
        config = self._authorizers[route.authorizer]
        identity_headers = [name.lower() for name in config.get("Identity", {}).get("Headers", [])]
        identity = [event["headers"].get(name) for name in identity_headers]
        if not all(identity):
            return _json_response(401, {"message": "Unauthorized"})
        ttl = config.get("Identity", {}).get("ReusableCache", 300)
        cache_key = (route.authorizer, "\x1f".join(identity))
        cached = self._auth_cache.get(cache_key)
        if cached and self._clock() - cached[0] < ttl:
            event["requestContext"]["authorizer"] = {"lambda": cached[1]}
            return None
        function = function_of(config["FunctionArn"])
        authorizer_event = {
            "version": "2.0", "type": "REQUEST",
            "routeArn": f"arn:aws:execute-api:local:123456789012:local/$default/{event['routeKey'].replace(' ', '')}",
            "identitySource": identity, "routeKey": event["routeKey"], "rawPath": event["rawPath"],
            "rawQueryString": event["rawQueryString"], "headers": event["headers"],
            "queryStringParameters": event.get("queryStringParameters"),
            "requestContext": event["requestContext"], "pathParameters": event.get("pathParameters"),
        }
        try:
            result = self._functions[function].invoke(authorizer_event)
        except Exception as exc:
            # API Gateway's convention: an error whose message is "Unauthorized" means 401.
            if str(exc) == "Unauthorized":
                return _json_response(401, {"message": "Unauthorized"})
            self._note(f"authorizer {function} failed: {type(exc).__name__}")
            return _json_response(500, {"message": "Internal Server Error"})
        if not isinstance(result, dict) or not result.get("isAuthorized"):
            return _json_response(403, {"message": "Forbidden"})
        context = result.get("context") or {}
        self._auth_cache[cache_key] = (self._clock(), context)
        event["requestContext"]["authorizer"] = {"lambda": context}
        return None

    def _invoke(self, logical_id: str, event: dict[str, Any]) -> HttpResponse:
        try:
            result = self._functions[logical_id].invoke(event)
        except Exception as exc:
            self._note(f"function {logical_id} failed: {type(exc).__name__}: {exc}")
            return _json_response(500, {"message": "Internal Server Error"})
        if not isinstance(result, dict) or "statusCode" not in result:
            return HttpResponse(200, {"content-type": "application/json"}, json.dumps(result).encode())
        body = result.get("body") or ""
        raw = base64.b64decode(body) if result.get("isBase64Encoded") else body.encode("utf-8")
        response_headers = {name.lower(): str(value) for name, value in (result.get("headers") or {}).items()}
        for name, values in (result.get("multiValueHeaders") or {}).items():
            response_headers[name.lower()] = ", ".join(str(v) for v in values)
        return HttpResponse(int(result["statusCode"]), response_headers, raw)

    def _note(self, message: str) -> None:
        if self._log:
            self._log(message)


def _is_utf8(body: bytes) -> bool:
    try:
        body.decode("utf-8")
    except UnicodeDecodeError:
        return False
    return True


def _json_response(status: int, payload: dict[str, Any]) -> HttpResponse:
    return HttpResponse(status, {"content-type": "application/json"}, json.dumps(payload).encode())
