"""A small HTTP client for a running local platform: signed webhooks, admin calls, the outbox."""

from __future__ import annotations

import hashlib
import hmac
import json
import time
import uuid
from typing import Any

import httpx


class LocalClient:
    def __init__(self, api_url: str, admin_key: str | None = None, timeout: float = 10.0) -> None:
        self.api_url = api_url.rstrip("/")
        self.admin_key = admin_key
        self._http = httpx.Client(base_url=self.api_url, timeout=timeout)

    def close(self) -> None:
        self._http.close()

    def admin(self, method: str, path: str, body: Any = None) -> httpx.Response:
        headers = {"authorization": f"Bearer {self.admin_key}"} if self.admin_key else {}
        return self._http.request(method, path, json=body, headers=headers)

    def post_webhook(self, tenant: str, instance: str, app_secret: str, payload: dict[str, Any]) -> httpx.Response:
        raw = json.dumps(payload, ensure_ascii=False).encode("utf-8")
        signature = "sha256=" + hmac.new(app_secret.encode(), raw, hashlib.sha256).hexdigest()
        return self._http.post(f"/webhook/{tenant}/{instance}", content=raw, headers={
            "content-type": "application/json", "x-hub-signature-256": signature})

    def send_text(self, tenant: str, instance: str, app_secret: str, phone_number_id: str, text: str,
                  user: str = "16505551234", message_id: str | None = None) -> tuple[int, str]:
        response = self.post_webhook(tenant, instance, app_secret,
                                     text_payload(phone_number_id, user, text, message_id))
        return response.status_code, response.text

    def add_inbound_media(self, data: bytes, mime_type: str = "audio/ogg; codecs=opus") -> str:
        """Put a user's media (a voice note) into the fake Graph API; its media id for the webhook."""
        return self._http.post("/_local/inbound-media", content=data, headers={"content-type": mime_type}).json()["id"]

    def outbox(self) -> list[dict[str, Any]]:
        return self._http.get("/_local/outbox").json()

    def clear_outbox(self) -> None:
        self._http.delete("/_local/outbox")

    def wait_for_outbox(self, count: int, timeout: float = 20.0, predicate=None) -> list[dict[str, Any]]:
        """Poll until at least `count` recorded requests (matching `predicate`) are there."""
        deadline = time.monotonic() + timeout
        while True:
            entries = [e for e in self.outbox() if predicate is None or predicate(e)]
            if len(entries) >= count or time.monotonic() > deadline:
                return entries
            time.sleep(0.2)


def text_payload(phone_number_id: str, user: str, text: str, message_id: str | None = None,
                 reply: tuple[str, str, str] | None = None, voice_media_id: str | None = None) -> dict[str, Any]:
    """A messages webhook as Meta sends it: a text, or with `reply=(kind, id, title)` a tap on a
    reply button (`button_reply`) or list row (`list_reply`), or with `voice_media_id` a voice note."""
    message: dict[str, Any] = {"from": user, "id": message_id or f"wamid.{uuid.uuid4().hex}",
                               "timestamp": str(int(time.time()))}
    if voice_media_id:
        message.update(type="audio", audio={"id": voice_media_id, "mime_type": "audio/ogg; codecs=opus",
                                            "sha256": "", "voice": True})
    elif reply:
        kind, reply_id, title = reply
        message.update(type="interactive", interactive={"type": kind, kind: {"id": reply_id, "title": title}})
    else:
        message.update(type="text", text={"body": text})
    return {"object": "whatsapp_business_account", "entry": [{"id": "102290129340398", "changes": [{
        "field": "messages", "value": {
            "messaging_product": "whatsapp",
            "metadata": {"display_phone_number": "15550783881", "phone_number_id": phone_number_id},
            "contacts": [{"profile": {"name": "Local User"}, "wa_id": user}],
            "messages": [message]}}]}]}


def status_payload(phone_number_id: str, user: str, message_id: str, status: str,
                   callback_data: str | None = None) -> dict[str, Any]:
    """A statuses webhook as Meta sends it for a message we sent; Meta echoes the
    `biz_opaque_callback_data` the message was sent with (the platform's tag)."""
    item: dict[str, Any] = {"id": message_id, "status": status, "timestamp": str(int(time.time())),
                            "recipient_id": user}
    if callback_data is not None:
        item["biz_opaque_callback_data"] = callback_data
    return {"object": "whatsapp_business_account", "entry": [{"id": "102290129340398", "changes": [{
        "field": "messages", "value": {
            "messaging_product": "whatsapp",
            "metadata": {"display_phone_number": "15550783881", "phone_number_id": phone_number_id},
            "statuses": [item]}}]}]}
