"""Write the admin API's OpenAPI document to docs/openapi.json (`make openapi`).

The committed file shows API changes in review; tests/unit/test_admin_openapi.py fails when the
code's document drifts from it. Keys sorted and indented: the same code gives the same bytes.

    python scripts/openapi.py [--check]
"""

from __future__ import annotations

import argparse
import json
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
DOCUMENT = ROOT / "docs" / "openapi.json"
for path in ("layers/common", "functions/admin"):
    if str(ROOT / path) not in sys.path:
        sys.path.insert(0, str(ROOT / path))


def render() -> str:
    """The admin app's document as committed: sorted keys, two-space indent, final newline."""
    import admin_handler

    return json.dumps(json.loads(admin_handler.openapi_document()), indent=2, sort_keys=True,
                      ensure_ascii=False) + "\n"


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--check", action="store_true", help="exit 1 when the committed file differs")
    args = parser.parse_args()
    document = render()
    if args.check:
        if DOCUMENT.read_text(encoding="utf-8") != document:
            print(f"{DOCUMENT.relative_to(ROOT)} is out of date: run `make openapi`", file=sys.stderr)
            return 1
        return 0
    DOCUMENT.write_text(document, encoding="utf-8")
    print(f"wrote {DOCUMENT.relative_to(ROOT)}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
