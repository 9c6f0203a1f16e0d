"""Phone-number claims are platform data, written with the admin function's own credentials and
never in a transaction with a config (tenant credentials): claimed first, released when the
config write fails, released after a delete or a number change only while still this
instance's."""

from __future__ import annotations

import pytest

from wabot import aws
from wabot.errors import InstanceNotFound
from wabot.models.instance import InstanceConfig
from wabot.repositories.instances import ConcurrentModification, InstanceIdTaken, InstanceRepository, PhoneNumberTaken
from wabot.tenancy import TenantContext
from wabot.tenant_credentials import TenantCredentials

ACME, GLOBEX = TenantContext("acme"), TenantContext("globex")


def config(tenant: TenantContext, instance_id: str, number: str, version: int = 1) -> InstanceConfig:
    return InstanceConfig(tenant_id=tenant.tenant_id, instance_id=instance_id, name=instance_id,
                          phone_number_id=number, version=version)


@pytest.fixture
def repository(stack) -> InstanceRepository:
    return InstanceRepository(aws.client("dynamodb"), stack.refs["AppTable"])


def test_a_failed_config_write_releases_the_claim_it_made(repository):
    repository.create(ACME, config(ACME, "bot", "111111111"))
    with pytest.raises(InstanceIdTaken):
        repository.create(ACME, config(ACME, "bot", "222222222"))
    assert not repository.phone_number_taken("222222222")
    assert repository.phone_number_taken("111111111")
    # The same config again (a retried create): its claim is its own, and stays.
    with pytest.raises(InstanceIdTaken):
        repository.create(ACME, config(ACME, "bot", "111111111"))
    assert repository.phone_number_taken("111111111")


def test_another_instances_number_is_refused_and_kept(repository):
    repository.create(ACME, config(ACME, "bot", "111111111"))
    with pytest.raises(PhoneNumberTaken):
        repository.create(GLOBEX, config(GLOBEX, "bot", "111111111"))
    with pytest.raises(InstanceNotFound):
        repository.get(GLOBEX, "bot")
    repository.delete(ACME, repository.get(ACME, "bot"))
    repository.create(GLOBEX, config(GLOBEX, "bot", "111111111"))  # free again


def test_a_number_change_moves_the_claim_and_a_stale_one_moves_nothing(repository):
    repository.create(ACME, config(ACME, "bot", "111111111"))
    current = repository.get(ACME, "bot")
    repository.replace(ACME, current, current.model_copy(update={"phone_number_id": "222222222", "version": 2}))
    assert repository.phone_number_taken("222222222") and not repository.phone_number_taken("111111111")
    with pytest.raises(ConcurrentModification):  # written from version 1, the stored one is 2
        repository.replace(ACME, current, current.model_copy(update={"phone_number_id": "333333333", "version": 2}))
    assert not repository.phone_number_taken("333333333") and repository.phone_number_taken("222222222")


def test_releasing_never_drops_another_instances_claim(repository):
    repository.create(ACME, config(ACME, "bot", "111111111"))
    repository.create(GLOBEX, config(GLOBEX, "bot", "222222222"))
    stale = config(ACME, "bot", "222222222")  # as if acme's config still named globex's number
    repository.put(ACME, stale)
    repository.delete(ACME, stale)
    assert repository.phone_number_taken("222222222")  # globex's claim stays


def test_tenant_credentials_alone_cannot_write_claims(stack):
    tenant_only = InstanceRepository(TenantCredentials(stack.environment("AdminFunction")["ADMIN_TENANT_ROLE_ARN"]),
                                     stack.refs["AppTable"])
    with pytest.raises(PermissionError):
        tenant_only.create(ACME, config(ACME, "bot", "111111111"))
    with pytest.raises(InstanceNotFound):
        tenant_only.get(ACME, "bot")  # nothing was written
