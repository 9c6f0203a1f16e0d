"""Outbound WhatsApp messages, validated against Meta's limits before anything is sent.

Limits (see the WhatsApp reference): text 4096; interactive body 1024 (the list limit is
disputed between 4096 and 1024, so 1024 everywhere); header and footer 60; reply buttons
1-3, title 20, id 256, unique; list button label 20, sections 1-10, rows 10 in total, row
title 24, description 72, id 200; section titles 24, required with more than one section.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Annotated, Any, Literal

from pydantic import BaseModel, ConfigDict, Field, TypeAdapter, model_validator

TEXT_MAX = 4096
INTERACTIVE_BODY_MAX = 1024
HEADER_MAX = FOOTER_MAX = 60


class _Strict(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)


class ReplyButton(_Strict):
    id: str = Field(min_length=1, max_length=256)
    title: str = Field(min_length=1, max_length=20)


class ListRow(_Strict):
    id: str = Field(min_length=1, max_length=200)
    title: str = Field(min_length=1, max_length=24)
    description: str | None = Field(default=None, max_length=72)


class ListSection(_Strict):
    title: str | None = Field(default=None, min_length=1, max_length=24)
    rows: list[ListRow] = Field(min_length=1, max_length=10)


class TextMessage(_Strict):
    kind: Literal["text"] = "text"
    body: str = Field(min_length=1, max_length=TEXT_MAX)
    preview_url: bool = False


class ButtonsMessage(_Strict):
    kind: Literal["buttons"] = "buttons"
    body: str = Field(min_length=1, max_length=INTERACTIVE_BODY_MAX)
    buttons: list[ReplyButton] = Field(min_length=1, max_length=3)
    header: str | None = Field(default=None, min_length=1, max_length=HEADER_MAX)
    footer: str | None = Field(default=None, min_length=1, max_length=FOOTER_MAX)

    @model_validator(mode="after")
    def _unique(self) -> ButtonsMessage:
        if len({b.title for b in self.buttons}) != len(self.buttons):
            raise ValueError("button titles must be unique")
        if len({b.id for b in self.buttons}) != len(self.buttons):
            raise ValueError("button ids must be unique")
        return self


class ListMessage(_Strict):
    kind: Literal["list"] = "list"
    body: str = Field(min_length=1, max_length=INTERACTIVE_BODY_MAX)
    button: str = Field(min_length=1, max_length=20)
    sections: list[ListSection] = Field(min_length=1, max_length=10)
    header: str | None = Field(default=None, min_length=1, max_length=HEADER_MAX)
    footer: str | None = Field(default=None, min_length=1, max_length=FOOTER_MAX)

    @model_validator(mode="after")
    def _rows(self) -> ListMessage:
        rows = [row for section in self.sections for row in section.rows]
        if len(rows) > 10:
            raise ValueError("a list has at most 10 rows across all sections")
        if len({row.id for row in rows}) != len(rows):
            raise ValueError("row ids must be unique")
        if len(self.sections) > 1 and any(not s.title for s in self.sections):
            raise ValueError("every section needs a title when there are several")
        return self


class AudioMessage(_Strict):
    kind: Literal["audio"] = "audio"
    media_id: str = Field(min_length=1)
    voice: bool = True


class MediaMessage(_Strict):
    """An image, document or video, by link (https) or uploaded media id, with a caption."""

    kind: Literal["media"] = "media"
    media_type: Literal["image", "document", "video"]
    link: str | None = Field(default=None, pattern=r"^https://\S+$")
    media_id: str | None = Field(default=None, min_length=1)
    caption: str | None = Field(default=None, min_length=1, max_length=INTERACTIVE_BODY_MAX)
    filename: str | None = Field(default=None, min_length=1, max_length=240)

    @model_validator(mode="after")
    def _source(self) -> MediaMessage:
        if (self.link is None) == (self.media_id is None):
            raise ValueError("a media message has a link or a media id")
        return self


OutboundMessage = Annotated[TextMessage | ButtonsMessage | ListMessage | AudioMessage | MediaMessage,
                            Field(discriminator="kind")]
OUTBOUND_ADAPTER: TypeAdapter[Any] = TypeAdapter(OutboundMessage)


class Recipient(_Strict):
    """A phone number (sent as `to` with `+`) or a business-scoped user id (`recipient`)."""

    phone: str | None = None
    user_id: str | None = None

    @model_validator(mode="after")
    def _one(self) -> Recipient:
        if not (self.phone or self.user_id):
            raise ValueError("a recipient needs a phone number or a business-scoped user id")
        return self

    def graph_fields(self) -> dict[str, str]:
        # Without "+" Meta prepends the business number's country code (reference §6).
        if self.phone:
            return {"to": "+" + self.phone.lstrip("+")}
        return {"recipient": self.user_id or ""}


def _header_footer(message: ButtonsMessage | ListMessage) -> dict[str, Any]:
    parts: dict[str, Any] = {}
    if message.header:
        parts["header"] = {"type": "text", "text": message.header}
    if message.footer:
        parts["footer"] = {"text": message.footer}
    return parts


def _text_body(message: TextMessage) -> dict[str, Any]:
    return {"type": "text", "text": {"preview_url": message.preview_url, "body": message.body}}


def _buttons_body(message: ButtonsMessage) -> dict[str, Any]:
    return {"type": "interactive", "interactive": {
        "type": "button", **_header_footer(message), "body": {"text": message.body},
        "action": {"buttons": [{"type": "reply", "reply": {"id": b.id, "title": b.title}} for b in message.buttons]}}}


def _list_body(message: ListMessage) -> dict[str, Any]:
    return {"type": "interactive", "interactive": {
        "type": "list", **_header_footer(message), "body": {"text": message.body},
        "action": {"button": message.button, "sections": [
            {**({"title": s.title} if s.title else {}),
             "rows": [row.model_dump(exclude_none=True) for row in s.rows]} for s in message.sections]}}}


def _audio_body(message: AudioMessage) -> dict[str, Any]:
    return {"type": "audio", "audio": {"id": message.media_id, **({"voice": True} if message.voice else {})}}


def _media_body(message: MediaMessage) -> dict[str, Any]:
    media: dict[str, Any] = {"link": message.link} if message.link else {"id": message.media_id}
    if message.caption:
        media["caption"] = message.caption
    if message.filename and message.media_type == "document":
        media["filename"] = message.filename
    return {"type": message.media_type, message.media_type: media}


# The Graph API's `type` and content of each outbound message, by its `kind`.
_GRAPH_BODIES: dict[str, Callable[[Any], dict[str, Any]]] = {
    "text": _text_body, "buttons": _buttons_body, "list": _list_body, "audio": _audio_body, "media": _media_body,
}


def to_graph_payload(message: Any, recipient: Recipient, reply_to: str | None = None) -> dict[str, Any]:
    """The JSON body of `POST /{phone_number_id}/messages`."""
    build = _GRAPH_BODIES.get(getattr(message, "kind", None) or "") if isinstance(message, _Strict) else None
    if build is None:
        raise TypeError(f"not an outbound message: {type(message).__name__}")
    payload: dict[str, Any] = {"messaging_product": "whatsapp", "recipient_type": "individual",
                               **recipient.graph_fields()}
    if reply_to:
        payload["context"] = {"message_id": reply_to}
    payload.update(build(message))
    return payload


def _parse_text(payload: dict[str, Any]) -> TextMessage:
    text = payload["text"]
    return TextMessage(body=text["body"], preview_url=bool(text.get("preview_url", False)))


def _parse_audio(payload: dict[str, Any]) -> AudioMessage:
    audio = payload["audio"]
    return AudioMessage(media_id=audio["id"], voice=bool(audio.get("voice", False)))


def _parse_media(payload: dict[str, Any]) -> MediaMessage:
    kind = payload["type"]
    media = payload[kind]
    return MediaMessage(media_type=kind, link=media.get("link"), media_id=media.get("id"),
                        caption=media.get("caption"), filename=media.get("filename"))


def _parse_interactive(payload: dict[str, Any]) -> ButtonsMessage | ListMessage | None:
    interactive = payload["interactive"]
    common = {"body": interactive["body"]["text"],
              "header": (interactive.get("header") or {}).get("text"),
              "footer": (interactive.get("footer") or {}).get("text")}
    action = interactive["action"]
    if interactive["type"] == "button":
        return ButtonsMessage(**common, buttons=[ReplyButton(**b["reply"]) for b in action["buttons"]])
    if interactive["type"] == "list":
        return ListMessage(**common, button=action["button"], sections=[ListSection(**s) for s in action["sections"]])
    return None


# The outbound message of each Graph API `type` (None: a kind of that type the platform does not send).
_PARSERS: dict[str, Callable[[dict[str, Any]], Any]] = {
    "text": _parse_text, "audio": _parse_audio, "image": _parse_media, "document": _parse_media,
    "video": _parse_media, "interactive": _parse_interactive,
}


def from_graph_payload(payload: Any) -> Any:
    """Parse (and so validate) a Graph API message body; ValueError names what is wrong.

    The fake Graph API of the local stack uses this to answer like Meta (error 100).
    """
    if not isinstance(payload, dict) or payload.get("messaging_product") != "whatsapp":
        raise ValueError("messaging_product must be whatsapp")
    if not payload.get("to") and not payload.get("recipient"):
        raise ValueError("to or recipient is required")
    kind = payload.get("type")
    parse = _PARSERS.get(kind) if isinstance(kind, str) else None
    try:
        message = parse(payload) if parse else None
    except (KeyError, TypeError) as exc:
        raise ValueError(f"missing or malformed field: {exc}") from None
    if message is None:
        raise ValueError(f"unsupported message type {kind!r}")
    return message
