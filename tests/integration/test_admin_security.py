"""The admin API's answers to hostile input (issue 14): who may point the platform at a server,
list and key sizes DynamoDB would refuse, non-ASCII digits, forged cursors, number claims."""

from __future__ import annotations

import base64
import json

import pytest

from tests.integration import test_admin
from tests.integration.test_admin import BASE, instance_body
from wabot import aws, keys
from wabot.dynamo import to_item

world = test_admin.world  # the admin API's fixture: two tenants, every role

ARABIC_INDIC = "١٢٣٤٥٦٧٨٩"  # digits to `\d`, not to WhatsApp


def cursor(pk: str, sk: str) -> str:
    return base64.urlsafe_b64encode(json.dumps({"pk": pk, "sk": sk}).encode()).decode().rstrip("=")


def field_of(response) -> list:
    assert response.status == 422, response.body
    return [entry["loc"][-1] for entry in response.json()["detail"]]


# ---- base URLs: admin only ------------------------------------------------------------------


def test_only_an_admin_sets_an_instance_llm_base_url(world):
    url = {"llm_base_url": "https://llm.acme.example/v1"}
    assert world.alice.post(BASE, instance_body("Own Llm", "222222222", **url)).status == 403
    assert world.alice.put(f"{BASE}/alice-bot", url).status == 403
    assert world.alice.put(f"{BASE}/alice-bot", {"llm_base_url": None}).status == 200  # unchanged: null
    changed = world.admin.put(f"{BASE}/alice-bot", url)
    assert changed.status == 200 and changed.json()["llm_base_url"] == "https://llm.acme.example/v1"
    # The owner still edits other fields, and may send the value back unchanged, not change it.
    assert world.alice.put(f"{BASE}/alice-bot", {"system_prompt": "Hi", **url}).status == 200
    assert world.alice.put(f"{BASE}/alice-bot", {"llm_base_url": "https://evil.example"}).status == 403
    assert world.alice.put(f"{BASE}/alice-bot", {"llm_base_url": None}).status == 403
    assert world.admin.get(f"{BASE}/alice-bot").json()["llm_base_url"] == "https://llm.acme.example/v1"


def test_tenant_servers_are_an_admins_choice(world):
    assert world.alice.put("/admin/settings", {"vllm_base_url": "https://vllm.example"}).status == 403
    assert world.alice.put("/admin/settings", {"tts_base_urls": {"piper": "https://tts.example"}}).status == 403
    provider = {"name": "P", "kind": "openai", "base_url": "https://p.example", "model": "m", "api_key": "k" * 12}
    assert world.alice.post("/admin/llm/providers", provider).status == 403


@pytest.mark.parametrize("url", ["https://user:pw@llm.example", "https://llm.example/?target=x",
                                 "https://llm.example/#x", "https://llm.example/a%2F..", "ftp://llm.example"])
def test_base_urls_of_another_shape_are_refused_naming_the_field(world, url):
    assert field_of(world.admin.put(f"{BASE}/alice-bot", {"llm_base_url": url})) == ["llm_base_url"]
    assert field_of(world.admin.put("/admin/settings", {"vllm_base_url": url})) == ["vllm_base_url"]
    provider = {"name": "P", "kind": "openai", "base_url": url, "model": "m", "api_key": "k" * 12}
    assert field_of(world.admin.post("/admin/llm/providers", provider)) == ["base_url"]


# ---- sizes DynamoDB would refuse --------------------------------------------------------------


def test_allow_and_block_lists_are_capped_by_count_and_size(world):
    too_many = [f"1650555{i:05d}" for i in range(2001)]
    assert field_of(world.admin.put(f"{BASE}/alice-bot", {"allowed_phones": too_many})) == ["allowed_phones"]
    # 2 x 2,000 business-scoped ids of 131 characters: over 400 KB in one item.
    long_ids = [f"US.{i:04d}" + "A" * 124 for i in range(4000)]
    half = world.admin.put(f"{BASE}/alice-bot", {"blocked_phones": long_ids[2000:]})
    assert half.status == 422  # one list alone is over the total
    fits = world.admin.put(f"{BASE}/alice-bot", {"allowed_phones": long_ids[:300]})
    assert fits.status == 200
    over = world.admin.put(f"{BASE}/alice-bot", {"blocked_phones": long_ids[300:1100]})
    assert field_of(over) == ["blocked_phones"]
    assert len(world.admin.get(f"{BASE}/alice-bot").json()["allowed_phones"]) == 300


@pytest.mark.parametrize("code, status", [("ValidationException", 422),
                                          ("ProvisionedThroughputExceededException", 500)])
def test_storage_validation_errors_are_a_4xx(world, monkeypatch, code, status):
    """DynamoDB refusing what the input made (a key over its size limit, say; moto does not check
    key sizes) is the client's error; DynamoDB failing on its own stays a 5xx."""
    import admin_handler
    from botocore.exceptions import ClientError

    def refuse(*args, **kwargs):
        raise ClientError({"Error": {"Code": code, "Message": "One or more parameter values were invalid: "
                                                              "Aggregated size of all range keys has exceeded"}},
                          "Query")

    monkeypatch.setattr(admin_handler.service().stores.conversations, "resolve_user", refuse)
    response = world.admin.delete(f"{BASE}/alice-bot/users/{'U' * 3000}/state")
    assert response.status == status
    assert "U" * 100 not in response.body.decode() and "range keys" not in response.body.decode()


# ---- ASCII digits ------------------------------------------------------------------------------


def test_only_ascii_digits_in_numbers_and_lists(world):
    assert field_of(world.admin.post(BASE, instance_body("Arabic", ARABIC_INDIC))) == ["phone_number_id"]
    assert field_of(world.admin.put(f"{BASE}/alice-bot", {"waba_id": ARABIC_INDIC})) == ["waba_id"]
    assert field_of(world.admin.put(f"{BASE}/alice-bot", {"allowed_phones": [ARABIC_INDIC]})) == ["allowed_phones"]
    assert field_of(world.admin.put(f"{BASE}/alice-bot", {"blocked_phones": ["+7 ٩٠٠ 000 00 00"]})) \
        == ["blocked_phones"]


# ---- cursors -------------------------------------------------------------------------------------


@pytest.mark.parametrize("sk", ["INSTANCE#~", "INSTANCE#" + "a" * 1100, "INSTANCE#Alice", "INSTANCE#a/../b",
                                "APIKEY#0123456789ab", "SETTINGS", "TENANT"])
def test_a_cursor_at_a_sort_key_this_listing_cannot_produce_is_refused(world, sk):
    assert field_of(world.admin.get(BASE, query={"cursor": cursor("TENANT#acme", sk)})) == ["cursor"]


def test_a_genuine_cursor_still_pages(world):
    world.admin.post(BASE, instance_body("Second", "333333333"))
    first = world.admin.get(BASE, query={"limit": 1}).json()
    assert first["next"] == cursor("TENANT#acme", "INSTANCE#alice-bot")
    assert [i["id"] for i in world.admin.get(BASE, query={"cursor": first["next"]}).json()["items"]] == ["second"]


# ---- webhook URLs ---------------------------------------------------------------------------------


def test_webhook_url_ignores_forwarded_headers(world):
    answer = world.gateway.request("GET", f"{BASE}/alice-bot", headers={
        "host": "api.example.test", "x-forwarded-proto": "http", "x-forwarded-host": "evil.example",
        "authorization": f"Bearer {world.admin.api_key}"})
    assert answer.json()["webhook_url"] == "https://api.example.test/webhook/acme/alice-bot"


def test_webhook_url_comes_from_the_configured_public_base(world, monkeypatch):
    import admin_handler

    monkeypatch.setenv("PUBLIC_API_URL", "https://bots.acme.example/")
    admin_handler.settings.cache_clear()
    try:
        url = world.admin.get(f"{BASE}/alice-bot").json()["webhook_url"]
    finally:
        admin_handler.settings.cache_clear()
    assert url == "https://bots.acme.example/webhook/acme/alice-bot"


# ---- phone number claims ------------------------------------------------------------------------


def test_changing_the_number_never_deletes_a_claim_that_is_not_this_instances(world, stack):
    """If the claim of the old number is (by a race or a repair) another instance's, the change
    fails and the other instance keeps its number."""
    table, dynamodb = stack.refs["AppTable"], aws.client("dynamodb")
    claim = keys.phone_claim_key("111111111")
    dynamodb.put_item(TableName=table, Item=to_item({**claim, "tenant_id": "globex", "instance_id": "g-bot"}))
    assert world.alice.put(f"{BASE}/alice-bot", {"phone_number_id": "444444444"}).status == 409
    kept = dynamodb.get_item(TableName=table, Key=to_item(claim))["Item"]
    assert (kept["tenant_id"]["S"], kept["instance_id"]["S"]) == ("globex", "g-bot")
    assert world.admin.get(f"{BASE}/alice-bot").json()["phone_number_id"] == "111111111"


def test_a_taken_number_says_nothing_about_who_holds_it(world):
    own = world.admin.post(BASE, instance_body("Dup", "111111111"))  # acme's own alice-bot holds it
    world.other.post(BASE, instance_body("Globex Bot", "555555555"))
    foreign = world.admin.post(BASE, instance_body("Dup", "555555555"))  # globex holds it
    assert own.status == foreign.status == 409
    assert own.body == foreign.body
    assert b"globex" not in foreign.body and b"acme" not in foreign.body and b"bot" not in foreign.body.lower()


def test_null_for_a_field_that_cannot_be_null_is_a_422_naming_it(world):
    for name in ("blocked_phones", "allowed_phones", "name", "handoff_notify", "llm_history_turns"):
        assert field_of(world.admin.put(f"{BASE}/alice-bot", {name: None})) == [name]
