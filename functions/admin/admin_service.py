"""Admin business logic: instances, lifecycle, logs, stats and API keys, with role checks.

Every method takes the caller (a TenantContext with principal and role, decided by the
authorizer) first. Another tenant's things are never reachable: every key is built from the
caller's tenant, so they answer "not found" exactly like things that do not exist.
"""

from __future__ import annotations

import contextlib
import re
import secrets as random_secrets
import time
import unicodedata
import uuid
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any

from admin_models import (
    MAX_LISTS_CHARACTERS,
    TENANT_SECRET_SETTINGS,
    ApiKeyCreate,
    ApiKeyCreated,
    ApiKeyList,
    ApiKeyOut,
    ConversationList,
    ConversationMessage,
    ConversationOut,
    FlowProblem,
    FunnelDayStats,
    FunnelNodeStats,
    FunnelOut,
    FunnelStats,
    FunnelTemplateInfo,
    FunnelTemplateList,
    FunnelTemplateOut,
    HealthSummary,
    InstanceCreate,
    InstanceFields,
    InstanceHealth,
    InstanceList,
    InstanceOut,
    InstanceStats,
    InstanceStatus,
    InstanceUpdate,
    LastError,
    LogList,
    MaskedSecrets,
    MessageList,
    MessageTemplateList,
    MessageTemplateOut,
    ProviderCreate,
    ProviderFields,
    ProviderList,
    ProviderOut,
    SendAccepted,
    SendFailure,
    SendRequest,
    SettingsOut,
    SettingsUpdate,
    SimulateRequest,
    SimulationOut,
    StatsReset,
    TemplateParameters,
    TemplateSendRequest,
    TenantStats,
    TokenHealth,
    UserStateReset,
    sum_counters,
)
from pydantic import ValidationError

from wabot.errors import ConflictError, ForbiddenError, NotFoundError
from wabot.funnel.flow import Flow
from wabot.funnel.simulate import simulate
from wabot.funnel.templates import TEMPLATES, default_funnel, template, template_document
from wabot.funnel.validation import parse_flow
from wabot.handoff import human_is_handling, window_closes_at, window_is_open
from wabot.health import CheckResult, check_credentials, store_check
from wabot.identity import normalize_user_ref
from wabot.models.conversation import UserProfile
from wabot.models.events import InboundEvent
from wabot.models.health import HealthRecord, summarize
from wabot.models.instance import InstanceConfig
from wabot.models.message_log import event_entry
from wabot.queue import EventPublisher
from wabot.repositories.activity import ActivityLog
from wabot.repositories.apikeys import ApiKeyRepository
from wabot.repositories.conversations import ConversationStore, InstanceDataPurger
from wabot.repositories.funnels import FlowTooLarge, FunnelRepository
from wabot.repositories.health import HealthRepository, StaleResult
from wabot.repositories.instances import InstanceIdTaken, InstanceRegistry, InstanceRepository
from wabot.repositories.llm_config import LlmConfigRepository, LlmProvider, TenantSettings
from wabot.repositories.messages import MessageLog
from wabot.repositories.secrets import SecretStore
from wabot.repositories.stats import StatsRepository
from wabot.stt import STT_PROVIDER_KINDS
from wabot.tenancy import TenantContext, is_slug
from wabot.whatsapp.graph import GraphClient, GraphError
from wabot.whatsapp.templates import TemplateShape

_CYRILLIC = dict(zip(
    "абвгдеёжзийклмнопрстуфхцчшщъыьэюя",
    ["a", "b", "v", "g", "d", "e", "e", "zh", "z", "i", "y", "k", "l", "m", "n", "o", "p", "r", "s", "t", "u",
     "f", "h", "ts", "ch", "sh", "sch", "", "y", "", "e", "yu", "ya"],
    strict=True,
))
MAX_SLUG = 48


def slugify(name: str) -> str:
    """"Support Bot" -> "support-bot"; Cyrillic is transliterated ("Бот продаж" -> "bot-prodazh")."""
    text = "".join(_CYRILLIC.get(char, char) for char in name.lower())
    text = unicodedata.normalize("NFKD", text).encode("ascii", "ignore").decode()
    slug = re.sub(r"[^a-z0-9]+", "-", text).strip("-")[:MAX_SLUG].strip("-")
    return slug or "instance"


class InvalidInput(Exception):
    """Input that passed the model but breaks a rule only the service knows (422).
    `problems` are (dotted field path, message) pairs."""

    def __init__(self, field: str, message: str, more: list[tuple[str, str]] | None = None) -> None:
        super().__init__(message)
        self.problems = [(field, message), *(more or [])]


class OutsideServiceWindow(ConflictError):
    public_message = "outside WhatsApp's 24-hour customer service window: the user last wrote over 24 hours ago"

    def __init__(self, closed_at: int | None) -> None:
        super().__init__(closed_at)
        self.details = {
            "window_closes_at": datetime.fromtimestamp(closed_at, UTC).isoformat() if closed_at else None,
            "hint": "only an approved message template can reach this user now: "
                    "POST .../conversations/{user}/template (GET .../templates lists them)"}


TEMPLATE_CACHE_SECONDS = 300


class TemplatesUnavailable(ConflictError):
    def __init__(self, code: int | None) -> None:
        super().__init__(code)
        self.public_message = f"the Graph API refused to list the templates (error {code})"


def _time(epoch: int | None) -> datetime | None:
    return datetime.fromtimestamp(epoch, UTC) if epoch else None


def _failure(failure: dict[str, Any] | None) -> SendFailure | None:
    if not failure:
        return None
    code = failure.get("code")
    return SendFailure(code=int(code) if isinstance(code, int | float) else None, title=str(failure.get("title", "")),
                       at=_time(int(failure["at"])) if failure.get("at") else None)


class ProviderIdTaken(ConflictError):
    public_message = "an LLM provider with this id exists"


class ProviderInUse(ConflictError):
    def __init__(self, instances: list[str]) -> None:
        super().__init__(instances)
        self.public_message = f"the provider is used by instances: {', '.join(sorted(instances))}"


def _can_read(caller: TenantContext, config: InstanceConfig) -> bool:
    return caller.role in ("admin", "guest") or config.owner_id == caller.principal_id


def _can_write(caller: TenantContext, config: InstanceConfig) -> bool:
    return caller.role == "admin" or (caller.role == "user" and config.owner_id == caller.principal_id)


def _require_admin(caller: TenantContext) -> None:
    if caller.role != "admin":
        raise ForbiddenError("admin role required")


# Servers the platform calls on the tenant's behalf: only an admin chooses them (SSRF).
ADMIN_ONLY_FIELDS = frozenset({"llm_base_url", "notify_url"})


def _check_admin_only_fields(caller: TenantContext, data: InstanceFields, old: InstanceConfig | None) -> None:
    if caller.role == "admin":
        return
    for name in sorted(ADMIN_ONLY_FIELDS & data.model_fields_set):
        given = data.config_changes()[name]
        if (old is None and given is None) or (old is not None and given == getattr(old, name)):
            continue  # nothing changes
        raise ForbiddenError(f"only an admin may set {name}")


def _check_list_sizes(config: InstanceConfig) -> None:
    """Both lists live in the instance's one item, which DynamoDB caps at 400 KB."""
    size = sum(len(entry) for entry in (*config.allowed_phones, *config.blocked_phones))
    if size > MAX_LISTS_CHARACTERS:
        field = "allowed_phones" if len(config.allowed_phones) >= len(config.blocked_phones) else "blocked_phones"
        raise InvalidInput(field, f"allowed_phones and blocked_phones together may hold at most "
                                  f"{MAX_LISTS_CHARACTERS} characters")


def _health_view(config: InstanceConfig, record: HealthRecord) -> InstanceHealth:
    summary = summarize(record)
    phone = record.phone
    return InstanceHealth(
        id=config.instance_id, status=summary.status, reason=summary.reason,
        token=TokenHealth(status=record.token_status, checked_at=record.checked_at,
                          expires_at=record.token_expires_at),
        sends_paused=config.sends_paused, display_phone_number=phone.display_phone_number,
        verified_name=phone.verified_name, quality_rating=phone.quality_rating,
        messaging_limit_tier=phone.messaging_limit_tier, name_status=phone.name_status,
        code_verification_status=phone.code_verification_status, phone_status=phone.status,
        throughput=phone.throughput, account_restricted=record.account_restricted,
        template_changes=record.template_changes, account_events=record.account_events,
        last_error=record.last_error)


@dataclass
class AdminService:
    instances: InstanceRepository
    registry: InstanceRegistry
    secrets: SecretStore
    activity: ActivityLog
    stats: StatsRepository
    purger: InstanceDataPurger
    api_keys: ApiKeyRepository
    funnels: FunnelRepository
    conversations: ConversationStore
    inbound: EventPublisher
    llm_config: LlmConfigRepository
    messages: MessageLog
    graph: GraphClient
    health: HealthRepository

    def __post_init__(self) -> None:
        # Each instance's approved templates, per config version: (fetched at, templates).
        self._templates: dict[tuple[str, str, int], tuple[float, list[TemplateShape]]] = {}

    # ---- instances -----------------------------------------------------------------------

    def _load(self, caller: TenantContext, instance_id: str, write: bool = False) -> InstanceConfig:
        if not is_slug(instance_id):
            raise NotFoundError(instance_id)
        config = self.instances.get(caller, instance_id)
        if not _can_read(caller, config):
            raise ForbiddenError("not your instance")
        if write and not _can_write(caller, config):
            raise ForbiddenError("read-only access" if caller.role == "guest" else "not your instance")
        return config

    def _views(self, caller: TenantContext, configs: list[InstanceConfig], base_url: str,
               generated_notify_secret: str | None = None) -> list[InstanceOut]:
        masked = self.secrets.masked(caller, [c.instance_id for c in configs])
        return [
            InstanceOut(
                id=c.instance_id,
                webhook_url=f"{base_url}/webhook/{c.tenant_id}/{c.instance_id}",
                secrets=MaskedSecrets(**masked[c.instance_id]),
                generated_notify_secret=generated_notify_secret,
                **c.model_dump(exclude={"tenant_id", "instance_id"}),
            )
            for c in configs
        ]

    def _check_credentials(self, phone_number_id: str, token: str | None, app_token: str | None,
                           field: str) -> CheckResult | None:
        """422 when the Graph API refuses the token for this number (also stops claiming another
        business's number); an unreachable Graph API does not block the change (health: unknown)."""
        if not token:
            return None
        result = check_credentials(self.graph, phone_number_id, token, app_token)
        error = result.error
        if result.token_status == "invalid" or (error is not None and error.code == 100):  # noqa: S105
            raise InvalidInput(field, "the access token cannot read this phone number "
                                      f"(Graph API error {error.code if error else 'unknown'})")
        return result

    def _store_check(self, caller: TenantContext, instance_id: str, result: CheckResult | None) -> None:
        if result is None:
            return
        with contextlib.suppress(StaleResult):  # a newer scheduled check already wrote its result
            store_check(self.health, self.instances, caller, instance_id, result, datetime.now(UTC))

    @staticmethod
    def _notify_secret(data: InstanceFields, notify_url: str | None, instance_id: str | None,
                       secret_changes: dict[str, str]) -> str | None:
        """Generate the notifications' HMAC key when asked, or when a URL is set without any;
        the answer carries it this once (it is stored only in SSM)."""
        if "notify_secret" in secret_changes or not notify_url:
            return None
        if data.rotate_notify_secret or instance_id is None or "notify_url" in data.model_fields_set:
            secret_changes["notify_secret"] = random_secrets.token_urlsafe(32)
            return secret_changes["notify_secret"]
        return None

    def health_of(self, caller: TenantContext, instance_id: str) -> InstanceHealth:
        config = self._load(caller, instance_id)
        return _health_view(config, self.health.get(caller, instance_id))

    def list_instances(self, caller: TenantContext, base_url: str, limit: int, cursor: str | None) -> InstanceList:
        owner = caller.principal_id if caller.role == "user" else None
        try:
            configs, next_cursor = self.instances.list(caller, limit=limit, cursor=cursor, owner_id=owner)
        except ValueError:
            raise InvalidInput("cursor", "invalid cursor") from None
        return InstanceList(items=self._views(caller, configs, base_url), next=next_cursor)

    def get_instance(self, caller: TenantContext, instance_id: str, base_url: str) -> InstanceOut:
        return self._views(caller, [self._load(caller, instance_id)], base_url)[0]

    def create_instance(self, caller: TenantContext, data: InstanceCreate, base_url: str) -> InstanceOut:
        if caller.role == "guest":
            raise ForbiddenError("read-only access")
        owner = data.owner_id or caller.principal_id
        if caller.role != "admin" and owner != caller.principal_id:
            raise ForbiddenError("only an admin may create an instance for another owner")
        _check_admin_only_fields(caller, data, None)
        now = datetime.now(UTC)
        fields = {k: v for k, v in data.config_changes().items() if v is not None}
        flow = template(data.funnel_template) if data.funnel_template else None
        self._check_backend(caller, fields.get("llm_backend"))
        self._check_backend(caller, fields.get("stt_backend"), "stt_backend")
        secret_changes = data.secret_changes()
        check = self._check_credentials(data.phone_number_id, secret_changes.get("access_token"),
                                        secret_changes.get("app_token"), "access_token")
        generated = self._notify_secret(data, fields.get("notify_url"), None, secret_changes)
        base = slugify(data.name)
        taken = self.instances.ids_starting_with(caller, base)
        for attempt in range(2, 200):
            candidate = base if base not in taken else f"{base[: MAX_SLUG - 4]}-{attempt}"
            if candidate in taken:
                continue
            config = self._validated({**fields, "tenant_id": caller.tenant_id, "instance_id": candidate,
                                      "owner_id": owner, "version": 1, "created_at": now, "updated_at": now})
            _check_list_sizes(config)
            try:
                self.instances.create(caller, config)
                break
            except InstanceIdTaken:  # created concurrently: take the next suffix
                taken.add(candidate)
        else:
            raise InvalidInput("name", "too many instances with this name")
        try:
            for name, value in secret_changes.items():
                self.secrets.put(caller, config.instance_id, name, value)
            if flow is not None:
                self.funnels.put(caller, config.instance_id, flow)
        except Exception:
            self.instances.delete(caller, config)  # nothing half-created stays behind
            raise
        self._store_check(caller, config.instance_id, check)
        self._audit(caller, config.instance_id, "instance created", sorted(data.model_fields_set))
        return self._views(caller, [config], base_url, generated)[0]

    def update_instance(self, caller: TenantContext, instance_id: str, data: InstanceUpdate,
                        base_url: str) -> InstanceOut:
        old = self._load(caller, instance_id, write=True)
        changes = data.config_changes()
        if "owner_id" in changes and changes["owner_id"] != old.owner_id and caller.role != "admin":
            raise ForbiddenError("only an admin may change the owner")
        _check_admin_only_fields(caller, data, old)
        for required in ("name", "phone_number_id", "llm_backend", "llm_history_turns", "read_receipts",
                         "typing_indicator", "stt_enabled", "stt_backend", "llm_debounce_seconds"):
            if required in changes and changes[required] is None:
                raise InvalidInput(required, "may not be null")
        self._check_backend(caller, changes.get("llm_backend"))
        self._check_backend(caller, changes.get("stt_backend"), "stt_backend")
        secret_changes = data.secret_changes()
        check = None
        new_number = changes.get("phone_number_id") or old.phone_number_id
        if "access_token" in secret_changes or new_number != old.phone_number_id:
            # The credentials change: can the (new) token read the (new) number? Checked before anything is written.
            token = secret_changes.get("access_token") or self.secrets.current(caller, instance_id, "access_token")
            app_token = secret_changes.get("app_token") or self.secrets.current(caller, instance_id, "app_token")
            check = self._check_credentials(new_number, token, app_token,
                                            "access_token" if "access_token" in secret_changes else "phone_number_id")
            if check is not None and check.token_status == "valid":  # noqa: S105 - a status word
                changes["sends_paused"] = False  # a working token resumes sends at once
        notify_url = changes.get("notify_url", old.notify_url)
        generated = self._notify_secret(data, notify_url, instance_id, secret_changes)
        # Secrets first: the version bump below makes warm functions re-read them.
        for name, value in secret_changes.items():
            self.secrets.put(caller, instance_id, name, value)
        new = self._validated({**old.model_dump(), **changes, "version": old.version + 1,
                               "updated_at": datetime.now(UTC)})
        _check_list_sizes(new)
        self.instances.replace(caller, old, new)
        self.registry.invalidate(caller, instance_id)
        if check is not None:
            self._store_check(caller, instance_id, check)
        self._audit(caller, instance_id, "instance updated", sorted(data.model_fields_set))
        return self._views(caller, [new], base_url, generated)[0]

    def delete_instance(self, caller: TenantContext, instance_id: str) -> None:
        config = self._load(caller, instance_id, write=True)
        # Data and secrets first, the config last: a failure midway leaves a config the admin
        # can DELETE again, never orphaned data without one.
        self.purger.purge(caller, instance_id)
        self.funnels.delete(caller, instance_id)
        self.secrets.delete_all(caller, instance_id)
        self.instances.delete(caller, config)
        self.registry.invalidate(caller, instance_id)

    def lifecycle(self, caller: TenantContext, instance_id: str, action: str, base_url: str) -> InstanceOut:
        old = self._load(caller, instance_id, write=True)
        changes = {
            "start": {"running": True, "auto_start": True},
            "stop": {"running": False, "auto_start": False},
            "restart": {},  # the version bump alone makes every warm function reload
        }[action]
        new = self._validated({**old.model_dump(), **changes, "version": old.version + 1,
                               "updated_at": datetime.now(UTC)})
        self.instances.replace(caller, old, new)
        self.registry.invalidate(caller, instance_id)
        self._audit(caller, instance_id, f"instance {action}", [])
        return self._views(caller, [new], base_url)[0]

    def status(self, caller: TenantContext, instance_id: str) -> InstanceStatus:
        config = self._load(caller, instance_id)
        state = self.stats.state(caller, instance_id)
        today = self.stats.days(caller, instance_id, days=1)
        masked = self.secrets.masked(caller, [instance_id])[instance_id]
        return InstanceStatus(
            id=instance_id,
            running=config.running,
            enabled=config.enabled,
            auto_start=config.auto_start,
            config_version=config.version,
            last_inbound_at=state.get("last_inbound_at"),
            last_outbound_at=state.get("last_outbound_at"),
            last_error=LastError(**state["last_error"]) if state.get("last_error") else None,
            today=today[0]["counters"] if today else {},
            secrets_configured={name: value is not None for name, value in masked.items()},
        )

    def logs(self, caller: TenantContext, instance_id: str, limit: int) -> LogList:
        self._load(caller, instance_id)
        return LogList(items=self.activity.recent(caller, instance_id, limit=limit))

    def instance_stats(self, caller: TenantContext, instance_id: str, days: int) -> InstanceStats:
        self._load(caller, instance_id)
        rows = self.stats.days(caller, instance_id, days=days)
        return InstanceStats(id=instance_id, days=rows, totals=sum_counters([row["counters"] for row in rows]))

    def reset_stats(self, caller: TenantContext, instance_id: str) -> StatsReset:
        self._load(caller, instance_id, write=True)
        cleared = self.stats.reset(caller, instance_id)
        self._audit(caller, instance_id, "stats reset", [])
        return StatsReset(id=instance_id, cleared_days=cleared)

    def tenant_stats(self, caller: TenantContext, days: int) -> TenantStats:
        owner = caller.principal_id if caller.role == "user" else None
        by_instance: dict[str, dict[str, int]] = {}
        not_ok: list[HealthSummary] = []
        cursor = None
        while True:
            configs, cursor = self.instances.list(caller, limit=100, cursor=cursor, owner_id=owner)
            for config in configs:
                rows = self.stats.days(caller, config.instance_id, days=days)
                by_instance[config.instance_id] = sum_counters([row["counters"] for row in rows])
                health = summarize(self.health.get(caller, config.instance_id))
                if health.status != "ok":
                    not_ok.append(HealthSummary(id=config.instance_id, status=health.status, reason=health.reason))
            if cursor is None:
                break
        return TenantStats(instances=len(by_instance), totals=sum_counters(list(by_instance.values())),
                           by_instance=by_instance, not_ok=not_ok)

    # ---- funnel, users, manager replies ----------------------------------------------------------

    def get_funnel(self, caller: TenantContext, instance_id: str) -> FunnelOut:
        self._load(caller, instance_id)
        custom = self.funnels.get(caller, instance_id)
        return FunnelOut(custom=custom is not None, definition=(custom or default_funnel()).document())

    def put_funnel(self, caller: TenantContext, instance_id: str, document: dict) -> FunnelOut:
        """A flow document, or {"template": name} to start over from a shipped template."""
        config = self._load(caller, instance_id, write=True)
        flow, warnings = self._flow(document)
        try:
            self.funnels.put(caller, instance_id, flow)
        except FlowTooLarge as exc:
            raise InvalidInput("definition", str(exc)) from None
        self._bump(caller, config)
        self._audit(caller, instance_id, "funnel replaced", [])
        return FunnelOut(custom=True, definition=flow.document(), warnings=warnings)

    def delete_funnel(self, caller: TenantContext, instance_id: str) -> FunnelOut:
        config = self._load(caller, instance_id, write=True)
        self.funnels.delete(caller, instance_id)
        self._bump(caller, config)
        self._audit(caller, instance_id, "funnel reset to the default", [])
        return FunnelOut(custom=False, definition=default_funnel().document())

    @staticmethod
    def _flow(document: dict) -> tuple[Flow, list[FlowProblem]]:
        """The validated flow and its warnings; InvalidInput naming node and field otherwise."""
        if set(document) == {"template"}:
            name = document["template"]
            if not isinstance(name, str) or name not in TEMPLATES:
                raise InvalidInput("template", f"unknown template; one of {', '.join(TEMPLATES)}")
            return template(name), []
        flow, problems = parse_flow(document)
        errors = [p for p in problems if p.level == "error"]
        if flow is None:
            located = [(".".join(map(str, p.loc)) or "definition", p.msg) for p in errors or problems]
            raise InvalidInput(*located[0], more=located[1:])
        return flow, [FlowProblem(**p.as_dict()) for p in problems if p.level == "warning"]

    def funnel_templates(self) -> FunnelTemplateList:
        return FunnelTemplateList(items=[FunnelTemplateInfo(name=name, title=title, description=description)
                                         for name, (title, description) in TEMPLATES.items()])

    def funnel_template(self, name: str) -> FunnelTemplateOut:
        if name not in TEMPLATES:
            raise NotFoundError(name)
        title, description = TEMPLATES[name]
        return FunnelTemplateOut(name=name, title=title, description=description,
                                 definition=template_document(name))

    def simulate_funnel(self, caller: TenantContext, instance_id: str | None,
                        request: SimulateRequest) -> SimulationOut:
        """Nothing is sent or stored. Without an instance, the draft is simulated on its own."""
        if instance_id is not None:
            config = self._load(caller, instance_id)
        else:
            config = InstanceConfig(tenant_id=caller.tenant_id, instance_id="draft", name="draft",
                                    phone_number_id="0")
        warnings: list[FlowProblem] = []
        if request.definition is not None:
            flow, warnings = self._flow(request.definition)
        elif instance_id is not None:
            flow = self.funnels.get(caller, instance_id) or default_funnel()
        else:
            raise InvalidInput("definition", "a draft flow is required without an instance")
        result = simulate(flow, request.inputs, config, time.time(), language=request.language)
        return SimulationOut(turns=result.turns, variables=result.variables, at=result.at,
                             waiting_for=result.waiting_for, warnings=warnings)

    def funnel_stats(self, caller: TenantContext, instance_id: str, days: int) -> FunnelStats:
        self._load(caller, instance_id)
        rows = self.stats.funnel_days(caller, instance_id, days)
        totals: dict[str, dict[str, int]] = {}
        out_days = []
        for row in rows:
            nodes = {}
            for node, counts in row["nodes"].items():
                reached, moved_on = counts.get("in", 0), counts.get("out", 0)
                nodes[node] = FunnelNodeStats(reached=reached, left=max(0, reached - moved_on))
                total = totals.setdefault(node, {"in": 0, "out": 0})
                total["in"] += reached
                total["out"] += moved_on
            out_days.append(FunnelDayStats(date=row["date"], nodes=nodes))
        return FunnelStats(days=out_days, totals={
            node: FunnelNodeStats(reached=t["in"], left=max(0, t["in"] - t["out"])) for node, t in totals.items()})

    def _user_key(self, caller: TenantContext, instance_id: str, user: str) -> str:
        candidates = [user]
        with contextlib.suppress(ValueError):  # not a phone number: a BSUID or user key as given
            candidates.append(normalize_user_ref(user))
        for candidate in candidates:
            found = self.conversations.resolve_user(caller, instance_id, candidate)
            if found:
                return found
        raise NotFoundError("user")

    def reset_user_state(self, caller: TenantContext, instance_id: str, user: str) -> UserStateReset:
        self._load(caller, instance_id, write=True)
        user_key = self._user_key(caller, instance_id, user)
        deleted = self.conversations.reset_user(caller, instance_id, user_key)
        self._audit(caller, instance_id, "user state reset", [])
        return UserStateReset(user=user, deleted_items=deleted)

    def send(self, caller: TenantContext, instance_id: str, request: SendRequest) -> SendAccepted:
        """A manager's free-form text: only inside the window; the conversation becomes `human`."""
        config = self._load(caller, instance_id, write=True)
        user_key = self._user_key(caller, instance_id, request.user)
        profile = self.conversations.get_profile(caller, instance_id, user_key)
        if profile is None:
            raise NotFoundError("user")
        if not window_is_open(profile, time.time()):
            raise OutsideServiceWindow(window_closes_at(profile))
        return self._queue_manager_message(caller, config, user_key, request.user, "text", {"body": request.text},
                                           request.text)

    def send_template(self, caller: TenantContext, instance_id: str, user: str,
                      request: TemplateSendRequest) -> SendAccepted:
        """An approved template, inside or outside the window; its values checked against it (422)."""
        config = self._load(caller, instance_id, write=True)
        user_key = self._user_key(caller, instance_id, user)
        shape = next((t for t in self._template_shapes(caller, config, refresh=False)
                      if t.name == request.name and t.language == request.language), None)
        if shape is None:
            raise InvalidInput("name", "no approved template with this name and language "
                                       "(GET .../templates lists them)")
        problems = shape.problems(request.header, request.body, request.buttons)
        if problems:
            raise InvalidInput(*problems[0], more=problems[1:])
        template = shape.graph_template(request.header, request.body, request.buttons)
        return self._queue_manager_message(caller, config, user_key, user, "template", {"template": template},
                                           f"[template {shape.name}]")

    def _queue_manager_message(self, caller: TenantContext, config: InstanceConfig, user_key: str, user: str,
                               kind: str, content: dict[str, Any], preview: str) -> SendAccepted:
        """Take the conversation over (the bot falls silent at once, even for replies already
        planned), then queue the message in the conversation's order."""
        now = int(time.time())
        profile = self._take_over(caller, config, user_key, extra={
            "last_manager_at": now, "preview": preview[:80], "unread": 0})
        message_id = f"manager.{uuid.uuid4().hex}"
        event = InboundEvent(
            kind="outbound", tenant_id=caller.tenant_id, instance_id=config.instance_id,
            config_version=config.version, phone_number_id=config.phone_number_id, user_key=user_key,
            user_id=profile.user_id, phone=profile.phone, message_id=message_id, type=kind, content=content,
            raw={}, timestamp=now, request_id=message_id, actor=caller.principal_id)
        self.inbound.publish([event])
        return SendAccepted(message_id=message_id, user=user)

    def _take_over(self, caller: TenantContext, config: InstanceConfig, user_key: str,
                   extra: dict[str, Any] | None = None) -> UserProfile:
        now = int(time.time())
        started: list[bool] = []

        def change(profile: UserProfile) -> dict[str, Any]:
            started[:] = [not human_is_handling(profile, config, now)]
            fields = dict(extra or {})
            if started[0]:
                fields.update(mode="human", human_since=now, human_by=caller.principal_id, human_message=None,
                              last_manager_at=fields.get("last_manager_at"))
            return fields

        profile = self.conversations.update(caller, config.instance_id, user_key, change)
        if profile is None:
            raise NotFoundError("user")
        if started and started[0]:
            entry = event_entry("handoff", time.time(), caller.principal_id)
            self.messages.record(caller, config.instance_id, user_key, [entry], config.message_retention_days)
            self._audit(caller, config.instance_id, "conversation taken over by a person", [])
        return profile

    # ---- conversation operations ------------------------------------------------------------

    def list_conversations(self, caller: TenantContext, instance_id: str, limit: int, cursor: str | None,
                           status: str | None) -> ConversationList:
        config = self._load(caller, instance_id)
        try:
            profiles, next_cursor = self.conversations.list_conversations(caller, instance_id, limit, cursor)
        except ValueError:
            raise InvalidInput("cursor", "invalid cursor") from None
        now = time.time()
        items = [self._conversation(config, p, now) for p in profiles]
        if status:
            items = [item for item in items if item.handoff == status]
        return ConversationList(items=items, next=next_cursor)

    def conversation_messages(self, caller: TenantContext, instance_id: str, user: str, limit: int,
                              cursor: str | None) -> MessageList:
        self._load(caller, instance_id)
        user_key = self._user_key(caller, instance_id, user)
        try:
            entries, next_cursor = self.messages.page(caller, instance_id, user_key, limit, cursor)
        except ValueError:
            raise InvalidInput("cursor", "invalid cursor") from None
        return MessageList(items=[ConversationMessage(
            **entry.model_dump(exclude={"at", "error", "wamid"}), at=datetime.fromtimestamp(entry.at, UTC),
            error=_failure(entry.error)) for entry in entries], next=next_cursor)

    def hand_off(self, caller: TenantContext, instance_id: str, user: str) -> ConversationOut:
        config = self._load(caller, instance_id, write=True)
        profile = self._take_over(caller, config, self._user_key(caller, instance_id, user))
        return self._conversation(config, profile, time.time())

    def release(self, caller: TenantContext, instance_id: str, user: str) -> ConversationOut:
        config = self._load(caller, instance_id, write=True)
        user_key = self._user_key(caller, instance_id, user)
        now = int(time.time())
        profile = self.conversations.update(caller, instance_id, user_key, lambda p: {
            "mode": "bot", "human_message": None} if p.mode == "human" else None)
        if profile is None:
            raise NotFoundError("user")
        self.messages.record(caller, instance_id, user_key, [event_entry("release", time.time(), caller.principal_id)],
                             config.message_retention_days)
        self._audit(caller, instance_id, "conversation given back to the bot", [])
        return self._conversation(config, profile, now)

    def _conversation(self, config: InstanceConfig, profile: UserProfile, now: float) -> ConversationOut:
        human = human_is_handling(profile, config, now)
        started = max(profile.last_manager_at or 0, profile.human_since or 0)
        closes = window_closes_at(profile)
        return ConversationOut(
            user=profile.user_key, phone=profile.phone, profile_name=profile.profile_name,
            last_inbound_at=_time(profile.last_inbound_at), last_outbound_at=_time(profile.last_outbound_at),
            preview=profile.preview, node=profile.state.last_node, segment=profile.state.segment
            or profile.state.vars.get("segment"), window_open=window_is_open(profile, now),
            window_closes_at=_time(closes), handoff="human" if human else "bot",
            human_by=profile.human_by if human else None,
            human_until=_time(int(started + config.handoff_timeout_hours * 3600)) if human else None,
            unread=profile.unread, last_failure=_failure(profile.failure))

    def list_templates(self, caller: TenantContext, instance_id: str, refresh: bool) -> MessageTemplateList:
        config = self._load(caller, instance_id)
        shapes = self._template_shapes(caller, config, refresh)
        fetched = self._templates[(caller.tenant_id, instance_id, config.version)][0]
        return MessageTemplateList(fetched_at=datetime.fromtimestamp(fetched, UTC), items=[MessageTemplateOut(
            name=t.name, language=t.language, category=t.category, status=t.status, text=t.text,
            parameters=TemplateParameters(header=t.header, body=t.body, buttons=list(t.buttons))) for t in shapes])

    def _template_shapes(self, caller: TenantContext, config: InstanceConfig, refresh: bool) -> list[TemplateShape]:
        cache_key = (caller.tenant_id, config.instance_id, config.version)
        cached = self._templates.get(cache_key)
        if cached and not refresh and time.time() - cached[0] < TEMPLATE_CACHE_SECONDS:
            return cached[1]
        if not config.waba_id:
            raise InvalidInput("waba_id", "the instance has no WhatsApp Business Account id (waba_id)")
        token = self.secrets.get(caller, config, "access_token")
        if not token:
            raise InvalidInput("access_token", "the instance has no access token")
        try:
            raw = self.graph.message_templates(config.waba_id, token)
        except GraphError as error:
            raise TemplatesUnavailable(error.code) from None
        shapes = [TemplateShape.parse(t) for t in raw if str(t.get("status", "")).upper() == "APPROVED"]
        self._templates[cache_key] = (time.time(), shapes)
        return shapes

    def _bump(self, caller: TenantContext, config: InstanceConfig) -> None:
        """A new config version makes warm workers reload (here: the funnel they cached)."""
        new = config.model_copy(update={"version": config.version + 1, "updated_at": datetime.now(UTC)})
        self.instances.replace(caller, config, new)
        self.registry.invalidate(caller, config.instance_id)

    # ---- LLM settings and providers ----------------------------------------------------------

    def _check_backend(self, caller: TenantContext, backend: str | None, field: str = "llm_backend") -> None:
        if backend and backend.startswith("cloud:"):
            try:
                provider = self.llm_config.provider(caller, backend.removeprefix("cloud:"))
            except NotFoundError:
                raise InvalidInput(field, "no such LLM provider in this tenant") from None
            if field == "stt_backend" and provider.kind not in STT_PROVIDER_KINDS:
                raise InvalidInput(field, "speech to text needs a provider of kind openai or gemini")

    def get_settings(self, caller: TenantContext) -> SettingsOut:
        settings = self.llm_config.settings(caller)
        return SettingsOut(**settings.model_dump(), **{
            name: self.secrets.masked_tenant_secret(caller, "settings", name) for name in TENANT_SECRET_SETTINGS})

    def update_settings(self, caller: TenantContext, data: SettingsUpdate) -> SettingsOut:
        _require_admin(caller)
        values = self.llm_config.settings(caller).model_dump()
        for name, value in data.model_dump(include=data.model_fields_set - set(TENANT_SECRET_SETTINGS)).items():
            if value is None:
                values.pop(name)  # null: back to the default
            else:
                values[name] = value
        merged = TenantSettings.model_validate(values)
        for name in TENANT_SECRET_SETTINGS:
            if getattr(data, name):
                self.secrets.put_tenant_secret(caller, getattr(data, name), "settings", name)
        self.llm_config.save_settings(caller, merged)
        return self.get_settings(caller)

    def _provider_out(self, caller: TenantContext, provider: LlmProvider) -> ProviderOut:
        masked = self.secrets.masked_tenant_secret(caller, "llm-providers", provider.id, "api_key")
        return ProviderOut(**provider.model_dump(mode="json"), backend=f"cloud:{provider.id}", api_key=masked)

    def list_providers(self, caller: TenantContext) -> ProviderList:
        return ProviderList(items=[self._provider_out(caller, p) for p in self.llm_config.providers(caller)])

    def get_provider(self, caller: TenantContext, provider_id: str) -> ProviderOut:
        if not is_slug(provider_id):
            raise NotFoundError(provider_id)
        return self._provider_out(caller, self.llm_config.provider(caller, provider_id))

    def create_provider(self, caller: TenantContext, data: ProviderCreate) -> ProviderOut:
        _require_admin(caller)
        provider = LlmProvider(id=data.id or slugify(data.name), name=data.name, kind=data.kind,
                               base_url=data.base_url, model=data.model)
        if not self.llm_config.save_provider(caller, provider, create=True):
            raise ProviderIdTaken()
        self.secrets.put_tenant_secret(caller, data.api_key, "llm-providers", provider.id, "api_key")
        return self._provider_out(caller, provider)

    def update_provider(self, caller: TenantContext, provider_id: str, data: ProviderFields) -> ProviderOut:
        _require_admin(caller)
        current = self.llm_config.provider(caller, provider_id) if is_slug(provider_id) else None
        if current is None:
            raise NotFoundError(provider_id)
        given = data.model_dump(include=data.model_fields_set - {"api_key"})
        if any(value is None for value in given.values()):
            raise InvalidInput(next(k for k, v in given.items() if v is None), "may not be null")
        provider = LlmProvider.model_validate({**current.model_dump(), **given})
        if data.api_key:
            self.secrets.put_tenant_secret(caller, data.api_key, "llm-providers", provider_id, "api_key")
        self.llm_config.save_provider(caller, provider, create=False)
        return self._provider_out(caller, provider)

    def delete_provider(self, caller: TenantContext, provider_id: str) -> None:
        _require_admin(caller)
        if not is_slug(provider_id):
            raise NotFoundError(provider_id)
        self.llm_config.provider(caller, provider_id)
        users = []
        cursor = None
        while True:
            configs, cursor = self.instances.list(caller, limit=100, cursor=cursor)
            users += [c.instance_id for c in configs if f"cloud:{provider_id}" in (c.llm_backend, c.stt_backend)]
            if cursor is None:
                break
        if users:
            raise ProviderInUse(users)
        self.llm_config.delete_provider(caller, provider_id)
        self.secrets.delete_tenant_secret(caller, "llm-providers", provider_id, "api_key")

    # ---- API keys ------------------------------------------------------------------------

    def create_api_key(self, caller: TenantContext, data: ApiKeyCreate) -> ApiKeyCreated:
        _require_admin(caller)
        record, plaintext = self.api_keys.create(caller, data.role, data.principal_id,
                                                 created_by=caller.principal_id)
        return ApiKeyCreated(api_key=plaintext, **record.model_dump(exclude={"tenant_id"}))

    def list_api_keys(self, caller: TenantContext) -> ApiKeyList:
        _require_admin(caller)
        return ApiKeyList(items=[ApiKeyOut(**r.model_dump(exclude={"tenant_id"})) for r in self.api_keys.list(caller)])

    def revoke_api_key(self, caller: TenantContext, key_id: str) -> ApiKeyOut:
        _require_admin(caller)
        record = self.api_keys.revoke(caller, key_id)
        return ApiKeyOut(**record.model_dump(exclude={"tenant_id"}))

    # ---- helpers -------------------------------------------------------------------------

    @staticmethod
    def _validated(data: dict) -> InstanceConfig:
        try:
            return InstanceConfig.model_validate(data)
        except ValidationError as exc:
            error = exc.errors()[0]
            raise InvalidInput(".".join(str(p) for p in error["loc"]), error["msg"]) from None

    def _audit(self, caller: TenantContext, instance_id: str, summary: str, fields: list[str]) -> None:
        """Who changed what (field names only: never values, never secrets)."""
        self.activity.record(caller, instance_id, "admin_change", summary, {"fields": fields},
                             actor=caller.principal_id)
