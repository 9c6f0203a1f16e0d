"""LLM backends' request/response mapping (recorded provider shapes), retries, formatting, audio."""

from __future__ import annotations

import struct

import httpx
import pytest

from devstack.fakes import wav_tone
from wabot.llm.backends import Backend, ChatRequest, LlmError, complete
from wabot.llm.formatting import split_message, to_whatsapp
from wabot.llm.voice import to_ogg_opus
from wabot.models.instance import LlmParams
from wabot.net import GuardedHttp

REQUEST = ChatRequest(system="You are Acme's assistant.", history=[("user", "hi"), ("assistant", "Hello!")],
                      message="Price?", params=LlmParams(temperature=0.3, max_tokens=200, top_p=0.9))

OPENAI_RESPONSE = {"id": "chatcmpl-1", "object": "chat.completion", "model": "llama",
                   "choices": [{"index": 0, "message": {"role": "assistant", "content": "It costs **99**."},
                                "finish_reason": "stop"}],
                   "usage": {"prompt_tokens": 31, "completion_tokens": 7, "total_tokens": 38}}
GEMINI_RESPONSE = {"candidates": [{"content": {"role": "model", "parts": [{"text": "It costs "}, {"text": "99."}]},
                                   "finishReason": "STOP"}],
                   "usageMetadata": {"promptTokenCount": 25, "candidatesTokenCount": 4, "totalTokenCount": 29}}
ANTHROPIC_RESPONSE = {"id": "msg_1", "type": "message", "role": "assistant", "model": "claude",
                      "content": [{"type": "text", "text": "It costs 99."}], "stop_reason": "end_turn",
                      "usage": {"input_tokens": 20, "output_tokens": 6}}


def test_openai_compatible_mapping():
    backend = Backend("openai", "http://vllm:8000", "llama", api_key="k")
    path, headers, body = backend.build(REQUEST)
    assert (backend.base, path) == ("http://vllm:8000", "/v1/chat/completions")
    assert headers == {"Authorization": "Bearer k"}
    assert body["messages"] == [{"role": "system", "content": "You are Acme's assistant."},
                                {"role": "user", "content": "hi"}, {"role": "assistant", "content": "Hello!"},
                                {"role": "user", "content": "Price?"}]
    assert (body["model"], body["temperature"], body["max_tokens"], body["top_p"]) == ("llama", 0.3, 200, 0.9)
    result = backend.parse(OPENAI_RESPONSE)
    assert (result.text, result.prompt_tokens, result.completion_tokens) == ("It costs **99**.", 31, 7)
    assert Backend("openai", "http://x/v1/", "m").base == "http://x"  # the path is always the fixed one


def test_gemini_mapping():
    backend = Backend("gemini", "https://generativelanguage.googleapis.com", "gemini-2.0-flash", api_key="g")
    path, headers, body = backend.build(REQUEST)
    assert path == "/v1beta/models/gemini-2.0-flash:generateContent"
    assert Backend("gemini", "https://g", "../x?y").build(REQUEST)[0] == "/v1beta/models/..%2Fx%3Fy:generateContent"
    assert headers == {"x-goog-api-key": "g"}
    assert body["systemInstruction"] == {"parts": [{"text": "You are Acme's assistant."}]}
    assert [c["role"] for c in body["contents"]] == ["user", "model", "user"]
    assert body["generationConfig"] == {"temperature": 0.3, "maxOutputTokens": 200, "topP": 0.9}
    result = backend.parse(GEMINI_RESPONSE)
    assert (result.text, result.prompt_tokens, result.completion_tokens) == ("It costs 99.", 25, 4)


def test_anthropic_mapping():
    backend = Backend("anthropic", "https://api.anthropic.com", "claude", api_key="a")
    path, headers, body = backend.build(REQUEST)
    assert path == "/v1/messages"
    assert headers == {"x-api-key": "a", "anthropic-version": "2023-06-01"}
    assert body["system"] == "You are Acme's assistant."
    assert [m["role"] for m in body["messages"]] == ["user", "assistant", "user"]
    assert (body["max_tokens"], body["temperature"], body["top_p"]) == (200, 0.3, 0.9)
    assert Backend("anthropic", "https://api.anthropic.com", "c").build(
        ChatRequest(system="", history=[], message="x"))[2]["max_tokens"] == 1024
    result = backend.parse(ANTHROPIC_RESPONSE)
    assert (result.text, result.prompt_tokens, result.completion_tokens) == ("It costs 99.", 20, 6)


@pytest.mark.parametrize("kind", ["openai", "gemini", "anthropic"])
@pytest.mark.parametrize("answer", [{"choices": []}, {"choices": [{"message": {"content": ["x"]}}]},
                                    {"candidates": ["x"]}, {"content": "text"}, {"content": [1]}, {}])
def test_unexpected_shapes_are_one_backend_error(kind, answer):
    with pytest.raises(LlmError) as raised:
        Backend(kind, "https://x", "m").parse(answer)
    assert str(raised.value) == f"{kind} backend bad response" and not raised.value.retriable


def test_a_json_array_is_a_bad_response_not_a_crash():
    http, calls = scripted((200, [OPENAI_RESPONSE]))
    with pytest.raises(LlmError) as raised:
        complete(http, Backend("openai", "https://x", "m"), REQUEST, deadline=1e9, sleep=lambda _: None)
    assert str(raised.value) == "openai backend bad response" and len(calls) == 1


def scripted(*answers):
    calls = []

    def handler(request: httpx.Request) -> httpx.Response:
        calls.append(request)
        answer = answers[min(len(calls) - 1, len(answers) - 1)]
        if isinstance(answer, Exception):
            raise answer
        status, body = answer
        return httpx.Response(status, json=body)

    return GuardedHttp(client=httpx.Client(transport=httpx.MockTransport(handler)),
                       resolve=lambda host, port: ["93.184.215.14"]), calls


def test_retries_429_and_5xx_then_succeeds():
    http, calls = scripted((429, {}), (503, {}), httpx.ReadTimeout("slow"), (200, OPENAI_RESPONSE))
    result = complete(http, Backend("openai", "https://x", "m"), REQUEST, deadline=1e9, sleep=lambda _: None)
    assert result.text == "It costs **99**." and len(calls) == 4


def test_client_errors_are_not_retried():
    http, calls = scripted((400, {"error": "bad"}))
    with pytest.raises(LlmError):
        complete(http, Backend("openai", "https://x", "m"), REQUEST, deadline=1e9, sleep=lambda _: None)
    assert len(calls) == 1


def test_gives_up_at_the_deadline():
    now = [0.0]
    http, calls = scripted((500, {}))

    def sleep(seconds):
        now[0] += seconds

    with pytest.raises(LlmError):
        complete(http, Backend("openai", "https://x", "m"), REQUEST, deadline=10.0, clock=lambda: now[0], sleep=sleep)
    assert 1 < len(calls) < 10


def test_whatsapp_formatting():
    markdown = ("# Plans\n\nThe **Basic** plan and __Pro__ plan.\n\n| Plan | Price |\n|---|---|\n| Basic | 99 |\n\n"
                "- fast\n- offline\n\nSee [the docs](https://example.com/docs).")
    assert to_whatsapp(markdown) == ("*Plans*\n\nThe *Basic* plan and *Pro* plan.\n\nPlan · Price\nBasic · 99\n\n"
                                     "• fast\n• offline\n\nSee the docs (https://example.com/docs).")


def test_split_at_sentence_boundaries():
    sentence = "This is one sentence of the answer. "
    text = sentence * 300  # ~10 800 characters
    pieces = split_message(text)
    assert len(pieces) == 3
    assert all(len(piece) <= 4096 and piece.endswith(".") for piece in pieces)
    assert " ".join(pieces) == text.strip()
    assert split_message("x" * 5000) == ["x" * 4096, "x" * 904]
    assert split_message("short") == ["short"]


def ogg_pages(data: bytes) -> list[bytes]:
    pages, offset = [], 0
    while offset < len(data):
        assert data[offset:offset + 4] == b"OggS", "every page starts with the capture pattern"
        segments = data[offset + 26]
        table = data[offset + 27: offset + 27 + segments]
        size = 27 + segments + sum(table)
        pages.append(data[offset + 27 + segments: offset + size])
        offset += size
    return pages


def test_wav_becomes_real_mono_ogg_opus():
    ogg = to_ogg_opus(wav_tone(1.5))
    pages = ogg_pages(ogg)
    head = pages[0]
    assert head[:8] == b"OpusHead"
    version, channels, _pre_skip, rate = struct.unpack("<BBHI", head[8:16])
    assert (version, channels) == (1, 1)
    assert rate > 0
    assert pages[1][:8] == b"OpusTags"
    assert len(pages) > 3  # audio pages follow
    assert to_ogg_opus(ogg) == ogg  # already mono Opus: kept as it is
