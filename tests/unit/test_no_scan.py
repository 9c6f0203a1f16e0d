"""No code of the project, tests included, reads DynamoDB with a Scan: every read names a
tenant's partition (Query or GetItem)."""

import re
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]
SCAN_CALL = re.compile(r"\.scan\(|\"Scan\"|'Scan'")


def test_no_dynamodb_scan_anywhere():
    sources = [p for folder in ("layers", "functions", "devstack", "migration", "scripts", "bench", "tests")
               for p in (ROOT / folder).rglob("*.py")]
    assert len(sources) > 50
    offenders = [f"{p.relative_to(ROOT)}:{n}" for p in sources if p.name != "test_no_scan.py"
                 for n, line in enumerate(p.read_text().splitlines(), 1) if SCAN_CALL.search(line)]
    assert offenders == []
