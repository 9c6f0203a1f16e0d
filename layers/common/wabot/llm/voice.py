"""Voice replies: synthesize with the instance's TTS engine, then encode as OGG/Opus, mono,
which is the only format WhatsApp plays as a voice note.

Engines are HTTP services whose base URLs the tenant configures:
- `xtts` (xtts-api-server): POST {base}/tts_to_audio/ {"text", "speaker_wav": voice, "language"}
- `piper` (piper's HTTP server): POST {base}/?voice=... with the text as the body
- `openvoice`: POST {base}/synthesize/ {"text", "voice", "style": preset, "language"}
Each answers audio (WAV, or already OGG). Conversion uses PyAV, whose wheels carry FFmpeg's
libraries including libopus, so no system ffmpeg is needed inside Lambda.
"""

from __future__ import annotations

import io
from dataclasses import dataclass
from typing import Any

from wabot import metrics
from wabot.net import AUDIO_MAX_BYTES, BackendError, GuardedHttp

TTS_ENGINES = ("xtts", "piper", "openvoice")
VOICE_MIME_TYPE = "audio/ogg; codecs=opus"
VOICE_MAX_BYTES = 16 * 1024 * 1024
OPUS_RATE = 48000


class VoiceError(Exception):
    pass


@dataclass(frozen=True)
class TtsRequest:
    engine: str
    base_url: str
    text: str
    voice: str | None = None
    preset: str | None = None
    language: str = "en"


def synthesize(http: GuardedHttp, request: TtsRequest, timeout: float) -> bytes:
    """The engine's audio, through the SSRF guard with the engine's fixed path, at most 10 MB."""
    with metrics.call("TtsApi", backend=request.engine if request.engine in TTS_ENGINES else "unknown"):
        return _synthesize(http, request, timeout)


def _synthesize(http: GuardedHttp, request: TtsRequest, timeout: float) -> bytes:
    base = request.base_url.rstrip("/")
    try:
        if request.engine == "xtts":
            audio = http.post(base, "/tts_to_audio/", timeout=timeout, max_bytes=AUDIO_MAX_BYTES, json_body={
                "text": request.text, "speaker_wav": request.voice or "default", "language": request.language})
        elif request.engine == "piper":
            audio = http.post(base, "/", timeout=timeout, max_bytes=AUDIO_MAX_BYTES,
                              content=request.text.encode("utf-8"),
                              params={"voice": request.voice} if request.voice else None,
                              headers={"content-type": "text/plain; charset=utf-8"})
        elif request.engine == "openvoice":
            audio = http.post(base, "/synthesize/", timeout=timeout, max_bytes=AUDIO_MAX_BYTES, json_body={
                "text": request.text, "voice": request.voice, "style": request.preset or "default",
                "language": request.language})
        else:
            raise VoiceError(f"unknown TTS engine {request.engine!r}")
    except BackendError as exc:
        raise VoiceError(f"{request.engine} {exc}") from None
    if not audio:
        raise VoiceError(f"{request.engine} backend answered no audio")
    return audio


def to_ogg_opus(audio: bytes) -> bytes:
    """Any audio FFmpeg reads (WAV above all) -> OGG/Opus, mono, 48 kHz."""
    if audio[:4] == b"OggS" and b"OpusHead" in audio[:512] and _channels(audio) == 1:
        return audio
    import av  # imported here: only voice replies pay for it at cold start

    try:
        source = av.open(io.BytesIO(audio), "r")
        target_buffer = io.BytesIO()
        target = av.open(target_buffer, "w", format="ogg")
        stream: Any = target.add_stream("libopus", rate=OPUS_RATE)
        stream.layout = "mono"
        resampler = av.AudioResampler(format="s16", layout="mono", rate=OPUS_RATE)
        for frame in source.decode(audio=0):
            for resampled in resampler.resample(frame):
                for packet in stream.encode(resampled):
                    target.mux(packet)
        for packet in stream.encode(None):
            target.mux(packet)
        target.close()
        source.close()
    except (av.FFmpegError, ValueError, IndexError) as exc:
        raise VoiceError(f"audio conversion failed: {type(exc).__name__}") from exc
    data = target_buffer.getvalue()
    if len(data) > VOICE_MAX_BYTES:
        raise VoiceError("voice message over WhatsApp's 16 MB")
    return data


def _channels(ogg: bytes) -> int:
    index = ogg.find(b"OpusHead")
    return ogg[index + 9] if index >= 0 and len(ogg) > index + 9 else 0
