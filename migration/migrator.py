"""Writing a legacy tenant into a tenant of this platform, safely and repeatably.

Instance configs go through the admin API's own validation (`InstanceCreate`), secrets into
SSM, users / funnel state / events / discovery answers into the tenant's partitions, stats
into the instance's counters. Every write first compares with what is there: a second run
changes nothing, and a dry run (`write=False`) only counts what would change.
"""

from __future__ import annotations

import re
import sys
from collections import Counter
from dataclasses import dataclass, field
from datetime import UTC, date, datetime
from pathlib import Path
from typing import Any

from admin_models import InstanceCreate
from admin_service import slugify
from pydantic import ValidationError

from migration.legacy import LegacyUser, Skipped, TenantFolder, read_folder, read_funnel_db, read_instances
from wabot.funnel.flow import AskNode, Flow
from wabot.funnel.templates import template, template_document
from wabot.identity import normalize_user_ref
from wabot.keys import META_SECRET_NAMES
from wabot.models.conversation import ConversationState, UserProfile
from wabot.models.instance import InstanceConfig
from wabot.repositories.conversations import ConversationStore
from wabot.repositories.funnels import FunnelRepository
from wabot.repositories.instances import InstanceRepository, PhoneNumberTaken
from wabot.repositories.secrets import SecretStore
from wabot.repositories.stats import StatsRepository
from wabot.tenancy import TenantContext

# What the platform itself keeps in a profile: a re-run of the migration leaves it as it is.
RUNTIME_FIELDS = {"version", "plan", "steps", "handled"}
CONFIG_KEYS = {  # config.txt keys that fill what a row leaves empty
    "LLM_BACKEND": "llm_backend", "TTS_ENGINE": "tts_engine", "TTS_VOICE": "tts_voice", "TTS_PRESET": "tts_preset",
    "RATE_LIMIT_COUNT": "rate_limit_count", "RATE_LIMIT_HOURS": "rate_limit_hours", "LANGUAGE": "language",
}
STATS_KEYS = {"messages_in": "inbound", "messages_out": "outbound", "llm_calls": "llm_calls",
              "voice_replies": "voice_replies", "errors": "errors", "users": "unique_users_legacy"}


@dataclass
class Report:
    counts: Counter = field(default_factory=Counter)
    skipped: list[Skipped] = field(default_factory=list)

    def count(self, kind: str, outcome: str, n: int = 1) -> None:
        if n:
            self.counts[(kind, outcome)] += n

    @property
    def changes(self) -> int:
        return sum(n for (_, outcome), n in self.counts.items() if outcome in ("created", "updated"))

    def render(self, dry_run: bool) -> str:
        verb = "would be" if dry_run else "were"
        lines = [f"Migration report ({'dry run: nothing written' if dry_run else 'written'}):"]
        for kind in sorted({k for k, _ in self.counts}):
            parts = [f"{outcome} {self.counts[(kind, outcome)]}" for outcome in ("created", "updated", "unchanged")
                     if self.counts[(kind, outcome)]]
            lines.append(f"  {kind:<10} " + ", ".join(parts))
        lines.append(f"  {self.changes} change(s) {verb} made; {len(self.skipped)} item(s) skipped")
        lines += [f"  skipped {s.kind} {s.ref}: {s.reason}" for s in self.skipped]
        return "\n".join(lines)


class Progress:
    """A progress bar on stderr for long runs (silent when stderr is not a terminal and in tests)."""

    def __init__(self, total: int, label: str, enabled: bool) -> None:
        self.total, self.label, self.done, self.enabled = max(total, 1), label, 0, enabled

    def step(self) -> None:
        self.done += 1
        if self.enabled:
            filled = int(30 * self.done / self.total)
            sys.stderr.write(f"\r{self.label} [{'#' * filled}{'.' * (30 - filled)}] {self.done}/{self.total}")
            if self.done >= self.total:
                sys.stderr.write("\n")
            sys.stderr.flush()


@dataclass
class Stores:
    instances: InstanceRepository
    secrets: SecretStore
    funnels: FunnelRepository
    conversations: ConversationStore
    stats: StatsRepository


class Migrator:
    def __init__(self, stores: Stores, tenant: TenantContext, write: bool, progress: bool = False) -> None:
        self.stores, self.tenant, self.write, self.progress = stores, tenant, write, progress
        self.report = Report()
        self._numbers_this_run: set[str] = set()

    # ---- entry point -----------------------------------------------------------------------

    def run(self, orchestrator_db: Path, data_dir: Path, source_tenant: str) -> Report:
        rows, skipped = read_instances(orchestrator_db, source_tenant)
        self.report.skipped += skipped
        folder = read_folder(data_dir, source_tenant)
        migrated: list[tuple[dict[str, Any], InstanceConfig]] = []
        for row in rows:
            config = self._instance(row, folder)
            if config is not None:
                migrated.append((row, config))
        bots = []
        for row, config in migrated:
            users, skipped = read_funnel_db(data_dir / f"wa_sales_{row['id']}.db")
            self.report.skipped += skipped
            bots.append((config, users))
        progress = Progress(sum(len(users) for _, users in bots), "users", self.progress)
        for config, users in bots:
            for user in users:
                self._user(config, user)
                progress.step()
        self._stats(folder, [config for config, _ in bots])
        return self.report

    # ---- instances -----------------------------------------------------------------------------

    def _payload(self, row: dict[str, Any], folder: TenantFolder) -> dict[str, Any]:
        payload: dict[str, Any] = {
            "name": row["name"], "phone_number_id": str(row["phone_number_id"] or ""),
            "waba_id": str(row["waba_id"]) if row["waba_id"] else None,
            "enabled": bool(row["enabled"]) if row["enabled"] is not None else None,
            "llm_backend": row["llm_backend"], "system_prompt": row["system_prompt"] or folder.prompt,
            "llm_params": row["llm_params"] or None,
            "tts_enabled": bool(row["tts_enabled"]) if row["tts_enabled"] is not None else None,
            "tts_engine": row["tts_engine"], "tts_voice": row["tts_voice"], "tts_preset": row["tts_preset"],
            "allowed_phones": row["allowed_phones"], "blocked_phones": row["blocked_phones"],
            "rate_limit_count": row["rate_limit_count"], "rate_limit_hours": row["rate_limit_hours"],
            "owner_id": row["owner_id"],
        }
        for key, name in CONFIG_KEYS.items():
            if payload.get(name) in (None, "") and folder.config.get(key):
                payload[name] = folder.config[key]
        payload.update({name: row[name] for name in META_SECRET_NAMES if row[name]})
        return {k: v for k, v in payload.items() if v not in (None, "")}

    def _instance(self, row: dict[str, Any], folder: TenantFolder) -> InstanceConfig | None:
        legacy_id = str(row["id"])
        data = self._validated(row, folder, legacy_id)
        if data is None:
            return None
        existing = self._by_legacy_id(legacy_id)
        fields = {k: v for k, v in data.config_changes().items() if v is not None}
        running = bool(row["auto_start"]) if row["auto_start"] is not None else True
        if existing is None:
            config = self._create(data, {**fields, "running": running, "auto_start": running}, legacy_id)
            if config is None:
                return None
        else:
            config = self._update(existing, {**fields, "running": running, "auto_start": running})
        self._secrets(data, config, existing is not None)
        self._funnel(config, folder)
        return config

    def _validated(self, row: dict[str, Any], folder: TenantFolder, legacy_id: str) -> InstanceCreate | None:
        """The row as the admin API would accept it; None (and the row skipped) when it would not."""
        try:
            return InstanceCreate.model_validate(self._payload(row, folder))
        except ValidationError as exc:
            error = exc.errors()[0]
            field_name = ".".join(str(p) for p in error["loc"])
            self.report.skipped.append(Skipped("instance", legacy_id, f"{field_name}: {error['msg']}"))
            return None

    def _create(self, data: InstanceCreate, fields: dict[str, Any], legacy_id: str) -> InstanceConfig | None:
        """A new instance for a row seen the first time; None when its number belongs to another instance."""
        number = data.phone_number_id
        if number in self._numbers_this_run or self.stores.instances.phone_number_taken(number):
            self.report.skipped.append(Skipped("instance", legacy_id,
                                               "phone_number_id already belongs to another instance"))
            return None
        self._numbers_this_run.add(number)
        taken = self.stores.instances.ids_starting_with(self.tenant, slugify(data.name))
        instance_id = next(c for c in [slugify(data.name)] + [f"{slugify(data.name)[:44]}-{n}" for n in
                                                             range(2, 999)] if c not in taken)
        now = datetime.now(UTC)
        config = InstanceConfig.model_validate({**fields, "tenant_id": self.tenant.tenant_id,
                                                "instance_id": instance_id, "legacy_id": legacy_id,
                                                "created_at": now, "updated_at": now})
        if self.write:
            try:
                self.stores.instances.create(self.tenant, config)
            except PhoneNumberTaken:
                self.report.skipped.append(Skipped("instance", legacy_id,
                                                   "phone_number_id already belongs to another instance"))
                return None
        self.report.count("instances", "created")
        return config

    def _update(self, existing: InstanceConfig, fields: dict[str, Any]) -> InstanceConfig:
        """The instance migrated before, with the row's values (unchanged when they are the same)."""
        merged = InstanceConfig.model_validate({**existing.model_dump(), **fields})
        if _comparable(merged) == _comparable(existing):
            self.report.count("instances", "unchanged")
            return existing
        config = merged.model_copy(update={"version": existing.version + 1, "updated_at": datetime.now(UTC)})
        if self.write:
            self.stores.instances.replace(self.tenant, existing, config)
        self.report.count("instances", "updated")
        return config

    def _secrets(self, data: InstanceCreate, config: InstanceConfig, existed: bool) -> None:
        for name, value in data.secret_changes().items():
            current = self.stores.secrets.current(self.tenant, config.instance_id, name) if existed else None
            if current == value:
                self.report.count("secrets", "unchanged")
                continue
            if self.write:
                self.stores.secrets.put(self.tenant, config.instance_id, name, value)
            self.report.count("secrets", "updated" if current else "created")

    def _by_legacy_id(self, legacy_id: str) -> InstanceConfig | None:
        cursor = None
        while True:
            configs, cursor = self.stores.instances.list(self.tenant, limit=100, cursor=cursor)
            found = next((c for c in configs if c.legacy_id == legacy_id), None)
            if found or cursor is None:
                return found

    def _funnel(self, config: InstanceConfig, folder: TenantFolder) -> None:
        """keywords.txt: the legacy bot's own trigger words become the funnel's greetings."""
        if not folder.keywords:
            return
        document = template_document("sales")
        for language in document["routes"]["greetings"]:
            document["routes"]["greetings"][language] = sorted(set(folder.keywords))
        definition = Flow.model_validate(document)
        current = self.stores.funnels.get(self.tenant, config.instance_id)
        if current is not None and current.model_dump() == definition.model_dump():
            self.report.count("funnels", "unchanged")
            return
        if self.write:
            self.stores.funnels.put(self.tenant, config.instance_id, definition)
        self.report.count("funnels", "updated" if current else "created")

    # ---- users ---------------------------------------------------------------------------------

    def _user(self, config: InstanceConfig, user: LegacyUser) -> None:
        try:
            phone = normalize_user_ref(user.phone)
        except ValueError as exc:
            self.report.skipped.append(Skipped("user", user.phone or "?", str(exc)))
            return
        # The legacy bot's numbered discovery steps are the sales template's custom_step_N questions;
        # the state keeps the legacy fields, which the engine moves into variables when it reads them.
        sales = template("sales")
        steps = [node.var.removeprefix("discovery.") for n in range(1, 10)
                 if isinstance(node := sales.nodes.get(f"custom_step_{n}"), AskNode)]
        discovery = {steps[step - 1]: answer for step, answer in sorted(user.discovery.items())
                     if 1 <= step <= len(steps)}
        state = ConversationState(funnel_state=user.funnel_state or None, segment=user.segment,
                                  quiz_answers=user.quiz_answers, discovery=discovery)
        existing = self.stores.conversations.get_profile(self.tenant, config.instance_id, phone)
        wanted = UserProfile(user_key=phone, phone=phone, profile_name=user.name, state=state,
                             last_inbound_at=user.last_message_at)
        if existing is None:
            if self.write:
                self.stores.conversations.save_profile(self.tenant, config.instance_id, wanted)
            self.report.count("users", "created")
        elif existing.model_dump(exclude=RUNTIME_FIELDS) == wanted.model_dump(exclude=RUNTIME_FIELDS):
            self.report.count("users", "unchanged")
        else:
            if self.write:
                self.stores.conversations.save_profile(self.tenant, config.instance_id, wanted.model_copy(
                    update={name: getattr(existing, name) for name in RUNTIME_FIELDS}))
            self.report.count("users", "updated")
        self.report.count("discovery", "unchanged" if existing and existing.state.discovery == discovery
                          else "created", len(discovery))
        events = [(f"{_iso(e['at'])}#legacy-{e['id']}", _step(e), e["at"] or 0) for e in user.events]
        new = self.stores.conversations.import_events(self.tenant, config.instance_id, phone, events, self.write)
        self.report.count("events", "created", new)
        self.report.count("events", "unchanged", len(events) - new)

    # ---- stats -----------------------------------------------------------------------------------

    def _stats(self, folder: TenantFolder, configs: list[InstanceConfig]) -> None:
        """stats.json: flat counters for a tenant with one bot, or counters per legacy bot id."""
        if not folder.stats or not configs:
            return
        by_legacy = {c.legacy_id: c for c in configs}
        nested = all(isinstance(v, dict) for v in folder.stats.values())
        if nested:
            targets = [(by_legacy.get(k), v, k) for k, v in folder.stats.items()]
        elif len(configs) == 1:
            targets = [(configs[0], folder.stats, configs[0].legacy_id)]
        else:
            self.report.skipped.append(Skipped("stats", "stats.json", "flat counters but several bots"))
            return
        day = date.fromisoformat(folder.stats_date or datetime.now(UTC).date().isoformat())
        for config, values, ref in targets:
            if config is None:
                self.report.skipped.append(Skipped("stats", str(ref), "no migrated bot with this id"))
                continue
            counters = {STATS_KEYS[k]: int(v) for k, v in values.items() if k in STATS_KEYS and
                        isinstance(v, int | float)}
            if not counters:
                continue
            changed = self.stores.stats.set_day(self.tenant, config.instance_id, day, counters, self.write)
            self.report.count("stats", "updated" if changed else "unchanged")


def _comparable(config: InstanceConfig) -> dict[str, Any]:
    return config.model_dump(exclude={"version", "created_at", "updated_at"})


def _iso(epoch: int | None) -> str:
    return datetime.fromtimestamp(epoch or 0, UTC).strftime("%Y-%m-%dT%H:%M:%S.%f")


def _step(event: dict[str, Any]) -> str:
    detail = re.sub(r"\s+", " ", str(event.get("data") or ""))[:80]
    return f"legacy:{event['type']}" + (f":{detail}" if detail else "")
