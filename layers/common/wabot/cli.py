"""Operator commands, run against the local stack or a deployed stack.

    python -m wabot.cli create-tenant acme [--display-name "Acme Ltd"] [--principal owner]
        [--stack STACK_NAME | --table TABLE_NAME]

The table comes from --table, else the deployed stack's `AppTableName` output (--stack), else
the APP_TABLE environment variable (the local stack sets it). AWS_ENDPOINT_URL points at the
local stack. The new admin key is printed once, on stdout; it cannot be shown again.
"""

from __future__ import annotations

import argparse
import os
import sys

from wabot import aws
from wabot.errors import TenantContextError
from wabot.repositories.apikeys import ApiKeyRepository
from wabot.repositories.tenants import TenantExists, TenantRepository
from wabot.tenancy import TenantContext


def resolve_table(table: str | None, stack: str | None) -> str:
    if table:
        return table
    if stack:
        outputs = aws.client("cloudformation").describe_stacks(StackName=stack)["Stacks"][0].get("Outputs", [])
        for output in outputs:
            if output["OutputKey"] == "AppTableName":
                return output["OutputValue"]
        raise SystemExit(f"stack {stack} has no AppTableName output")
    if os.environ.get("APP_TABLE"):
        return os.environ["APP_TABLE"]
    raise SystemExit("name the table: --table, --stack, or APP_TABLE")


def create_tenant(tenant_id: str, display_name: str, principal: str, table: str) -> str:
    """Create the tenant record and its first admin key; returns the key."""
    tenant = TenantContext(tenant_id)
    dynamodb = aws.client("dynamodb")
    TenantRepository(dynamodb, table).create(tenant, display_name)
    _, api_key = ApiKeyRepository(dynamodb, table).create(tenant, "admin", principal, created_by="cli")
    return api_key


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m wabot.cli")
    commands = parser.add_subparsers(dest="command", required=True)
    create = commands.add_parser("create-tenant", help="create a tenant and its first admin API key")
    create.add_argument("tenant_id", help="lower-case slug, e.g. acme")
    create.add_argument("--display-name", default=None)
    create.add_argument("--principal", default="admin", help="principal id of the first admin")
    create.add_argument("--stack", default=None, help="deployed stack name (table from its outputs)")
    create.add_argument("--table", default=None, help="app table name")
    args = parser.parse_args(argv)
    try:
        table = resolve_table(args.table, args.stack)
        api_key = create_tenant(args.tenant_id, args.display_name or args.tenant_id, args.principal, table)
    except TenantContextError:
        print(f"invalid tenant id {args.tenant_id!r}: use lower-case letters, digits and dashes", file=sys.stderr)
        return 2
    except TenantExists:
        print(f"tenant {args.tenant_id} already exists", file=sys.stderr)
        return 1
    print(f"tenant {args.tenant_id} created; its admin API key (shown once):", file=sys.stderr)
    print(api_key)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
