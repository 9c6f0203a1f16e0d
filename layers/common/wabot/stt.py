"""Speech to text for inbound voice notes, so that a spoken message is handled like a text.

Backends (the instance's `stt_backend`):
- `openai`: an OpenAI-compatible `/v1/audio/transcriptions` server (whisper-style: OpenAI,
  Groq, a self-hosted faster-whisper or vLLM) - the tenant's `stt_base_url` / `stt_model` and
  `settings/stt_api_key`, else the platform default;
- `gemini`: Google's `generateContent` with the audio inline (the tenant's Gemini key and base URL);
- `cloud:{id}`: a provider the tenant registered, of kind `openai` or `gemini`.
Both take OGG/Opus as WhatsApp sends it, so no conversion is needed (and the funnel function
carries no PyAV). Base URLs are the tenant's: every call goes through `wabot.net.GuardedHttp`
with the kind's fixed path; errors are one `SttError` with a fixed reason, never a body.
"""

from __future__ import annotations

import base64
import time
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any, Literal, TypeGuard, get_args
from urllib.parse import quote

from wabot import metrics
from wabot.errors import NotFoundError
from wabot.models.instance import InstanceConfig
from wabot.net import LLM_MAX_BYTES, BackendError, GuardedHttp, json_object
from wabot.repositories.llm_config import LlmConfigRepository
from wabot.repositories.secrets import SecretStore
from wabot.tenancy import TenantContext
from wabot.whatsapp.graph import GraphClient, GraphError, send_with_retries

SttKind = Literal["openai", "gemini"]
STT_PROVIDER_KINDS: tuple[SttKind, ...] = get_args(SttKind)
# OpenAI's whisper-1 takes uploads up to 25 MiB; WhatsApp's audio limit (16 MB) is below it.
TRANSCRIPT_MAX_CHARS = 4096
STT_TIMEOUT_SECONDS = 15.0
# Time the download leaves for transcribing, deciding and sending.
STT_RESERVE_SECONDS = 12.0
GEMINI_PROMPT = ("Transcribe this voice message verbatim, in the language it is spoken ({language} is likely). "
                 "Answer with the transcript only.")


def _transcribes(kind: str) -> TypeGuard[SttKind]:
    return kind in STT_PROVIDER_KINDS


class SttError(Exception):
    """Transcription failed or is not configured; the message is fixed per reason."""


@dataclass(frozen=True)
class SttBackend:
    kind: SttKind
    base_url: str
    model: str
    api_key: str | None = None

    @property
    def base(self) -> str:
        return self.base_url.rstrip("/").removesuffix("/v1")


def transcribe(http: GuardedHttp, backend: SttBackend, audio: bytes, mime_type: str, language: str,
               timeout: float) -> str:
    """The transcript (stripped, at most 4096 characters); SttError when none came back."""
    with metrics.call("SttApi", backend=backend.kind):
        return _transcribe(http, backend, audio, mime_type, language, timeout)


def _transcribe(http: GuardedHttp, backend: SttBackend, audio: bytes, mime_type: str, language: str,
                timeout: float) -> str:
    mime = mime_type.split(";")[0].strip() or "audio/ogg"
    try:
        if backend.kind == "openai":
            headers = {"Authorization": f"Bearer {backend.api_key}"} if backend.api_key else {}
            raw = http.post(backend.base, "/v1/audio/transcriptions", timeout=timeout, max_bytes=LLM_MAX_BYTES,
                            headers=headers, data={"model": backend.model, "language": language,
                                                   "response_format": "json"},
                            files={"file": (f"voice.{_extension(mime)}", audio, mime)})
            data = json_object(raw)
            text = data.get("text")
        else:
            body = {"contents": [{"role": "user", "parts": [
                {"text": GEMINI_PROMPT.format(language=language)},
                {"inline_data": {"mime_type": mime, "data": base64.b64encode(audio).decode("ascii")}}]}]}
            data = http.post_json(backend.base, f"/v1beta/models/{quote(backend.model, safe='')}:generateContent",
                                  body=body, headers={"x-goog-api-key": backend.api_key or ""}, timeout=timeout)
            parts = data.get("candidates", [{}])[0].get("content", {}).get("parts", [])
            text = "".join(part.get("text", "") for part in parts if isinstance(part, dict))
    except BackendError as exc:
        raise SttError(f"{backend.kind} speech to text {exc}") from None
    except (AttributeError, IndexError, TypeError):
        raise SttError(f"{backend.kind} speech to text bad response") from None
    if not isinstance(text, str) or not text.strip():
        raise SttError(f"{backend.kind} speech to text answered no text")
    return text.strip()[:TRANSCRIPT_MAX_CHARS]


def _extension(mime: str) -> str:
    return {"audio/ogg": "ogg", "audio/mpeg": "mp3", "audio/mp4": "m4a", "audio/aac": "aac",
            "audio/amr": "amr", "audio/wav": "wav"}.get(mime, "ogg")


@dataclass
class SttBackends:
    """Which server transcribes for an instance: its `stt_backend`, the tenant's settings and keys."""

    llm_config: LlmConfigRepository
    secrets: SecretStore
    default_base_url: str = ""
    default_model: str = "whisper-1"

    def for_instance(self, tenant: TenantContext, config: InstanceConfig) -> SttBackend:
        backend = config.stt_backend
        if backend == "openai":
            settings = self.llm_config.settings(tenant)
            base = str(settings.stt_base_url) if settings.stt_base_url else self.default_base_url
            if not base:
                raise SttError("no speech-to-text server configured for this tenant")
            key = self.secrets.get_tenant_secret(tenant, "settings", "stt_api_key") if settings.stt_base_url else None
            model = settings.stt_model if settings.stt_base_url else self.default_model
            return SttBackend("openai", base, model, key)
        if backend == "gemini":
            settings = self.llm_config.settings(tenant)
            key = self.secrets.get_tenant_secret(tenant, "settings", "gemini_api_key")
            if not key:
                raise SttError("no Gemini API key configured for this tenant")
            return SttBackend("gemini", str(settings.gemini_base_url), settings.gemini_model, key)
        provider_id = backend.removeprefix("cloud:")
        try:
            provider = self.llm_config.provider(tenant, provider_id)
        except NotFoundError:
            raise SttError("the speech-to-text provider no longer exists") from None
        kind = provider.kind
        if not _transcribes(kind):
            raise SttError(f"a {kind} provider cannot transcribe")
        key = self.secrets.get_tenant_secret(tenant, "llm-providers", provider_id, "api_key")
        return SttBackend(kind, str(provider.base_url), provider.model, key)


@dataclass
class VoiceTranscriber:
    """A voice note's transcript: the audio from the Graph API (the platform's URL, the instance's
    token, at most 16 MB), then the instance's speech-to-text backend."""

    graph: GraphClient
    secrets: SecretStore
    backends: SttBackends
    http: GuardedHttp  # the backend URLs are the tenant's
    clock: Callable[[], float] = time.monotonic

    def transcribe(self, tenant: TenantContext, config: InstanceConfig, audio: dict[str, Any],
                   deadline: float) -> str:
        media_id = str(audio.get("id") or "")
        if not media_id:
            raise SttError("the voice message has no media id")
        token = self.secrets.get(tenant, config, "access_token")
        if not token:
            raise SttError("no access token configured")
        try:
            data, mime = send_with_retries(lambda: self.graph.download_media(media_id, token),
                                           deadline - STT_RESERVE_SECONDS, clock=self.clock)
        except GraphError as error:
            raise SttError(f"voice message download failed (Graph API error {error.code})") from None
        backend = self.backends.for_instance(tenant, config)
        timeout = min(STT_TIMEOUT_SECONDS, deadline - self.clock() - 5)
        if timeout < 1:
            raise SttError("no time left to transcribe")
        return transcribe(self.http, backend, data, str(audio.get("mime_type") or mime), config.language, timeout)
