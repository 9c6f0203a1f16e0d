"""Move tenants' API keys from the app table into the API-key table (upgrading a stack deployed
before API keys had their own table). An operator tool: it runs with the operator's credentials.

    python scripts/move_api_keys.py acme globex [--stack STACK_NAME | --table T --api-key-table K]

Tenants are named (nothing scans the table). Each tenant's `APIKEY#` items are copied as they
are (hash, role, revocation) and then removed from the app table; running it again finds
nothing left to move. Counts go to stderr as log lines; no key material is ever printed.
"""

from __future__ import annotations

import argparse
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
for path in (ROOT, ROOT / "layers/common"):
    if str(path) not in sys.path:
        sys.path.insert(0, str(path))

from aws_lambda_powertools import Logger  # noqa: E402

from scripts.create_tenant import _StderrHandler, resolve_tables  # noqa: E402
from wabot import aws, keys  # noqa: E402
from wabot.dynamo import query_partition  # noqa: E402
from wabot.tenancy import TenantContext  # noqa: E402

logger = Logger(service="move-api-keys", logger_handler=_StderrHandler())


def move_api_keys(tenant: TenantContext, table: str, api_key_table: str) -> int:
    """Copy the tenant's API-key items, then delete them from the app table; returns how many."""
    dynamodb = aws.client("dynamodb")
    moved = 0
    for item in list(query_partition(dynamodb, table, keys.tenant_pk(tenant), keys.APIKEY_SK_PREFIX)):
        dynamodb.put_item(TableName=api_key_table, Item=item)
        dynamodb.delete_item(TableName=table, Key={"pk": item["pk"], "sk": item["sk"]})
        moved += 1
    return moved


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="scripts/move_api_keys.py", description=__doc__.split("\n")[0])
    parser.add_argument("tenant_ids", nargs="+")
    parser.add_argument("--stack", default=None)
    parser.add_argument("--table", default=None)
    parser.add_argument("--api-key-table", default=None)
    args = parser.parse_args(argv)
    table, api_key_table = resolve_tables(args.table, args.api_key_table, args.stack)
    for tenant_id in args.tenant_ids:
        moved = move_api_keys(TenantContext(tenant_id), table, api_key_table)
        logger.info("API keys moved", extra={"tenant_id": tenant_id, "moved": moved})
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
