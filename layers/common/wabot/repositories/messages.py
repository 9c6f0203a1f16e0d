"""The message log of a conversation, for the inbox: one compact item per turn.

Items live in the user's own partition (`...#USER#{user_key}`), so the user reset and the
instance delete remove them with the rest; sort key `MSG#{epoch ms}#{digest}`, TTL the
instance's `message_retention_days`. A turn (what the user sent, the events its decision
caused, the replies sent for it) is one item with an `entries` list, written once after the
replies went out: one write per turn, not one per message. A message without replies is
written once its decision is saved. Both are best effort after the real work: a crash before
the write loses a log entry, never a reply. Statuses are not copied here: they stay on the
`OUT#{wamid}` items the status path already writes, and are joined in when a page is read (a
BatchGetItem per page), so a status costs no extra write. Items of single entries (written
before turns were one item) are read as they are.
"""

from __future__ import annotations

import hashlib
import time
from typing import Any

from wabot import keys
from wabot.dynamo import decode_cursor, encode_cursor, from_item, key, to_item
from wabot.models.message_log import LogEntry
from wabot.tenancy import TenantContext
from wabot.tenant_credentials import client_for

MSG_SK_PREFIX = "MSG#"


def _digest(text: str) -> str:
    return hashlib.blake2b(text.encode(), digest_size=6).hexdigest()


def _turn_sk(first: LogEntry) -> str:
    """A turn's sort key, from its first entry: known before the turn is written."""
    return f"{MSG_SK_PREFIX}{int(first.at * 1000):015d}#{_digest(first.wamid or f'{first.type}{first.at}')}"


class MessageLog:
    def __init__(self, dynamodb: Any, table: str, clock=time.time) -> None:
        self._db = client_for(dynamodb, "dynamodb")
        self._table = table
        self._clock = clock

    def record(self, tenant: TenantContext, instance_id: str, user_key: str, entries: list[LogEntry],
               retention_days: int) -> None:
        """Write the entries of one turn as one item (keyed by its first entry: a retry that
        writes the same turn again overwrites it)."""
        if not entries:
            return
        self._db(tenant).put_item(TableName=self._table, Item=to_item({
            "pk": keys.user_pk(tenant, instance_id, user_key), "sk": _turn_sk(entries[0]),
            "expires_at": int(self._clock()) + retention_days * 86400,
            "entries": [entry.model_dump(exclude_none=True) for entry in entries]}))

    def turn_written(self, tenant: TenantContext, instance_id: str, user_key: str, first: LogEntry) -> bool:
        """Whether the turn that starts with `first` is in the log (a strongly consistent read)."""
        response = self._db(tenant).get_item(
            TableName=self._table, ConsistentRead=True, ProjectionExpression="pk",
            Key=key(keys.user_pk(tenant, instance_id, user_key), _turn_sk(first)))
        return "Item" in response

    def page(self, tenant: TenantContext, instance_id: str, user_key: str, limit: int,
             cursor: str | None) -> tuple[list[LogEntry], str | None]:
        """The messages of the latest `limit` turns before the cursor, oldest first, with the
        outbound messages' statuses; the next cursor leads to older turns."""
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
        entries = [LogEntry.model_validate({k: v for k, v in entry.items() if k in LogEntry.model_fields})
                   for item in reversed(items) if item.get("expires_at", now + 1) > now
                   for entry in item.get("entries", [item])]
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
            status = found.get(entry.wamid or "")
            if status:
                entry.status = status.get("status")
                entry.error = status.get("error")
