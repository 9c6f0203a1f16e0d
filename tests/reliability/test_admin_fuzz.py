"""The admin API fuzzed from its own OpenAPI document (schemathesis), through the running local
stack: never a 5xx, and every response matches the schema documented for its status."""

from __future__ import annotations

import os

import httpx
import pytest
import schemathesis
from hypothesis import HealthCheck, given, settings
from schemathesis.checks import not_a_server_error
from schemathesis.specs.openapi.checks import response_schema_conformance

from tests.e2e.conftest import ADMIN_KEY, ROOT, start_stack

EXAMPLES = int(os.environ.get("ADMIN_FUZZ_EXAMPLES", "30"))  # per operation; bounded for `make test`
AUTH = {"authorization": f"Bearer {ADMIN_KEY}"}


@pytest.fixture(scope="module")
def api():
    (ROOT / ".local").mkdir(exist_ok=True)
    stack = start_stack()
    # Something to find: fuzzed calls on an existing instance reach past the 404s.
    created = stack.client.admin("POST", "/admin/whatsapp/instances", {
        "name": "Fuzz", "phone_number_id": "400000000000001", "access_token": "fuzz-access-token"})
    assert created.status_code == 201, created.text
    yield stack
    stack.client.close()
    stack.other.close()
    stack.stop()


def test_admin_api_fuzzed_from_its_openapi_document(api):
    document = httpx.get(f"{api.api}/admin/openapi.json", headers=AUTH).json()
    schema = schemathesis.openapi.from_dict(document)
    operations = [result.ok() for result in schema.get_all_operations()]
    assert len(operations) >= 25
    failures: dict[str, str] = {}
    calls = 0
    for operation in operations:
        @settings(max_examples=EXAMPLES, derandomize=True, deadline=None, database=None,
                  suppress_health_check=list(HealthCheck))
        @given(case=operation.as_strategy())
        def fuzz(case) -> None:
            nonlocal calls
            response = case.call(base_url=api.api, headers=AUTH)
            calls += 1
            case.validate_response(response, checks=[not_a_server_error, response_schema_conformance])

        try:
            fuzz()
        except Exception as failure:  # every operation is fuzzed; all failures are reported together
            failures[operation.label] = str(failure)[:2000]
    assert calls >= len(operations) * 5
    assert not failures, "\n\n".join(f"{label}:\n{text}" for label, text in failures.items())
