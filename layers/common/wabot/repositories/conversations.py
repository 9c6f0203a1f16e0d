"""Conversation data of an instance's users, and removing it.

Layout (all under the tenant and instance):
- `...#USERS` / `USER#{user_key}`: the index of the instance's users, so that their data can
  be found and deleted without a Scan;
- `...#USER#{user_key}`: `PROFILE` (identity, funnel state, recent funnel steps, the reply
  plan being sent), `EVENT#{time}#{n}` (funnel history imported from the legacy platform),
  `OUT#{wamid}` (state of a message we sent), `HIST#...` (LLM history), `LLMREPLY#...`,
  `TRANSCRIPT#{wamid}` (what a voice note said), `LLMPENDING#{time}#{digest}` (LLM-bound
  messages of a burst not answered yet).
Everything expires 30 days after the user was last active.

The profile is written twice per answered message (the plan before sending, the progress
after), so it is stored as one zlib-compressed JSON attribute beside its `version` and
`expires_at`: a plan of interactive messages compresses about 3x, which keeps a typical
profile under DynamoDB's 1 KB write unit.
"""

from __future__ import annotations

import hashlib
import json
import time
import zlib
from collections.abc import Callable
from datetime import UTC, datetime
from typing import TYPE_CHECKING, Any

from wabot import keys
from wabot.dynamo import (
    decode_cursor,
    delete_partition,
    encode_cursor,
    from_item,
    key,
    query_partition,
    to_item,
    to_value,
)
from wabot.models.conversation import PendingLlmMessage, ReplyPlan, UserProfile
from wabot.tenancy import TenantContext
from wabot.tenant_credentials import client_for

if TYPE_CHECKING:  # the type only: the funnel worker never loads the LLM backends
    from wabot.llm.backends import Role as ChatRole

USER_SK_PREFIX = "USER#"
PROFILE_SK = "PROFILE"
STATE_TTL_SECONDS = 30 * 24 * 3600
STATUS_RANK = {"sent": 1, "delivered": 2, "read": 3, "played": 4, "failed": 5}
INBOX_INDEX = "InboxIndex"
INBOX_PK_ATTRIBUTE = "inbox_pk"
INBOX_AT_ATTRIBUTE = "inbox_at"
LLM_PLAN_TTL_SECONDS = 8 * 24 * 3600
PENDING_SK_PREFIX = "LLMPENDING#"
MAX_PENDING_READ = 50  # a burst answers at most 10 of them (wabot.llm.burst)


class ConcurrentUpdate(Exception):
    pass


class ConversationStore:
    def __init__(self, dynamodb: Any, table: str, clock=time.time) -> None:
        self._db = client_for(dynamodb, "dynamodb")
        self._table = table
        self._clock = clock

    def _expires(self) -> int:
        return int(self._clock()) + STATE_TTL_SECONDS

    def get_profile(self, tenant: TenantContext, instance_id: str, user_key: str) -> UserProfile | None:
        response = self._db(tenant).get_item(TableName=self._table, ConsistentRead=True,
                                           Key=key(keys.user_pk(tenant, instance_id, user_key), PROFILE_SK))
        return self._decode(response.get("Item"))

    def _decode(self, item: dict[str, Any] | None) -> UserProfile | None:
        if not item:
            return None
        if float(item.get("expires_at", {}).get("N", "inf")) <= self._clock():
            return None  # expired, not yet deleted by DynamoDB
        data = json.loads(zlib.decompress(item["profile"]["B"]))
        return UserProfile.model_validate({**data, "version": int(item["version"]["N"])})

    def save_profile(self, tenant: TenantContext, instance_id: str, profile: UserProfile) -> UserProfile:
        """Write the profile if nobody else did meanwhile (optimistic, on `version`)."""
        expected = profile.version
        saved = profile.model_copy(update={"version": expected + 1})
        blob = zlib.compress(saved.model_dump_json(exclude={"version"}, exclude_defaults=True).encode())
        item = {"pk": {"S": keys.user_pk(tenant, instance_id, profile.user_key)}, "sk": {"S": PROFILE_SK},
                "version": {"N": str(saved.version)}, "expires_at": {"N": str(self._expires())},
                "profile": {"B": blob},
                # The inbox index (GSI, keys only): the instance's conversations by last activity.
                INBOX_PK_ATTRIBUTE: {"S": keys.inbox_pk(tenant, instance_id)},
                INBOX_AT_ATTRIBUTE: {"N": str(saved.last_activity_at)}}
        condition = "attribute_not_exists(pk)" if expected == 0 else "version = :v"
        arguments: dict[str, Any] = {"TableName": self._table, "Item": item, "ConditionExpression": condition}
        if expected:
            arguments["ExpressionAttributeValues"] = {":v": {"N": str(expected)}}
        try:
            self._db(tenant).put_item(**arguments)
        except self._db(tenant).exceptions.ConditionalCheckFailedException:
            raise ConcurrentUpdate(profile.user_key) from None
        if expected == 0:
            self._db(tenant).put_item(TableName=self._table, Item=to_item({
                "pk": keys.users_pk(tenant, instance_id), "sk": f"{USER_SK_PREFIX}{profile.user_key}",
                "phone": profile.phone, "user_id": profile.user_id, "expires_at": self._expires()}))
        return saved

    def mark_sent(self, tenant: TenantContext, instance_id: str, profile: UserProfile, sent: int,
                  at: int | None = None, llm_queued: bool = False) -> UserProfile:
        """Record progress through the plan. A plan that is done stays as the record of it (its
        log entries, written with the replies by then, are dropped to keep the profile small):
        this write is what makes a redelivered message find nothing left to do."""
        assert profile.plan is not None
        plan = profile.plan.model_copy(update={"sent": sent, "llm_queued": llm_queued or profile.plan.llm_queued})
        update: dict[str, Any] = {"unread": 0}
        if at is not None:
            update["last_outbound_at"] = at
        if plan.done:
            plan.log = []
            update["handled"] = profile.remember(plan.message_id)
        update["plan"] = plan
        return self.save_profile(tenant, instance_id, profile.model_copy(update=update))

    def update(self, tenant: TenantContext, instance_id: str, user_key: str,
               change: Callable[[UserProfile], dict[str, Any] | None], attempts: int = 5) -> UserProfile | None:
        """Read, change and write the profile, again if someone else wrote it meanwhile.
        `change` answers the fields to set, or None to leave the profile alone."""
        for _ in range(attempts):
            profile = self.get_profile(tenant, instance_id, user_key)
            if profile is None:
                return None
            fields = change(profile)
            if fields is None:
                return profile
            try:
                return self.save_profile(tenant, instance_id, profile.model_copy(update=fields))
            except ConcurrentUpdate:
                continue
        raise ConcurrentUpdate(user_key)

    def abandon_plan(self, tenant: TenantContext, instance_id: str, user_key: str, message_id: str) -> None:
        """A plan held by a hand-off is dropped (remembered as handled), so no retry sends it later."""
        self.update(tenant, instance_id, user_key, lambda p: {
            "plan": None, "handled": p.remember(message_id)} if p.plan and p.plan.message_id == message_id else None)

    def mark_failure(self, tenant: TenantContext, instance_id: str, user_key: str, failure: dict[str, Any]) -> None:
        self.update(tenant, instance_id, user_key, lambda p: {"failure": failure})

    def list_conversations(self, tenant: TenantContext, instance_id: str, limit: int,
                           cursor: str | None) -> tuple[list[UserProfile], str | None]:
        """One page of the instance's conversations, most recent activity first (the inbox index)."""
        index_pk = keys.inbox_pk(tenant, instance_id)
        arguments: dict[str, Any] = {
            "TableName": self._table, "IndexName": INBOX_INDEX, "KeyConditionExpression": "#ipk = :ipk",
            "ExpressionAttributeNames": {"#ipk": INBOX_PK_ATTRIBUTE},
            "ExpressionAttributeValues": {":ipk": {"S": index_pk}}, "ScanIndexForward": False, "Limit": limit}
        if cursor:
            start = decode_cursor(cursor, ("pk", "sk", INBOX_PK_ATTRIBUTE, INBOX_AT_ATTRIBUTE))
            user_prefix = keys.user_pk(tenant, instance_id, "-").removesuffix("-")
            # Only a position inside this instance's own inbox is accepted.
            if start[INBOX_PK_ATTRIBUTE] != index_pk or not start["pk"].startswith(user_prefix) or \
                    start["sk"] != PROFILE_SK or not start[INBOX_AT_ATTRIBUTE].isdigit():
                raise ValueError("invalid cursor")
            arguments["ExclusiveStartKey"] = {
                "pk": {"S": start["pk"]}, "sk": {"S": PROFILE_SK}, INBOX_PK_ATTRIBUTE: {"S": index_pk},
                INBOX_AT_ATTRIBUTE: {"N": start[INBOX_AT_ATTRIBUTE]}}
        page = self._db(tenant).query(**arguments)
        wanted = [item["pk"]["S"] for item in page.get("Items", [])]
        found: dict[str, UserProfile] = {}
        request: dict[str, Any] = {self._table: {"Keys": [key(pk, PROFILE_SK) for pk in wanted],
                                                 "ConsistentRead": True}} if wanted else {}
        while request:
            answer = self._db(tenant).batch_get_item(RequestItems=request)
            for item in answer.get("Responses", {}).get(self._table, []):
                profile = self._decode(item)
                if profile is not None:
                    found[item["pk"]["S"]] = profile
            request = answer.get("UnprocessedKeys") or {}
        last = page.get("LastEvaluatedKey")
        return [found[pk] for pk in wanted if pk in found], encode_cursor(last)

    def import_events(self, tenant: TenantContext, instance_id: str, user_key: str,
                      events: list[tuple[str, str, int]], write: bool = True) -> int:
        """Add events (sort-key suffix, step, epoch) not there yet; returns how many were (or would be) new."""
        pk = keys.user_pk(tenant, instance_id, user_key)
        existing = {item["sk"]["S"] for item in query_partition(self._db(tenant), self._table, pk, "EVENT#",
                                                                keys_only=True)}
        new = [(f"EVENT#{suffix}", step, at) for suffix, step, at in events if f"EVENT#{suffix}" not in existing]
        if write:
            for start in range(0, len(new), 25):
                pending = {self._table: [{"PutRequest": {"Item": to_item({
                    "pk": pk, "sk": sk, "step": step, "at": at, "expires_at": self._expires()})}}
                    for sk, step, at in new[start:start + 25]]}
                while pending:
                    pending = self._db(tenant).batch_write_item(RequestItems=pending).get("UnprocessedItems") or {}
        return len(new)

    def steps(self, tenant: TenantContext, instance_id: str, user_key: str) -> list[str]:
        """The user's funnel steps, oldest first: history imported from the legacy platform, then
        the latest ones the profile keeps."""
        items = query_partition(self._db(tenant), self._table, keys.user_pk(tenant, instance_id, user_key), "EVENT#")
        steps = [item["step"] for item in map(from_item, items)]
        profile = self.get_profile(tenant, instance_id, user_key)
        return steps + (profile.steps if profile else [])

    def update_outbound_status(self, tenant: TenantContext, instance_id: str, user_key: str, wamid: str,
                               status: str, at: int, error: dict[str, Any] | None = None) -> bool:
        """Move a sent message's state forward only (a late `delivered` never overwrites `read`);
        a failure keeps its error (code, title) for the inbox."""
        rank = STATUS_RANK.get(status)
        if rank is None:
            return False
        values = {":s": {"S": status}, ":r": {"N": str(rank)}, ":at": {"N": str(at)},
                  ":exp": {"N": str(self._expires())}}
        update = "SET #s = :s, #r = :r, #at = :at, expires_at = :exp"
        if error:
            update += ", #e = :e"
            values[":e"] = to_value(error)
        try:
            self._db(tenant).update_item(
                TableName=self._table, Key=key(keys.user_pk(tenant, instance_id, user_key), f"OUT#{wamid}"),
                UpdateExpression=update, ConditionExpression="attribute_not_exists(#r) OR #r < :r",
                ExpressionAttributeNames={"#s": "status", "#r": "rank", "#at": "status_at",
                                          **({"#e": "error"} if error else {})},
                ExpressionAttributeValues=values,
            )
        except self._db(tenant).exceptions.ConditionalCheckFailedException:
            return False
        return True

    def outbound_status(self, tenant: TenantContext, instance_id: str, user_key: str, wamid: str) -> str | None:
        response = self._db(tenant).get_item(TableName=self._table,
                                           Key=key(keys.user_pk(tenant, instance_id, user_key), f"OUT#{wamid}"))
        return from_item(response["Item"])["status"] if "Item" in response else None

    def resolve_user(self, tenant: TenantContext, instance_id: str, reference: str) -> str | None:
        """The user key for a phone number or business-scoped user id (a Query on the instance's
        own user index, never a Scan)."""
        if self.get_profile(tenant, instance_id, reference) is not None:
            return reference
        arguments: dict[str, Any] = {
            "TableName": self._table, "KeyConditionExpression": "pk = :pk",
            "FilterExpression": "phone = :ref OR user_id = :ref",
            "ExpressionAttributeValues": {":pk": {"S": keys.users_pk(tenant, instance_id)}, ":ref": {"S": reference}}}
        while True:
            page = self._db(tenant).query(**arguments)
            if page.get("Items"):
                return page["Items"][0]["sk"]["S"].removeprefix(USER_SK_PREFIX)
            if "LastEvaluatedKey" not in page:
                return None
            arguments["ExclusiveStartKey"] = page["LastEvaluatedKey"]

    # ---- LLM history and reply plans ----------------------------------------------------------

    def append_history(self, tenant: TenantContext, instance_id: str, user_key: str,
                       turns: list[tuple[str, str]]) -> None:
        """Add (role, text) turns, oldest first; they expire with the rest of the user's data."""
        now = self._clock()
        pk = keys.user_pk(tenant, instance_id, user_key)
        for i, (role, text) in enumerate(turns):
            stamp = datetime.fromtimestamp(now, UTC).strftime("%Y-%m-%dT%H:%M:%S.%f")
            self._db(tenant).put_item(TableName=self._table, Item=to_item({
                "pk": pk, "sk": f"HIST#{stamp}#{i}", "role": role, "text": text[:8000],
                "expires_at": self._expires()}))

    def history(self, tenant: TenantContext, instance_id: str, user_key: str,
                turns: int) -> list[tuple[ChatRole, str]]:
        """The last `turns` exchanges (user + assistant), oldest first."""
        if turns <= 0:
            return []
        response = self._db(tenant).query(
            TableName=self._table, KeyConditionExpression="pk = :pk AND begins_with(sk, :h)",
            ExpressionAttributeValues={":pk": {"S": keys.user_pk(tenant, instance_id, user_key)},
                                       ":h": {"S": "HIST#"}},
            ScanIndexForward=False, Limit=turns * 2)
        now = self._clock()
        items = [from_item(item) for item in response.get("Items", [])]
        return [(item["role"], item["text"]) for item in reversed(items) if item.get("expires_at", now + 1) > now]

    def get_llm_plan(self, tenant: TenantContext, instance_id: str, user_key: str, message_id: str) -> ReplyPlan | None:
        response = self._db(tenant).get_item(TableName=self._table, ConsistentRead=True, Key=key(
            keys.user_pk(tenant, instance_id, user_key), f"LLMREPLY#{message_id}"))
        return ReplyPlan.model_validate(from_item(response["Item"])) if "Item" in response else None

    def _llm_plan_item(self, tenant: TenantContext, instance_id: str, user_key: str, plan: ReplyPlan) -> dict:
        return to_item({"pk": keys.user_pk(tenant, instance_id, user_key), "sk": f"LLMREPLY#{plan.message_id}",
                        "expires_at": int(self._clock()) + LLM_PLAN_TTL_SECONDS, **plan.model_dump(mode="json")})

    def save_llm_plan(self, tenant: TenantContext, instance_id: str, user_key: str, plan: ReplyPlan) -> None:
        self._db(tenant).put_item(TableName=self._table, Item=self._llm_plan_item(tenant, instance_id, user_key, plan))

    def save_burst_plan(self, tenant: TenantContext, instance_id: str, user_key: str, plan: ReplyPlan,
                        answered: list[PendingLlmMessage]) -> None:
        """The answer to a burst, in one transaction: the plan, a `covered_by` plan for every other
        message it answers (their own jobs then find nothing to do), and the pending entries gone.
        All or nothing, so no job can see its message neither pending nor covered."""
        pk = keys.user_pk(tenant, instance_id, user_key)
        items = [{"Put": {"TableName": self._table,
                          "Item": self._llm_plan_item(tenant, instance_id, user_key, plan)}}]
        items += [{"Put": {"TableName": self._table, "Item": self._llm_plan_item(
            tenant, instance_id, user_key, ReplyPlan(message_id=other, replies=[], covered_by=plan.message_id))}}
            for other in plan.covers]
        items += [{"Delete": {"TableName": self._table, "Key": key(pk, entry.sk)}} for entry in answered]
        self._db(tenant).transact_write_items(TransactItems=items)

    def add_pending_llm(self, tenant: TenantContext, instance_id: str, user_key: str, message_id: str, text: str,
                        at: float, plain: bool) -> None:
        """Idempotent: the key is the time the funnel decided (kept in its plan) and the message."""
        digest = hashlib.blake2b(message_id.encode(), digest_size=8).hexdigest()
        self._db(tenant).put_item(TableName=self._table, Item=to_item({
            "pk": keys.user_pk(tenant, instance_id, user_key),
            "sk": f"{PENDING_SK_PREFIX}{int(at * 1000):015d}#{digest}", "message_id": message_id,
            "text": text[:8000], "at": str(at), "plain": plain,
            "expires_at": int(self._clock()) + LLM_PLAN_TTL_SECONDS}))

    def pending_llm(self, tenant: TenantContext, instance_id: str, user_key: str) -> list[PendingLlmMessage]:
        """The user's LLM-bound messages no answer covers yet, oldest first (a strongly consistent Query)."""
        response = self._db(tenant).query(
            TableName=self._table, ConsistentRead=True, Limit=MAX_PENDING_READ,
            KeyConditionExpression="pk = :pk AND begins_with(sk, :p)",
            ExpressionAttributeValues={":pk": {"S": keys.user_pk(tenant, instance_id, user_key)},
                                       ":p": {"S": PENDING_SK_PREFIX}})
        entries = [from_item(item) for item in response.get("Items", [])]
        return [PendingLlmMessage.model_validate({**entry, "at": float(entry["at"])}) for entry in entries]

    def save_transcript(self, tenant: TenantContext, instance_id: str, user_key: str, message_id: str,
                        text: str) -> None:
        """What a voice note said, kept with the user's messages (a retry does not transcribe again)."""
        self._db(tenant).put_item(TableName=self._table, Item=to_item({
            "pk": keys.user_pk(tenant, instance_id, user_key), "sk": f"TRANSCRIPT#{message_id}",
            "text": text, "at": int(self._clock()), "expires_at": self._expires()}))

    def transcript(self, tenant: TenantContext, instance_id: str, user_key: str, message_id: str) -> str | None:
        response = self._db(tenant).get_item(TableName=self._table, ConsistentRead=True, Key=key(
            keys.user_pk(tenant, instance_id, user_key), f"TRANSCRIPT#{message_id}"))
        return from_item(response["Item"])["text"] if "Item" in response else None

    def reset_user(self, tenant: TenantContext, instance_id: str, user_key: str) -> int:
        """Forget one user: profile, funnel events, discovery answers, history."""
        deleted = delete_partition(self._db(tenant), self._table, keys.user_pk(tenant, instance_id, user_key))
        self._db(tenant).delete_item(TableName=self._table, Key=key(keys.users_pk(tenant, instance_id),
                                                                  f"{USER_SK_PREFIX}{user_key}"))
        return deleted


class InstanceDataPurger:
    def __init__(self, dynamodb: Any, table: str) -> None:
        self._db = client_for(dynamodb, "dynamodb")
        self._table = table

    def purge(self, tenant: TenantContext, instance_id: str) -> int:
        """Delete every user partition, the user index, the activity log and the stats."""
        deleted = 0
        index_pk = keys.users_pk(tenant, instance_id)
        for item in query_partition(self._db(tenant), self._table, index_pk, USER_SK_PREFIX, keys_only=True):
            user_key = item["sk"]["S"].removeprefix(USER_SK_PREFIX)
            deleted += delete_partition(self._db(tenant), self._table, keys.user_pk(tenant, instance_id, user_key))
        for pk in (index_pk, keys.activity_pk(tenant, instance_id), keys.stats_pk(tenant, instance_id)):
            deleted += delete_partition(self._db(tenant), self._table, pk)
        return deleted
