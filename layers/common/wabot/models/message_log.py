"""What the inbox shows of a conversation: one entry per message or event, and how each is
built from what the user sent or the Graph API message body we sent (stored by
`wabot.repositories.messages`)."""

from __future__ import annotations

from typing import Any, Literal

from pydantic import BaseModel, Field

from wabot.models.events import InboundEvent

TEXT_LIMIT = 1000
MEDIA_TYPES = ("image", "audio", "video", "document", "sticker")


Sender = Literal["user", "bot", "llm", "manager", "system"]


class LogEntry(BaseModel):
    at: float = Field(description="unix seconds")
    direction: Literal["in", "out", "event"]
    sender: Sender
    actor: str | None = Field(default=None, description="the principal, for manager messages and events")
    type: str = Field(description="message type, or the event (handoff, release, timeout, held)")
    text: str | None = None
    reply_id: str | None = None
    reply_title: str | None = None
    media_type: str | None = None
    media_id: str | None = None
    options: list[str] | None = Field(default=None, description="titles of the buttons or rows the bot offered")
    template: str | None = None
    wamid: str | None = None
    status: str | None = Field(default=None, description="outbound: sent, delivered, read, failed")
    error: dict[str, Any] | None = Field(default=None, description="outbound failed: code and title")


def _short(text: Any) -> str | None:
    return str(text)[:TEXT_LIMIT] if text else None


def inbound_entry(event: InboundEvent, at: float) -> LogEntry:
    """What the user sent: text, the tapped option (id and title), media by type and id. `at` is
    when it was handled (Meta's timestamps are whole seconds: they would not order it among the
    replies of the same second)."""
    content = event.content if isinstance(event.content, dict) else {}
    entry = LogEntry(at=at, direction="in", sender="user", type=event.type, wamid=event.message_id)
    if event.type == "text":
        entry.text = _short(content.get("body"))
    elif event.type == "interactive":
        chosen = content.get(content.get("type") or "") or {}
        entry.reply_id, entry.reply_title = _short(chosen.get("id")), _short(chosen.get("title"))
    elif event.type == "button":
        entry.reply_id, entry.reply_title = _short(content.get("payload")), _short(content.get("text"))
    elif event.type in MEDIA_TYPES:
        entry.media_type, entry.media_id = event.type, _short(content.get("id"))
        entry.text = _short(content.get("caption"))
    else:
        entry.text = _short(content.get("body") or content.get("text"))
    return entry


def outbound_entry(payload: dict[str, Any], wamid: str, at: float, sender: Sender,
                   actor: str | None = None) -> LogEntry:
    """A Graph API message body we sent, shortened to what the inbox shows."""
    kind = str(payload.get("type", ""))
    entry = LogEntry(at=at, direction="out", sender=sender, actor=actor, type=kind, wamid=wamid or None)
    body = payload.get(kind)
    if not isinstance(body, dict):
        body = {}
    if kind == "text":
        entry.text = _short(body.get("body"))
    elif kind == "interactive":
        entry.text = _short((body.get("body") or {}).get("text"))
        action = body.get("action") or {}
        titles = [b["reply"]["title"] for b in action.get("buttons", [])] or \
            [row["title"] for section in action.get("sections", []) for row in section.get("rows", [])]
        entry.options = [str(title) for title in titles] or None
    elif kind == "template":
        entry.template = _short(body.get("name"))
        values = [str(p.get("text", "")) for c in body.get("components", []) for p in c.get("parameters", [])]
        entry.text = _short(", ".join(values)) if values else None
    elif kind in MEDIA_TYPES:
        entry.media_type, entry.media_id = kind, _short(body.get("id") or body.get("link"))
        entry.text = _short(body.get("caption"))
    return entry


def event_entry(event: str, at: float, actor: str | None, text: str | None = None) -> LogEntry:
    return LogEntry(at=at, direction="event", sender="system", actor=actor, type=event, text=_short(text))
