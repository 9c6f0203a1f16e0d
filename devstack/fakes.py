"""Fake LLM and TTS services of the local stack, named as fakes, so that `make run` answers a
free-text message and, with TTS on, a voice note, entirely offline.

    POST /_local/fake-llm/v1/chat/completions    OpenAI-compatible chat completion
    POST /_local/fake-tts/tts_to_audio/          xtts-api-server style  -> WAV
    POST /_local/fake-tts/                       piper HTTP style       -> WAV
    POST /_local/fake-tts/synthesize/            openvoice style        -> WAV
"""

from __future__ import annotations

import io
import json
import math
import struct
import wave


def wav_tone(seconds: float, rate: int = 22050, frequency: float = 330.0) -> bytes:
    """A mono 16-bit WAV tone: what a TTS engine answers, for tests and the local stack."""
    frames = int(seconds * rate)
    buffer = io.BytesIO()
    with wave.open(buffer, "wb") as target:
        target.setnchannels(1)
        target.setsampwidth(2)
        target.setframerate(rate)
        target.writeframes(b"".join(struct.pack("<h", int(6000 * math.sin(2 * math.pi * frequency * i / rate)))
                                    for i in range(frames)))
    return buffer.getvalue()


def fake_llm(body: bytes) -> tuple[int, str, bytes]:
    try:
        request = json.loads(body)
        messages = request["messages"]
    except (ValueError, KeyError, TypeError):
        return 400, "application/json", b'{"error": {"message": "messages required"}}'
    question = next((m["content"] for m in reversed(messages) if m.get("role") == "user"), "")
    earlier = sum(1 for m in messages[:-1] if m.get("role") in ("user", "assistant"))
    answer = (f"**Fake LLM** ({request.get('model', 'default')}): you asked \"{question[:200]}\". "
              f"I can see {earlier} earlier message(s) of our conversation.")
    prompt_tokens = sum(len(str(m.get("content", "")).split()) for m in messages)
    return 200, "application/json", json.dumps({
        "id": "chatcmpl-local", "object": "chat.completion", "model": request.get("model", "default"),
        "choices": [{"index": 0, "message": {"role": "assistant", "content": answer}, "finish_reason": "stop"}],
        "usage": {"prompt_tokens": prompt_tokens, "completion_tokens": len(answer.split()),
                  "total_tokens": prompt_tokens + len(answer.split())}}).encode()


def fake_tts(body: bytes) -> tuple[int, str, bytes]:
    try:
        text = json.loads(body).get("text", "") if body[:1] == b"{" else body.decode("utf-8")
    except (ValueError, UnicodeDecodeError):
        return 400, "text/plain", b"bad request"
    seconds = min(5.0, max(0.5, len(text) / 40))
    return 200, "audio/wav", wav_tone(seconds)


def handle(method: str, path: str, body: bytes) -> tuple[int, str, bytes] | None:
    """The answer for a fake's path, or None when the path is not a fake's."""
    if method != "POST":
        return None
    if path == "/_local/fake-llm/v1/chat/completions":
        return fake_llm(body)
    if path in ("/_local/fake-tts/tts_to_audio/", "/_local/fake-tts/", "/_local/fake-tts/synthesize/"):
        return fake_tts(body)
    return None
