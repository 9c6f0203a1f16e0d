"""Per-instance flows (`TENANT#{t}` / `FUNNEL#{instance}`); none means the default template.

A flow is stored as zlib-compressed JSON (`flow`): 500 nodes in several languages stay far
below DynamoDB's 400 KB item limit. Items written before the flow language hold the old
document as text (`definition`): they are converted on read, so they keep answering.
"""

from __future__ import annotations

import json
import zlib
from typing import Any

from wabot.dynamo import key
from wabot.funnel.flow import Flow
from wabot.funnel.legacy import convert_legacy
from wabot.keys import tenant_pk
from wabot.tenancy import TenantContext, require_instance_id
from wabot.tenant_credentials import client_for

# DynamoDB's item limit is 400 KB; the rest of the item and a margin stay below it.
MAX_STORED_BYTES = 350_000


class FlowTooLarge(ValueError):
    def __init__(self, size: int) -> None:
        super().__init__(f"the flow takes {size} bytes compressed; at most {MAX_STORED_BYTES}")


class FunnelRepository:
    def __init__(self, dynamodb: Any, table: str) -> None:
        self._db = client_for(dynamodb, "dynamodb")
        self._table = table

    def _key(self, tenant: TenantContext, instance_id: str) -> dict[str, Any]:
        return key(tenant_pk(tenant), f"FUNNEL#{require_instance_id(instance_id)}")

    def get(self, tenant: TenantContext, instance_id: str) -> Flow | None:
        item = self._db(tenant).get_item(TableName=self._table, Key=self._key(tenant, instance_id)).get("Item")
        if not item:
            return None
        if "flow" in item:
            return Flow.model_validate_json(zlib.decompress(item["flow"]["B"]))
        return Flow.model_validate(convert_legacy(json.loads(item["definition"]["S"])))

    @staticmethod
    def encode(flow: Flow) -> bytes:
        blob = zlib.compress(json.dumps(flow.document(), ensure_ascii=False).encode(), 9)
        if len(blob) > MAX_STORED_BYTES:
            raise FlowTooLarge(len(blob))
        return blob

    def put(self, tenant: TenantContext, instance_id: str, flow: Flow) -> None:
        self._db(tenant).put_item(TableName=self._table,
                                  Item={**self._key(tenant, instance_id), "flow": {"B": self.encode(flow)}})

    def delete(self, tenant: TenantContext, instance_id: str) -> None:
        self._db(tenant).delete_item(TableName=self._table, Key=self._key(tenant, instance_id))
