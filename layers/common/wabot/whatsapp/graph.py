"""WhatsApp Cloud API (Graph API) client: send messages, mark read, typing indicator, upload and
download media.

`GraphClient` makes one HTTP call and classifies Meta's errors by `error.code` (never by HTTP
status or text, as Meta advises). `send_with_retries` retries what is transient (timeouts,
5xx, throttling codes) with backoff inside a deadline, and never what is permanent.
"""

from __future__ import annotations

import random
import time
from collections.abc import Callable
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

from wabot import metrics
from wabot.settings import GraphApiSettings

if TYPE_CHECKING:
    import httpx

# Throttling and transient server-side codes (WhatsApp reference §8).
RETRIABLE_CODES = frozenset({1, 2, 4, 80007, 130429, 131000, 131016, 131056, 131057})
TOKEN_INVALID_CODES = frozenset({0, 190})
# Meta's limit for audio (and video) media; a voice note is far smaller.
MEDIA_MAX_BYTES = 16 * 1024 * 1024
# The token cannot act for this number: invalid (190), or lacks the permission (10, 200).
NO_ACCESS_CODES = frozenset({0, 10, 190, 200})
PHONE_NUMBER_FIELDS = ("display_phone_number,verified_name,quality_rating,messaging_limit_tier,name_status,"
                       "code_verification_status,status,throughput")


# Set on every message the platform sends; statuses echoing it are the platform's own.
OWN_MESSAGE_TAG = "wabot"


class GraphError(Exception):
    def __init__(self, code: int | None, message: str, http_status: int | None = None) -> None:
        super().__init__(f"Graph API error {code}: {message}")
        self.code = code
        self.message = message
        self.http_status = http_status

    @property
    def retriable(self) -> bool:
        if self.code in RETRIABLE_CODES:
            return True
        # No Meta error body (gateway failure, timeout): the outcome is unknown, retry.
        return self.code is None and (self.http_status is None or self.http_status >= 500)

    @property
    def metric_code(self) -> str:
        """Meta's error code, else the HTTP status, else "transport" (a bounded set: a dimension)."""
        if isinstance(self.code, int):
            return str(self.code)
        return f"http_{self.http_status}" if self.http_status else "transport"

    @property
    def token_invalid(self) -> bool:
        return self.code in TOKEN_INVALID_CODES

    @property
    def no_access(self) -> bool:
        return self.code in NO_ACCESS_CODES


@dataclass
class GraphClient:
    base_url: str
    version: str
    http: httpx.Client

    @classmethod
    def from_settings(cls, settings: GraphApiSettings) -> GraphClient:
        """One per execution environment; its connections are reused across invocations."""
        import httpx  # here: functions that only read this module's constants never load it

        return cls(settings.graph_api_base_url, settings.graph_api_version,
                   httpx.Client(timeout=httpx.Timeout(8.0, connect=3.0)))

    def _url(self, path: str) -> str:
        return f"{self.base_url.rstrip('/')}/{self.version}/{path.lstrip('/')}"

    def _call(self, method: str, path: str, token: str, operation: str, **kwargs: Any) -> dict[str, Any]:
        """One request; `operation` names it in the metrics (never the path: it holds ids)."""
        try:
            with metrics.call("GraphApi", operation=operation):
                return self._request(method, path, token, **kwargs)
        except GraphError as error:
            metrics.count("GraphApiErrors", operation=operation, code=error.metric_code)
            raise

    def _request(self, method: str, path: str, token: str, **kwargs: Any) -> dict[str, Any]:
        import httpx

        try:
            response = self.http.request(method, self._url(path), headers={"Authorization": f"Bearer {token}"},
                                         **kwargs)
        except httpx.TimeoutException as exc:
            raise GraphError(None, f"timeout: {type(exc).__name__}") from exc
        except httpx.HTTPError as exc:
            raise GraphError(None, f"transport error: {type(exc).__name__}") from exc
        try:
            body = response.json()
        except ValueError:
            body = {}
        if response.status_code >= 400 or "error" in body:
            error = body.get("error") if isinstance(body.get("error"), dict) else {}
            raise GraphError(error.get("code"), str(error.get("message", response.reason_phrase))[:300],
                             response.status_code)
        return body

    def send(self, phone_number_id: str, token: str, payload: dict[str, Any]) -> str:
        """Returns the WhatsApp message id Meta assigned (acceptance, not delivery). Every message
        carries the platform's tag, which Meta echoes in its statuses (see `wabot.statuses`)."""
        body = self._call("POST", f"{phone_number_id}/messages", token, "send",
                          json={**payload, "biz_opaque_callback_data": OWN_MESSAGE_TAG})
        messages = body.get("messages") or [{}]
        return str(messages[0].get("id", ""))

    def mark_read(self, phone_number_id: str, token: str, message_id: str) -> None:
        self._call("POST", f"{phone_number_id}/messages", token, "mark_read",
                   json={"messaging_product": "whatsapp", "status": "read", "message_id": message_id})

    def message_templates(self, waba_id: str, token: str) -> list[dict[str, Any]]:
        """The WhatsApp Business Account's approved message templates (every page, at most 1000)."""
        templates: list[dict[str, Any]] = []
        after = None
        while len(templates) < 1000:
            params = {"status": "APPROVED", "limit": "100", "fields": "name,language,status,category,components",
                      **({"after": after} if after else {})}
            body = self._call("GET", f"{waba_id}/message_templates", token, "message_templates", params=params)
            templates += [t for t in body.get("data") or [] if isinstance(t, dict)]
            after = ((body.get("paging") or {}).get("cursors") or {}).get("after")
            if not after or not (body.get("paging") or {}).get("next"):
                break
        return templates

    def typing_indicator(self, phone_number_id: str, token: str, message_id: str) -> None:
        """Marks the message read and shows "typing..." until the reply (or 25 s)."""
        self._call("POST", f"{phone_number_id}/messages", token, "typing_indicator",
                   json={"messaging_product": "whatsapp", "status": "read", "message_id": message_id,
                         "typing_indicator": {"type": "text"}})

    def download_media(self, media_id: str, token: str, max_bytes: int = MEDIA_MAX_BYTES) -> tuple[bytes, str]:
        """(bytes, mime type) of a user's media: `GET /{media_id}` for its short-lived URL, then the
        bytes with the same token, read up to `max_bytes` (GraphError code None beyond)."""
        info = self._call("GET", media_id, token, "media_info")
        url = info.get("url")
        declared = info.get("file_size")
        if not isinstance(url, str) or (not url.startswith("https://") and not url.startswith(self.base_url)):
            raise GraphError(None, "media has no download URL", 200)
        if isinstance(declared, int) and declared > max_bytes:
            raise GraphError(None, "media too large", 200)
        import httpx

        try:
            with self.http.stream("GET", url, headers={"Authorization": f"Bearer {token}"},
                                  follow_redirects=False) as response:
                if response.status_code != 200:
                    raise GraphError(None, f"media download status {response.status_code}", response.status_code)
                received = bytearray()
                for chunk in response.iter_bytes():
                    received += chunk
                    if len(received) > max_bytes:
                        raise GraphError(None, "media too large", 200)
                mime = str(info.get("mime_type") or response.headers.get("content-type") or "")
                return bytes(received), mime
        except httpx.TimeoutException as exc:
            raise GraphError(None, f"timeout: {type(exc).__name__}") from exc
        except httpx.HTTPError as exc:
            raise GraphError(None, f"transport error: {type(exc).__name__}") from exc
    def phone_number(self, phone_number_id: str, token: str) -> dict[str, Any]:
        """The number's health fields, read with the instance's own token."""
        return self._call("GET", phone_number_id, token, "phone_number", params={"fields": PHONE_NUMBER_FIELDS})

    def debug_token(self, input_token: str, app_token: str) -> dict[str, Any]:
        """`{is_valid, expires_at, scopes, ...}` of `input_token` (needs an app token)."""
        body = self._call("GET", "debug_token", app_token, "debug_token", params={"input_token": input_token})
        data = body.get("data")
        return data if isinstance(data, dict) else {}

    def upload_media(self, phone_number_id: str, token: str, data: bytes, mime_type: str, filename: str) -> str:
        body = self._call("POST", f"{phone_number_id}/media", token, "upload_media",
                          data={"messaging_product": "whatsapp", "type": mime_type},
                          files={"file": (filename, data, mime_type)})
        return str(body["id"])


def send_with_retries(call: Callable[[], Any], deadline: float, *, base_delay: float = 0.5,
                      clock: Callable[[], float] = time.monotonic,
                      sleep: Callable[[float], None] = time.sleep) -> Any:
    """Run `call`, retrying transient Graph errors with exponential backoff and jitter until
    `deadline` (a `clock()` value). Permanent errors and the last transient one are raised."""
    attempt = 0
    while True:
        try:
            return call()
        except GraphError as error:
            if not error.retriable:
                raise
            delay = min(8.0, base_delay * 2 ** attempt) * (0.5 + random.random() / 2)  # noqa: S311 - jitter
            if clock() + delay >= deadline:
                raise
            sleep(delay)
            attempt += 1
