"""A tiny HTTP-ish client for the admin API over the in-process gateway."""

from __future__ import annotations

import json
from typing import Any
from urllib.parse import urlencode

from devstack.gateway import HttpApiGateway, HttpResponse


class AdminClient:
    def __init__(self, gateway: HttpApiGateway, api_key: str | None, host: str = "api.example.test") -> None:
        self.gateway = gateway
        self.api_key = api_key
        self.host = host
        self.responses: list[HttpResponse] = []

    def call(self, method: str, path: str, body: Any = None, query: dict | None = None,
             raw: bytes | None = None) -> HttpResponse:
        headers = {"host": self.host, "x-forwarded-proto": "https"}
        if self.api_key is not None:
            headers["authorization"] = f"Bearer {self.api_key}"
        payload = raw if raw is not None else (json.dumps(body).encode() if body is not None else b"")
        if payload:
            headers["content-type"] = "application/json"
        response = self.gateway.request(method, path, query=urlencode(query or {}), headers=headers, body=payload)
        self.responses.append(response)
        return response

    def get(self, path: str, **kwargs) -> HttpResponse:
        return self.call("GET", path, **kwargs)

    def post(self, path: str, body: Any = None, **kwargs) -> HttpResponse:
        return self.call("POST", path, body, **kwargs)

    def put(self, path: str, body: Any = None, **kwargs) -> HttpResponse:
        return self.call("PUT", path, body, **kwargs)

    def delete(self, path: str, **kwargs) -> HttpResponse:
        return self.call("DELETE", path, **kwargs)
