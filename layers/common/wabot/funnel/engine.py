"""Conversation routing and the flow engine, as pure logic.

`FunnelEngine.handle(state, event, config, now)` decides everything one inbound message
causes: the replies (validated WhatsApp messages), the user's new state, the steps to record,
the analytics counters, and whether something goes to the LLM or to a person. It does no I/O
and is deterministic, so a decision can be stored before anything is sent and replayed exactly
after a crash. It knows node kinds, never the node ids, variables or tables of a flow.
"""

from __future__ import annotations

import math
import re
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import UTC, date, datetime
from typing import Any

from wabot.funnel.expressions import ExpressionError, evaluate, first_number, normalize_word, render, to_text
from wabot.funnel.flow import (
    AskNode,
    BranchNode,
    Button,
    ButtonsNode,
    Condition,
    EndNode,
    Flow,
    HandoffNode,
    ListNode,
    LlmNode,
    LookupNode,
    MessageNode,
    MultiChoiceNode,
    Row,
    SetNode,
    Text,
    Validation,
    pick,
)
from wabot.funnel.legacy import upgrade_state
from wabot.identity import normalize_user_ref
from wabot.models.conversation import ConversationState
from wabot.models.events import InboundEvent
from wabot.models.instance import InstanceConfig
from wabot.whatsapp.messages import (
    FOOTER_MAX,
    HEADER_MAX,
    INTERACTIVE_BODY_MAX,
    TEXT_MAX,
    ButtonsMessage,
    ListMessage,
    MediaMessage,
    TextMessage,
)

# Nodes entered for one input at most: validation rejects loops that never wait, this bounds
# any flow anyway.
MAX_STEPS_PER_INPUT = 100
MAX_REPLIES_PER_INPUT = 10
REACHED = "fn:in:"  # analytics counters: the user reached this node
MOVED_ON = "fn:out:"  # ... and later moved on from it (left = reached - moved on)


@dataclass
class Outcome:
    replies: list[Any] = field(default_factory=list)
    state: ConversationState = field(default_factory=ConversationState)
    steps: list[str] = field(default_factory=list)
    to_llm: bool = False
    llm: dict[str, str] | None = None  # {"prompt", "system_prompt"} for the LLM job, when a node set them
    handoff: dict[str, str] | None = None  # {"node", "note"}: a person should take over
    gate: str | None = None  # why nothing was answered: stopped, blocked, opted_out
    counters: dict[str, int] = field(default_factory=dict)
    departed: bool = False


@dataclass
class _Turn:
    out: Outcome
    lang: str
    config: InstanceConfig
    now: float


def _user_refs(event: InboundEvent) -> set[str]:
    refs = set()
    for value in (event.phone, event.user_id):
        if value:
            try:
                refs.add(normalize_user_ref(value))
            except ValueError:
                refs.add(value)
    return refs


def _cell_values(cell: Any) -> list[Any]:
    """A table cell's values: a list cell's items, else the cell itself."""
    return cell if isinstance(cell, list) else [cell]


def _listed(value: Any) -> list[Any]:
    """A list variable's items; nothing when it is not a list."""
    return value if isinstance(value, list) else []


def clip(text: str, limit: int) -> str:
    """Within a WhatsApp limit whatever the variables hold; never empty."""
    text = text.strip() or "…"
    return text if len(text) <= limit else text[: limit - 1] + "…"


def _unique_titles(titles: list[str], limit: int) -> list[str]:
    seen: set[str] = set()
    result = []
    for number, title in enumerate(titles, start=1):
        title = clip(title, limit)
        if title in seen:
            title = clip(title[: limit - 4], limit - 3) + f" {number}"
        seen.add(title)
        result.append(title)
    return result


class Renderer:
    """Builds a node's WhatsApp messages. With `fit`, texts are clipped to WhatsApp's limits
    (variables can make them longer); without, the limits raise (validation uses that)."""

    def __init__(self, text_of: Callable[[Text | None], str], fit: bool = True) -> None:
        self.text_of = text_of
        self.fit = fit

    def _part(self, text: Text | None, limit: int) -> str:
        value = self.text_of(text)
        return clip(value, limit) if self.fit else value

    def _optional(self, text: Text | None, limit: int) -> str | None:
        value = self.text_of(text).strip()
        return (clip(value, limit) if self.fit else value) if value else None

    def _titles(self, titles: list[Text], limit: int) -> list[str]:
        texts = [self.text_of(title) for title in titles]
        return _unique_titles(texts, limit) if self.fit else texts

    def text(self, text: Text | None) -> TextMessage:
        return TextMessage.model_validate({"body": self._part(text, TEXT_MAX)})

    def message(self, node: MessageNode) -> Any:
        header, footer = self.text_of(node.header).strip(), self.text_of(node.footer).strip()
        body = "\n\n".join(part for part in (f"*{header}*" if header else "", self.text_of(node.text),
                                             f"_{footer}_" if footer else "") if part)
        if node.media is None:
            return TextMessage.model_validate({"body": clip(body, TEXT_MAX) if self.fit else body})
        caption = (clip(body, INTERACTIVE_BODY_MAX) if self.fit else body) if body.strip() else None
        return MediaMessage.model_validate({"media_type": node.media.type, "link": node.media.link,
                                            "media_id": node.media.id, "caption": caption,
                                            "filename": node.media.filename})

    def buttons(self, node: ButtonsNode) -> ButtonsMessage:
        titles = self._titles([button.title for button in node.buttons], 20)
        return ButtonsMessage.model_validate({
            "body": self._part(node.text, INTERACTIVE_BODY_MAX), "header": self._optional(node.header, HEADER_MAX),
            "footer": self._optional(node.footer, FOOTER_MAX),
            "buttons": [{"id": button.id, "title": title} for button, title in zip(node.buttons, titles, strict=True)],
        })

    def list(self, node: ListNode) -> ListMessage:
        sections = []
        for section in node.sections:
            titles = self._titles([row.title for row in section.rows], 24)
            title = self._optional(section.title, 24)
            if title is None and self.fit and len(node.sections) > 1:
                title = "…"  # several sections need titles: one whose variables are empty still has one
            sections.append({"title": title, "rows": [
                {"id": row.id, "title": title, "description": self._optional(row.description, 72)}
                for row, title in zip(section.rows, titles, strict=True)]})
        return ListMessage.model_validate({
            "body": self._part(node.text, INTERACTIVE_BODY_MAX), "header": self._optional(node.header, HEADER_MAX),
            "footer": self._optional(node.footer, FOOTER_MAX), "button": self._part(node.button, 20),
            "sections": sections})

    def choices(self, node: MultiChoiceNode) -> ListMessage:
        titles = self._titles([option.title for option in node.options], 24)
        return ListMessage.model_validate({
            "body": self._part(node.text, INTERACTIVE_BODY_MAX), "button": self._part(node.button, 20),
            "sections": [{"rows": [
                {"id": option.id, "title": title, "description": self._optional(option.description, 72)}
                for option, title in zip(node.options, titles, strict=True)]}]})

    def picked(self, node: MultiChoiceNode) -> ButtonsMessage:
        titles = self._titles([node.more.title, node.done.title], 20)
        return ButtonsMessage.model_validate({
            "body": self._part(node.picked, INTERACTIVE_BODY_MAX),
            "buttons": [{"id": node.more.id, "title": titles[0]}, {"id": node.done.id, "title": titles[1]}]})


# ---- answers to `ask` ------------------------------------------------------------------------------

_EMAIL = re.compile(r"^[^@\s]{1,64}@[^@\s]+\.[^@\s]{2,}$")
_DATE_FORMATS = ("%Y-%m-%d", "%d.%m.%Y", "%d/%m/%Y", "%d-%m-%Y", "%d.%m.%y")


def _day(limit: str, now: float) -> date:
    return datetime.fromtimestamp(now, UTC).date() if limit == "today" else date.fromisoformat(limit)


def _within(value: float, low: float | None, high: float | None) -> bool:
    return (low is None or value >= low) and (high is None or value <= high)


def _number_answer(rule: Validation, text: str, now: float, max_chars: int) -> Any:
    cleaned = re.sub(r"[\s\u00a0]", "", text).replace(",", ".")
    if not re.fullmatch(r"[-+]?\d{1,15}(\.\d{1,6})?", cleaned):
        return None
    value = float(cleaned)
    if (rule.integer and not value.is_integer()) or not _within(value, rule.min, rule.max):
        return None
    return int(value) if value.is_integer() else value


def _phone_answer(rule: Validation, text: str, now: float, max_chars: int) -> Any:
    digits = re.sub(r"[\s().-]", "", text)
    if not re.fullmatch(r"\+?\d{7,15}", digits):
        return None
    return "+" + digits.lstrip("+")


def _email_answer(rule: Validation, text: str, now: float, max_chars: int) -> Any:
    return text.lower() if len(text) <= 254 and _EMAIL.match(text) else None


def _parse_day(text: str) -> date | None:
    for pattern in _DATE_FORMATS:
        try:
            return datetime.strptime(text, pattern).date()
        except ValueError:
            continue
    return None


def _date_answer(rule: Validation, text: str, now: float, max_chars: int) -> Any:
    day = _parse_day(text)
    if day is None:
        return None
    if (rule.not_before and day < _day(rule.not_before, now)) or (
            rule.not_after and day > _day(rule.not_after, now)):
        return None
    return day.isoformat()


def _regex_answer(rule: Validation, text: str, now: float, max_chars: int) -> Any:
    if len(text) > max_chars or not re.fullmatch(rule.pattern or "", text):
        return None
    return text


def _text_answer(rule: Validation, text: str, now: float, max_chars: int) -> Any:
    if not _within(len(text), rule.min, rule.max):
        return None
    return text[:max_chars]


# One checker per `Validation.type`: (rule, answer, now, max_chars) -> the value to store, or None.
_ANSWER_CHECKS: dict[str, Callable[[Validation, str, float, int], Any]] = {
    "number": _number_answer,
    "phone": _phone_answer,
    "email": _email_answer,
    "date": _date_answer,
    "regex": _regex_answer,
    "text": _text_answer,
}


def validate_answer(rule: Validation, text: str, now: float, max_chars: int = 1000) -> Any:
    """The value to store, or None when the answer is not valid."""
    return _ANSWER_CHECKS[rule.type](rule, text, now, max_chars)


def condition_holds(condition: Condition, value: Any) -> bool:
    values = value if isinstance(value, list) else [value]
    if "is_set" in condition.model_fields_set:
        present = value not in (None, "", [])
        return present == bool(condition.is_set)
    if "equals" in condition.model_fields_set:
        return value == condition.equals or (isinstance(value, list) and condition.equals in value)
    if condition.in_ is not None:
        return any(item in condition.in_ for item in values)
    number = first_number(value) if value not in (None, "", []) else None
    if number is None:
        return False
    return (condition.min is None or number >= condition.min) and (condition.max is None or number <= condition.max)


# ---- the engine ------------------------------------------------------------------------------------


class FunnelEngine:
    def __init__(self, flow: Flow) -> None:
        self.flow = flow
        routes = flow.routes
        self._greetings = {normalize_word(w) for words in routes.greetings.values() for w in words}
        self._stop = {normalize_word(w) for w in routes.stop_words}
        self._start = {normalize_word(w) for w in routes.start_words}
        self._menu_ids = set(routes.menu.ids) if routes.menu else set()
        self._menu_words = {normalize_word(w) for ws in routes.menu.words.values() for w in ws} if routes.menu \
            else set()
        self._back_ids = set(routes.back.ids) if routes.back else set()
        self._back_words = {normalize_word(w) for ws in routes.back.words.values() for w in ws} if routes.back \
            else set()
        # Every option of every node by its reply id: a button tapped later still works.
        self._options: dict[str, Button | Row] = {}
        self._choices: dict[str, tuple[str, str]] = {}  # reply id -> (multi_choice node, option id | more | done)
        for node_id, node in flow.nodes.items():
            if isinstance(node, ButtonsNode):
                options: list[Button | Row] = list(node.buttons)
            elif isinstance(node, ListNode):
                options = [row for section in node.sections for row in section.rows]
            else:
                options = []
                if isinstance(node, MultiChoiceNode):
                    for choice in node.options:
                        self._choices.setdefault(choice.id, (node_id, "pick:" + choice.id))
                    self._choices.setdefault(node.more.id, (node_id, "more"))
                    self._choices.setdefault(node.done.id, (node_id, "done"))
            for option in options:
                self._options.setdefault(option.id, option)
        # What entering a node does, by its kind (`flow.Node`): each returns the next node, or None to stop.
        self._enter_by_kind: dict[str, Callable[[_Turn, str, Any], str | None]] = {
            "set": self._enter_set, "branch": self._enter_branch, "lookup": self._enter_lookup,
            "message": self._enter_message, "buttons": self._enter_buttons, "list": self._enter_list,
            "multi_choice": self._enter_multi_choice, "ask": self._enter_ask, "handoff": self._enter_handoff,
            "llm": self._enter_llm, "end": self._enter_end,
        }

    # ---- entry point -----------------------------------------------------------------------------

    def handle(self, state: ConversationState, event: InboundEvent, config: InstanceConfig, now: float,
               language: str | None = None) -> Outcome:
        """`language` overrides the instance's (the simulator speaks any of the flow's languages)."""
        out = Outcome(state=upgrade_state(state))
        turn = _Turn(out, self.flow.language_for(language or config.language), config, now)
        out.gate = self._gate(event, config)
        if out.gate is not None:
            return out
        text = self._text(event)
        word = normalize_word(text) if text is not None else None
        if out.state.opted_out:
            self._while_opted_out(turn, word)
        elif not self._global_route(turn, word):
            self._message(turn, event, text)
        return out

    @staticmethod
    def _gate(event: InboundEvent, config: InstanceConfig) -> str | None:
        """Why this user gets no answer at all, if so."""
        if not config.running:
            return "stopped"
        refs = _user_refs(event)
        if refs & set(config.blocked_phones) or (config.allowed_phones and not refs & set(config.allowed_phones)):
            return "blocked"
        return None

    def _while_opted_out(self, turn: _Turn, word: str | None) -> None:
        out = turn.out
        if word not in self._start:
            out.gate = "opted_out"
            return
        out.state.opted_out = False
        self._reply(turn, self._renderer(turn).text(self.flow.texts.opted_in))
        self._go(turn, self.flow.start)
        out.steps.append("opt_in")

    def _global_route(self, turn: _Turn, word: str | None) -> bool:
        """The words that mean the same anywhere in the flow (stop, greetings, menu, back); True when one did."""
        out = turn.out
        if word in self._stop:
            out.state.opted_out = True
            out.state.funnel_state = None
            self._reply(turn, self._renderer(turn).text(self.flow.texts.opted_out))
            out.steps.append("opt_out")
        elif word in self._greetings:
            out.state.funnel_state = None
            self._go(turn, self.flow.start)
            out.steps.append("greeting")
        elif word in self._menu_words and self.flow.routes.menu:
            self._go(turn, self.flow.routes.menu.node)
        elif word in self._back_words:
            self._go(turn, out.state.previous_node or self.flow.start)
        else:
            return False
        return True

    def _message(self, turn: _Turn, event: InboundEvent, text: str | None) -> None:
        """Any other message: an answer to the node waiting for one, a tapped option, or a question for the LLM."""
        out = turn.out
        waiting = self.flow.nodes.get(out.state.funnel_state or "")
        if event.type == "text" and text and text.strip() and isinstance(waiting, AskNode | LlmNode):
            self._answer(turn, out.state.funnel_state or "", waiting, text.strip())
            return
        reply_id = self._reply_id(event)
        if reply_id:
            self._route(turn, reply_id)
        elif event.type == "audio":
            # A voice note reaches the engine only when it was not transcribed (speech to text
            # off or failed); a transcript arrives as a text.
            self._reply(turn, self._renderer(turn).text(self.flow.texts.voice_not_understood))
            out.steps.append("voice:not_understood")
        elif event.type in ("reaction", "system", "unsupported", "revoke") or (text is None and event.type == "text"):
            out.steps.append(f"ignored:{event.type}")
        else:
            self._to_llm(turn, None)

    # ---- inputs -----------------------------------------------------------------------------------

    @staticmethod
    def _text(event: InboundEvent) -> str | None:
        content = event.content if isinstance(event.content, dict) else {}
        if event.type == "text":
            return content.get("body")
        if event.type == "button":
            return content.get("text")
        if event.type in ("image", "video", "document"):
            return content.get("caption")
        return None

    @staticmethod
    def _reply_id(event: InboundEvent) -> str | None:
        content = event.content if isinstance(event.content, dict) else {}
        if event.type == "interactive":
            for kind in ("button_reply", "list_reply"):
                if isinstance(content.get(kind), dict) and content[kind].get("id"):
                    return str(content[kind]["id"])
        if event.type == "button" and content.get("payload"):
            return str(content["payload"])
        return None

    # ---- variables and texts ----------------------------------------------------------------------

    def _resolver(self, turn: _Turn, extra: dict[str, Any] | None = None) -> Callable[[str], Any]:
        variables = turn.out.state.vars

        def resolve(name: str) -> Any:
            if extra and name in extra:
                return extra[name]
            if name.startswith("table."):
                _, table, *column = name.split(".", 2)
                row = self._row(table, variables.get(f"table.{table}"))
                if row is None or not column:
                    return None
                cell = row.get(column[0])
                return pick(cell, turn.lang, self.flow.fallback_language) if isinstance(cell, dict) else cell
            return variables[name] if name in variables else self.flow.variables.get(name)

        return resolve

    def _row(self, table: str, key: Any) -> dict[str, Any] | None:
        data = self.flow.tables.get(table)
        if data is None or key is None:
            return None
        return next((row for row in data.rows if to_text(row.get(data.key)) == to_text(key)), None)

    def _text_of(self, turn: _Turn, extra: dict[str, Any] | None = None) -> Callable[[Text | None], str]:
        resolve = self._resolver(turn, extra)
        return lambda text: render(pick(text, turn.lang, self.flow.fallback_language), resolve)

    def _renderer(self, turn: _Turn, extra: dict[str, Any] | None = None) -> Renderer:
        return Renderer(self._text_of(turn, extra))

    def _assign(self, turn: _Turn, name: str, value: Any) -> None:
        if value is None or value == [] or value == "":
            turn.out.state.vars.pop(name, None)
        else:
            turn.out.state.vars[name] = value

    def _constant(self, turn: _Turn, value: Any, extra: dict[str, Any] | None = None) -> Any:
        """A `set` constant: strings (also in lists) are templates."""
        resolve = self._resolver(turn, extra)
        if isinstance(value, str):
            return render(value, resolve)
        if isinstance(value, list):
            return [render(item, resolve) for item in value]
        return value

    # ---- running the flow -------------------------------------------------------------------------

    def _reply(self, turn: _Turn, message: Any) -> None:
        if len(turn.out.replies) < MAX_REPLIES_PER_INPUT:
            turn.out.replies.append(message)

    def _arrive(self, turn: _Turn, node_id: str) -> None:
        """The run stops at this node: the user is here now (for back, and the analytics)."""
        state = turn.out.state
        state.previous_node, state.last_node = state.last_node, node_id
        counter = REACHED + node_id
        turn.out.counters[counter] = turn.out.counters.get(counter, 0) + 1

    def _go(self, turn: _Turn, node_id: str) -> None:
        out = turn.out
        if not out.departed and out.state.last_node:
            out.departed = True
            out.counters[MOVED_ON + out.state.last_node] = out.counters.get(MOVED_ON + out.state.last_node, 0) + 1
        current: str | None = node_id
        for _ in range(MAX_STEPS_PER_INPUT):
            if current is None:
                return
            node = self.flow.nodes.get(current)
            if node is None:
                # A node of an earlier version of the flow (a stored "back" target): the start instead.
                out.steps.append(f"missing:{current[:64]}")
                current = self.flow.start if current != self.flow.start else None
                continue
            out.steps.append(f"node:{current}")
            current = self._enter(turn, current, node)
        out.steps.append("stopped:too_many_steps")

    def _enter(self, turn: _Turn, node_id: str, node: Any) -> str | None:
        """Does what the node does; returns the node to enter next, or None when the run stops."""
        return self._enter_by_kind[node.kind](turn, node_id, node)

    def _stay(self, turn: _Turn, node_id: str, waiting: bool = False) -> None:
        """The run stops here; `waiting`: the next text message answers this node."""
        self._arrive(turn, node_id)
        turn.out.state.funnel_state = node_id if waiting else None

    def _then(self, turn: _Turn, node_id: str, next_id: str | None) -> str | None:
        """Goes on to `next_id`, or stops here when the node has none."""
        if next_id:
            return next_id
        self._stay(turn, node_id)
        return None

    def _enter_set(self, turn: _Turn, node_id: str, node: SetNode) -> str | None:
        resolve = self._resolver(turn)
        for assignment in node.assign:
            if assignment.expr is not None:
                try:
                    value = evaluate(assignment.expr, resolve)
                except ExpressionError:
                    turn.out.steps.append(f"error:{node_id}")
                    value = None
            elif assignment.text is not None:
                value = self._text_of(turn)(assignment.text)
            else:
                value = self._constant(turn, assignment.value)
            self._assign(turn, assignment.var, value)
        return node.next

    def _enter_branch(self, turn: _Turn, node_id: str, node: BranchNode) -> str | None:
        resolve = self._resolver(turn)
        for case in node.cases:
            if all(condition_holds(condition, resolve(condition.var)) for condition in case.when):
                return case.next
        return node.default

    def _enter_lookup(self, turn: _Turn, node_id: str, node: LookupNode) -> str | None:
        return self._lookup(turn, node)

    def _enter_message(self, turn: _Turn, node_id: str, node: MessageNode) -> str | None:
        self._reply(turn, self._renderer(turn).message(node))
        return self._then(turn, node_id, node.next)

    def _enter_buttons(self, turn: _Turn, node_id: str, node: ButtonsNode) -> str | None:
        self._reply(turn, self._renderer(turn).buttons(node))
        self._stay(turn, node_id)
        return None

    def _enter_list(self, turn: _Turn, node_id: str, node: ListNode) -> str | None:
        self._reply(turn, self._renderer(turn).list(node))
        self._stay(turn, node_id)
        return None

    def _enter_multi_choice(self, turn: _Turn, node_id: str, node: MultiChoiceNode) -> str | None:
        self._reply(turn, self._renderer(turn).choices(node))
        self._stay(turn, node_id)
        return None

    def _enter_ask(self, turn: _Turn, node_id: str, node: AskNode) -> str | None:
        self._reply(turn, self._renderer(turn).text(node.text))
        self._stay(turn, node_id, waiting=True)
        return None

    def _enter_handoff(self, turn: _Turn, node_id: str, node: HandoffNode) -> str | None:
        if node.text is not None:
            self._reply(turn, self._renderer(turn).text(node.text))
        turn.out.handoff = {"node": node_id, "note": render(node.note or "", self._resolver(turn))[:500]}
        turn.out.steps.append("handoff")
        return self._then(turn, node_id, node.next)

    def _enter_llm(self, turn: _Turn, node_id: str, node: LlmNode) -> str | None:
        render_ = self._renderer(turn)
        if node.text is not None:
            self._reply(turn, render_.text(node.text))
        if node.prompt is None:
            self._stay(turn, node_id, waiting=True)
            return None
        self._to_llm(turn, node, prompt=render_.text_of(node.prompt)[:4096])
        return self._then(turn, node_id, node.next)

    def _enter_end(self, turn: _Turn, node_id: str, node: EndNode) -> str | None:
        if node.text is not None:
            self._reply(turn, self._renderer(turn).text(node.text))
        self._stay(turn, node_id)
        return None

    def _lookup(self, turn: _Turn, node: LookupNode) -> str:
        table = self.flow.tables.get(node.table)
        wanted = render(node.key, self._resolver(turn))
        row = None
        if table is not None and wanted.strip():
            if node.match == "exact":
                row = self._row(node.table, wanted.strip())
            else:
                squeezed = re.sub(r"\s+", "", wanted.lower())
                columns = node.columns or [table.key]
                for candidate in table.rows:
                    values = [v for c in columns for v in _cell_values(candidate.get(c)) if v not in (None, "")]
                    if any(re.sub(r"\s+", "", to_text(v).lower()) in squeezed for v in values):
                        row = candidate
                        break
        if row is None or table is None:
            turn.out.state.vars.pop(f"table.{node.table}", None)
            return node.not_found
        turn.out.state.vars[f"table.{node.table}"] = to_text(row.get(table.key))
        return node.next

    def _answer(self, turn: _Turn, node_id: str, node: AskNode | LlmNode, text: str) -> None:
        out = turn.out
        if isinstance(node, LlmNode):
            out.state.funnel_state = None
            self._to_llm(turn, node)
            if node.next:
                self._go(turn, node.next)
            return
        value = validate_answer(node.validate_as, text, turn.now, node.max_chars)
        if value is None:
            out.steps.append(f"invalid:{node_id}")
            self._reply(turn, self._renderer(turn).text(node.invalid if node.invalid is not None
                                                        else self.flow.texts.invalid))
            return
        self._assign(turn, node.var, value)
        out.state.funnel_state = None
        self._go(turn, node.next)

    def _route(self, turn: _Turn, reply_id: str) -> None:
        out = turn.out
        if reply_id in self._menu_ids and self.flow.routes.menu:
            self._go(turn, self.flow.routes.menu.node)
            return
        if reply_id in self._back_ids:
            self._go(turn, out.state.previous_node or self.flow.start)
            return
        option = self._options.get(reply_id)
        if option is not None:
            context = {"option.id": option.id, "option.title": self._text_of(turn)(option.title)}
            for name, value in option.set.items():
                self._assign(turn, name, self._constant(turn, value, context))
            self._go(turn, option.next)
            return
        choice = self._choices.get(reply_id)
        if choice is not None:
            node_id, action = choice
            node = self.flow.nodes[node_id]
            assert isinstance(node, MultiChoiceNode)
            if action == "more":
                self._go(turn, node_id)
            elif action == "done":
                self._go(turn, node.next)
            else:
                self._pick(turn, node, action.removeprefix("pick:"))
            return
        # A reply we do not know (an old or edited flow): back to the start, never silence.
        out.steps.append(f"unknown_reply:{reply_id[:64]}")
        self._go(turn, self.flow.start)

    def _pick(self, turn: _Turn, node: MultiChoiceNode, option_id: str) -> None:
        option = next(o for o in node.options if o.id == option_id)
        title = self._text_of(turn)(option.title)
        variables = turn.out.state.vars
        chosen = _listed(variables.get(node.var))
        value = option.value or option.id
        if value not in chosen:
            self._assign(turn, node.var, [*chosen, value])
            if node.label_var:
                labels = _listed(variables.get(node.label_var))
                self._assign(turn, node.label_var, [*labels, title])
        turn.out.steps.append(f"pick:{option_id[:64]}")
        self._reply(turn, self._renderer(turn, {"choice": title}).picked(node))

    # ---- LLM hand-off -------------------------------------------------------------------------------

    def _to_llm(self, turn: _Turn, node: LlmNode | None, prompt: str | None = None) -> None:
        """At most `rate_limit_count` messages per `rate_limit_hours` window; one notice per window."""
        out, config, now = turn.out, turn.config, turn.now
        if out.to_llm:
            return  # one LLM job per message
        state = out.state
        window = config.rate_limit_hours * 3600
        if state.llm_window_start is None or now - state.llm_window_start >= window:
            state.llm_window_start, state.llm_count, state.llm_notice_sent = now, 0, False
        if state.llm_count >= config.rate_limit_count:
            if not state.llm_notice_sent:
                state.llm_notice_sent = True
                hours = max(1, math.ceil((state.llm_window_start + window - now) / 3600))
                self._reply(turn, self._renderer(turn, {"hours": hours}).text(self.flow.texts.rate_limited))
            out.steps.append("llm:rate_limited")
            return
        state.llm_count += 1
        out.to_llm = True
        if node is not None and (prompt or node.system_prompt):
            out.llm = {key: value for key, value in (("prompt", prompt), ("system_prompt", node.system_prompt))
                       if value}
        out.steps.append("llm")
