"""The admin console's static files: loaded once per execution environment, served by path.

Assets are addressed by a version derived from the content of every file
(`/console/assets/{version}/{name}`), so they can be cached forever; the HTML that names
them is revalidated on every load (`no-cache` with an ETag). Nothing here knows of events.
"""

from __future__ import annotations

import hashlib
from dataclasses import dataclass
from pathlib import Path

STATIC_DIR = Path(__file__).resolve().parent / "static"
INDEX = "index.html"
ASSETS_PLACEHOLDER = "__ASSETS__"
CONTENT_TYPES = {
    ".html": "text/html; charset=utf-8",
    ".js": "text/javascript; charset=utf-8",
    ".css": "text/css; charset=utf-8",
    ".svg": "image/svg+xml",
    ".png": "image/png",
    ".ico": "image/x-icon",
}
COMPRESSIBLE = (".html", ".js", ".css", ".svg")
IMMUTABLE = "public, max-age=31536000, immutable"
REVALIDATE = "no-cache"
# Every console response carries these (the handler adds them to errors and redirects too).
CONTENT_SECURITY_POLICY = (
    "default-src 'self'; script-src 'self'; style-src 'self'; img-src 'self'; connect-src 'self'; "
    "font-src 'self'; object-src 'none'; base-uri 'none'; form-action 'self'; frame-ancestors 'none'"
)
SECURITY_HEADERS = {
    "Content-Security-Policy": CONTENT_SECURITY_POLICY,
    "X-Content-Type-Options": "nosniff",
    "Referrer-Policy": "no-referrer",
    "X-Frame-Options": "DENY",
    "Cross-Origin-Opener-Policy": "same-origin",
}


@dataclass(frozen=True)
class Asset:
    body: bytes
    content_type: str
    cache_control: str
    etag: str

    @property
    def compressible(self) -> bool:
        return self.content_type.split(";")[0] in {CONTENT_TYPES[ext].split(";")[0] for ext in COMPRESSIBLE}


class ConsoleAssets:
    """Every file of the console, with the versioned index page."""

    def __init__(self, root: Path = STATIC_DIR) -> None:
        files = {path.name: path.read_bytes() for path in sorted(root.iterdir())
                 if path.is_file() and path.suffix in CONTENT_TYPES}
        if INDEX not in files:
            raise FileNotFoundError(f"{root / INDEX} is missing")
        digest = hashlib.sha256()
        for name, body in sorted(files.items()):
            digest.update(name.encode() + b"\0" + body + b"\0")
        self.version = digest.hexdigest()[:16]
        self.assets_path = f"/console/assets/{self.version}"
        index = files.pop(INDEX).replace(ASSETS_PLACEHOLDER.encode(), self.assets_path.encode())
        self.index = _asset(INDEX, index, REVALIDATE)
        self._assets = {name: _asset(name, body, IMMUTABLE) for name, body in files.items()}

    def asset(self, version: str, name: str) -> Asset | None:
        """A versioned asset; an older version's URL is gone (the page that named it reloads)."""
        if version != self.version:
            return None
        return self._assets.get(name)


def _asset(name: str, body: bytes, cache_control: str) -> Asset:
    return Asset(body=body, content_type=CONTENT_TYPES[Path(name).suffix], cache_control=cache_control,
                 etag='"' + hashlib.sha256(body).hexdigest()[:32] + '"')
