"""Create a tenant and its first admin API key, on the local stack or a deployed stack.
An operator tool: it is not part of the Lambda layer.

    python scripts/create_tenant.py acme [--display-name "Acme Ltd"] [--principal owner]
        [--stack STACK_NAME | --table TABLE_NAME --api-key-table TABLE_NAME]

The tables come from --table and --api-key-table, else the deployed stack's `AppTableName` and
`ApiKeyTableName` outputs (--stack), else the APP_TABLE and API_KEY_TABLE environment variables
(the local stack sets them). It runs with the operator's credentials (both tables). AWS_ENDPOINT_URL points at the
local stack. Progress and errors are structured log lines on stderr; the new admin key is the
only thing written to stdout (never logged), once: it cannot be shown again.
"""

from __future__ import annotations

import argparse
import logging
import os
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
if str(ROOT / "layers/common") not in sys.path:
    sys.path.insert(0, str(ROOT / "layers/common"))

from aws_lambda_powertools import Logger  # noqa: E402

from wabot import aws  # noqa: E402
from wabot.errors import TenantContextError  # noqa: E402
from wabot.repositories.apikeys import ApiKeyRepository  # noqa: E402
from wabot.repositories.tenants import TenantExists, TenantRepository  # noqa: E402
from wabot.tenancy import TenantContext  # noqa: E402


class _StderrHandler(logging.StreamHandler):
    """Log lines go to (the current) stderr: stdout carries only the key, for piping into a secret store."""

    @property
    def stream(self):  # type: ignore[override]
        return sys.stderr

    @stream.setter
    def stream(self, _value) -> None:
        pass


logger = Logger(service="create-tenant", logger_handler=_StderrHandler())


def resolve_tables(table: str | None, api_key_table: str | None, stack: str | None) -> tuple[str, str]:
    """(app table, API-key table)."""
    if table and api_key_table:
        return table, api_key_table
    if stack:
        outputs = aws.client("cloudformation").describe_stacks(StackName=stack)["Stacks"][0].get("Outputs", [])
        values = {output["OutputKey"]: output["OutputValue"] for output in outputs}
        if "AppTableName" not in values or "ApiKeyTableName" not in values:
            raise SystemExit(f"stack {stack} has no AppTableName or ApiKeyTableName output")
        return values["AppTableName"], values["ApiKeyTableName"]
    if os.environ.get("APP_TABLE") and os.environ.get("API_KEY_TABLE"):
        return os.environ["APP_TABLE"], os.environ["API_KEY_TABLE"]
    raise SystemExit("name the tables: --table and --api-key-table, --stack, or APP_TABLE and API_KEY_TABLE")


def create_tenant(tenant_id: str, display_name: str, principal: str, table: str, api_key_table: str) -> str:
    """Create the tenant record and its first admin key; returns the key."""
    tenant = TenantContext(tenant_id)
    dynamodb = aws.client("dynamodb")
    TenantRepository(dynamodb, table).create(tenant, display_name)
    _, api_key = ApiKeyRepository(dynamodb, api_key_table).create(tenant, "admin", principal, created_by="cli")
    return api_key


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="scripts/create_tenant.py", description=__doc__.split("\n")[0])
    parser.add_argument("tenant_id", help="lower-case slug, e.g. acme")
    parser.add_argument("--display-name", default=None)
    parser.add_argument("--principal", default="admin", help="principal id of the first admin")
    parser.add_argument("--stack", default=None, help="deployed stack name (table from its outputs)")
    parser.add_argument("--table", default=None, help="app table name")
    parser.add_argument("--api-key-table", default=None, help="API-key table name")
    args = parser.parse_args(argv)
    try:
        tables = resolve_tables(args.table, args.api_key_table, args.stack)
        api_key = create_tenant(args.tenant_id, args.display_name or args.tenant_id, args.principal, *tables)
    except TenantContextError:
        logger.error("invalid tenant id: use lower-case letters, digits and dashes",
                     extra={"tenant_id": args.tenant_id})
        return 2
    except TenantExists:
        logger.error("tenant already exists", extra={"tenant_id": args.tenant_id})
        return 1
    logger.info("tenant created; its admin API key is on stdout, shown once",
                extra={"tenant_id": args.tenant_id, "principal_id": args.principal})
    sys.stdout.write(api_key + "\n")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
