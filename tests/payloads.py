"""WhatsApp Cloud API webhook bodies as Meta sends them (shapes from the reference notes)."""

from __future__ import annotations

import hashlib
import hmac
import json
from typing import Any

from wabot.whatsapp.graph import OWN_MESSAGE_TAG

BSUID = "US.13491208655302741918"
PHONE = "16505551234"
TS = "1767225600"


def sign(body: bytes, app_secret: str) -> str:
    return "sha256=" + hmac.new(app_secret.encode(), body, hashlib.sha256).hexdigest()


def contact(phone: str | None = PHONE, user_id: str | None = BSUID, name: str = "Kerry Fisher",
            username: str | None = None) -> dict[str, Any]:
    profile: dict[str, Any] = {"name": name}
    if username:
        profile["username"] = username
    result: dict[str, Any] = {"profile": profile}
    if phone:
        result["wa_id"] = phone
    if user_id:
        result["user_id"] = user_id
    return result


def message(mid: str, type_: str, content: Any, *, phone: str | None = PHONE,
            user_id: str | None = BSUID, **extra: Any) -> dict[str, Any]:
    result: dict[str, Any] = {"id": mid, "timestamp": TS, "type": type_}
    if phone:
        result["from"] = phone
    if user_id:
        result["from_user_id"] = user_id
    if content is not None:
        result[type_] = content
    result.update(extra)
    return result


def change(phone_number_id: str, *, messages: list | None = None, statuses: list | None = None,
           contacts: list | None = None, errors: list | None = None, field: str = "messages") -> dict[str, Any]:
    value: dict[str, Any] = {
        "messaging_product": "whatsapp",
        "metadata": {"display_phone_number": "15550783881", "phone_number_id": phone_number_id},
    }
    if contacts is not None:
        value["contacts"] = contacts
    if messages is not None:
        value["messages"] = messages
    if statuses is not None:
        value["statuses"] = statuses
    if errors is not None:
        value["errors"] = errors
    return {"field": field, "value": value}


def notification(*changes: dict[str, Any], waba_id: str = "102290129340398") -> dict[str, Any]:
    return {"object": "whatsapp_business_account", "entry": [{"id": waba_id, "changes": list(changes)}]}


def body(payload: dict[str, Any]) -> bytes:
    return json.dumps(payload, ensure_ascii=False).encode("utf-8")


def text_notification(phone_number_id: str, mid: str = "wamid.TEXT1", text: str = "hello",
                      phone: str | None = PHONE, user_id: str | None = BSUID) -> dict[str, Any]:
    return notification(change(phone_number_id, contacts=[contact(phone, user_id)],
                               messages=[message(mid, "text", {"body": text}, phone=phone, user_id=user_id)]))


# One sample of every message type Meta documents, keyed by `type`.
ALL_MESSAGE_CONTENTS: dict[str, Any] = {
    "text": {"body": "Привет! Хочу узнать цену"},
    "interactive_button": {"type": "button_reply", "button_reply": {"id": "sales:start", "title": "Start"}},
    "interactive_list": {"type": "list_reply",
                         "list_reply": {"id": "faq:price", "title": "Price", "description": "How much"}},
    "interactive_flow": {"type": "nfm_reply",
                         "nfm_reply": {"response_json": "{\"flow_token\": \"x\"}", "body": "Sent", "name": "flow"}},
    "button": {"payload": "sales:demo", "text": "Demo"},
    "image": {"id": "1479537139650973", "mime_type": "image/jpeg", "sha256": "abc", "caption": "photo"},
    "audio": {"id": "1003383421387256", "mime_type": "audio/ogg; codecs=opus", "sha256": "def", "voice": True},
    "video": {"id": "1234", "mime_type": "video/mp4", "sha256": "ghi"},
    "document": {"id": "5678", "mime_type": "application/pdf", "sha256": "jkl", "filename": "spec.pdf"},
    "sticker": {"id": "9012", "mime_type": "image/webp", "sha256": "mno", "animated": False},
    "location": {"latitude": 55.7558, "longitude": 37.6173, "name": "Office", "address": "Moscow"},
    "contacts": [{"name": {"formatted_name": "Anna", "first_name": "Anna"},
                  "phones": [{"phone": "+7 900 000-00-00", "wa_id": "79000000000", "type": "CELL"}]}],
    "reaction": {"message_id": "wamid.OUT1", "emoji": "👍"},
    "order": {"catalog_id": "cat1", "text": "please",
              "product_items": [{"product_retailer_id": "sku1", "quantity": 2, "item_price": 9.5,
                                 "currency": "EUR"}]},
    "system": {"body": "User changed number", "type": "user_changed_number", "wa_id": "16505550000"},
    "unsupported": {"type": "poll"},
}


def message_of_kind(kind: str, mid: str) -> dict[str, Any]:
    content = ALL_MESSAGE_CONTENTS[kind]
    type_ = "interactive" if kind.startswith("interactive") else kind
    extra: dict[str, Any] = {}
    if kind == "unsupported":
        extra["errors"] = [{"code": 131051, "title": "Message type unknown",
                            "message": "Message type unknown", "error_data": {"details": "poll"}}]
    if kind == "button":
        extra["context"] = {"from": "15550783881", "id": "wamid.TEMPLATE1"}
    return message(mid, type_, content, **extra)


def status(mid: str, value: str, *, recipient: str | None = PHONE, user_id: str | None = BSUID,
           errors: list | None = None, own: bool = True) -> dict[str, Any]:
    """A status webhook item; `own`: of a message the platform sent, so Meta echoes its tag."""
    result: dict[str, Any] = {"id": mid, "status": value, "timestamp": TS}
    if own:
        result["biz_opaque_callback_data"] = OWN_MESSAGE_TAG
    if recipient:
        result["recipient_id"] = recipient
    if user_id:
        result["recipient_user_id"] = user_id
    if value in ("sent", "delivered"):
        result["pricing"] = {"billable": False, "pricing_model": "PMP", "category": "service",
                             "type": "free_customer_service"}
    if errors:
        result["errors"] = errors
    return result
