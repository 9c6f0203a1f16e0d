"""Fake LLM, TTS and speech-to-text services of the local stack, named as fakes, so that
`make run` answers a free-text message, a voice note, and with TTS on speaks, entirely offline.

    POST /_local/fake-llm/v1/chat/completions    OpenAI-compatible chat completion
    POST /_local/fake-tts/tts_to_audio/          xtts-api-server style  -> WAV
    POST /_local/fake-tts/                       piper HTTP style       -> WAV
    POST /_local/fake-tts/synthesize/            openvoice style        -> WAV
    POST /_local/fake-stt/v1/audio/transcriptions                  OpenAI-compatible (multipart)
    POST /_local/fake-stt/v1beta/models/{model}:generateContent    Gemini style (inline audio)

The fake STT is deterministic: a voice note made by `voice_note(text)` carries its text in an
OGG comment (`transcript=...|`), which the fake reads back; any other audio gets a fixed phrase
chosen by its SHA-256. The text `!fail` makes it answer 500 (a failing backend).
"""

from __future__ import annotations

import base64
import hashlib
import io
import json
import math
import re
import struct
import wave

from devstack.fake_graph import _multipart

FIXED_PHRASES = ("hello there", "what does it cost", "thank you")
_TRANSCRIPT = re.compile(rb"transcript=([^|]{0,1000})\|", re.IGNORECASE)
FAIL = "!fail"


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


def voice_note(text: str, seconds: float = 0.5) -> bytes:
    """An OGG/Opus mono voice note, as WhatsApp sends one, that the fake STT hears as `text`."""
    import av

    buffer = io.BytesIO()
    target = av.open(buffer, "w", format="ogg")
    target.metadata["transcript"] = f"{text}|"
    stream = target.add_stream("libopus", rate=48000)
    stream.layout = "mono"
    source = av.open(io.BytesIO(wav_tone(seconds)))
    resampler = av.AudioResampler(format="s16", layout="mono", rate=48000)
    for frame in source.decode(audio=0):
        for resampled in resampler.resample(frame):
            for packet in stream.encode(resampled):
                target.mux(packet)
    for packet in stream.encode(None):
        target.mux(packet)
    target.close()
    source.close()
    return buffer.getvalue()


def heard(audio: bytes) -> str:
    match = _TRANSCRIPT.search(audio)
    if match:
        return match.group(1).decode("utf-8", "replace")
    return FIXED_PHRASES[int(hashlib.sha256(audio).hexdigest(), 16) % len(FIXED_PHRASES)]


def fake_stt_openai(content_type: str, body: bytes) -> tuple[int, str, bytes]:
    fields = _multipart(content_type, body)
    if "file" not in fields or "model" not in fields:
        return 400, "application/json", b'{"error": {"message": "file and model required"}}'
    text = heard(fields["file"][1])
    if text == FAIL:
        return 500, "application/json", b'{"error": {"message": "fake failure"}}'
    return 200, "application/json", json.dumps({"text": text}).encode()


def fake_stt_gemini(body: bytes) -> tuple[int, str, bytes]:
    try:
        parts = json.loads(body)["contents"][0]["parts"]
        audio = base64.b64decode(next(p["inline_data"]["data"] for p in parts if "inline_data" in p))
    except (ValueError, KeyError, TypeError, IndexError, StopIteration):
        return 400, "application/json", b'{"error": {"message": "inline audio required"}}'
    text = heard(audio)
    if text == FAIL:
        return 500, "application/json", b'{"error": {"message": "fake failure"}}'
    return 200, "application/json", json.dumps({"candidates": [{"content": {"role": "model", "parts": [
        {"text": text}]}}]}).encode()


def handle(method: str, path: str, body: bytes, content_type: str = "") -> tuple[int, str, bytes] | None:
    """The answer for a fake's path, or None when the path is not a fake's."""
    if method != "POST":
        return None
    if path == "/_local/fake-stt/v1/audio/transcriptions":
        return fake_stt_openai(content_type, body)
    if re.fullmatch(r"/_local/fake-stt/v1beta/models/[\w.%-]+:generateContent", path):
        return fake_stt_gemini(body)
    if path == "/_local/fake-llm/v1/chat/completions":
        return fake_llm(body)
    if path in ("/_local/fake-tts/tts_to_audio/", "/_local/fake-tts/", "/_local/fake-tts/synthesize/"):
        return fake_tts(body)
    return None
