"""The warm-container instance cache: at most 60 s, and a newer version reloads at once."""

from __future__ import annotations

import pytest

from wabot.errors import InstanceNotFound
from wabot.models.instance import InstanceConfig
from wabot.repositories.instances import InstanceRegistry
from wabot.tenancy import TenantContext

ACME, GLOBEX = TenantContext("acme"), TenantContext("globex")


class FakeRepository:
    def __init__(self):
        self.configs: dict[tuple[str, str], InstanceConfig] = {}
        self.reads = 0

    def set(self, tenant_id: str, version: int, phone: str = "1"):
        self.configs[(tenant_id, "bot")] = InstanceConfig(
            tenant_id=tenant_id, instance_id="bot", name="b", phone_number_id=phone, version=version)

    def get(self, tenant, instance_id):
        self.reads += 1
        try:
            return self.configs[(tenant.tenant_id, instance_id)]
        except KeyError:
            raise InstanceNotFound(instance_id) from None


class Clock:
    now = 0.0

    def __call__(self):
        return self.now


@pytest.fixture
def setup():
    repository, clock = FakeRepository(), Clock()
    return repository, clock, InstanceRegistry(repository, max_age=60, clock=clock)


def test_cached_until_max_age(setup):
    repository, clock, registry = setup
    repository.set("acme", 1)
    registry.get(ACME, "bot")
    clock.now = 59.9
    registry.get(ACME, "bot")
    assert repository.reads == 1
    repository.set("acme", 2)
    clock.now = 60.0
    assert registry.get(ACME, "bot").version == 2
    assert repository.reads == 2


def test_newer_version_invalidates_at_once(setup):
    repository, _, registry = setup
    repository.set("acme", 1)
    registry.get(ACME, "bot")
    repository.set("acme", 2)
    assert registry.get(ACME, "bot", min_version=1).version == 1
    assert registry.get(ACME, "bot", min_version=2).version == 2
    assert repository.reads == 2


def test_explicit_invalidation(setup):
    repository, _, registry = setup
    repository.set("acme", 1)
    registry.get(ACME, "bot")
    registry.invalidate(ACME, "bot")
    registry.get(ACME, "bot")
    assert repository.reads == 2


def test_tenants_never_share_cache_entries(setup):
    repository, _, registry = setup
    repository.set("acme", 1, phone="111")
    registry.get(ACME, "bot")
    with pytest.raises(InstanceNotFound):
        registry.get(GLOBEX, "bot")
    repository.set("globex", 1, phone="222")
    assert registry.get(GLOBEX, "bot").phone_number_id == "222"
    assert registry.get(ACME, "bot").phone_number_id == "111"


def test_deleted_instance_is_not_served_after_refresh(setup):
    repository, clock, registry = setup
    repository.set("acme", 1)
    registry.get(ACME, "bot")
    del repository.configs[("acme", "bot")]
    clock.now = 61
    with pytest.raises(InstanceNotFound):
        registry.get(ACME, "bot")


def test_cache_lifetime_over_60_seconds_is_refused():
    with pytest.raises(ValueError):
        InstanceRegistry(FakeRepository(), max_age=61)
