"""Checks of a flow document that a schema cannot express, each naming node and field.

Errors: structure (from the models), unknown nodes and tables, WhatsApp's limits in every
language, missing translations, malformed templates, expressions and patterns, options that
share a reply id but do different things, loops that never wait for the user, the size.
Warnings: unreachable nodes, variables read but never set on any path.
"""

from __future__ import annotations

import json
from dataclasses import dataclass
from typing import Any, Literal

from pydantic import ValidationError

from wabot.funnel.engine import Renderer
from wabot.funnel.expressions import ExpressionError, check_pattern, expression_names, render, template_fields
from wabot.funnel.flow import (
    RESERVED_VAR_ROOTS,
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


_NODE_KINDS = {"message", "buttons", "list", "ask", "multi_choice", "set", "branch", "lookup", "handoff", "llm", "end"}


# ---- the checks --------------------------------------------------------------------------------


def _texts(node: Any) -> list[tuple[Loc, Text]]:
    """Every text of a node with its field path."""
    found: list[tuple[Loc, Text]] = []

    def add(loc: Loc, text: Text | None) -> None:
        if text is not None:
            found.append((loc, text))

    for name in ("text", "header", "footer", "button", "invalid", "picked", "prompt"):
        add((name,), getattr(node, name, None))
    if isinstance(node, ButtonsNode):
        for i, button in enumerate(node.buttons):
            add(("buttons", i, "title"), button.title)
    if isinstance(node, ListNode):
        for s, section in enumerate(node.sections):
            add(("sections", s, "title"), section.title)
            for r, row in enumerate(section.rows):
                add(("sections", s, "rows", r, "title"), row.title)
                add(("sections", s, "rows", r, "description"), row.description)
    if isinstance(node, MultiChoiceNode):
        for i, option in enumerate(node.options):
            add(("options", i, "title"), option.title)
            add(("options", i, "description"), option.description)
        add(("more", "title"), node.more.title)
        add(("done", "title"), node.done.title)
    if isinstance(node, SetNode):
        for i, assignment in enumerate(node.assign):
            add(("assign", i, "text"), assignment.text)
    return found


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
    if isinstance(node, ButtonsNode | ListNode | AskNode | MultiChoiceNode | EndNode):
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
    problems: list[Problem] = []
    nodes = flow.nodes

    def error(loc: Loc, msg: str) -> None:
        problems.append(Problem(loc, msg))

    if flow.default_language and flow.default_language not in flow.languages:
        error(("default_language",), "must be one of languages")
    if flow.start not in nodes:
        error(("start",), f"unknown node {flow.start!r}")
    if flow.routes.menu and flow.routes.menu.node not in nodes:
        error(("routes", "menu", "node"), f"unknown node {flow.routes.menu.node!r}")
    for name, node in nodes.items():
        for loc, target in _edges(node):
            if target not in nodes:
                error(("nodes", name, *loc), f"unknown node {target!r}")

    # ---- texts: translations and templates
    written: set[str] = set(flow.variables)
    read: list[tuple[Loc, str]] = []
    for name, node in nodes.items():
        for loc, text in _texts(node):
            where = ("nodes", name, *loc)
            if isinstance(text, dict):
                for language in flow.languages:
                    if language not in text:
                        error(where, f"no {language!r} text")
            for value in ([text] if isinstance(text, str) else text.values()):
                try:
                    read += [(where, field) for field in template_fields(value)]
                except ExpressionError as exc:
                    error(where, str(exc))
    for name in ("opted_out", "opted_in", "rate_limited", "invalid", "voice_not_understood"):
        text = getattr(flow.texts, name)
        for value in ([text] if isinstance(text, str) else text.values()):
            try:
                template_fields(value)
            except ExpressionError as exc:
                error(("texts", name), str(exc))

    # ---- variables, expressions, tables
    for name, node in nodes.items():
        where: Loc = ("nodes", name)
        if isinstance(node, AskNode | MultiChoiceNode):
            written.add(node.var)
            if isinstance(node, MultiChoiceNode) and node.label_var:
                written.add(node.label_var)
        if isinstance(node, AskNode) and node.validate_as.pattern is not None:
            try:
                check_pattern(node.validate_as.pattern)
            except ExpressionError as exc:
                error((*where, "validate", "pattern"), str(exc))
        for loc, option in _options(node):
            written.update(option.set)
            for var, value in option.set.items():
                for item in value if isinstance(value, list) else [value]:
                    if isinstance(item, str):
                        try:
                            read += [((*where, *loc, "set", var), field) for field in template_fields(item)
                                     if not field.startswith("option.")]
                        except ExpressionError as exc:
                            error((*where, *loc, "set", var), str(exc))
        if isinstance(node, SetNode):
            for i, assignment in enumerate(node.assign):
                written.add(assignment.var)
                if assignment.expr is not None:
                    try:
                        read += [((*where, "assign", i, "expr"), field) for field in expression_names(assignment.expr)]
                    except ExpressionError as exc:
                        error((*where, "assign", i, "expr"), str(exc))
                if isinstance(assignment.value, str):
                    try:
                        read += [((*where, "assign", i, "value"), f) for f in template_fields(assignment.value)]
                    except ExpressionError as exc:
                        error((*where, "assign", i, "value"), str(exc))
        if isinstance(node, BranchNode):
            read += [((*where, "cases", i, "when", j, "var"), condition.var)
                     for i, case in enumerate(node.cases) for j, condition in enumerate(case.when)]
        if isinstance(node, LookupNode):
            table = flow.tables.get(node.table)
            if table is None:
                error((*where, "table"), f"unknown table {node.table!r}")
            else:
                written.add(f"table.{node.table}")
                for column in node.columns:
                    if not any(column in row for row in table.rows):
                        error((*where, "columns"), f"no column {column!r} in table {node.table!r}")
            try:
                read += [((*where, "key"), field) for field in template_fields(node.key)]
            except ExpressionError as exc:
                error((*where, "key"), str(exc))
        if isinstance(node, HandoffNode) and node.note:
            try:
                read += [((*where, "note"), field) for field in template_fields(node.note)]
            except ExpressionError as exc:
                error((*where, "note"), str(exc))
        for var in _assigned(node):
            if var.split(".")[0] in RESERVED_VAR_ROOTS:
                error(where, f"{var!r}: variables under {', '.join(RESERVED_VAR_ROOTS)} are the engine's")
    for table_name, table in flow.tables.items():
        for i, row in enumerate(table.rows):
            if table.key not in row:
                error(("tables", table_name, "rows", i), f"no key column {table.key!r}")
    for where, field in read:
        root = field.split(".")[0]
        if root == "table":
            parts = field.split(".")
            table = flow.tables.get(parts[1]) if len(parts) > 1 else None
            if table is None:
                error(where, f"{{{field}}}: unknown table")
            elif len(parts) > 2 and not any(parts[2] in row for row in table.rows):
                error(where, f"{{{field}}}: no such column")
            elif f"table.{parts[1]}" not in written:
                problems.append(Problem(where, f"{{{field}}}: no lookup node finds a row of this table", "warning"))
        elif field not in written and not (where[-1] == "picked" and field == "choice"):
            problems.append(Problem(where, f"variable {field!r} is read but never set", "warning"))

    # ---- reply ids: one meaning each
    meaning: dict[str, tuple[Loc, Any]] = {}
    menu = flow.routes.menu
    for name, node in nodes.items():
        for loc, option in _options(node):
            if menu and option.id in menu.ids and option.next != menu.node:
                error(("nodes", name, *loc, "next"), f"reply id {option.id!r} is the menu route's: it leads to "
                      f"{menu.node!r}")
    for name, node in nodes.items():
        ids: list[tuple[Loc, str, Any]] = [((*loc, "id"), option.id, (option.next, option.set))
                                           for loc, option in _options(node)]
        if isinstance(node, MultiChoiceNode):
            ids += [(("options", i, "id"), o.id, (name, "pick", o.id)) for i, o in enumerate(node.options)]
            ids += [(("more", "id"), node.more.id, (name, "more")), (("done", "id"), node.done.id, (name, "done"))]
        for loc, reply_id, effect in ids:
            if reply_id in meaning and meaning[reply_id][1] != effect:
                error(("nodes", name, *loc), f"reply id {reply_id!r} also means something else at "
                      f"{'.'.join(map(str, meaning[reply_id][0]))}")
            meaning.setdefault(reply_id, (("nodes", name, *loc), effect))

    # ---- WhatsApp's limits, rendered in every language
    for language in flow.languages:
        for name, node in nodes.items():
            problems += _limit_problems(flow, name, node, language)

    problems += _graph_problems(flow)
    return problems


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


def _limit_problems(flow: Flow, name: str, node: Any, language: str) -> list[Problem]:
    """The node rendered with every placeholder one character long, against WhatsApp's limits."""
    def one_character(_: str) -> str:
        return "x"

    renderer = Renderer(lambda text: render(pick(text, language, flow.fallback_language), one_character), fit=False)
    builds: list[tuple[Loc, Any]] = []
    if isinstance(node, MessageNode):
        builds.append(((), lambda: renderer.message(node)))
    elif isinstance(node, ButtonsNode):
        builds.append(((), lambda: renderer.buttons(node)))
    elif isinstance(node, ListNode):
        builds.append(((), lambda: renderer.list(node)))
    elif isinstance(node, MultiChoiceNode):
        builds += [(("options",), lambda: renderer.choices(node)), (("picked",), lambda: renderer.picked(node))]
    for field in ("text", "invalid"):
        value = getattr(node, field, None)
        if value is not None and not isinstance(node, MessageNode | ButtonsNode | ListNode | MultiChoiceNode):
            builds.append(((field,), lambda value=value: renderer.text(value)))
    problems = []
    for prefix, build in builds:
        try:
            build()
        except ValidationError as exc:
            for error in exc.errors():
                loc = tuple(_MESSAGE_FIELDS.get(part, part) if isinstance(part, str) else part
                            for part in error["loc"])
                if prefix == ("options",) and loc[:3] == ("sections", 0, "rows"):
                    loc = ("options", *loc[3:])
                elif prefix and (not loc or loc[0] in ("text", "body")):
                    loc = prefix
                elif prefix == ("picked",) and loc and loc[0] == "buttons":
                    loc = (("more", "done")[loc[1]] if len(loc) > 1 and loc[1] in (0, 1) else "more", *loc[2:])
                if isinstance(node, MessageNode) and loc and loc[0] == "caption":
                    loc = ("text",)
                problems.append(Problem(("nodes", name, *loc), f"{error['msg']} ({language})"))
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
