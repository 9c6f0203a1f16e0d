"""The admin API over moto, through the template's routes and the API-key authorizer."""

from __future__ import annotations

import io
import json
from dataclasses import dataclass

import pytest
from openapi_spec_validator import validate

from scripts import create_tenant as cli
from tests import payloads
from tests.integration.admin_client import AdminClient
from tests.integration.conftest import drain, whole_table
from wabot import aws, keys
from wabot.repositories.stats import StatsRepository
from wabot.tenancy import TenantContext

BASE = "/admin/whatsapp/instances"
SECRETS = {"access_token": "EAAGacme-access-token-7777", "app_secret": "acme-app-secret-8888",
           "verify_token": "acme-verify-token-9999"}


def instance_body(name: str, phone: str, **extra) -> dict:
    return {"name": name, "phone_number_id": phone, **SECRETS, **extra}


@dataclass
class World:
    gateway: object
    stack: object
    admin: AdminClient
    alice: AdminClient  # user, owns alice-bot
    bob: AdminClient  # user, owns nothing
    guest: AdminClient
    other: AdminClient  # globex's admin
    alice_bot: dict
    admin_key_id: str


@pytest.fixture
def world(gateway, stack) -> World:
    table = stack.refs["AppTable"]
    admin = AdminClient(gateway, cli.create_tenant("acme", "Acme", "root", table, stack.refs["ApiKeyTable"]))
    other = AdminClient(gateway, cli.create_tenant("globex", "Globex", "root", table, stack.refs["ApiKeyTable"]))

    def key(role: str, principal: str) -> str:
        response = admin.post("/admin/api-keys", {"role": role, "principal_id": principal})
        assert response.status == 201, response.body
        return response.json()["api_key"]

    alice = AdminClient(gateway, key("user", "alice"))
    bob = AdminClient(gateway, key("user", "bob"))
    guest = AdminClient(gateway, key("guest", "gina"))
    created = alice.post(BASE, instance_body("Alice Bot", "111111111"))
    assert created.status == 201, created.body
    admin_key_id = admin.get("/admin/api-keys").json()["items"][0]["key_id"]
    return World(gateway, stack, admin, alice, bob, guest, other, created.json(), admin_key_id)


def secret_values(stack, tenant_id: str, instance_id: str) -> dict[str, str | None]:
    ssm = aws.client("ssm")
    result = {}
    for name in keys.SECRET_NAMES:
        path = keys.secret_path("/wabot-test", TenantContext(tenant_id), instance_id, name)
        try:
            parameter = ssm.get_parameter(Name=path, WithDecryption=True)["Parameter"]
            assert parameter["Type"] == "SecureString"
            result[name] = parameter["Value"]
        except ssm.exceptions.ParameterNotFound:
            result[name] = None
    return result


def all_items(stack) -> list[dict]:
    return whole_table(stack)


# ---- authentication ------------------------------------------------------------------------


@pytest.mark.parametrize("header", [None, "", "Bearer", "Basic abc", "Bearer wab.acme.nothex.x",
                                    "Bearer wab.acme.0123456789ab." + "A" * 32, "Bearer wab.ACME.0123"])
def test_missing_malformed_or_unknown_keys_are_401(world, header):
    client = AdminClient(world.gateway, None)
    response = client.gateway.request("GET", BASE, headers={"authorization": header} if header is not None else {})
    assert response.status == 401


def test_key_of_tenant_a_with_tenant_b_name_is_401(world):
    forged = world.admin.api_key.replace("wab.acme.", "wab.globex.", 1)
    assert AdminClient(world.gateway, forged).get(BASE).status == 401


def test_revoked_key_is_401_once_the_authorizer_cache_expires(world, clock):
    key = world.admin.post("/admin/api-keys", {"role": "admin", "principal_id": "temp"}).json()
    temp = AdminClient(world.gateway, key["api_key"])
    assert temp.get(BASE).status == 200
    assert world.admin.delete(f"/admin/api-keys/{key['key_id']}").json()["revoked_at"]
    # API Gateway keeps the cached "allowed" for up to 300 s (documented revocation delay).
    clock.now += 299
    assert temp.get(BASE).status == 200
    clock.now += 2
    assert temp.get(BASE).status == 401


def test_api_keys_are_listed_without_secrets_and_shown_once(world, stack):
    created = world.admin.post("/admin/api-keys", {"role": "guest", "principal_id": "viewer"})
    assert created.status == 201
    body = created.json()
    assert body["api_key"].startswith(f"wab.acme.{body['key_id']}.")
    assert len(body["api_key"].rsplit(".", 1)[1]) >= 32  # 192 random bits
    listed = world.admin.get("/admin/api-keys")
    assert body["api_key"] not in listed.body.decode()
    assert all("api_key" not in item and "key_hash" not in item for item in listed.json()["items"])
    assert body["api_key"] not in json.dumps([str(item) for item in all_items(stack)])


@pytest.mark.parametrize("body, field", [({"role": "root", "principal_id": "x"}, "role"),
                                         ({"role": "user"}, "principal_id"),
                                         ({"role": "user", "principal_id": "a b"}, "principal_id"),
                                         ({"role": "user", "principal_id": "x", "extra": 1}, "extra")])
def test_api_key_input_errors_name_the_field(world, body, field):
    response = world.admin.post("/admin/api-keys", body)
    assert response.status == 422
    assert field in [loc for detail in response.json()["detail"] for loc in detail["loc"]]


def test_unknown_or_foreign_key_id_is_404(world):
    assert world.admin.delete("/admin/api-keys/0123456789ab").status == 404
    assert world.admin.delete("/admin/api-keys/not-a-key").status == 404
    assert world.other.delete(f"/admin/api-keys/{world.admin_key_id}").status == 404
    assert world.admin.get(BASE).status == 200  # still valid


# ---- instances -----------------------------------------------------------------------------


def test_create_answers_201_with_slug_webhook_url_and_masked_secrets(world, stack):
    body = world.alice_bot
    assert body["id"] == "alice-bot"
    assert body["webhook_url"] == "https://api.example.test/webhook/acme/alice-bot"
    assert body["owner_id"] == "alice"
    assert body["version"] == 1
    assert body["running"] is True and body["auto_start"] is True
    assert body["secrets"] == {"access_token": "****7777", "app_secret": "****8888", "verify_token": "****9999",
                               "app_token": None, "notify_secret": None}
    assert body["rate_limit_count"] == 5 and body["rate_limit_hours"] == 5
    assert secret_values(stack, "acme", "alice-bot") == {**SECRETS, "app_token": None, "notify_secret": None}
    dumped = json.dumps([str(item) for item in all_items(stack)])
    assert not any(value in dumped for value in SECRETS.values())


def test_slug_collisions_get_a_numeric_suffix_and_cyrillic_is_transliterated(world):
    first = world.admin.post(BASE, instance_body("Support Bot", "200000001")).json()
    second = world.admin.post(BASE, instance_body("Support  bot!", "200000002")).json()
    third = world.admin.post(BASE, instance_body("Бот продаж", "200000003")).json()
    assert (first["id"], second["id"], third["id"]) == ("support-bot", "support-bot-2", "bot-prodazh")
    assert third["name"] == "Бот продаж"


def test_same_name_in_two_tenants_gives_the_same_id(world):
    assert world.admin.post(BASE, instance_body("Support Bot", "200000001")).json()["id"] == "support-bot"
    assert world.other.post(BASE, instance_body("Support Bot", "300000001")).json()["id"] == "support-bot"


def test_a_phone_number_id_belongs_to_one_instance_platform_wide(world):
    assert world.admin.post(BASE, instance_body("Dup", "111111111")).status == 409
    assert world.other.post(BASE, instance_body("Dup", "111111111")).status == 409
    second = world.admin.post(BASE, instance_body("Second", "222222222")).json()
    assert world.admin.put(f"{BASE}/{second['id']}", {"phone_number_id": "111111111"}).status == 409


@pytest.mark.parametrize("body, field", [
    ({"phone_number_id": "123456"}, "name"),
    ({"name": "x"}, "phone_number_id"),
    ({"name": "x", "phone_number_id": "abc"}, "phone_number_id"),
    ({"name": "x", "phone_number_id": "123456", "surprise": True}, "surprise"),
    ({"name": "x", "phone_number_id": "123456", "auto_start": False}, "auto_start"),
    ({"name": "x", "phone_number_id": "123456", "llm_backend": "openai"}, "llm_backend"),
    ({"name": "x", "phone_number_id": "123456", "llm_params": {"temperature": 3}}, "temperature"),
    ({"name": "x", "phone_number_id": "123456", "llm_params": {"top_p": 1.5}}, "top_p"),
    ({"name": "x", "phone_number_id": "123456", "llm_params": {"seed": 1}}, "seed"),
    ({"name": "x", "phone_number_id": "123456", "tts_engine": "espeak"}, "tts_engine"),
    ({"name": "x", "phone_number_id": "123456", "allowed_phones": ["not a phone"]}, "allowed_phones"),
    ({"name": "x", "phone_number_id": "123456", "rate_limit_count": -1}, "rate_limit_count"),
    ({"name": "x", "phone_number_id": "123456", "access_token": "short"}, "access_token"),
])
def test_invalid_instance_input_is_422_naming_the_field(world, body, field):
    response = world.admin.post(BASE, body)
    assert response.status == 422, response.body
    assert field in [str(loc) for detail in response.json()["detail"] for loc in detail["loc"]]
    assert all(detail["msg"] for detail in response.json()["detail"])  # as the OpenAPI document says
    assert len(world.admin.get(BASE).json()["items"]) == 1


@pytest.mark.parametrize("raw", [b"{not json", b"[]", b"null", "\xff".encode("latin-1")])
def test_malformed_bodies_are_422_never_500(world, raw):
    response = world.admin.call("POST", BASE, raw=raw)
    assert response.status == 422 and response.json()["detail"][0]["msg"]
    assert world.admin.call("PUT", f"{BASE}/alice-bot", raw=raw).status == 422


def test_allowed_and_blocked_lists_are_normalized(world):
    response = world.admin.put(f"{BASE}/alice-bot", {"allowed_phones": ["+7 (900) 000-00-00", "US.123456789"],
                                                     "blocked_phones": ["+1 650-555-1234", "16505551234"]})
    assert response.status == 200, response.body
    assert response.json()["allowed_phones"] == ["79000000000", "US.123456789"]
    assert response.json()["blocked_phones"] == ["16505551234"]


def test_unknown_and_foreign_ids_are_404(world):
    assert world.admin.get(f"{BASE}/nope").status == 404
    assert world.admin.get(f"{BASE}/NOT_A_SLUG").status == 404
    assert world.other.get(f"{BASE}/alice-bot").status == 404
    assert world.other.put(f"{BASE}/alice-bot", {"name": "x"}).status == 404
    assert world.other.delete(f"{BASE}/alice-bot").status == 404


def test_put_changes_only_given_fields_and_rotates_given_secrets(world, stack):
    response = world.alice.put(f"{BASE}/alice-bot", {"system_prompt": "Be brief.", "app_secret": "rotated-secret-4321",
                                                    "llm_params": {"temperature": 0.2}})
    assert response.status == 200, response.body
    body = response.json()
    assert body["system_prompt"] == "Be brief."
    assert body["llm_params"] == {"temperature": 0.2, "max_tokens": None, "top_p": None}
    assert body["name"] == "Alice Bot"
    assert body["version"] == 2
    assert body["secrets"]["app_secret"] == "****4321"
    assert body["secrets"]["access_token"] == "****7777"
    stored = secret_values(stack, "acme", "alice-bot")
    assert stored["app_secret"] == "rotated-secret-4321"
    assert stored["access_token"] == SECRETS["access_token"]
    assert world.alice.put(f"{BASE}/alice-bot", {"name": None}).status == 422


def test_changing_the_number_frees_the_old_one(world):
    assert world.alice.put(f"{BASE}/alice-bot", {"phone_number_id": "999999999"}).status == 200
    assert world.admin.post(BASE, instance_body("Reuse", "111111111")).status == 201


def test_delete_removes_config_secrets_and_all_data(world, stack):
    tenant = TenantContext("acme")
    stats = StatsRepository(aws.client("dynamodb"), stack.refs["AppTable"])
    stats.increment(tenant, "alice-bot", {"inbound": 3, "unique_users": 1})
    stats.set_state(tenant, "alice-bot", last_inbound_at="2026-11-23T10:00:00+00:00")
    dynamodb = aws.client("dynamodb")
    user_key = "US.1"
    dynamodb.put_item(TableName=stack.refs["AppTable"], Item={
        "pk": {"S": keys.users_pk(tenant, "alice-bot")}, "sk": {"S": f"USER#{user_key}"}})
    dynamodb.put_item(TableName=stack.refs["AppTable"], Item={
        "pk": {"S": keys.user_pk(tenant, "alice-bot", user_key)}, "sk": {"S": "PROFILE"}})
    world.other.post(BASE, instance_body("Alice Bot", "333333333"))  # globex's own alice-bot stays

    assert world.alice.delete(f"{BASE}/alice-bot").status == 204
    assert world.alice.get(f"{BASE}/alice-bot").status == 404
    assert secret_values(stack, "acme", "alice-bot") == dict.fromkeys(keys.SECRET_NAMES)
    leftovers = [item for item in all_items(stack) if "alice-bot" in item["pk"]["S"] + item["sk"]["S"]
                 and item["pk"]["S"].startswith("TENANT#acme")]
    assert leftovers == []
    assert world.other.get(f"{BASE}/alice-bot").status == 200
    assert world.admin.post(BASE, instance_body("Again", "111111111")).status == 201  # number freed


def test_lifecycle(world):
    stopped = world.alice.post(f"{BASE}/alice-bot/stop").json()
    assert (stopped["running"], stopped["auto_start"], stopped["version"]) == (False, False, 2)
    started = world.alice.post(f"{BASE}/alice-bot/start").json()
    assert (started["running"], started["auto_start"], started["version"]) == (True, True, 3)
    restarted = world.alice.post(f"{BASE}/alice-bot/restart").json()
    assert (restarted["running"], restarted["version"]) == (True, 4)
    assert world.alice.post(f"{BASE}/alice-bot/explode").status == 404


def test_stopped_instance_still_acknowledges_and_records_webhooks(world, stack):
    world.alice.post(f"{BASE}/alice-bot/stop")
    raw = payloads.body(payloads.text_notification("111111111"))
    response = world.gateway.request("POST", "/webhook/acme/alice-bot", headers={
        "content-type": "application/json", "x-hub-signature-256": payloads.sign(raw, SECRETS["app_secret"])},
        body=raw)
    assert response.status == 200
    assert len(drain(stack.refs["InboundQueue"])) == 1


def test_status_shows_state_errors_counters_and_configured_secrets(world, stack):
    tenant = TenantContext("acme")
    stats = StatsRepository(aws.client("dynamodb"), stack.refs["AppTable"])
    stats.increment(tenant, "alice-bot", {"inbound": 2, "outbound": 1, "unique_users": 1})
    stats.set_state(tenant, "alice-bot", last_inbound_at="2026-11-23T10:00:00+00:00",
                    last_error={"code": 190, "message": "Invalid OAuth access token", "at": "2026-11-23T10:01:00Z"})
    body = world.guest.get(f"{BASE}/alice-bot/status").json()
    assert body["running"] is True and body["config_version"] == 1
    assert body["last_inbound_at"].startswith("2026-11-23T10:00:00")
    assert body["last_outbound_at"] is None
    assert body["last_error"]["code"] == 190
    assert body["today"] == {"inbound": 2, "outbound": 1, "unique_users": 1}
    assert body["secrets_configured"] == {"access_token": True, "app_secret": True, "verify_token": True,
                                          "app_token": False, "notify_secret": False}


def test_logs_newest_first_with_admin_changes_and_who_made_them(world):
    world.alice.put(f"{BASE}/alice-bot", {"system_prompt": "x", "access_token": "EAAGnew-token-5555"})
    world.admin.post(f"{BASE}/alice-bot/stop")
    entries = world.alice.get(f"{BASE}/alice-bot/logs").json()["items"]
    assert [(e["summary"], e["actor"]) for e in entries] == [
        ("instance stop", "root"), ("instance updated", "alice"), ("instance created", "alice")]
    assert entries[1]["detail"]["fields"] == ["access_token", "system_prompt"]
    assert "EAAGnew-token-5555" not in json.dumps(entries)
    assert len(world.alice.get(f"{BASE}/alice-bot/logs", query={"limit": 1}).json()["items"]) == 1
    assert world.alice.get(f"{BASE}/alice-bot/logs", query={"limit": 0}).status == 422
    assert world.alice.get(f"{BASE}/alice-bot/logs", query={"limit": "many"}).status == 422


def test_stats_reset_clears_only_that_instances_counters(world, stack):
    other_bot = world.admin.post(BASE, instance_body("Other Bot", "222222222")).json()["id"]
    globex_bot = world.other.post(BASE, instance_body("Alice Bot", "333333333")).json()["id"]
    stats = StatsRepository(aws.client("dynamodb"), stack.refs["AppTable"])
    stats.increment(TenantContext("acme"), "alice-bot", {"inbound": 5})
    stats.increment(TenantContext("acme"), other_bot, {"inbound": 7})
    stats.increment(TenantContext("globex"), globex_bot, {"inbound": 11})
    stats.set_state(TenantContext("acme"), "alice-bot", last_inbound_at="2026-11-23T10:00:00+00:00")

    assert world.admin.get("/admin/whatsapp/stats").json()["totals"] == {"inbound": 12}
    assert world.alice.get("/admin/whatsapp/stats").json()["by_instance"] == {"alice-bot": {"inbound": 5}}
    assert world.alice.delete(f"{BASE}/alice-bot/stats").json() == {"id": "alice-bot", "cleared_days": 1}
    assert world.alice.get(f"{BASE}/alice-bot/stats").json()["totals"] == {}
    assert world.admin.get(f"{BASE}/{other_bot}/stats").json()["totals"]["inbound"] == 7
    assert world.other.get(f"{BASE}/{globex_bot}/stats").json()["totals"]["inbound"] == 11
    assert world.alice.get(f"{BASE}/alice-bot/status").json()["last_inbound_at"] is not None


def test_pagination_and_role_filtering(world):
    for i in range(4):
        world.admin.post(BASE, instance_body(f"Bot {i}", f"40000000{i}"))
    world.bob.post(BASE, instance_body("Bob Bot", "500000000"))
    seen, cursor = [], None
    while True:
        page = world.admin.get(BASE, query={"limit": 2, **({"cursor": cursor} if cursor else {})}).json()
        seen += [item["id"] for item in page["items"]]
        cursor = page["next"]
        if not cursor:
            break
    assert sorted(seen) == sorted(["alice-bot", "bot-0", "bot-1", "bot-2", "bot-3", "bob-bot"])
    assert [i["id"] for i in world.bob.get(BASE).json()["items"]] == ["bob-bot"]
    assert len(world.guest.get(BASE).json()["items"]) == 6
    assert world.admin.get(BASE, query={"cursor": "garbage!"}).status == 422
    foreign = world.other.get(BASE, query={"limit": 1})
    world.other.post(BASE, instance_body("G1", "600000001"))
    world.other.post(BASE, instance_body("G2", "600000002"))
    foreign_cursor = world.other.get(BASE, query={"limit": 1}).json()["next"]
    assert foreign.status == 200 and foreign_cursor
    assert world.admin.get(BASE, query={"cursor": foreign_cursor}).status == 422


# ---- roles ---------------------------------------------------------------------------------

ROLES = ("admin", "alice", "bob", "guest", "other")


def expected(route: str, role: str) -> int:
    read = {"admin": 200, "alice": 200, "bob": 403, "guest": 200, "other": 404}
    write = {"admin": 200, "alice": 200, "bob": 403, "guest": 403, "other": 404}
    admin_only = {"admin": 200, "alice": 403, "bob": 403, "guest": 403, "other": 200}
    return {
        "list": dict.fromkeys(ROLES, 200), "tenant-stats": dict.fromkeys(ROLES, 200),
        "get": read, "status": read, "logs": read, "stats": read,
        "put": write, "start": write, "stop": write, "restart": write, "reset-stats": write,
        "create": {"admin": 201, "alice": 201, "bob": 201, "guest": 403, "other": 201},
        "list-keys": admin_only,
        "create-key": {**admin_only, "admin": 201, "other": 201},
        "revoke-key": {"admin": 200, "alice": 403, "bob": 403, "guest": 403, "other": 404},
    }[route][role]


def call_route(world: World, client: AdminClient, route: str, n: int):
    path = f"{BASE}/alice-bot"
    return {
        "list": lambda: client.get(BASE),
        "tenant-stats": lambda: client.get("/admin/whatsapp/stats"),
        "get": lambda: client.get(path),
        "status": lambda: client.get(f"{path}/status"),
        "logs": lambda: client.get(f"{path}/logs"),
        "stats": lambda: client.get(f"{path}/stats"),
        "put": lambda: client.put(path, {"system_prompt": f"prompt {n}"}),
        "start": lambda: client.post(f"{path}/start"),
        "stop": lambda: client.post(f"{path}/stop"),
        "restart": lambda: client.post(f"{path}/restart"),
        "reset-stats": lambda: client.delete(f"{path}/stats"),
        "create": lambda: client.post(BASE, instance_body(f"New {n}", f"7000000{n:02d}")),
        "list-keys": lambda: client.get("/admin/api-keys"),
        "create-key": lambda: client.post("/admin/api-keys", {"role": "guest", "principal_id": f"p{n}"}),
        "revoke-key": lambda: client.delete(f"/admin/api-keys/{world.admin_key_id}"),
    }[route]()


@pytest.mark.parametrize("route", ["list", "tenant-stats", "get", "status", "logs", "stats", "put", "start",
                                   "stop", "restart", "reset-stats", "create", "list-keys", "create-key",
                                   "revoke-key"])
def test_role_matrix(world, route):
    # The admin's own key is revoked last so the other roles still run with it valid.
    order = ["alice", "bob", "guest", "other", "admin"]
    for n, role in enumerate(order):
        before = world.admin.get(f"{BASE}/alice-bot").json()
        keys_before = world.admin.get("/admin/api-keys").json()["items"]
        response = call_route(world, getattr(world, role), route, n)
        assert response.status == expected(route, role), (route, role, response.body)
        if response.status >= 400 and route != "revoke-key":
            assert world.admin.get(f"{BASE}/alice-bot").json() == before, (route, role)
            assert world.admin.get("/admin/api-keys").json()["items"] == keys_before, (route, role)


@pytest.mark.parametrize("role, status", [("bob", 403), ("guest", 403), ("other", 404), ("alice", 204)])
def test_role_matrix_delete(world, role, status):
    response = getattr(world, role).delete(f"{BASE}/alice-bot")
    assert response.status == status
    assert world.admin.get(f"{BASE}/alice-bot").status == (404 if status == 204 else 200)


def test_users_may_not_create_for_others_or_change_owners(world):
    assert world.alice.post(BASE, instance_body("Gift", "800000001", owner_id="bob")).status == 403
    assert world.alice.put(f"{BASE}/alice-bot", {"owner_id": "bob"}).status == 403
    made = world.admin.post(BASE, instance_body("For Bob", "800000002", owner_id="bob"))
    assert made.status == 201 and made.json()["owner_id"] == "bob"
    assert world.bob.get(f"{BASE}/{made.json()['id']}").status == 200
    assert world.admin.put(f"{BASE}/alice-bot", {"owner_id": "bob"}).json()["owner_id"] == "bob"
    assert world.alice.get(f"{BASE}/alice-bot").status == 403


# ---- secrets, isolation, OpenAPI -----------------------------------------------------------


def test_no_secret_in_any_response_or_log_line(world, stack):
    import admin_handler
    import authorizer_handler
    import webhook_handler

    stream = io.StringIO()
    loggers = [admin_handler.logger, authorizer_handler.logger, webhook_handler.logger]
    previous = [h.setStream(stream) for lg in loggers for h in lg.handlers]
    try:
        rotated = {"access_token": "EAAGrotated-access-1234", "app_secret": "rotated-app-secret-5678",
                   "verify_token": "rotated-verify-token-9012"}
        world.admin.put(f"{BASE}/alice-bot", rotated)
        world.admin.get(f"{BASE}/alice-bot")
        world.admin.get(BASE)
        world.admin.get(f"{BASE}/alice-bot/status")
        world.admin.get(f"{BASE}/alice-bot/logs")
        world.admin.post(BASE, instance_body("More", "900000001"))
        world.gateway.request("GET", "/webhook/acme/alice-bot", query="hub.mode=subscribe&hub.verify_token=wrong&"
                              "hub.challenge=1")
    finally:
        handlers = [h for lg in loggers for h in lg.handlers]
        for handler, old in zip(handlers, previous, strict=True):
            handler.setStream(old)
    clients = [world.admin, world.alice, world.bob, world.guest, world.other]
    seen = "".join(r.body.decode() for c in clients for r in c.responses) + stream.getvalue()
    assert stream.getvalue()
    for value in [*SECRETS.values(), *rotated.values()]:
        assert value not in seen
    for client in clients:
        assert client.api_key.rsplit(".", 1)[1] not in stream.getvalue()


def test_tenant_isolation_check_from_the_legacy_release(world, stack, funnel):
    """A configures and uses a bot; B sees none of A; A's traffic raises only A's numbers."""
    from tests.integration.test_funnel_admin import pump

    a_bot = world.alice_bot["id"]
    b_bot = world.other.post(BASE, {"name": "Alice Bot", "phone_number_id": "333333333",
                                    "app_secret": "globex-app-secret-1", "verify_token": "globex-verify-1",
                                    "access_token": "globex-access-token-1"}).json()
    assert b_bot["id"] == a_bot  # same instance id in both tenants
    raw = payloads.body(payloads.text_notification("111111111", mid="wamid.A"))
    assert world.gateway.request("POST", f"/webhook/acme/{a_bot}", body=raw, headers={
        "content-type": "application/json", "x-hub-signature-256": payloads.sign(raw, SECRETS["app_secret"])}
    ).status == 200
    funnel.module.worker().service.activity_per_message = True  # ACTIVITY_PER_MESSAGE=true
    pump(stack, funnel)

    a_logs = world.admin.get(f"{BASE}/{a_bot}/logs").json()["items"]
    b_logs = world.other.get(f"{BASE}/{a_bot}/logs").json()["items"]
    assert "reply_sent" in {e["kind"] for e in a_logs}
    assert "reply_sent" not in {e["kind"] for e in b_logs}
    assert world.other.get(f"{BASE}/{a_bot}/stats").json()["totals"] == {}
    assert world.admin.get(f"{BASE}/{a_bot}/stats").json()["totals"]["inbound"] == 1

    # B's bot with the same user works independently, and A's numbers stay as they were.
    raw_b = payloads.body(payloads.text_notification("333333333", mid="wamid.A"))
    assert world.gateway.request("POST", f"/webhook/globex/{a_bot}", body=raw_b, headers={
        "content-type": "application/json", "x-hub-signature-256": payloads.sign(raw_b, "globex-app-secret-1")}
    ).status == 200
    pump(stack, funnel)
    assert world.other.get(f"{BASE}/{a_bot}/stats").json()["totals"]["inbound"] == 1
    assert world.admin.get(f"{BASE}/{a_bot}/stats").json()["totals"]["inbound"] == 1
    sent_from = {e["phone_number_id"] for e in funnel.graph.api.recorded() if e["body"].get("status") != "read"}
    assert sent_from == {"111111111", "333333333"}


def test_openapi_document_is_valid_and_covers_every_route(world):
    response = world.guest.get("/admin/openapi.json")
    assert response.status == 200
    document = response.json()
    validate(document)
    documented = {(method.upper(), path) for path, ops in document["paths"].items() for method in ops}
    expected_routes = {
        ("GET", BASE), ("POST", BASE), ("GET", f"{BASE}/{{instance_id}}"), ("PUT", f"{BASE}/{{instance_id}}"),
        ("DELETE", f"{BASE}/{{instance_id}}"), ("POST", f"{BASE}/{{instance_id}}/start"),
        ("POST", f"{BASE}/{{instance_id}}/stop"), ("POST", f"{BASE}/{{instance_id}}/restart"),
        ("GET", f"{BASE}/{{instance_id}}/funnel"), ("PUT", f"{BASE}/{{instance_id}}/funnel"),
        ("DELETE", f"{BASE}/{{instance_id}}/funnel"), ("DELETE", f"{BASE}/{{instance_id}}/users/{{user}}/state"),
        ("POST", f"{BASE}/{{instance_id}}/send"), ("GET", "/admin/settings"), ("PUT", "/admin/settings"),
        ("GET", "/admin/llm/providers"), ("POST", "/admin/llm/providers"),
        ("GET", "/admin/llm/providers/{provider_id}"), ("PUT", "/admin/llm/providers/{provider_id}"),
        ("DELETE", "/admin/llm/providers/{provider_id}"),
        ("GET", f"{BASE}/{{instance_id}}/status"), ("GET", f"{BASE}/{{instance_id}}/health"),
        ("GET", f"{BASE}/{{instance_id}}/logs"),
        ("GET", f"{BASE}/{{instance_id}}/stats"), ("DELETE", f"{BASE}/{{instance_id}}/stats"),
        ("GET", "/admin/whatsapp/stats"), ("GET", "/admin/api-keys"), ("POST", "/admin/api-keys"),
        ("DELETE", "/admin/api-keys/{key_id}"), ("GET", "/admin/me"),
    }
    expected_routes |= {  # flows
        ("POST", f"{BASE}/{{instance_id}}/funnel/simulate"), ("GET", f"{BASE}/{{instance_id}}/funnel/stats"),
        ("POST", "/admin/funnel/simulate"), ("GET", "/admin/funnel/templates"),
        ("GET", "/admin/funnel/templates/{name}"),
    }
    assert documented == expected_routes
    assert "InstanceCreate" in document["components"]["schemas"]
    assert document["security"] == [{"apiKey": []}]


def test_openapi_needs_a_key_too(world):
    assert AdminClient(world.gateway, None).get("/admin/openapi.json").status == 401


def test_create_tenant_script(stack, capsys):
    assert cli.main(["initech", "--table", stack.refs["AppTable"], "--api-key-table", stack.refs["ApiKeyTable"]]) == 0
    out, err = capsys.readouterr()
    key = out.strip()
    assert key.startswith("wab.initech.") and "\n" not in key  # stdout: the key and nothing else
    logged = [json.loads(line) for line in err.splitlines()]
    assert logged[-1]["tenant_id"] == "initech" and key not in err and key.rsplit(".", 1)[1] not in err
    assert cli.main(["initech", "--table", stack.refs["AppTable"], "--api-key-table", stack.refs["ApiKeyTable"]]) == 1
    assert json.loads(capsys.readouterr().err.splitlines()[-1])["message"] == "tenant already exists"
    assert cli.main(["Bad Name", "--table", stack.refs["AppTable"], "--api-key-table", stack.refs["ApiKeyTable"]]) == 2
    assert capsys.readouterr().out == ""


def test_move_api_keys_script_upgrades_the_old_layout(stack, capsys):
    from scripts import move_api_keys
    from wabot.repositories.apikeys import ApiKeyRepository
    from wabot.tenancy import TenantContext

    dynamodb, table, key_table = aws.client("dynamodb"), stack.refs["AppTable"], stack.refs["ApiKeyTable"]
    old_layout = ApiKeyRepository(dynamodb, table)  # before API keys had their own table
    _, key = old_layout.create(TenantContext("initech"), "admin", "root")
    revoked, _ = old_layout.create(TenantContext("initech"), "user", "bob")
    old_layout.revoke(TenantContext("initech"), revoked.key_id)
    _, other = old_layout.create(TenantContext("globex"), "admin", "root")
    arguments = ["initech", "--table", table, "--api-key-table", key_table]
    assert move_api_keys.main(arguments) == 0
    moved = ApiKeyRepository(dynamodb, key_table)
    assert moved.authenticate(key).tenant_id == "initech"
    assert [r.revoked_at is not None for r in moved.list(TenantContext("initech"))].count(True) == 1
    assert old_layout.list(TenantContext("initech")) == []
    assert moved.authenticate(other) is None and old_layout.authenticate(other) is not None  # not named: kept
    assert move_api_keys.main(arguments) == 0
    logged = [json.loads(line) for line in capsys.readouterr().err.splitlines()]
    assert [line["moved"] for line in logged] == [2, 0] and key not in json.dumps(logged)
