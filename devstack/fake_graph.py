"""A fake WhatsApp Graph API for the local stack: answers like Meta, records every request.

    POST /{version}/{phone_number_id}/messages   send (validated against Meta's limits) or mark read
    POST /{version}/{phone_number_id}/media      multipart upload -> {"id": media_id}
    GET  /{version}/{waba_id}/message_templates  the templates below (`status=APPROVED` filters)
    GET  /{version}/{media_id}                   {url, mime_type, sha256, file_size, id}
    GET  /media/{media_id}                       the uploaded bytes (the `url` above; bearer token required)
    GET  /{version}/{phone_number_id}            the number's health fields (any other id than a media id)
    GET  /{version}/debug_token?input_token=...  {data: {is_valid, expires_at, scopes}}

Media a user sends (a voice note) is put here by the test or `devstack send --voice` with
`add_inbound_media` (`POST /_local/inbound-media`), then downloaded by the bot as from Meta.

Every non-empty token is accepted for every number, unless a test or `POST /_local/graph/control`
(`control()`) said otherwise: `{"expire_token": T}` makes T fail with 190 everywhere (and
`{"restore_token": T}` undoes it), `{"phone_number_id": P, "quality_rating": "RED",
"messaging_limit_tier": ...}` changes what P reports, `{"reset": true}` forgets all of it.
"""

from __future__ import annotations

import email.parser
import email.policy
import hashlib
import json
import re
import threading
import time
import uuid
from dataclasses import dataclass, field
from typing import Any
from urllib.parse import parse_qs

from wabot.whatsapp.messages import from_graph_payload
from wabot.whatsapp.templates import TemplateShape, given_values

# What every WhatsApp Business Account of the fake has (as Meta lists them).
TEMPLATES: list[dict[str, Any]] = [
    {"name": "hello_world", "language": "en_US", "status": "APPROVED", "category": "UTILITY", "id": "1001",
     "components": [{"type": "HEADER", "format": "TEXT", "text": "Hello World"},
                    {"type": "BODY", "text": "Welcome and congratulations!"}]},
    {"name": "order_update", "language": "en", "status": "APPROVED", "category": "UTILITY", "id": "1002",
     "components": [{"type": "HEADER", "format": "TEXT", "text": "Order {{1}}"},
                    {"type": "BODY", "text": "Hi {{1}}, your order {{2}} is ready for pickup."},
                    {"type": "FOOTER", "text": "Reply STOP to opt out"},
                    {"type": "BUTTONS", "buttons": [
                        {"type": "URL", "text": "Track", "url": "https://shop.example/orders/{{1}}"},
                        {"type": "QUICK_REPLY", "text": "Talk to us"}]}]},
    {"name": "follow_up", "language": "ru", "status": "APPROVED", "category": "MARKETING", "id": "1003",
     "components": [{"type": "BODY", "text": "Здравствуйте, {{1}}! Есть новости по вашему запросу."}]},
    {"name": "spring_sale", "language": "en", "status": "PENDING", "category": "MARKETING", "id": "1004",
     "components": [{"type": "BODY", "text": "Spring sale: {{1}} off"}]},
]


@dataclass
class GraphResponse:
    status: int
    body: bytes
    content_type: str = "application/json"


def _error(status: int, code: int, message: str, error_type: str = "OAuthException") -> GraphResponse:
    body = {"error": {"message": message, "type": error_type, "code": code, "fbtrace_id": uuid.uuid4().hex[:20]}}
    return GraphResponse(status, json.dumps(body).encode())


def _ok(payload: dict[str, Any]) -> GraphResponse:
    return GraphResponse(200, json.dumps(payload).encode())


def _fingerprint(authorization: str) -> str:
    """Which access token sent a message, without keeping the token (tests check tenants apart)."""
    token = authorization.split(" ", 1)[-1].encode()
    return hashlib.sha256(token).hexdigest()[:16]


_PHONE_DEFAULTS: dict[str, str] = {
    "verified_name": "Local Test Business", "quality_rating": "GREEN", "messaging_limit_tier": "TIER_1K",
    "name_status": "APPROVED", "code_verification_status": "VERIFIED", "status": "CONNECTED", "throughput": "STANDARD",
}


@dataclass
class FakeGraphApi:
    base_url: str  # e.g. http://127.0.0.1:3000/_local/graph
    outbox: list[dict[str, Any]] = field(default_factory=list)
    media: dict[str, tuple[str, bytes]] = field(default_factory=dict)
    expired: set[str] = field(default_factory=set)  # fingerprints of tokens reported as expired
    numbers: dict[str, dict[str, Any]] = field(default_factory=dict)  # phone_number_id -> overridden fields
    _lock: threading.Lock = field(default_factory=threading.Lock)

    def control(self, body: bytes) -> GraphResponse:
        """The tests' and demos' lever: expire or restore a token, change a number's quality."""
        try:
            order = json.loads(body or b"{}")
        except ValueError:
            return _error(400, 100, "control body must be JSON")
        if not isinstance(order, dict):
            return _error(400, 100, "control body must be an object")
        with self._lock:
            if order.get("reset"):
                self.expired.clear()
                self.numbers.clear()
            if isinstance(order.get("expire_token"), str):
                self.expired.add(_fingerprint("Bearer " + order["expire_token"]))
            if isinstance(order.get("restore_token"), str):
                self.expired.discard(_fingerprint("Bearer " + order["restore_token"]))
            if isinstance(order.get("phone_number_id"), str):
                fields = {k: v for k, v in order.items() if k in _PHONE_DEFAULTS and isinstance(v, str)}
                self.numbers.setdefault(order["phone_number_id"], {}).update(fields)
        return _ok({"success": True})

    def clear(self) -> None:
        with self._lock:
            self.outbox.clear()

    def recorded(self) -> list[dict[str, Any]]:
        with self._lock:
            return list(self.outbox)

    def _record(self, entry: dict[str, Any]) -> None:
        with self._lock:
            self.outbox.append({**entry, "time": time.time()})

    def add_inbound_media(self, mime_type: str, data: bytes) -> str:
        """Media as a user's message carries it: its id, for the webhook's `audio.id`."""
        media_id = str(uuid.uuid4().int)[:16]
        with self._lock:
            self.media[media_id] = (mime_type, data)
        return media_id

    def handle(self, method: str, path: str, headers: dict[str, str], body: bytes, query: str = "") -> GraphResponse:
        if not headers.get("authorization", "").lower().startswith("bearer ") or \
                len(headers["authorization"]) <= len("bearer "):
            return _error(401, 190, "Invalid OAuth access token - Cannot parse access token")
        if method == "GET" and (match := re.fullmatch(r"/media/([\w.-]+)", path)):
            self._record({"method": "GET", "path": "/media/{id}", "media_id": match.group(1),
                          "token_sha256": _fingerprint(headers["authorization"])})
            return self._download(match.group(1))
        if method == "GET" and re.fullmatch(r"/(v\d+\.\d+)/debug_token", path):
            return self._debug_token(parse_qs(query).get("input_token", [""])[0])
        if _fingerprint(headers["authorization"]) in self.expired:
            return _error(401, 190, "Error validating access token: Session has expired")
        if method == "POST" and (match := re.fullmatch(r"/(v\d+\.\d+)/(\w+)/messages", path)):
            return self._messages(path, match.group(2), body, _fingerprint(headers["authorization"]))
        if method == "GET" and (match := re.fullmatch(r"/(v\d+\.\d+)/(\w+)/message_templates", path)):
            status = dict(re.findall(r"(\w+)=([^&]*)", query)).get("status")
            return _ok({"data": [t for t in TEMPLATES if not status or t["status"] == status],
                        "paging": {"cursors": {"before": "MAZDZD", "after": "MjQZD"}}})
        if method == "POST" and (match := re.fullmatch(r"/(v\d+\.\d+)/(\w+)/media", path)):
            return self._upload(path, match.group(2), headers.get("content-type", ""), body)
        if method == "GET" and (match := re.fullmatch(r"/(v\d+\.\d+)/([\w.-]+)", path)):
            with self._lock:
                is_media = match.group(2) in self.media
            return self._media_info(match.group(2)) if is_media else self._phone_number(match.group(2))
        return _error(400, 100, f"Unsupported {method} request to {path}", "GraphMethodException")

    def _messages(self, path: str, phone_number_id: str, body: bytes, token_sha256: str) -> GraphResponse:
        try:
            payload = json.loads(body)
        except ValueError:
            return _error(400, 100, "(#100) Invalid JSON body", "OAuthException")
        if isinstance(payload, dict) and payload.get("status") == "read":
            self._record({"method": "POST", "path": path, "phone_number_id": phone_number_id,
                          "token_sha256": token_sha256, "body": payload})
            if not payload.get("message_id"):
                return _error(400, 100, "(#100) The parameter message_id is required.")
            return _ok({"success": True})
        try:
            if isinstance(payload, dict) and payload.get("type") == "template":
                _check_template(payload.get("template"))
            else:
                from_graph_payload(payload)
        except TemplateRefused as refused:
            self._record({"method": "POST", "path": path, "phone_number_id": phone_number_id,
                          "token_sha256": token_sha256, "body": payload, "error": refused.message})
            return _error(400, refused.code, refused.message)
        except ValueError as exc:
            self._record({"method": "POST", "path": path, "phone_number_id": phone_number_id,
                          "token_sha256": token_sha256, "body": payload, "error": str(exc)})
            return _error(400, 100, f"(#100) Invalid parameter: {exc}")
        wamid = f"wamid.LOCAL{uuid.uuid4().hex.upper()}"
        self._record({"method": "POST", "path": path, "phone_number_id": phone_number_id,
                      "token_sha256": token_sha256, "body": payload, "message_id": wamid})
        to = payload.get("to") or payload.get("recipient")
        return _ok({"messaging_product": "whatsapp", "contacts": [{"input": to, "wa_id": str(to).lstrip("+")}],
                    "messages": [{"id": wamid}]})

    def _phone_number(self, phone_number_id: str) -> GraphResponse:
        if not phone_number_id.isdigit():
            return _error(400, 100, f"(#100) Unsupported get request. Object with ID '{phone_number_id}' does not "
                          "exist, cannot be loaded due to missing permissions, or does not support this operation",
                          "GraphMethodException")
        with self._lock:
            fields = {**_PHONE_DEFAULTS, **self.numbers.get(phone_number_id, {})}
        level = fields.pop("throughput")
        return _ok({**fields, "display_phone_number": f"+1 555-{phone_number_id[-7:]}",
                    "throughput": {"level": level}, "id": phone_number_id})

    def _debug_token(self, input_token: str) -> GraphResponse:
        valid = bool(input_token) and _fingerprint("Bearer " + input_token) not in self.expired
        return _ok({"data": {"app_id": "000000000000000", "type": "SYSTEM_USER", "is_valid": valid,
                             "expires_at": 0, "scopes": ["whatsapp_business_messaging",
                                                         "whatsapp_business_management"]}})

    def _upload(self, path: str, phone_number_id: str, content_type: str, body: bytes) -> GraphResponse:
        fields = _multipart(content_type, body)
        file_part = fields.get("file")
        if fields.get("messaging_product", (None, b""))[1] != b"whatsapp" or file_part is None:
            return _error(400, 100, "(#100) messaging_product=whatsapp and file are required")
        declared = fields.get("type", (None, b""))[1].decode() or file_part[0] or "application/octet-stream"
        media_id = str(uuid.uuid4().int)[:16]
        with self._lock:
            self.media[media_id] = (declared, file_part[1])
        self._record({"method": "POST", "path": path, "phone_number_id": phone_number_id,
                      "media_id": media_id, "mime_type": declared, "size": len(file_part[1])})
        return _ok({"id": media_id})

    def _media_info(self, media_id: str) -> GraphResponse:
        with self._lock:
            found = self.media.get(media_id)
        if found is None:
            return _error(400, 100, "(#100) Unsupported get request. Object does not exist", "GraphMethodException")
        mime_type, data = found
        return _ok({"url": f"{self.base_url}/media/{media_id}", "mime_type": mime_type,
                    "sha256": hashlib.sha256(data).hexdigest(), "file_size": len(data), "id": media_id,
                    "messaging_product": "whatsapp"})

    def _download(self, media_id: str) -> GraphResponse:
        with self._lock:
            found = self.media.get(media_id)
        if found is None:
            return GraphResponse(404, b"not found", "text/plain")
        return GraphResponse(200, found[1], found[0])


class TemplateRefused(Exception):
    def __init__(self, code: int, message: str) -> None:
        super().__init__(message)
        self.code, self.message = code, message


def _check_template(template: Any) -> None:
    """Meta's answers to a template send: 132001 unknown template (in that language), 132000 a
    wrong number of parameters."""
    if not isinstance(template, dict) or not isinstance(template.get("language"), dict):
        raise ValueError("template.name and template.language.code are required")
    name, language = template.get("name"), template["language"].get("code")
    found = next((t for t in TEMPLATES if t["name"] == name and t["language"] == language
                  and t["status"] == "APPROVED"), None)
    if found is None:
        raise TemplateRefused(132001, f"(#132001) Template name does not exist in the translation: {name} "
                                      f"({language})")
    if TemplateShape.parse(found).problems(*given_values(template)):
        raise TemplateRefused(132000, "(#132000) Number of parameters does not match the expected number of params")


def _multipart(content_type: str, body: bytes) -> dict[str, tuple[str | None, bytes]]:
    """name -> (content type, bytes) of a multipart/form-data body."""
    if not content_type.startswith("multipart/form-data"):
        return {}
    message = email.parser.BytesParser(policy=email.policy.HTTP).parsebytes(
        b"Content-Type: " + content_type.encode() + b"\r\n\r\n" + body)
    fields: dict[str, tuple[str | None, bytes]] = {}
    for part in message.iter_parts():
        name = part.get_param("name", header="content-disposition")
        if name:
            payload = part.get_payload(decode=True) or b""
            fields[name] = (part.get_content_type() if part.get("content-type") else None, payload)
    return fields
