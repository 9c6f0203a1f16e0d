"""Move a tenant of the legacy WhatsApp bot platform into this platform. Safe to repeat.

    python scripts/migrate_whatsapp.py --db ORCHESTRATOR.db --data-dir LEGACY_DATA_DIR \\
        --tenant TENANT [--source-tenant LEGACY_TENANT] [--dry-run] [--stack STACK_NAME | --api-port PORT]

Against a deployed stack with --stack (tables and SSM prefix from its outputs, AWS
credentials from the environment); otherwise against the running local stack (`make run`).
Secrets are written to SSM and never printed.
"""

from __future__ import annotations

import argparse
import os
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
for extra in ("layers/common", "functions/admin", "."):
    if str(ROOT / extra) not in sys.path:
        sys.path.insert(0, str(ROOT / extra))

from devstack.state import read_live_state  # noqa: E402
from migration.migrator import Migrator, Stores  # noqa: E402
from wabot import aws  # noqa: E402
from wabot.errors import TenantContextError  # noqa: E402
from wabot.repositories.conversations import ConversationStore  # noqa: E402
from wabot.repositories.funnels import FunnelRepository  # noqa: E402
from wabot.repositories.instances import InstanceRepository  # noqa: E402
from wabot.repositories.secrets import SecretStore  # noqa: E402
from wabot.repositories.stats import StatsRepository  # noqa: E402
from wabot.tenancy import TenantContext  # noqa: E402


def target(stack: str | None, api_port: int) -> tuple[str, str]:
    """(app table, SSM prefix) of a deployed stack, or of the local stack serving `api_port`."""
    if stack:
        outputs = aws.client("cloudformation").describe_stacks(StackName=stack)["Stacks"][0].get("Outputs", [])
        values = {o["OutputKey"]: o["OutputValue"] for o in outputs}
        return values["AppTableName"], values["SsmPrefix"]
    state = read_live_state(api_port)
    if state is None:
        raise SystemExit(f"no local stack on port {api_port} (start `make run`) and no --stack given")
    os.environ.setdefault("AWS_ENDPOINT_URL", state["aws_endpoint"])
    for name, value in (("AWS_ACCESS_KEY_ID", "local"), ("AWS_SECRET_ACCESS_KEY", "local"),
                        ("AWS_DEFAULT_REGION", "eu-west-1")):
        os.environ.setdefault(name, value)
    return state["app_table"], "/wabot-local"


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--db", required=True, type=Path, help="the orchestrator's SQLite database")
    parser.add_argument("--data-dir", required=True, type=Path, help="the legacy data directory")
    parser.add_argument("--tenant", default="default", help="target tenant on this platform")
    parser.add_argument("--source-tenant", default=None, help="legacy tenant id (default: --tenant)")
    parser.add_argument("--dry-run", action="store_true", help="report what would change, write nothing")
    parser.add_argument("--stack", default=None, help="deployed stack name (default: the local stack)")
    parser.add_argument("--api-port", type=int, default=int(os.environ.get("LOCAL_API_PORT", "3000")),
                        help="the local stack's API port (default: LOCAL_API_PORT or 3000)")
    args = parser.parse_args(argv)
    if not args.db.exists():
        print(f"no such database: {args.db}", file=sys.stderr)
        return 2
    try:
        tenant = TenantContext(args.tenant)
    except TenantContextError:
        print(f"invalid tenant id {args.tenant!r}", file=sys.stderr)
        return 2
    table, prefix = target(args.stack, args.api_port)
    dynamodb = aws.client("dynamodb")
    stores = Stores(InstanceRepository(dynamodb, table), SecretStore(prefix, aws.client("ssm")),
                    FunnelRepository(dynamodb, table), ConversationStore(dynamodb, table),
                    StatsRepository(dynamodb, table))
    migrator = Migrator(stores, tenant, write=not args.dry_run, progress=sys.stderr.isatty())
    try:
        report = migrator.run(args.db, args.data_dir, args.source_tenant or args.tenant)
    except ValueError as exc:
        print(f"cannot read the legacy data: {exc}", file=sys.stderr)
        return 2
    print(report.render(args.dry_run))
    return 0


if __name__ == "__main__":
    sys.exit(main())
