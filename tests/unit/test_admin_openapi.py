"""The committed OpenAPI document (docs/openapi.json) is the code's: API changes show up in review."""

from __future__ import annotations

import json

from scripts import openapi


def test_committed_openapi_document_matches_the_code():
    committed = openapi.DOCUMENT.read_text(encoding="utf-8")
    assert committed == openapi.render(), (
        "docs/openapi.json differs from the admin API's code: run `make openapi` and commit the result")


def test_document_is_rendered_deterministically():
    first = openapi.render()
    assert first == openapi.render()
    assert first == json.dumps(json.loads(first), indent=2, sort_keys=True, ensure_ascii=False) + "\n"
    assert "/admin/whatsapp/instances" in json.loads(first)["paths"]
