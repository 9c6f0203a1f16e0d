"""The console's static files: versioned by content, the HTML naming the current version."""

from __future__ import annotations

import re

from console_assets import IMMUTABLE, REVALIDATE, ConsoleAssets


def write(root, **files):
    for name, text in files.items():
        (root / name).write_text(text)


def test_assets_are_versioned_by_content_and_the_index_names_the_version(tmp_path):
    write(tmp_path, **{"index.html": '<script type="module" src="__ASSETS__/main.js"></script>',
                       "main.js": "export const a = 1;", "notes.txt": "not served"})
    first = ConsoleAssets(tmp_path)
    assert re.fullmatch(r"[0-9a-f]{16}", first.version)
    assert f'src="/console/assets/{first.version}/main.js"' in first.index.body.decode()
    assert first.index.cache_control == REVALIDATE
    main = first.asset(first.version, "main.js")
    assert main.cache_control == IMMUTABLE and main.content_type.startswith("text/javascript") and main.compressible
    assert first.asset(first.version, "notes.txt") is None  # only known content types are served
    assert first.asset(first.version, "index.html") is None  # the page only at /console/

    write(tmp_path, **{"main.js": "export const a = 2;"})
    second = ConsoleAssets(tmp_path)
    assert second.version != first.version
    assert second.asset(first.version, "main.js") is None  # an older page's URL is gone, never stale content
    assert second.index.etag != first.index.etag


def test_the_shipped_console_loads():
    assets = ConsoleAssets()
    assert assets.asset(assets.version, "main.js") is not None
    assert "__ASSETS__" not in assets.index.body.decode()
