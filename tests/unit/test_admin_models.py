"""The admin API's instance models are derived from the domain model: nothing is declared twice,
and a new InstanceConfig field cannot be left out of the API by forgetting to list it."""

from __future__ import annotations

import pytest
from admin_models import ACTIONS, SECRET_INPUT, InstanceCreate, InstanceOut, InstanceUpdate, MaskedSecrets
from pydantic import ValidationError

from wabot.funnel.templates import TEMPLATES
from wabot.keys import META_SECRET_NAMES, SECRET_NAMES
from wabot.models.instance import MANAGED_FIELDS, InstanceConfig

DOMAIN = set(InstanceConfig.model_fields)
SETTABLE = DOMAIN - MANAGED_FIELDS


def test_every_domain_field_is_in_the_output_model():
    # tenant_id is the caller's own, instance_id is answered as `id`; secrets only masked.
    assert DOMAIN - {"tenant_id", "instance_id"} <= set(InstanceOut.model_fields)
    assert set(InstanceOut.model_fields) - DOMAIN == {"id", "webhook_url", "secrets", "generated_notify_secret"}
    assert set(MaskedSecrets.model_fields) == set(SECRET_NAMES)
    assert not set(SECRET_NAMES) & set(InstanceOut.model_fields)


def test_create_and_update_accept_exactly_the_settable_fields_and_the_secrets():
    writable = SETTABLE | set(SECRET_NAMES) | set(ACTIONS)
    assert set(InstanceUpdate.model_fields) == writable
    assert set(InstanceCreate.model_fields) == writable | {"funnel_template"}
    assert not MANAGED_FIELDS & set(InstanceUpdate.model_fields)
    assert set(META_SECRET_NAMES) | set(SECRET_INPUT) <= set(SECRET_NAMES)


def test_create_requires_what_the_domain_requires_and_update_nothing():
    required = {name for name, field in InstanceConfig.model_fields.items() if field.is_required()}
    assert {name for name, f in InstanceCreate.model_fields.items() if f.is_required()} == required - MANAGED_FIELDS
    assert not [name for name, f in InstanceUpdate.model_fields.items() if f.is_required()]


@pytest.mark.parametrize("model", [InstanceCreate, InstanceUpdate])
def test_limits_and_descriptions_come_from_the_domain(model):
    body = {"name": "Bot", "phone_number_id": "106540352242922"}
    with pytest.raises(ValidationError) as raised:
        model.model_validate({**body, "llm_history_turns": 51})
    assert [error["loc"] for error in raised.value.errors()] == [("llm_history_turns",)]
    domain = InstanceConfig.model_fields
    assert model.model_fields["llm_debounce_seconds"].description == domain["llm_debounce_seconds"].description
    schema = model.model_json_schema()["properties"]
    assert {"type": "integer", "minimum": 0, "maximum": 50} in schema["llm_history_turns"]["anyOf"]


def test_client_input_rules_apply_to_input_only():
    # Stored configs the platform builds itself are not held to the API's input shape...
    InstanceConfig(tenant_id="acme", instance_id="bot", name="Bot", phone_number_id="1")
    # ... what a client sends is.
    with pytest.raises(ValidationError) as raised:
        InstanceUpdate.model_validate({"phone_number_id": "1", "notify_url": "ftp://x", "allowed_phones": ["x"]})
    assert {error["loc"][0] for error in raised.value.errors()} == {"phone_number_id", "notify_url", "allowed_phones"}
    given = InstanceUpdate.model_validate({"blocked_phones": ["+7 900 000-00-01", "79000000001"]})
    assert given.config_changes() == {"blocked_phones": ["79000000001"]}


def test_null_is_given_as_null_not_run_through_the_rules():
    """The rules check values; a null reaches the service, which answers 422 for fields that cannot be null."""
    nulls = dict.fromkeys(["allowed_phones", "blocked_phones", "notify_url", "phone_number_id", "name"])
    assert InstanceUpdate.model_validate(nulls).config_changes() == nulls


def test_changes_split_config_from_secrets_and_actions():
    given = InstanceCreate.model_validate({"name": "Bot", "phone_number_id": "106540352242922",
                                           "access_token": "EAAG-token-1234", "rotate_notify_secret": True,
                                           "funnel_template": next(iter(TEMPLATES))})
    assert given.config_changes() == {"name": "Bot", "phone_number_id": "106540352242922"}
    assert given.secret_changes() == {"access_token": "EAAG-token-1234"}
