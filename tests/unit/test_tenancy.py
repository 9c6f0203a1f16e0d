"""No tenant, no data: every key and repository refuses to work without a valid context."""

from __future__ import annotations

from unittest import mock

import pytest

from wabot import keys
from wabot.errors import TenantContextError
from wabot.models.instance import InstanceConfig
from wabot.repositories.activity import ActivityLog
from wabot.repositories.instances import InstanceRegistry, InstanceRepository
from wabot.repositories.secrets import SecretStore, mask
from wabot.tenancy import TenantContext

ACME = TenantContext("acme")


def api_calls(client: mock.Mock) -> list:
    """AWS API calls made on a mock client (Powertools registers a botocore hook on `meta`)."""
    return [call for call in client.method_calls if not call[0].startswith("meta.")]


@pytest.mark.parametrize("bad", [None, "", " ", "ACME", "acme/../globex", "a#b", "-acme", "x" * 64, 7])
def test_invalid_tenant_ids_raise(bad):
    with pytest.raises(TenantContextError):
        TenantContext(bad)


@pytest.mark.parametrize("bad_tenant", [None, "acme", {"tenant_id": "acme"}])
def test_keys_require_a_tenant_context(bad_tenant):
    with pytest.raises(TenantContextError):
        keys.instance_key(bad_tenant, "bot")
    with pytest.raises(TenantContextError):
        keys.activity_pk(bad_tenant, "bot")
    with pytest.raises(TenantContextError):
        keys.secret_path("/stack", bad_tenant, "bot", "app_secret")


def test_every_key_starts_with_the_tenant():
    assert keys.instance_key(ACME, "bot") == {"pk": "TENANT#acme", "sk": "INSTANCE#bot"}
    assert keys.activity_pk(ACME, "bot").startswith("TENANT#acme#")
    assert keys.secret_path("/stack", ACME, "bot", "app_secret") == "/stack/acme/instances/bot/app_secret"


def test_bad_instance_ids_and_secret_names_raise():
    with pytest.raises(TenantContextError):
        keys.instance_key(ACME, "../x")
    with pytest.raises(ValueError):
        keys.secret_path("/stack", ACME, "bot", "password")


def test_repositories_raise_before_any_io_without_tenant():
    client = mock.Mock()
    config = InstanceConfig(tenant_id="acme", instance_id="bot", name="b", phone_number_id="1")
    calls = [
        lambda: InstanceRepository(client, "t").get(None, "bot"),
        lambda: InstanceRepository(client, "t").put(None, config),
        lambda: InstanceRegistry(InstanceRepository(client, "t")).get(None, "bot"),
        lambda: ActivityLog(client, "t").record(None, "bot", "error", "x"),
        lambda: ActivityLog(client, "t").recent(None, "bot"),
        lambda: SecretStore("/stack", client).get(None, config, "app_secret"),
        lambda: SecretStore("/stack", client).put(None, "bot", "app_secret", "v"),
    ]
    for call in calls:
        with pytest.raises(TenantContextError):
            call()
    assert api_calls(client) == []


def test_config_of_one_tenant_cannot_be_used_with_another():
    client = mock.Mock()
    globex_config = InstanceConfig(tenant_id="globex", instance_id="bot", name="b", phone_number_id="1")
    with pytest.raises(PermissionError):
        InstanceRepository(client, "t").put(ACME, globex_config)
    with pytest.raises(PermissionError):
        SecretStore("/stack", client).get(ACME, globex_config, "app_secret")
    assert api_calls(client) == []


@pytest.mark.parametrize("secret, shown", [(None, None), ("", None), ("short", "****"),
                                           ("EAAGabcdefgh1234", "****1234")])
def test_mask_shows_at_most_four_characters(secret, shown):
    assert mask(secret) == shown
