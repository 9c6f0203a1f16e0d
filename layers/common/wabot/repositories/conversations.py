"""Conversation data of an instance's users, and removing all of an instance's data.

Layout: `...#USERS` indexes the instance's users (one item per user, sk `USER#{user_key}`), and
each user's own partition `...#USER#{user_key}` holds profile, funnel events, discovery answers
and history. The index is what lets an instance's data be found and deleted without a Scan.
"""

from __future__ import annotations

from typing import Any

from wabot import keys
from wabot.dynamo import delete_partition, query_partition
from wabot.tenancy import TenantContext

USER_SK_PREFIX = "USER#"


class InstanceDataPurger:
    def __init__(self, dynamodb: Any, table: str) -> None:
        self._dynamodb = dynamodb
        self._table = table

    def purge(self, tenant: TenantContext, instance_id: str) -> int:
        """Delete every user partition, the user index, the activity log and the stats."""
        deleted = 0
        index_pk = keys.users_pk(tenant, instance_id)
        for item in query_partition(self._dynamodb, self._table, index_pk, USER_SK_PREFIX, keys_only=True):
            user_key = item["sk"]["S"].removeprefix(USER_SK_PREFIX)
            deleted += delete_partition(self._dynamodb, self._table, keys.user_pk(tenant, instance_id, user_key))
        for pk in (index_pk, keys.activity_pk(tenant, instance_id), keys.stats_pk(tenant, instance_id)):
            deleted += delete_partition(self._dynamodb, self._table, pk)
        return deleted
