"""Migration from the legacy platform into moto: every field arrives, re-runs and dry runs
change nothing, bad rows are reported, and the bot answers a migrated user."""

from __future__ import annotations

from datetime import UTC, date, datetime

import pytest

from migration.migrator import Migrator, Stores
from tests.integration.conftest import whole_table
from tests.integration.funnel_harness import body_text, message_event
from tests.integration.legacy_fixtures import build_legacy
from wabot import aws
from wabot.repositories.conversations import ConversationStore
from wabot.repositories.funnels import FunnelRepository
from wabot.repositories.instances import InstanceRepository
from wabot.repositories.secrets import SecretStore
from wabot.repositories.stats import StatsRepository
from wabot.tenancy import TenantContext

ACME = TenantContext("acme")


@pytest.fixture
def legacy(tmp_path):
    return build_legacy(tmp_path)


@pytest.fixture
def stores(stack) -> Stores:
    dynamodb, table = aws.client("dynamodb"), stack.refs["AppTable"]
    return Stores(InstanceRepository(dynamodb, table), SecretStore("/wabot-test", aws.client("ssm")),
                  FunnelRepository(dynamodb, table), ConversationStore(dynamodb, table),
                  StatsRepository(dynamodb, table))


def migrate(stores, legacy, tenant=ACME, write=True, source=None):
    db, data = legacy
    return Migrator(stores, tenant, write=write).run(db, data, source or tenant.tenant_id)


def everything(stack) -> list:
    items = whole_table(stack)
    parameters = aws.client("ssm").get_parameters_by_path(Path="/wabot-test", Recursive=True,
                                                          WithDecryption=True)["Parameters"]
    return sorted(str(i) for i in items) + sorted(f"{p['Name']}={p['Value']}" for p in parameters)


def test_every_field_arrives(stack, stores, legacy):
    report = migrate(stores, legacy)
    configs, _ = stores.instances.list(ACME)
    by_legacy = {c.legacy_id: c for c in configs}
    assert set(by_legacy) == {"sales", "support"}
    sales = by_legacy["sales"]
    assert (sales.instance_id, sales.name, sales.phone_number_id, sales.waba_id) == (
        "prodazhi", "Продажи", "106540352242922", "102290129340398")
    assert (sales.llm_backend, sales.llm_params.temperature, sales.llm_params.max_tokens) == ("vllm", 0.4, 500)
    assert (sales.tts_enabled, sales.tts_engine, sales.tts_voice, sales.tts_preset) == (True, "xtts", "anna", "warm")
    assert (sales.rate_limit_count, sales.rate_limit_hours, sales.owner_id) == (7, 3, "ivan")
    assert sales.blocked_phones == ["79001112233"]
    assert sales.system_prompt == "Ты вежливый консультант."  # prompt.txt fills the empty column
    assert sales.language == "ru" and sales.running and sales.auto_start
    support = by_legacy["support"]
    assert (support.running, support.auto_start) == (False, False)
    assert support.allowed_phones == ["79001234567", "79007654321"]
    assert (support.rate_limit_count, support.rate_limit_hours) == (9, 2)  # config.txt
    assert support.system_prompt == "Be helpful."
    assert stores.secrets.current(ACME, sales.instance_id, "access_token") == "EAAG-legacy-access-1111"
    assert stores.secrets.current(ACME, sales.instance_id, "app_secret") == "legacy-app-secret-3333"
    assert stores.secrets.current(ACME, sales.instance_id, "verify_token") == "legacy-verify-2222"
    funnel = stores.funnels.get(ACME, sales.instance_id)
    assert funnel.routes.greetings["ru"] == ["hello", "здравствуйте", "меню", "привет"]

    maria = stores.conversations.get_profile(ACME, sales.instance_id, "79160001122")
    assert maria.profile_name == "Мария Иванова" and maria.phone == "79160001122"
    assert (maria.state.funnel_state, maria.state.segment) == ("custom_step_2", "custom")
    assert maria.state.quiz_answers == {"goal": ["docs"], "budget": ["high"]}
    assert maria.state.discovery == {"company": "Банк «Восток»"}
    assert maria.last_inbound_at == int(datetime(2026, 11, 20, 10, tzinfo=UTC).timestamp())
    john = stores.conversations.get_profile(ACME, sales.instance_id, "15550001111")
    assert john.last_inbound_at == 1763632800 and john.state.segment == "basic"
    assert stores.conversations.steps(ACME, sales.instance_id, "79160001122") == [
        "legacy:welcome", "legacy:quiz_answer:goal=docs", "legacy:segment:custom"]
    day = StatsRepository(aws.client("dynamodb"), stack.refs["AppTable"])
    counters = day.days(ACME, sales.instance_id, days=(date.today() - date(2026, 11, 20)).days + 1)[0]["counters"]
    assert counters["inbound"] == 120 and counters["outbound"] == 240
    assert report.counts[("users", "created")] == 2 and report.counts[("events", "created")] == 4


def test_invalid_rows_are_reported_and_skipped(stores, legacy):
    report = migrate(stores, legacy)
    reasons = {(s.kind, s.ref): s.reason for s in report.skipped}
    assert "phone_number_id" in reasons[("instance", "bad-phone")]
    assert "JSON" in reasons[("instance", "bad-json")]
    assert "temperature" in reasons[("instance", "hot")]
    assert "already belongs" in reasons[("instance", "dup")]
    assert ("user", "call me") in reasons and ("user", "15550002222") in reasons
    assert ("event", "5") in reasons
    rendered = report.render(dry_run=False)
    assert "skipped instance hot" in rendered
    for secret in ("EAAG-legacy-access-1111", "legacy-app-secret-3333", "legacy-verify-2222"):
        assert secret not in rendered


def test_second_run_changes_nothing(stack, stores, legacy):
    migrate(stores, legacy)
    before = everything(stack)
    again = migrate(stores, legacy)
    assert again.changes == 0
    assert everything(stack) == before
    assert again.counts[("users", "unchanged")] == 2 and again.counts[("instances", "unchanged")] == 2


def test_dry_run_writes_nothing_and_reports_the_same_changes(stack, stores, legacy):
    dry = migrate(stores, legacy, write=False)
    assert everything(stack) == []
    real = migrate(stores, legacy)
    assert dry.changes == real.changes > 0
    assert {k: v for k, v in dry.counts.items()} == {k: v for k, v in real.counts.items()}


def test_default_tenant_from_the_shared_layout_and_tenants_stay_apart(stores, legacy):
    default = TenantContext("default")
    migrate(stores, legacy, tenant=default)
    [old_bot], _ = stores.instances.list(default)
    assert (old_bot.legacy_id, old_bot.name, old_bot.system_prompt) == ("7", "Old Bot", "Old shared prompt.")
    since = (date.today() - date(2026, 1, 1)).days + 1
    [day] = stores.stats.days(default, old_bot.instance_id, days=since)
    assert (day["date"], day["counters"]["inbound"]) == ("2026-01-01", 5)  # flat stats.json, one bot
    assert stores.instances.list(ACME)[0] == []  # acme's bots were not touched
    globex = TenantContext("globex")
    migrate(stores, legacy, tenant=globex)
    assert [c.legacy_id for c in stores.instances.list(globex)[0]] == ["g1"]


def test_a_migrated_user_is_answered_from_the_saved_funnel_state(stack, stores, legacy, funnel):
    migrate(stores, legacy)
    config = next(c for c in stores.instances.list(ACME)[0] if c.legacy_id == "sales")
    from tests.integration.conftest import SeededInstance

    instance = SeededInstance(ACME, config.instance_id, config.phone_number_id, "", "", "")
    event = message_event(instance, text="250 сотрудников", user_phone="79160001122", user_id=None,
                          config_version=config.version)
    [question] = funnel.exchange(event)
    assert body_text(question).startswith("3/5")
    assert question["to"] == "+79160001122"
    maria = stores.conversations.get_profile(ACME, config.instance_id, "79160001122")
    assert (maria.state.vars["discovery.company"], maria.state.vars["discovery.users"]) == (
        "Банк «Восток»", "250 сотрудников")
    assert maria.state.discovery == {}  # the legacy field, moved into the flow's variables


def test_cli_reports_and_never_prints_secrets(stack, legacy, monkeypatch, capsys):
    import sys
    from pathlib import Path

    sys.path.insert(0, str(Path(__file__).resolve().parents[2] / "scripts"))
    import migrate_whatsapp

    monkeypatch.setattr(migrate_whatsapp, "target", lambda stack_name, port: (stack.refs["AppTable"], "/wabot-test"))
    db, data = legacy
    assert migrate_whatsapp.main(["--db", str(db), "--data-dir", str(data), "--tenant", "acme", "--dry-run"]) == 0
    out = capsys.readouterr().out
    assert "dry run: nothing written" in out and "instances  created 2" in out
    assert migrate_whatsapp.main(["--db", str(db), "--data-dir", str(data), "--tenant", "acme"]) == 0
    out = capsys.readouterr().out
    assert "legacy-app-secret-3333" not in out and "0 change(s)" not in out
    assert migrate_whatsapp.main(["--db", str(db), "--data-dir", str(data), "--tenant", "acme"]) == 0
    assert "0 change(s) were made" in capsys.readouterr().out
    assert migrate_whatsapp.main(["--db", "/nope.db", "--data-dir", str(data)]) == 2
