"""The LLM backends, each with its own request and response mapping.

- OpenAI-compatible `/v1/chat/completions` (vLLM, cloud providers of kind `openai`);
- Google's Generative Language API `models/{model}:generateContent` (kind `gemini`);
- Anthropic's Messages API `/v1/messages` (kind `anthropic`).
`complete()` retries 429 and 5xx (and timeouts) with backoff inside a deadline.
"""

from __future__ import annotations

import random
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any, Literal

import httpx

from wabot.models.instance import LlmParams

Role = Literal["user", "assistant"]
ANTHROPIC_VERSION = "2023-06-01"
ANTHROPIC_DEFAULT_MAX_TOKENS = 1024


@dataclass(frozen=True)
class ChatRequest:
    system: str
    history: list[tuple[Role, str]]  # oldest first
    message: str
    params: LlmParams = field(default_factory=LlmParams)


@dataclass(frozen=True)
class ChatResult:
    text: str
    prompt_tokens: int = 0
    completion_tokens: int = 0


class LlmError(Exception):
    def __init__(self, message: str, status: int | None = None) -> None:
        super().__init__(message)
        self.status = status

    @property
    def retriable(self) -> bool:
        return self.status is None or self.status == 429 or self.status >= 500


@dataclass(frozen=True)
class Backend:
    kind: Literal["openai", "gemini", "anthropic"]
    base_url: str
    model: str
    api_key: str | None = None

    def build(self, request: ChatRequest) -> tuple[str, dict[str, str], dict[str, Any]]:
        """(url, headers, JSON body) in the provider's own terms."""
        base = self.base_url.rstrip("/")
        params = request.params
        if self.kind == "openai":
            messages = ([{"role": "system", "content": request.system}] if request.system else [])
            messages += [{"role": role, "content": text} for role, text in request.history]
            messages.append({"role": "user", "content": request.message})
            body: dict[str, Any] = {"model": self.model, "messages": messages}
            body.update({k: v for k, v in (("temperature", params.temperature), ("max_tokens", params.max_tokens),
                                           ("top_p", params.top_p)) if v is not None})
            headers = {"Authorization": f"Bearer {self.api_key}"} if self.api_key else {}
            url = base if base.endswith("/chat/completions") else f"{base.removesuffix('/v1')}/v1/chat/completions"
            return url, headers, body
        if self.kind == "gemini":
            contents = [{"role": "model" if role == "assistant" else "user", "parts": [{"text": text}]}
                        for role, text in request.history]
            contents.append({"role": "user", "parts": [{"text": request.message}]})
            body = {"contents": contents}
            if request.system:
                body["systemInstruction"] = {"parts": [{"text": request.system}]}
            config = {k: v for k, v in (("temperature", params.temperature), ("maxOutputTokens", params.max_tokens),
                                        ("topP", params.top_p)) if v is not None}
            if config:
                body["generationConfig"] = config
            return (f"{base}/v1beta/models/{self.model}:generateContent",
                    {"x-goog-api-key": self.api_key or ""}, body)
        messages = [{"role": role, "content": text} for role, text in request.history]
        messages.append({"role": "user", "content": request.message})
        body = {"model": self.model, "messages": messages,
                "max_tokens": params.max_tokens or ANTHROPIC_DEFAULT_MAX_TOKENS}
        if request.system:
            body["system"] = request.system
        body.update({k: v for k, v in (("temperature", params.temperature), ("top_p", params.top_p))
                     if v is not None})
        return (f"{base.removesuffix('/v1')}/v1/messages",
                {"x-api-key": self.api_key or "", "anthropic-version": ANTHROPIC_VERSION}, body)

    def parse(self, data: dict[str, Any]) -> ChatResult:
        try:
            if self.kind == "openai":
                usage = data.get("usage") or {}
                return ChatResult(data["choices"][0]["message"]["content"] or "",
                                  int(usage.get("prompt_tokens", 0)), int(usage.get("completion_tokens", 0)))
            if self.kind == "gemini":
                usage = data.get("usageMetadata") or {}
                parts = data["candidates"][0]["content"]["parts"]
                return ChatResult("".join(p.get("text", "") for p in parts),
                                  int(usage.get("promptTokenCount", 0)), int(usage.get("candidatesTokenCount", 0)))
            usage = data.get("usage") or {}
            text = "".join(block.get("text", "") for block in data["content"] if block.get("type") == "text")
            return ChatResult(text, int(usage.get("input_tokens", 0)), int(usage.get("output_tokens", 0)))
        except (KeyError, IndexError, TypeError) as exc:
            raise LlmError(f"unexpected {self.kind} response shape: {type(exc).__name__}", status=200) from exc


def complete(http: httpx.Client, backend: Backend, request: ChatRequest, deadline: float, *,
             clock: Callable[[], float] = time.monotonic, sleep: Callable[[float], None] = time.sleep,
             max_call_seconds: float = 25.0) -> ChatResult:
    """One answer, retrying 429/5xx/timeouts with backoff; every call is bounded by the deadline."""
    url, headers, body = backend.build(request)
    attempt = 0
    while True:
        remaining = deadline - clock()
        if remaining <= 1:
            raise LlmError("no time left for the LLM call")
        try:
            response = http.post(url, headers=headers, json=body, timeout=min(max_call_seconds, remaining - 0.5))
            if response.status_code >= 400:
                raise LlmError(f"{backend.kind} answered {response.status_code}", response.status_code)
            result = backend.parse(response.json())
            if not result.text.strip():
                raise LlmError(f"{backend.kind} answered with no text", status=200)
            return result
        except httpx.TimeoutException as exc:
            error = LlmError(f"{backend.kind} timed out")
            error.__cause__ = exc
        except httpx.HTTPError as exc:
            error = LlmError(f"{backend.kind} unreachable: {type(exc).__name__}")
            error.__cause__ = exc
        except ValueError as exc:  # not JSON
            error = LlmError(f"{backend.kind} answered with no JSON", status=502)
            error.__cause__ = exc
        except LlmError as exc:
            error = exc
        if not error.retriable:
            raise error
        delay = min(8.0, 0.5 * 2 ** attempt) * (0.5 + random.random() / 2)  # noqa: S311 - jitter
        if clock() + delay + 1 >= deadline:
            raise error
        sleep(delay)
        attempt += 1
