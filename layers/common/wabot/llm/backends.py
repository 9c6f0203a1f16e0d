"""The LLM backends, each with its own request and response mapping.

- OpenAI-compatible `/v1/chat/completions` (vLLM, cloud providers of kind `openai`);
- Google's Generative Language API `models/{model}:generateContent` (kind `gemini`);
- Anthropic's Messages API `/v1/messages` (kind `anthropic`).
`complete()` retries 429 and 5xx (and timeouts) with backoff inside a deadline. Base URLs are
the tenant's, so every call goes through `wabot.net.GuardedHttp` with the kind's fixed path.
"""

from __future__ import annotations

import random
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any, Literal
from urllib.parse import quote

from wabot import metrics
from wabot.models.instance import LlmParams
from wabot.net import BackendError, GuardedHttp

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

    @property
    def base(self) -> str:
        """The tenant's base URL without a trailing `/v1` (the fixed paths below carry it)."""
        return self.base_url.rstrip("/").removesuffix("/v1")

    def build(self, request: ChatRequest) -> tuple[str, dict[str, str], dict[str, Any]]:
        """(path below the base URL, fixed per kind; headers; JSON body) in the provider's own terms."""
        params = request.params
        if self.kind == "openai":
            messages = ([{"role": "system", "content": request.system}] if request.system else [])
            messages += [{"role": role, "content": text} for role, text in request.history]
            messages.append({"role": "user", "content": request.message})
            body: dict[str, Any] = {"model": self.model, "messages": messages}
            body.update({k: v for k, v in (("temperature", params.temperature), ("max_tokens", params.max_tokens),
                                           ("top_p", params.top_p)) if v is not None})
            headers = {"Authorization": f"Bearer {self.api_key}"} if self.api_key else {}
            return "/v1/chat/completions", headers, body
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
            return (f"/v1beta/models/{quote(self.model, safe='')}:generateContent",
                    {"x-goog-api-key": self.api_key or ""}, body)
        messages = [{"role": role, "content": text} for role, text in request.history]
        messages.append({"role": "user", "content": request.message})
        body = {"model": self.model, "messages": messages,
                "max_tokens": params.max_tokens or ANTHROPIC_DEFAULT_MAX_TOKENS}
        if request.system:
            body["system"] = request.system
        body.update({k: v for k, v in (("temperature", params.temperature), ("top_p", params.top_p))
                     if v is not None})
        return ("/v1/messages",
                {"x-api-key": self.api_key or "", "anthropic-version": ANTHROPIC_VERSION}, body)

    def parse(self, data: dict[str, Any]) -> ChatResult:
        """The answer, from a JSON object of the kind's shape; anything else is a bad response."""
        try:
            if self.kind == "openai":
                text, usage = data["choices"][0]["message"]["content"] or "", data.get("usage") or {}
                counts = (usage.get("prompt_tokens", 0), usage.get("completion_tokens", 0))
            elif self.kind == "gemini":
                usage = data.get("usageMetadata") or {}
                text = "".join(part.get("text", "") for part in data["candidates"][0]["content"]["parts"])
                counts = (usage.get("promptTokenCount", 0), usage.get("candidatesTokenCount", 0))
            else:
                usage = data.get("usage") or {}
                text = "".join(block.get("text", "") for block in data["content"] if block.get("type") == "text")
                counts = (usage.get("input_tokens", 0), usage.get("output_tokens", 0))
            if not isinstance(text, str):
                raise TypeError("text")
            return ChatResult(text, int(counts[0]), int(counts[1]))
        except (KeyError, IndexError, TypeError, AttributeError, ValueError):
            raise LlmError(f"{self.kind} backend bad response", status=200) from None


def complete(http: GuardedHttp, backend: Backend, request: ChatRequest, deadline: float, *,
             clock: Callable[[], float] = time.monotonic, sleep: Callable[[float], None] = time.sleep,
             max_call_seconds: float = 25.0) -> ChatResult:
    """One answer, retrying 429/5xx/timeouts with backoff; every call is bounded by the deadline.
    Errors say only the kind and a fixed reason: never the provider's body or exception text.
    Measured per answer (retries included): LlmApiCalls/LlmApiLatency and tokens by backend kind."""
    with metrics.call("LlmApi", backend=backend.kind):
        result = _complete(http, backend, request, deadline, clock=clock, sleep=sleep,
                           max_call_seconds=max_call_seconds)
    metrics.count("LlmPromptTokens", result.prompt_tokens, backend=backend.kind)
    metrics.count("LlmCompletionTokens", result.completion_tokens, backend=backend.kind)
    return result


def _complete(http: GuardedHttp, backend: Backend, request: ChatRequest, deadline: float, *,
              clock: Callable[[], float], sleep: Callable[[float], None], max_call_seconds: float) -> ChatResult:
    path, headers, body = backend.build(request)
    attempt = 0
    while True:
        remaining = deadline - clock()
        if remaining <= 1:
            raise LlmError("no time left for the LLM call")
        try:
            data = http.post_json(backend.base, path, body=body, headers=headers,
                                  timeout=min(max_call_seconds, remaining - 0.5))
            result = backend.parse(data)
            if not result.text.strip():
                raise LlmError(f"{backend.kind} backend answered with no text", status=200)
            return result
        except BackendError as exc:
            # not_allowed, too_large and bad_response will not change on a retry: status 200 ends it
            status = exc.status if exc.reason == "http_status" else (
                None if exc.reason in ("timeout", "unreachable") else 200)
            error = LlmError(f"{backend.kind} {exc}", status)
        except LlmError as exc:
            error = exc
        if not error.retriable:
            raise error
        delay = min(8.0, 0.5 * 2 ** attempt) * (0.5 + random.random() / 2)  # noqa: S311 - jitter
        if clock() + delay + 1 >= deadline:
            raise error
        sleep(delay)
        attempt += 1
