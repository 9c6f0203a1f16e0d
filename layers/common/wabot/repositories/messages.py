"""The message log of a conversation, for the inbox: one compact item per message.

Items live in the user's own partition (`...#USER#{user_key}`), so the user reset and the
instance delete remove them with the rest; sort key `MSG#{epoch ms}#{digest}`, TTL the
instance's `message_retention_days`. An inbound message is written once its decision is saved
(a retry after that finds the decision and does not write it again); the replies of one
message go in one BatchWriteItem after they were sent. Both are best effort after the real
work: a crash between the two writes loses a log entry, never a reply. Statuses are not copied
here: they stay on the `OUT#{wamid}` items the status path already writes, and are joined in
when a page is read (a BatchGetItem per page), so a status costs no extra write.
"""

from __future__ import annotations

import hashlib
import time
from typing import Any, Literal

from pydantic import BaseModel, Field

from wabot import keys
from wabot.dynamo import decode_cursor, encode_cursor, from_item, key, to_item
from wabot.models.events import InboundEvent
from wabot.tenancy import TenantContext
from wabot.tenant_credentials import client_for

MSG_SK_PREFIX = "MSG#"
TEXT_LIMIT = 1000
MEDIA_TYPES = ("image", "audio", "video", "document", "sticker")


class LogEntry(BaseModel):
    at: float = Field(description="unix seconds")
    direction: Literal["in", "out", "event"]
    sender: Literal["user", "bot", "llm", "manager", "system"]
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


def _digest(text: str) -> str:
    return hashlib.blake2b(text.encode(), digest_size=6).hexdigest()


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


def outbound_entry(payload: dict[str, Any], wamid: str, at: float, sender: str, actor: str | None = None) -> LogEntry:
    """A Graph API message body we sent, shortened to what the inbox shows."""
    kind = str(payload.get("type", ""))
    entry = LogEntry(at=at, direction="out", sender=sender, actor=actor, type=kind, wamid=wamid or None)  # type: ignore[arg-type]
    body = payload.get(kind) if isinstance(payload.get(kind), dict) else {}
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


class MessageLog:
    def __init__(self, dynamodb: Any, table: str, clock=time.time) -> None:
        self._db = client_for(dynamodb, "dynamodb")
        self._table = table
        self._clock = clock

    def record(self, tenant: TenantContext, instance_id: str, user_key: str, entries: list[LogEntry],
               retention_days: int) -> None:
        """Write entries (one request for up to 25)."""
        if not entries:
            return
        pk = keys.user_pk(tenant, instance_id, user_key)
        expires = int(self._clock()) + retention_days * 86400
        items = []
        for entry in entries:
            sk = f"{MSG_SK_PREFIX}{int(entry.at * 1000):015d}#{_digest(entry.wamid or f'{entry.type}{entry.at}')}"
            items.append({"PutRequest": {"Item": to_item({
                "pk": pk, "sk": sk, "expires_at": expires, **entry.model_dump(exclude_none=True)})}})
        for start in range(0, len(items), 25):
            pending: dict[str, Any] = {self._table: items[start:start + 25]}
            while pending:
                pending = self._db(tenant).batch_write_item(RequestItems=pending).get("UnprocessedItems") or {}

    def page(self, tenant: TenantContext, instance_id: str, user_key: str, limit: int,
             cursor: str | None) -> tuple[list[LogEntry], str | None]:
        """The latest `limit` messages before the cursor, oldest first, with the outbound
        messages' statuses; the next cursor leads to older messages."""
        pk = keys.user_pk(tenant, instance_id, user_key)
        arguments: dict[str, Any] = {
            "TableName": self._table, "KeyConditionExpression": "pk = :pk AND begins_with(sk, :m)",
            "ExpressionAttributeValues": {":pk": {"S": pk}, ":m": {"S": MSG_SK_PREFIX}},
            "ScanIndexForward": False, "Limit": limit}
        if cursor:
            start = decode_cursor(cursor)
            # Only a position inside this very conversation's log is accepted.
            if set(start) != {"pk", "sk"} or start["pk"] != pk or not start["sk"].startswith(MSG_SK_PREFIX):
                raise ValueError("invalid cursor")
            arguments["ExclusiveStartKey"] = key(start["pk"], start["sk"])
        response = self._db(tenant).query(**arguments)
        now = self._clock()
        items = [from_item(item) for item in response.get("Items", [])]
        entries = [LogEntry.model_validate({k: v for k, v in item.items() if k in LogEntry.model_fields})
                   for item in reversed(items) if item.get("expires_at", now + 1) > now]
        self._join_statuses(tenant, pk, entries)
        return entries, encode_cursor(response.get("LastEvaluatedKey"))

    def _join_statuses(self, tenant: TenantContext, pk: str, entries: list[LogEntry]) -> None:
        wanted = {entry.wamid for entry in entries if entry.direction == "out" and entry.wamid}
        if not wanted:
            return
        found: dict[str, dict[str, Any]] = {}
        request: dict[str, Any] = {self._table: {"Keys": [key(pk, f"OUT#{wamid}") for wamid in sorted(wanted)]}}
        while request:
            answer = self._db(tenant).batch_get_item(RequestItems=request)
            for item in map(from_item, answer.get("Responses", {}).get(self._table, [])):
                found[item["sk"].removeprefix("OUT#")] = item
            request = answer.get("UnprocessedKeys") or {}
        for entry in entries:
            item = found.get(entry.wamid or "")
            if item:
                entry.status = item.get("status")
                entry.error = item.get("error")
