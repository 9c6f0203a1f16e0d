"""Plain-dict <-> DynamoDB attribute-value conversion for the low-level client (cheaper to
create at cold start than the resource API), and whole-partition helpers."""

from __future__ import annotations

import base64
import json
from collections.abc import Iterator
from decimal import Decimal
from typing import Any

from boto3.dynamodb.types import TypeDeserializer, TypeSerializer

_serializer = TypeSerializer()
_deserializer = TypeDeserializer()


def _to_dynamo_safe(value: Any) -> Any:
    if isinstance(value, float):
        # DynamoDB numbers go down to 1E-130: anything smaller (a subnormal float) is stored as 0.
        return Decimal(0) if abs(value) < 1e-130 else Decimal(str(value))
    if isinstance(value, dict):
        return {k: _to_dynamo_safe(v) for k, v in value.items() if v is not None}
    if isinstance(value, list | tuple):
        return [_to_dynamo_safe(v) for v in value]
    return value


def _from_dynamo(value: Any) -> Any:
    if isinstance(value, Decimal):
        return int(value) if value == value.to_integral_value() else float(value)
    if isinstance(value, dict):
        return {k: _from_dynamo(v) for k, v in value.items()}
    if isinstance(value, list | set):
        return [_from_dynamo(v) for v in value]
    return value


def to_item(data: dict[str, Any]) -> dict[str, Any]:
    return {k: _serializer.serialize(_to_dynamo_safe(v)) for k, v in data.items() if v is not None}


def to_value(value: Any) -> dict[str, Any]:
    return _serializer.serialize(_to_dynamo_safe(value))


def from_item(item: dict[str, Any]) -> dict[str, Any]:
    return {k: _from_dynamo(_deserializer.deserialize(v)) for k, v in item.items()}


def key(pk: str, sk: str) -> dict[str, Any]:
    return {"pk": {"S": pk}, "sk": {"S": sk}}


def query_partition(dynamodb: Any, table: str, pk: str, sk_prefix: str | None = None,
                    keys_only: bool = False, since: str | None = None) -> Iterator[dict[str, Any]]:
    """Every item of one partition (optionally one sort-key prefix, and from the sort key
    `since` on within it), page by page."""
    if since is not None:
        assert sk_prefix and since.startswith(sk_prefix), "since is a sort key within the prefix"
        condition = " AND sk BETWEEN :since AND :until"
        values = {":since": {"S": since}, ":until": {"S": sk_prefix + "\uffff"}}
    else:
        condition = " AND begins_with(sk, :prefix)" if sk_prefix else ""
        values = {":prefix": {"S": sk_prefix}} if sk_prefix else {}
    arguments: dict[str, Any] = {
        "TableName": table,
        "KeyConditionExpression": "pk = :pk" + condition,
        "ExpressionAttributeValues": {":pk": {"S": pk}, **values},
    }
    if keys_only:
        arguments["ProjectionExpression"] = "pk, sk"
    while True:
        page = dynamodb.query(**arguments)
        yield from page.get("Items", [])
        if "LastEvaluatedKey" not in page:
            return
        arguments["ExclusiveStartKey"] = page["LastEvaluatedKey"]


def delete_partition(dynamodb: Any, table: str, pk: str, sk_prefix: str | None = None) -> int:
    """Delete every item of a partition in batches of 25, retrying unprocessed items."""
    deleted = 0
    batch: list[dict[str, Any]] = []
    for item in query_partition(dynamodb, table, pk, sk_prefix, keys_only=True):
        batch.append({"DeleteRequest": {"Key": {"pk": item["pk"], "sk": item["sk"]}}})
        if len(batch) == 25:
            deleted += _write_batch(dynamodb, table, batch)
            batch = []
    if batch:
        deleted += _write_batch(dynamodb, table, batch)
    return deleted


def _write_batch(dynamodb: Any, table: str, requests: list[dict[str, Any]]) -> int:
    pending = {table: requests}
    for _ in range(8):
        response = dynamodb.batch_write_item(RequestItems=pending)
        pending = response.get("UnprocessedItems") or {}
        if not pending:
            return len(requests)
    raise RuntimeError("DynamoDB kept items unprocessed; try again")


def encode_cursor(last_key: dict[str, Any] | None) -> str | None:
    if not last_key:
        return None
    plain = {name: value["S"] for name, value in last_key.items()}
    return base64.urlsafe_b64encode(json.dumps(plain).encode()).decode().rstrip("=")


def decode_cursor(cursor: str) -> dict[str, str]:
    """Raises ValueError for anything that is not a cursor we issued."""
    padded = cursor + "=" * (-len(cursor) % 4)
    try:
        plain = json.loads(base64.urlsafe_b64decode(padded.encode()))
    except Exception as exc:
        raise ValueError("invalid cursor") from exc
    if not isinstance(plain, dict) or set(plain) != {"pk", "sk"} or not all(isinstance(v, str) for v in plain.values()):
        raise ValueError("invalid cursor")
    return plain
