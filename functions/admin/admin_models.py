"""Admin API input and output models. Unknown fields are rejected (422 naming the field)."""

from __future__ import annotations

from datetime import datetime
from typing import TYPE_CHECKING, Annotated, Any, Literal, get_args

from pydantic import BaseModel, ConfigDict, Field, create_model

from wabot.funnel.simulate import SimulatedInput, SimulatedTurn
from wabot.funnel.templates import TEMPLATES
from wabot.keys import SECRET_NAMES
from wabot.models.activity import ActivityEntry
from wabot.models.health import AccountAlert, HealthError, Summary, TemplateChange, TokenStatus
from wabot.models.instance import MANAGED_FIELDS, BackendUrl, ClientInput, InstanceConfig, TtsEngine, client_input
from wabot.models.principal import PRINCIPAL_PATTERN, Role
from wabot.repositories.llm_config import ProviderKind, TenantSettings
from wabot.tenancy import SLUG_PATTERN

FLOW_DOCUMENT = "a flow document (JSON Schema: GET /admin/funnel/schema.json; README: the flow language)"


def _secret_field(min_length: int = 8, description: str = "write-only; stored in SSM") -> Any:
    return Field(default=None, min_length=min_length, max_length=4096, description=description)


# The instance's secrets (names: wabot.keys.SECRET_NAMES), write-only; the default rule unless given here.
SECRET_INPUT = {
    "app_token": _secret_field(description="write-only, optional: an app token for /debug_token health checks"),
    "notify_secret": _secret_field(16, "write-only: HMAC key of the notifications; generated when a notify_url "
                                       "is set without one"),
}
ACTIONS = {  # requests, not stored fields
    "rotate_notify_secret": (bool | None, Field(default=None, description="true: a new notify_secret is "
                                                "generated and answered once in generated_notify_secret")),
}
SETTABLE_FIELDS = tuple(name for name in InstanceConfig.model_fields if name not in MANAGED_FIELDS)
# Servers the platform calls on the tenant's behalf: only an admin chooses them (SSRF).
ADMIN_ONLY_FIELDS = frozenset(name for name in SETTABLE_FIELDS if client_input(name).admin_only)
# Fields the stored config cannot hold as null: a PUT may not clear them.
NON_NULLABLE_FIELDS = frozenset(name for name in SETTABLE_FIELDS
                                if type(None) not in get_args(InstanceConfig.model_fields[name].annotation))


def _constrained(annotation: Any, metadata: list[Any]) -> Any:
    return Annotated[annotation, *metadata] if metadata else annotation


def _input_field(name: str, required: bool) -> tuple[Any, Any]:
    """The API's input field for a settable InstanceConfig field: its type, limits and description,
    plus its client-input rules; optional (null) unless required."""
    info = InstanceConfig.model_fields[name]
    rules = client_input(name)
    metadata = [m for m in info.metadata if not isinstance(m, ClientInput)] + list(rules.metadata)
    annotation = _constrained(rules.type or info.annotation, metadata)
    if required:
        return annotation, Field(description=info.description)
    return annotation | None, Field(default=None, description=info.description)  # rules apply to a value, not null


class _Derived(BaseModel):
    """A model whose fields are derived from InstanceConfig at run time (create_model below): to the
    type checker each of them is Any."""

    if TYPE_CHECKING:
        def __getattr__(self, name: str) -> Any: ...


class InstanceInput(_Derived):
    """Base of the instance create and update models (fields: derived from InstanceConfig below)."""

    model_config = ConfigDict(extra="forbid", str_strip_whitespace=True)

    def config_changes(self) -> dict:
        """The non-secret fields the caller gave (null clears an optional field)."""
        dumped = self.model_dump(mode="json", include=self.model_fields_set & set(SETTABLE_FIELDS))
        return {name: getattr(self, name) if name == "llm_params" else dumped[name] for name in dumped}

    def secret_changes(self) -> dict[str, str]:
        return {name: getattr(self, name) for name in SECRET_NAMES
                if name in self.model_fields_set and getattr(self, name)}


def _instance_input_fields(create: bool) -> dict[str, Any]:
    fields = {name: _input_field(name, create and InstanceConfig.model_fields[name].is_required())
              for name in SETTABLE_FIELDS}
    fields |= {name: (str | None, SECRET_INPUT.get(name, _secret_field())) for name in SECRET_NAMES}
    return fields | ACTIONS


if TYPE_CHECKING:  # what the type checker sees of the models derived at run time below
    class InstanceUpdate(InstanceInput): ...

    class InstanceCreate(InstanceInput): ...

    class MaskedSecrets(_Derived): ...

    class InstanceOut(_Derived):
        def __init__(self, **data: Any) -> None: ...
else:
    TemplateName = Literal[tuple(TEMPLATES)]  # the shipped templates' names (a value only: built at run time)

    # What an admin may set. On PUT every field is optional and only given ones change.
    InstanceUpdate = create_model("InstanceUpdate", __base__=InstanceInput, **_instance_input_fields(create=False))
    InstanceCreate = create_model(
        "InstanceCreate", __base__=InstanceInput, **_instance_input_fields(create=True),
        funnel_template=(TemplateName | None, Field(default=None, description="start with this flow template "
                                                    "(GET /admin/funnel/templates); default: the sales funnel")))

    MaskedSecrets = create_model("MaskedSecrets", **{
        name: (str | None, Field(description="last 4 characters at most, or null when not set"))
        for name in SECRET_NAMES})


def _output_field(name: str) -> tuple[Any, Any]:
    info = InstanceConfig.model_fields[name]
    metadata = [m for m in info.metadata if not isinstance(m, ClientInput)]
    return _constrained(info.annotation, metadata), Field(description=info.description)


if not TYPE_CHECKING:
    # Every stored field but the tenant (the caller's) and the id (renamed `id`); secrets only masked.
    InstanceOut = create_model(
        "InstanceOut",
        id=(str, Field(description="the instance id (a slug of its name)")),
        webhook_url=(str, Field(description="paste into Meta's app dashboard, with the verify token")),
        **{name: _output_field(name) for name in InstanceConfig.model_fields
           if name not in ("tenant_id", "instance_id")},
        secrets=(MaskedSecrets, ...),
        generated_notify_secret=(str | None, Field(default=None, description="only in the answer that generated it")),
    )


class InstanceList(BaseModel):
    items: list[InstanceOut]
    next: str | None


class LastError(BaseModel):
    code: int | str | None = None
    message: str | None = None
    at: datetime | None = None


class InstanceStatus(BaseModel):
    id: str
    running: bool
    enabled: bool
    auto_start: bool
    config_version: int
    last_inbound_at: datetime | None
    last_outbound_at: datetime | None
    last_error: LastError | None
    today: dict[str, int]
    secrets_configured: dict[str, bool]


class LogList(BaseModel):
    items: list[ActivityEntry]


class DayStats(BaseModel):
    date: str
    counters: dict[str, int]


class InstanceStats(BaseModel):
    id: str
    days: list[DayStats]
    totals: dict[str, int]


class HealthSummary(BaseModel):
    id: str
    status: Summary
    reason: str


class TenantStats(BaseModel):
    instances: int
    totals: dict[str, int]
    by_instance: dict[str, dict[str, int]]
    not_ok: list[HealthSummary] = Field(default_factory=list, description="instances whose health is not ok")


class TokenHealth(BaseModel):
    status: TokenStatus
    checked_at: datetime | None
    expires_at: datetime | None


class InstanceHealth(HealthSummary):
    token: TokenHealth
    sends_paused: bool
    display_phone_number: str | None
    verified_name: str | None
    quality_rating: str | None
    messaging_limit_tier: str | None
    name_status: str | None
    code_verification_status: str | None
    phone_status: str | None
    throughput: str | None
    account_restricted: bool
    template_changes: list[TemplateChange]
    account_events: list[AccountAlert]
    last_error: HealthError | None


class StatsReset(BaseModel):
    id: str
    cleared_days: int


class CallerOut(BaseModel):
    """Who the API key belongs to: the console's header shows it and hides what the role may not do."""

    tenant_id: str
    principal_id: str
    role: Role


class ApiKeyCreate(BaseModel):
    model_config = ConfigDict(extra="forbid", str_strip_whitespace=True)

    role: Role
    principal_id: str = Field(pattern=PRINCIPAL_PATTERN)


class ApiKeyOut(BaseModel):
    key_id: str
    role: Role
    principal_id: str
    created_at: datetime
    created_by: str | None = None
    revoked_at: datetime | None = None


class ApiKeyCreated(ApiKeyOut):
    api_key: str = Field(description="the key itself: shown this once, never again")


class ApiKeyList(BaseModel):
    items: list[ApiKeyOut]


def sum_counters(rows: list[dict[str, int]]) -> dict[str, int]:
    totals: dict[str, int] = {}
    for row in rows:
        for name, value in row.items():
            totals[name] = totals.get(name, 0) + int(value)
    return totals


# ---- funnels (flows) ---------------------------------------------------------------------------


class FlowProblem(BaseModel):
    loc: list[str | int]
    msg: str


class FunnelOut(BaseModel):
    custom: bool = Field(description="false: the platform's default funnel (the sales template) is in use")
    definition: dict[str, Any] = Field(description=FLOW_DOCUMENT)
    warnings: list[FlowProblem] = Field(default_factory=list,
                                        description="unreachable nodes, variables read but never set")


class FunnelTemplateInfo(BaseModel):
    name: str
    title: str
    description: str


class FunnelTemplateList(BaseModel):
    items: list[FunnelTemplateInfo]


class FunnelTemplateOut(FunnelTemplateInfo):
    definition: dict[str, Any] = Field(description=FLOW_DOCUMENT)


class SimulateRequest(BaseModel):
    model_config = ConfigDict(extra="forbid")

    definition: dict[str, Any] | None = Field(default=None, description="a draft flow; default: the instance's")
    inputs: list[SimulatedInput] = Field(min_length=1, max_length=200)
    language: str | None = Field(default=None, pattern=r"^[a-z]{2,3}(-[A-Za-z0-9]{1,8}){0,3}$",
                                 description="default: the instance's language (or the flow's default)")


class SimulationOut(BaseModel):
    turns: list[SimulatedTurn] = Field(description="what the bot would send for each input")
    variables: dict[str, Any] = Field(description="the user's variables at the end")
    at: str | None = Field(description="the node the user is at in the end")
    waiting_for: Literal["text", "reply"] | None = Field(description="text: a node waits for typed text")
    warnings: list[FlowProblem] = Field(default_factory=list)


class FunnelNodeStats(BaseModel):
    reached: int = Field(description="times users reached the node")
    left: int = Field(description="times the flow stopped there: users did not move on (yet)")


class FunnelDayStats(BaseModel):
    date: str
    nodes: dict[str, FunnelNodeStats]


class FunnelStats(BaseModel):
    days: list[FunnelDayStats] = Field(description="oldest first; days without flow traffic left out")
    totals: dict[str, FunnelNodeStats]


class SendRequest(BaseModel):
    model_config = ConfigDict(extra="forbid")

    user: str = Field(min_length=1, max_length=140, description="phone number or business-scoped user id")
    text: str = Field(min_length=1, max_length=4096)


class SendAccepted(BaseModel):
    status: Literal["queued"] = "queued"
    message_id: str
    user: str


class UserStateReset(BaseModel):
    user: str
    deleted_items: int


class SettingsUpdate(BaseModel):
    """Tenant-wide LLM and voice settings; only the given fields change, `null` resets one to its default."""

    model_config = ConfigDict(extra="forbid")

    vllm_base_url: BackendUrl | None = None
    vllm_model: str | None = Field(default=None, max_length=200)
    gemini_model: str | None = Field(default=None, min_length=1, max_length=200)
    gemini_base_url: BackendUrl | None = None
    tts_base_urls: dict[TtsEngine, BackendUrl] | None = None
    stt_base_url: BackendUrl | None = None
    stt_model: str | None = Field(default=None, min_length=1, max_length=200)
    gemini_api_key: str | None = _secret_field()
    stt_api_key: str | None = _secret_field()


TENANT_SECRET_SETTINGS = ("gemini_api_key", "stt_api_key")


class SettingsOut(TenantSettings):
    gemini_api_key: str | None = Field(description="masked")
    stt_api_key: str | None = Field(description="masked")


class ProviderFields(BaseModel):
    model_config = ConfigDict(extra="forbid", str_strip_whitespace=True)

    name: str | None = Field(default=None, min_length=1, max_length=100)
    kind: ProviderKind | None = None
    base_url: BackendUrl | None = None
    model: str | None = Field(default=None, min_length=1, max_length=200)
    api_key: str | None = _secret_field()


class ProviderCreate(ProviderFields):
    id: str | None = Field(default=None, pattern=SLUG_PATTERN, description="default: a slug of the name")
    name: str = Field(min_length=1, max_length=100)
    kind: ProviderKind
    base_url: BackendUrl
    model: str = Field(min_length=1, max_length=200)
    api_key: str = Field(min_length=8, max_length=4096)


class ProviderOut(BaseModel):
    id: str
    name: str
    kind: ProviderKind
    base_url: str
    model: str
    backend: str = Field(description="the instance llm_backend value that uses it")
    api_key: str | None = Field(description="masked")


class ProviderList(BaseModel):
    items: list[ProviderOut]


# ---- conversation operations: inbox, hand-off, templates -----------------------------------


class SendFailure(BaseModel):
    code: int | None = Field(description="Meta's error code: 131047 window closed, 131026 undeliverable, ...")
    title: str
    at: datetime | None


class ConversationOut(BaseModel):
    user: str = Field(description="the user key: business-scoped user id, else the phone number")
    phone: str | None
    profile_name: str | None
    last_inbound_at: datetime | None
    last_outbound_at: datetime | None
    preview: str | None = Field(description="the user's latest message, shortened")
    node: str | None = Field(description="where the user is in the funnel")
    segment: str | None
    window_open: bool = Field(description="inside WhatsApp's 24-hour customer service window: free-form "
                              "messages allowed; else only templates")
    window_closes_at: datetime | None
    handoff: Literal["bot", "human"]
    human_by: str | None = Field(description="who handed it to a person (a principal, or `user`)")
    human_until: datetime | None = Field(description="when it returns to the bot without a manager message")
    unread: int = Field(description="user messages since the conversation was last answered")
    last_failure: SendFailure | None


class ConversationList(BaseModel):
    items: list[ConversationOut]
    next: str | None


class ConversationMessage(BaseModel):
    at: datetime
    direction: Literal["in", "out", "event"]
    sender: Literal["user", "bot", "llm", "manager", "system"]
    actor: str | None
    type: str = Field(description="message type; for events: handoff, release, timeout, held")
    text: str | None
    reply_id: str | None = Field(description="the tapped option's id")
    reply_title: str | None
    media_type: str | None
    media_id: str | None
    options: list[str] | None = Field(description="titles of the buttons or rows the bot offered")
    template: str | None
    status: str | None = Field(description="outbound: sent, delivered, read, failed (null: accepted, no status yet)")
    error: SendFailure | None


class MessageList(BaseModel):
    items: list[ConversationMessage] = Field(description="oldest first; `next` leads to older messages")
    next: str | None


class TemplateParameters(BaseModel):
    header: int = Field(description="variables in a text header")
    body: int
    buttons: list[int] = Field(description="variables per button, in the template's button order")


class MessageTemplateOut(BaseModel):
    name: str
    language: str
    category: str | None
    status: str
    text: str = Field(description="the body text with its {{n}} placeholders")
    parameters: TemplateParameters


class MessageTemplateList(BaseModel):
    items: list[MessageTemplateOut]
    fetched_at: datetime


TemplateValue = Annotated[str, Field(min_length=1, max_length=1024)]


class TemplateSendRequest(BaseModel):
    model_config = ConfigDict(extra="forbid")

    name: str = Field(min_length=1, max_length=512, pattern=r"^[a-z0-9_]+$")
    language: str = Field(min_length=2, max_length=15, pattern=r"^[A-Za-z]{2,3}(_[A-Za-z0-9]{2,8})?$")
    header: list[TemplateValue] = Field(default_factory=list, max_length=10)
    body: list[TemplateValue] = Field(default_factory=list, max_length=100)
    buttons: list[list[TemplateValue]] = Field(default_factory=list, max_length=10,
                                               description="per button, its variables (URL suffix)")
