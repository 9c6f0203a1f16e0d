"""Checks of a flow document that a schema cannot express, each naming node and field.

Errors: structure (from the models), unknown nodes and tables, WhatsApp's limits in every
language, missing translations, malformed templates, expressions and patterns, options that
share a reply id but do different things, loops that never wait for the user, the size.
Warnings: unreachable nodes, variables read but never set on any path.
"""

from __future__ import annotations

import json
from collections.abc import Callable
from dataclasses import dataclass
from functools import partial
from typing import Any, Literal

from pydantic import ValidationError

from wabot.funnel.engine import Renderer
from wabot.funnel.expressions import ExpressionError, check_pattern, expression_names, render, template_fields
from wabot.funnel.flow import (
    NODE_KINDS,
    RESERVED_VAR_ROOTS,
    WAITING_KINDS,
    AskNode,
    BranchNode,
    ButtonsNode,
    EndNode,
    Flow,
    HandoffNode,
    ListNode,
    LlmNode,
    LookupNode,
    MessageNode,
    MultiChoiceNode,
    SetNode,
    Text,
    pick,
)
from wabot.funnel.legacy import convert_legacy, is_legacy

# A stored flow is one DynamoDB item (400 KB): JSON this large compresses far below that.
MAX_DOCUMENT_BYTES = 1_000_000
Loc = tuple[str | int, ...]


@dataclass(frozen=True)
class Problem:
    loc: Loc
    msg: str
    level: Literal["error", "warning"] = "error"

    def as_dict(self) -> dict[str, Any]:
        return {"loc": list(self.loc), "msg": self.msg}


def parse_flow(document: Any) -> tuple[Flow | None, list[Problem]]:
    """The flow and every problem found (errors and warnings); None when there is an error.
    A document in the shape before flows is converted first."""
    try:
        size = len(json.dumps(document, ensure_ascii=False).encode())
    except (TypeError, ValueError):
        return None, [Problem((), "not a JSON document")]
    if size > MAX_DOCUMENT_BYTES:
        return None, [Problem((), f"the flow is {size} bytes; at most {MAX_DOCUMENT_BYTES}")]
    if is_legacy(document):
        try:
            document = convert_legacy(document)
        except ValidationError as exc:
            return None, [Problem(tuple(error["loc"]), error["msg"]) for error in exc.errors()]
        except (KeyError, IndexError, TypeError, ValueError) as exc:
            return None, [Problem((), f"an old-shape funnel that cannot be converted: {type(exc).__name__} "
                                      f"{str(exc)[:100]}")]
    try:
        flow = Flow.model_validate(document)
    except ValidationError as exc:
        return None, [Problem(_clean_loc(error["loc"]), error["msg"]) for error in exc.errors()]
    problems = check(flow)
    return (None if any(p.level == "error" for p in problems) else flow), problems


def _clean_loc(loc: tuple[Any, ...]) -> Loc:
    """Pydantic's locations name the union member tried (`nodes.x.buttons.buttons.0`, `...title.str`):
    keep the document's own fields."""
    parts = list(loc)
    if len(parts) > 2 and parts[0] == "nodes" and parts[2] in _NODE_KINDS:
        del parts[2]
    return tuple(part for part in parts if not (isinstance(part, str) and (
        part == "str" or "[" in part or part.startswith("function-"))))


_NODE_KINDS = set(NODE_KINDS)


# ---- the checks --------------------------------------------------------------------------------


def _button_texts(node: ButtonsNode) -> list[tuple[Loc, Text | None]]:
    return [(("buttons", i, "title"), button.title) for i, button in enumerate(node.buttons)]


def _list_texts(node: ListNode) -> list[tuple[Loc, Text | None]]:
    found: list[tuple[Loc, Text | None]] = []
    for s, section in enumerate(node.sections):
        found.append((("sections", s, "title"), section.title))
        for r, row in enumerate(section.rows):
            found += [(("sections", s, "rows", r, "title"), row.title),
                      (("sections", s, "rows", r, "description"), row.description)]
    return found


def _choice_texts(node: MultiChoiceNode) -> list[tuple[Loc, Text | None]]:
    found: list[tuple[Loc, Text | None]] = []
    for i, option in enumerate(node.options):
        found += [(("options", i, "title"), option.title), (("options", i, "description"), option.description)]
    return [*found, (("more", "title"), node.more.title), (("done", "title"), node.done.title)]


def _assignment_texts(node: SetNode) -> list[tuple[Loc, Text | None]]:
    return [(("assign", i, "text"), assignment.text) for i, assignment in enumerate(node.assign)]


# The texts of a node's parts (options, rows, assignments), by node kind.
_PART_TEXTS: dict[str, Callable[[Any], list[tuple[Loc, Text | None]]]] = {
    "buttons": _button_texts, "list": _list_texts, "multi_choice": _choice_texts, "set": _assignment_texts,
}
_NODE_TEXT_FIELDS = ("text", "header", "footer", "button", "invalid", "picked", "prompt")


def _texts(node: Any) -> list[tuple[Loc, Text]]:
    """Every text of a node with its field path."""
    found: list[tuple[Loc, Text | None]] = [((name,), getattr(node, name, None)) for name in _NODE_TEXT_FIELDS]
    parts = _PART_TEXTS.get(node.kind)
    if parts is not None:
        found += parts(node)
    return [(loc, text) for loc, text in found if text is not None]


def _edges(node: Any) -> list[tuple[Loc, str]]:
    """Every node a node can lead to, with the field naming it."""
    edges: list[tuple[Loc, str]] = []
    if isinstance(node, ButtonsNode):
        edges += [(("buttons", i, "next"), b.next) for i, b in enumerate(node.buttons)]
    if isinstance(node, ListNode):
        edges += [(("sections", s, "rows", r, "next"), row.next) for s, section in enumerate(node.sections)
                  for r, row in enumerate(section.rows)]
    if isinstance(node, BranchNode):
        edges += [(("cases", i, "next"), case.next) for i, case in enumerate(node.cases)]
        edges.append((("default",), node.default))
    if isinstance(node, LookupNode):
        edges.append((("not_found",), node.not_found))
    next_node = getattr(node, "next", None)
    if next_node:
        edges.append((("next",), next_node))
    return edges


def _automatic(node: Any) -> list[str]:
    """The nodes entered right after this one without waiting for the user."""
    if node.kind in WAITING_KINDS or isinstance(node, EndNode):
        return []
    if isinstance(node, LlmNode) and node.prompt is None:
        return []
    return [target for _, target in _edges(node)]


def _options(node: Any) -> list[tuple[Loc, Any]]:
    if isinstance(node, ButtonsNode):
        return [(("buttons", i), b) for i, b in enumerate(node.buttons)]
    if isinstance(node, ListNode):
        return [(("sections", s, "rows", r), row) for s, section in enumerate(node.sections)
                for r, row in enumerate(section.rows)]
    return []


def check(flow: Flow) -> list[Problem]:
    return _Check(flow).run()


class _Check:
    """One pass over a flow; `written` and `read` collect the variables for the unset-variable warnings."""

    def __init__(self, flow: Flow) -> None:
        self.flow = flow
        self.problems: list[Problem] = []
        self.written: set[str] = set(flow.variables)
        self.read: list[tuple[Loc, str]] = []
        # What each node kind adds to the variables check (reads, writes, its own errors).
        self._variable_checks: dict[str, Callable[[Loc, Any], None]] = {
            "ask": self._ask, "multi_choice": self._multi_choice, "buttons": self._option_sets,
            "list": self._option_sets, "set": self._assignments, "branch": self._branch, "lookup": self._lookup,
            "handoff": self._handoff,
        }

    def run(self) -> list[Problem]:
        self._references()
        self._templates()
        for name, node in self.flow.nodes.items():
            self._variables(("nodes", name), node)
        self._table_keys()
        self._unset_variables()
        self._reply_ids()
        for language in self.flow.languages:
            for name, node in self.flow.nodes.items():
                self.problems += _limit_problems(self.flow, name, node, language)
        self.problems += _graph_problems(self.flow)
        return self.problems

    def error(self, loc: Loc, msg: str) -> None:
        self.problems.append(Problem(loc, msg))

    def warn(self, loc: Loc, msg: str) -> None:
        self.problems.append(Problem(loc, msg, "warning"))

    def _names(self, where: Loc, names_in: Callable[[str], list[str]], source: str) -> list[str]:
        """The variables a template or expression reads; [] (and an error) when it is malformed."""
        try:
            return names_in(source)
        except ExpressionError as exc:
            self.error(where, str(exc))
            return []

    def _reads(self, where: Loc, source: str, names_in: Callable[[str], list[str]] = template_fields) -> None:
        self.read += [(where, name) for name in self._names(where, names_in, source)]

    # ---- structure

    def _references(self) -> None:
        flow, nodes = self.flow, self.flow.nodes
        if flow.default_language and flow.default_language not in flow.languages:
            self.error(("default_language",), "must be one of languages")
        if flow.start not in nodes:
            self.error(("start",), f"unknown node {flow.start!r}")
        if flow.routes.menu and flow.routes.menu.node not in nodes:
            self.error(("routes", "menu", "node"), f"unknown node {flow.routes.menu.node!r}")
        for name, node in nodes.items():
            for loc, target in _edges(node):
                if target not in nodes:
                    self.error(("nodes", name, *loc), f"unknown node {target!r}")

    # ---- texts: translations and templates

    def _templates(self) -> None:
        for name, node in self.flow.nodes.items():
            for loc, text in _texts(node):
                self._text(("nodes", name, *loc), text)
        for name in ("opted_out", "opted_in", "rate_limited", "invalid", "voice_not_understood"):
            for value in _variants(getattr(self.flow.texts, name)):
                self._names(("texts", name), template_fields, value)

    def _text(self, where: Loc, text: Text) -> None:
        if isinstance(text, dict):
            for language in self.flow.languages:
                if language not in text:
                    self.error(where, f"no {language!r} text")
        for value in _variants(text):
            self._reads(where, value)

    # ---- variables, expressions, tables

    def _variables(self, where: Loc, node: Any) -> None:
        kind_check = self._variable_checks.get(node.kind)
        if kind_check is not None:
            kind_check(where, node)
        for var in _assigned(node):
            if var.split(".")[0] in RESERVED_VAR_ROOTS:
                self.error(where, f"{var!r}: variables under {', '.join(RESERVED_VAR_ROOTS)} are the engine's")

    def _ask(self, where: Loc, node: AskNode) -> None:
        self.written.add(node.var)
        if node.validate_as.pattern is not None:
            try:
                check_pattern(node.validate_as.pattern)
            except ExpressionError as exc:
                self.error((*where, "validate", "pattern"), str(exc))

    def _multi_choice(self, where: Loc, node: MultiChoiceNode) -> None:
        self.written.add(node.var)
        if node.label_var:
            self.written.add(node.label_var)

    def _option_sets(self, where: Loc, node: ButtonsNode | ListNode) -> None:
        for loc, option in _options(node):
            self.written.update(option.set)
            for var, value in option.set.items():
                templates = [item for item in (value if isinstance(value, list) else [value]) if isinstance(item, str)]
                for template in templates:
                    set_at = (*where, *loc, "set", var)
                    self.read += [(set_at, name) for name in self._names(set_at, template_fields, template)
                                  if not name.startswith("option.")]

    def _assignments(self, where: Loc, node: SetNode) -> None:
        for i, assignment in enumerate(node.assign):
            self.written.add(assignment.var)
            if assignment.expr is not None:
                self._reads((*where, "assign", i, "expr"), assignment.expr, expression_names)
            if isinstance(assignment.value, str):
                self._reads((*where, "assign", i, "value"), assignment.value)

    def _branch(self, where: Loc, node: BranchNode) -> None:
        self.read += [((*where, "cases", i, "when", j, "var"), condition.var)
                      for i, case in enumerate(node.cases) for j, condition in enumerate(case.when)]

    def _lookup(self, where: Loc, node: LookupNode) -> None:
        table = self.flow.tables.get(node.table)
        if table is None:
            self.error((*where, "table"), f"unknown table {node.table!r}")
        else:
            self.written.add(f"table.{node.table}")
            for column in node.columns:
                if not any(column in row for row in table.rows):
                    self.error((*where, "columns"), f"no column {column!r} in table {node.table!r}")
        self._reads((*where, "key"), node.key)

    def _handoff(self, where: Loc, node: HandoffNode) -> None:
        if node.note:
            self._reads((*where, "note"), node.note)

    def _table_keys(self) -> None:
        for table_name, table in self.flow.tables.items():
            for i, row in enumerate(table.rows):
                if table.key not in row:
                    self.error(("tables", table_name, "rows", i), f"no key column {table.key!r}")

    def _unset_variables(self) -> None:
        for where, field in self.read:
            if field.split(".")[0] == "table":
                self._table_field(where, field)
            elif field not in self.written and not (where[-1] == "picked" and field == "choice"):
                self.warn(where, f"variable {field!r} is read but never set")

    def _table_field(self, where: Loc, field: str) -> None:
        """{table.NAME.COLUMN}: a known table and column, and a lookup node that finds its row."""
        parts = field.split(".")
        table = self.flow.tables.get(parts[1]) if len(parts) > 1 else None
        if table is None:
            self.error(where, f"{{{field}}}: unknown table")
        elif len(parts) > 2 and not any(parts[2] in row for row in table.rows):
            self.error(where, f"{{{field}}}: no such column")
        elif f"table.{parts[1]}" not in self.written:
            self.warn(where, f"{{{field}}}: no lookup node finds a row of this table")

    # ---- reply ids: one meaning each

    def _reply_ids(self) -> None:
        menu = self.flow.routes.menu
        if menu:
            for name, node in self.flow.nodes.items():
                for loc, option in _options(node):
                    if option.id in menu.ids and option.next != menu.node:
                        self.error(("nodes", name, *loc, "next"), f"reply id {option.id!r} is the menu route's: "
                                   f"it leads to {menu.node!r}")
        meaning: dict[str, tuple[Loc, Any]] = {}
        for name, node in self.flow.nodes.items():
            for loc, reply_id, effect in _reply_effects(name, node):
                if reply_id in meaning and meaning[reply_id][1] != effect:
                    self.error(("nodes", name, *loc), f"reply id {reply_id!r} also means something else at "
                               f"{'.'.join(map(str, meaning[reply_id][0]))}")
                meaning.setdefault(reply_id, (("nodes", name, *loc), effect))


def _variants(text: Text) -> list[str]:
    """A text's templates: the one for all languages, or one per language."""
    return [text] if isinstance(text, str) else list(text.values())


def _reply_effects(name: str, node: Any) -> list[tuple[Loc, str, Any]]:
    """Every reply id a node sends, with its field and what tapping it does."""
    ids: list[tuple[Loc, str, Any]] = [((*loc, "id"), option.id, (option.next, option.set))
                                       for loc, option in _options(node)]
    if isinstance(node, MultiChoiceNode):
        ids += [(("options", i, "id"), o.id, (name, "pick", o.id)) for i, o in enumerate(node.options)]
        ids += [(("more", "id"), node.more.id, (name, "more")), (("done", "id"), node.done.id, (name, "done"))]
    return ids


def _assigned(node: Any) -> list[str]:
    names = [option_var for _, option in _options(node) for option_var in option.set]
    if isinstance(node, SetNode):
        names += [assignment.var for assignment in node.assign]
    if isinstance(node, AskNode | MultiChoiceNode):
        names.append(node.var)
    if isinstance(node, MultiChoiceNode) and node.label_var:
        names.append(node.label_var)
    return names


_MESSAGE_FIELDS = {"body": "text", "button": "button"}


def _builds(renderer: Renderer, node: Any) -> list[tuple[Loc, Callable[[], Any]]]:
    """What a node sends, each with the field its errors are reported on (() for the message's own fields)."""
    if isinstance(node, MessageNode):
        return [((), lambda: renderer.message(node))]
    if isinstance(node, ButtonsNode):
        return [((), lambda: renderer.buttons(node))]
    if isinstance(node, ListNode):
        return [((), lambda: renderer.list(node))]
    if isinstance(node, MultiChoiceNode):
        return [(("options",), lambda: renderer.choices(node)), (("picked",), lambda: renderer.picked(node))]
    texts = [(field, getattr(node, field, None)) for field in ("text", "invalid")]
    return [((field,), partial(renderer.text, value)) for field, value in texts if value is not None]


def _node_loc(node: Any, prefix: Loc, message_loc: tuple[Any, ...]) -> Loc:
    """A field of the WhatsApp message built by `_builds`, as the node's own field."""
    loc = tuple(_MESSAGE_FIELDS.get(part, part) if isinstance(part, str) else part for part in message_loc)
    if prefix == ("options",) and loc[:3] == ("sections", 0, "rows"):
        loc = ("options", *loc[3:])
    elif prefix and (not loc or loc[0] in ("text", "body")):
        loc = prefix
    elif prefix == ("picked",) and loc and loc[0] == "buttons":
        loc = (("more", "done")[loc[1]] if len(loc) > 1 and loc[1] in (0, 1) else "more", *loc[2:])
    if isinstance(node, MessageNode) and loc and loc[0] == "caption":
        loc = ("text",)
    return loc


def _limit_problems(flow: Flow, name: str, node: Any, language: str) -> list[Problem]:
    """The node rendered with every placeholder one character long, against WhatsApp's limits."""
    def one_character(_: str) -> str:
        return "x"

    renderer = Renderer(lambda text: render(pick(text, language, flow.fallback_language), one_character), fit=False)
    problems = []
    for prefix, build in _builds(renderer, node):
        try:
            build()
        except ValidationError as exc:
            problems += [Problem(("nodes", name, *_node_loc(node, prefix, error["loc"])),
                                 f"{error['msg']} ({language})") for error in exc.errors()]
    return problems


def reachable(flow: Flow) -> set[str]:
    """Nodes a user can get to: from the start, the menu, and every option of every node."""
    seen: set[str] = set()
    pending = [flow.start, *([flow.routes.menu.node] if flow.routes.menu else [])]
    while pending:
        name = pending.pop()
        if name in seen or name not in flow.nodes:
            continue
        seen.add(name)
        node = flow.nodes[name]
        pending += [target for _, target in _edges(node)]
    return seen


def _graph_problems(flow: Flow) -> list[Problem]:
    problems = []
    seen = reachable(flow)
    problems += [Problem(("nodes", name), "unreachable: no path leads here", "warning")
                 for name in flow.nodes if name not in seen]
    # A cycle through nodes that never wait would run forever: depth-first, colouring nodes.
    state: dict[str, int] = {}
    for root in flow.nodes:
        if state.get(root):
            continue
        stack: list[tuple[str, list[str]]] = [(root, _automatic(flow.nodes[root]))]
        state[root] = 1
        while stack:
            name, targets = stack[-1]
            if not targets:
                state[name] = 2
                stack.pop()
                continue
            target = targets.pop()
            if target not in flow.nodes:
                continue
            if state.get(target) == 1:
                cycle = [entry[0] for entry in stack[[entry[0] for entry in stack].index(target):]]
                problems.append(Problem(("nodes", target), "a loop that never waits for the user: "
                                        + " -> ".join([*cycle, target])))
            elif not state.get(target):
                state[target] = 1
                stack.append((target, _automatic(flow.nodes[target])))
    return problems
