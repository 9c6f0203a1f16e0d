"""The flow language: a funnel for any business, as data.

A flow has languages, variables, nodes, global routes (greetings, menu, back, stop/start) and
data tables. Nodes are typed by `kind`; texts are templates (`{name}`, `{quiz.goal}`,
`{table.gpu.vram}`) given per language or once for all. `Flow.model_json_schema()` is the
document's JSON Schema; `wabot.funnel.validation` checks what a schema cannot (references,
WhatsApp's limits in every language, loops, unreachable nodes, unset variables).
"""

from __future__ import annotations

from typing import Annotated, Any, Literal, get_args

from pydantic import BaseModel, ConfigDict, Field, model_validator

MAX_NODES = 500
LANGUAGE_PATTERN = r"^[a-z]{2,3}(-[A-Za-z0-9]{1,8}){0,3}$"
NODE_ID_PATTERN = r"^[A-Za-z0-9_][A-Za-z0-9_.:-]{0,63}$"
VAR_PATTERN = r"^[A-Za-z_][A-Za-z0-9_]{0,31}(\.[A-Za-z0-9_]{1,32}){0,2}$"
TABLE_PATTERN = r"^[A-Za-z_][A-Za-z0-9_]{0,31}$"
# Names a flow may not assign: the engine provides them while rendering.
RESERVED_VAR_ROOTS = ("table", "option")

LanguageCode = Annotated[str, Field(pattern=LANGUAGE_PATTERN, description="BCP-47 language code")]
NodeId = Annotated[str, Field(pattern=NODE_ID_PATTERN)]
VarName = Annotated[str, Field(pattern=VAR_PATTERN, description="a variable, dotted names allowed: answers.budget")]
TableName = Annotated[str, Field(pattern=TABLE_PATTERN)]
ReplyId = Annotated[str, Field(min_length=1, max_length=200, description="the id WhatsApp sends back when tapped")]
Text = Annotated[
    str | dict[LanguageCode, str],
    Field(description="a template, once for all languages or per language: {\"en\": \"Hi {name}\"}"),
]
Value = Annotated[
    str | int | float | bool | list[str] | None,
    Field(description="a constant; strings are templates; null unsets the variable"),
]
Cell = str | int | float | bool | list[str] | dict[LanguageCode, str]


class _Model(BaseModel):
    model_config = ConfigDict(extra="forbid")


# ---- options ---------------------------------------------------------------------------------


class Button(_Model):
    id: ReplyId
    title: Text = Field(description="at most 20 characters once rendered")
    next: NodeId
    set: dict[VarName, Value] = Field(default_factory=dict, description="variables set when chosen; "
                                      "{option.title} and {option.id} name the chosen option")


class Row(Button):
    title: Text = Field(description="at most 24 characters once rendered")
    description: Text | None = Field(default=None, description="at most 72 characters once rendered")


class Section(_Model):
    title: Text | None = Field(default=None, description="required with more than one section; at most 24")
    rows: list[Row] = Field(min_length=1, max_length=10)


class Choice(_Model):
    id: ReplyId
    title: Text
    description: Text | None = None
    value: str | None = Field(default=None, max_length=200, description="stored when picked (default: the id)")


class Media(_Model):
    type: Literal["image", "document", "video"]
    link: str | None = Field(default=None, pattern=r"^https://\S+$", max_length=2000)
    id: str | None = Field(default=None, min_length=1, max_length=200, description="an uploaded media id")
    filename: str | None = Field(default=None, max_length=240, description="documents only")

    @model_validator(mode="after")
    def _one_source(self) -> Media:
        if (self.link is None) == (self.id is None):
            raise ValueError("give exactly one of link and id")
        return self


class Validation(_Model):
    type: Literal["text", "number", "phone", "email", "date", "regex"] = "text"
    min: float | None = Field(default=None, description="number: smallest value; text: fewest characters")
    max: float | None = Field(default=None, description="number: largest value; text: most characters")
    integer: bool = False
    pattern: str | None = Field(default=None, max_length=200, description="regex: the whole answer must match")
    not_before: str | None = Field(default=None, pattern=r"^(today|\d{4}-\d{2}-\d{2})$", description="date")
    not_after: str | None = Field(default=None, pattern=r"^(today|\d{4}-\d{2}-\d{2})$", description="date")

    @model_validator(mode="after")
    def _pattern(self) -> Validation:
        if (self.type == "regex") != (self.pattern is not None):
            raise ValueError("pattern is required with type regex, and only then")
        return self


class Assignment(_Model):
    var: VarName
    value: Value = Field(default=None, description="a constant (strings are templates)")
    expr: str | None = Field(default=None, max_length=500, description="arithmetic over variables: "
                             "base + per_user * ceil(users / 100); functions listed in the README")
    text: Text | None = Field(default=None, description="a text in the user's language")

    @model_validator(mode="after")
    def _one(self) -> Assignment:
        given = [name for name in ("value", "expr", "text") if name in self.model_fields_set]
        if len(given) != 1:
            raise ValueError("give exactly one of value, expr and text")
        return self


class Condition(_Model):
    var: VarName
    equals: Value = None
    in_: list[str | int | float | bool] | None = Field(default=None, alias="in")
    min: float | None = None
    max: float | None = None
    is_set: bool | None = None

    model_config = ConfigDict(extra="forbid", populate_by_name=True)

    @model_validator(mode="after")
    def _one(self) -> Condition:
        tests = [name for name in ("equals", "in_", "is_set") if name in self.model_fields_set]
        ranged = "min" in self.model_fields_set or "max" in self.model_fields_set
        if len(tests) + ranged != 1:
            raise ValueError("give exactly one test: equals, in, min/max or is_set")
        return self


class Case(_Model):
    when: list[Condition] = Field(min_length=1, description="all must hold")
    next: NodeId


# ---- nodes -------------------------------------------------------------------------------------


class _Shown(_Model):
    text: Text
    header: Text | None = Field(default=None, description="at most 60 characters")
    footer: Text | None = Field(default=None, description="at most 60 characters")


class MessageNode(_Shown):
    """Text (with WhatsApp formatting and links), optionally with an image, document or video."""

    kind: Literal["message"]
    media: Media | None = None
    next: NodeId | None = Field(default=None, description="sent right after; none: the flow waits here")


class ButtonsNode(_Shown):
    kind: Literal["buttons"]
    buttons: list[Button] = Field(min_length=1, max_length=3)


class ListNode(_Shown):
    kind: Literal["list"]
    button: Text = Field(description="the label that opens the list, at most 20")
    sections: list[Section] = Field(min_length=1, max_length=10)


class AskNode(_Model):
    """Waits for free text, validates it, stores it in `var`; re-asks with `invalid` otherwise."""

    kind: Literal["ask"]
    text: Text
    var: VarName
    validate_as: Validation = Field(default_factory=Validation, alias="validate")
    invalid: Text | None = Field(default=None, description="sent on invalid input (default: the flow's texts)")
    max_chars: int = Field(default=1000, ge=1, le=4000, description="text answers are kept up to this length")
    next: NodeId

    model_config = ConfigDict(extra="forbid", populate_by_name=True)


class MultiChoiceNode(_Model):
    """Pick several options: each pick is confirmed with "More" / "Done" buttons."""

    kind: Literal["multi_choice"]
    text: Text
    button: Text = Field(description="the list's label, at most 20")
    options: list[Choice] = Field(min_length=1, max_length=10)
    var: VarName = Field(description="the chosen option ids, a list")
    label_var: VarName | None = Field(default=None, description="the chosen titles, a list")
    picked: Text = Field(description="sent after each pick; {choice} is the option's title")
    more: Choice
    done: Choice
    next: NodeId = Field(description="after Done")


class SetNode(_Model):
    kind: Literal["set"]
    assign: list[Assignment] = Field(min_length=1, max_length=50)
    next: NodeId


class BranchNode(_Model):
    """The first case whose conditions all hold chooses the next node, else `default`."""

    kind: Literal["branch"]
    cases: list[Case] = Field(min_length=1, max_length=50)
    default: NodeId


class LookupNode(_Model):
    """Finds a row of a table and exposes its columns as {table.NAME.COLUMN}."""

    kind: Literal["lookup"]
    table: TableName
    key: str = Field(max_length=500, description="a template: the value to find")
    match: Literal["exact", "contains"] = Field(default="exact", description="contains: one of the row's `columns` "
                                                "values occurs in the key (case and spaces ignored)")
    columns: list[str] = Field(default_factory=list, description="searched columns (default: the table's key)")
    next: NodeId
    not_found: NodeId


class HandoffNode(_Model):
    """Hands the conversation to a person. Without `next` the bot falls silent for this user until
    a manager releases it (or the instance's `handoff_timeout_hours` pass); with `next` the flow
    goes on and the managers are only told (a booking to confirm). Either way it is in the
    activity log and the inbox, and notified as the instance's `handoff_notify` says."""

    kind: Literal["handoff"]
    text: Text | None = Field(default=None, description="told to the user")
    note: str | None = Field(default=None, max_length=500, description="a template, for the person taking over")
    next: NodeId | None = None


class LlmNode(_Model):
    """With `prompt`: the composed prompt goes to the LLM now. Without: the user's next message
    goes to the LLM. Either way with this node's system prompt, then the flow continues."""

    kind: Literal["llm"]
    text: Text | None = Field(default=None, description="sent first (for example: ask your question)")
    prompt: Text | None = Field(default=None, description="a template; absent: the user's next message")
    system_prompt: str | None = Field(default=None, max_length=20000)
    next: NodeId | None = None


class EndNode(_Model):
    kind: Literal["end"]
    text: Text | None = None


Node = Annotated[
    MessageNode | ButtonsNode | ListNode | AskNode | MultiChoiceNode | SetNode | BranchNode | LookupNode
    | HandoffNode | LlmNode | EndNode,
    Field(discriminator="kind"),
]
# Kinds that wait for the user (a loop through them is no endless loop; `llm` without a prompt waits too).
WAITING_KINDS = ("buttons", "list", "ask", "multi_choice")
# Every node kind, from the union above (`kind` is each model's literal).
NODE_KINDS: tuple[str, ...] = tuple(get_args(model.model_fields["kind"].annotation)[0]
                                    for model in get_args(get_args(Node)[0]))


# ---- the flow --------------------------------------------------------------------------------


class Shortcut(_Model):
    ids: list[ReplyId] = Field(default_factory=list, description="reply ids that mean this")
    words: dict[LanguageCode, list[str]] = Field(default_factory=dict, description="typed words that mean this")


class MenuRoute(Shortcut):
    node: NodeId


class Routes(_Model):
    greetings: dict[LanguageCode, list[str]] = Field(default_factory=dict,
                                                     description="words that (re)start the flow")
    menu: MenuRoute | None = None
    back: Shortcut | None = Field(default=None, description="back to the previous step")
    stop_words: list[str] = Field(default_factory=lambda: ["stop"], description="opt out")
    start_words: list[str] = Field(default_factory=lambda: ["start"], description="opt in again")


class Table(_Model):
    key: str = Field(min_length=1, max_length=64, description="the column rows are found by")
    rows: list[dict[str, Cell]] = Field(min_length=1, max_length=1000)


def _en(text: str) -> dict[str, str]:
    return {"en": text}


class SystemTexts(_Model):
    """What the engine itself says; each falls back to the default language, then to English."""

    opted_out: Text = _en("You will not receive messages from us any more. Send START to resume.")
    opted_in: Text = _en("Welcome back! Messages are on again.")
    rate_limited: Text = _en("You have reached the limit of free-form questions for now. Please try again in "
                             "{hours} h, or use the menu.")
    invalid: Text = _en("That does not look right. Please try again.")
    voice_not_understood: Text = Field(default_factory=lambda: {
        "en": "Sorry, I could not understand your voice message. Please type it.",
        "ru": "Извините, не удалось разобрать голосовое сообщение. Пожалуйста, напишите текстом."},
        description="a voice note that could not be transcribed (or speech to text is off)")


class Flow(_Model):
    version: Literal[2] = Field(default=2, description="the flow language's version")
    languages: list[LanguageCode] = Field(min_length=1, max_length=20)
    default_language: LanguageCode | None = Field(default=None, description="default: the first language")
    start: NodeId
    variables: dict[VarName, Value] = Field(default_factory=dict, description="initial values")
    routes: Routes = Field(default_factory=Routes)
    texts: SystemTexts = Field(default_factory=SystemTexts)
    tables: dict[TableName, Table] = Field(default_factory=dict)
    nodes: dict[NodeId, Node] = Field(min_length=1, max_length=MAX_NODES)

    @property
    def fallback_language(self) -> str:
        return self.default_language or self.languages[0]

    def language_for(self, wanted: str) -> str:
        return wanted if wanted in self.languages else self.fallback_language

    def document(self) -> dict[str, Any]:
        """The flow as its JSON document (what was given; defaults left out)."""
        return {**self.model_dump(mode="json", by_alias=True, exclude_unset=True), "version": 2}


def pick(text: Text | None, language: str, fallback: str = "en") -> str:
    """The text in `language`, else the fallback language, else any."""
    if text is None:
        return ""
    if isinstance(text, str):
        return text
    return text.get(language) or text.get(fallback) or next(iter(text.values()), "")
