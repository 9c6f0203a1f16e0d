"""Funnels and user states stored before the flow language, converted on read.

The old shape was one business's funnel: nodes with hard-wired actions, a quiz, segment rules,
a GPU audit table, discovery steps, pricing and FAQ sections. `convert_legacy` writes the same
conversation in the flow language (the shipped sales template is this conversion of the old
default), keeping the reply ids users already have in their chats (`sales:`, `faq:`, `tz:`,
`nav:`) and the ids of the free-input steps stored in users' states.
"""

from __future__ import annotations

import re
from collections.abc import Mapping
from typing import Any, Literal

from pydantic import BaseModel, ConfigDict, Field

from wabot.models.conversation import ConversationState

Language = Literal["en", "ru"]
LocalizedText = dict[Language, str]
# A text as stored (keyed by `Language`) or as built for the flow (keyed by any language code).
AnyText = Mapping[Language, str] | Mapping[str, str]


class _Model(BaseModel):
    model_config = ConfigDict(extra="forbid")


class NodeButton(_Model):
    id: str = Field(min_length=1)
    title: LocalizedText


class NodeRow(_Model):
    id: str = Field(min_length=1)
    title: LocalizedText
    description: LocalizedText | None = None


class NodeSection(_Model):
    title: LocalizedText | None = None
    rows: list[NodeRow]


class Node(_Model):
    text: LocalizedText
    header: LocalizedText | None = None
    footer: LocalizedText | None = None
    buttons: list[NodeButton] = Field(default_factory=list)
    list_button: LocalizedText | None = None
    sections: list[NodeSection] = Field(default_factory=list)
    then: str | None = None
    input_state: str | None = None
    action: Literal["quiz_start", "gpu_custom", "discovery_start", "spec", "menu"] | None = None


class QuizOption(_Model):
    id: str
    title: LocalizedText
    description: LocalizedText | None = None


class QuizQuestion(_Model):
    id: str
    text: LocalizedText
    options: list[QuizOption] = Field(min_length=1, max_length=10)
    multi: bool = False


class SegmentRule(_Model):
    segment: str
    when: dict[str, list[str]]


class GpuEntry(_Model):
    id: str
    name: str
    vram_gb: int
    aliases: list[str] = Field(default_factory=list)
    runs: LocalizedText


class DiscoveryStep(_Model):
    state: str
    key: str
    question: LocalizedText


class Alternative(_Model):
    name: LocalizedText
    price: int
    description: LocalizedText


class Pricing(_Model):
    currency: str
    base: int
    per_integration: int
    per_100_users: int
    rush_surcharge_percent: int = 0
    alternatives: list[Alternative] = Field(default_factory=list)


class FaqSection(_Model):
    id: str
    title: LocalizedText
    keys: list[str] = Field(min_length=1)


class LegacyFunnel(_Model):
    """The funnel document before flows (stored under `definition`)."""

    languages: list[Language] = Field(min_length=1)
    greetings: dict[Language, list[str]]
    stop_words: list[str] = Field(default_factory=lambda: ["stop", "стоп"])
    start_words: list[str] = Field(default_factory=lambda: ["start", "старт"])
    start_node: str
    nodes: dict[str, Node]
    routes: dict[str, str]
    quiz: list[QuizQuestion] = Field(min_length=1)
    segment_rules: list[SegmentRule]
    default_segment: str
    segment_nodes: dict[str, str]
    gpu_audit: list[GpuEntry] = Field(min_length=1)
    github_url: str
    discovery: list[DiscoveryStep] = Field(min_length=1)
    pricing: Pricing
    faq_sections: list[FaqSection] = Field(min_length=1)
    faq_answers: dict[str, LocalizedText]
    faq_titles: dict[str, LocalizedText]
    texts: dict[str, LocalizedText]


def is_legacy(document: Any) -> bool:
    return isinstance(document, dict) and "start_node" in document and "start" not in document


def upgrade_state(state: ConversationState) -> ConversationState:
    """A copy of the state with answers stored before flows moved into variables (named as
    `convert_legacy` names them)."""
    upgraded = state.model_copy(deep=True)
    if not (upgraded.quiz_answers or upgraded.discovery or upgraded.segment):
        return upgraded
    for question, chosen in upgraded.quiz_answers.items():
        upgraded.vars.setdefault(f"quiz.{question}", list(chosen))
    for key, answer in upgraded.discovery.items():
        upgraded.vars.setdefault(f"discovery.{key}", answer)
    if upgraded.segment:
        upgraded.vars.setdefault("segment", upgraded.segment)
    upgraded.quiz_answers, upgraded.discovery, upgraded.segment = {}, {}, None
    return upgraded


# ---- conversion --------------------------------------------------------------------------------


def _escape(text: str) -> str:
    """Old node texts were sent as they were: braces are literal in a template."""
    return text.replace("{", "{{").replace("}", "}}")


def _rename(template: str, names: dict[str, str], literals: dict[str, str] | None = None) -> str:
    """An old `str.format` template in the flow language: {company} -> {discovery.company};
    literal values inlined."""
    literals = literals or {}

    def one(match: re.Match[str]) -> str:
        name = match.group(1)
        if name in literals:
            return _escape(literals[name])
        return "{" + names.get(name, name) + "}"

    parts = re.split(r"(\{\{|\}\})", template)
    return "".join(part if part in ("{{", "}}") else re.sub(r"\{(\w+)\}", one, part) for part in parts)


def _copy(text: AnyText | None) -> dict[str, str]:
    """A text's copy, keyed by plain language codes (the flow language's texts)."""
    return {language: value for language, value in (text or {}).items()}


def _in(text: AnyText, language: str) -> str:
    """The text in this language, else any (old documents were not checked everywhere)."""
    texts = _copy(text)
    return texts.get(language) or next(iter(texts.values()), "")


def _money(amount: int, currency: str) -> str:
    return f"{amount:,}".replace(",", " ") + f" {currency}"


def _safe(node_id: str) -> str:
    return re.sub(r"[^A-Za-z0-9_.:-]", "_", node_id)[:64] or "node"


def _escaped(text: AnyText) -> dict[str, str]:
    return {lang: _escape(value) for lang, value in _copy(text).items()}


def convert_legacy(document: dict[str, Any]) -> dict[str, Any]:
    """The old funnel document as a flow document (validate it with `Flow`)."""
    return _Converter(LegacyFunnel.model_validate(document)).flow()


class _Converter:
    """The old funnel's parts, each written as the flow nodes it stood for (in the order users' flows list them)."""

    def __init__(self, old: LegacyFunnel) -> None:
        self.old = old
        self.languages: list[str] = list(old.languages)
        gpu_input = next((name for name, node in old.nodes.items() if node.action == "gpu_custom"), None)
        # The typed-GPU step keeps the id users' stored states already name.
        self.aliases = {name: _safe(name) for name in old.nodes}
        if gpu_input:
            self.aliases[gpu_input] = "diy_gpu_custom"
        self.start = self.node_ref(old.start_node)
        self.sections = {section.id: section for section in old.faq_sections}
        self.gpus = {gpu.id: gpu for gpu in old.gpu_audit}
        self.discovery_keys = [step.key for step in old.discovery]
        self.nodes: dict[str, dict[str, Any]] = {}

    def flow(self) -> dict[str, Any]:
        for name, node in self.old.nodes.items():
            self._old_node(name, node)
        self._quiz()
        self._gpu_audit()
        self._discovery()
        self._quote()
        self._spec()
        self._faq()
        return _without_unreachable(self._document())

    # ---- texts, node ids, buttons

    def text(self, key: str) -> dict[str, str]:
        return _copy(self.old.texts.get(key))

    def node_ref(self, name: str) -> str:
        return self.aliases.get(name, _safe(name))

    def target(self, reply_id: str) -> tuple[str, dict[str, Any]]:
        """Where an old reply id leads, as the engine routed it (handlers first, then routes)."""
        prefix, _, action = reply_id.partition(":")
        handler = {"sales": self._sales_target, "faq": self._faq_target}.get(prefix)
        handled = handler(action) if handler else None
        if handled is not None:
            return handled
        if reply_id in self.old.routes:
            return self.node_ref(self.old.routes[reply_id]), {}
        return self.start, {}

    def _sales_target(self, action: str) -> tuple[str, dict[str, Any]] | None:
        parts = action.split(":")
        if action == "gpu_list":
            return "gpu_list", {}
        if parts[0] == "gpu" and len(parts) == 2 and parts[1] in self.gpus:
            return "gpu_lookup", {"gpu_choice": parts[1]}
        return None

    def _faq_target(self, action: str) -> tuple[str, dict[str, Any]] | None:
        for marker in ("cat_", "back_"):
            if action.startswith(marker) and action[len(marker):] in self.sections:
                return f"faq_{action[len(marker):]}", {}
        if any(action in section.keys for section in self.old.faq_sections):
            return f"faq_answer_{action}", {}
        return None

    def button(self, reply_id: str, title: AnyText) -> dict[str, Any]:
        next_node, assigned = self.target(reply_id)
        return {"id": reply_id, "title": _copy(title), "next": next_node, **({"set": assigned} if assigned else {})}

    def menu_button(self) -> dict[str, Any]:
        return self.button("nav:menu", self.text("menu"))

    # ---- the old nodes, their actions as the nodes they stood for

    def _old_node(self, name: str, node: Node) -> None:
        chain = {"quiz_start": "quiz_reset", "discovery_start": "discovery_reset"}.get(node.action or "")
        if node.action == "spec":
            self.nodes["spec_check"] = {"kind": "branch", "cases": [{"when": [
                {"var": f"discovery.{key}", "is_set": True} for key in self.discovery_keys],
                "next": self.node_ref(name)}], "default": "spec_missing"}
            chain = "spec_summary"
        then = chain or (self.node_ref(node.then) if node.then else None)
        if node.action == "gpu_custom":
            self.nodes[self.node_ref(name)] = {"kind": "ask", "text": _escaped(node.text), "var": "gpu_model",
                                               "max_chars": 60, "next": "gpu_lookup_typed"}
            return
        shown: dict[str, Any] = {"text": _escaped(node.text)}
        for part in ("header", "footer"):
            value = getattr(node, part)
            if value:
                shown[part] = _escaped(value)
        if node.buttons:
            self.nodes[self.node_ref(name)] = {"kind": "buttons", **shown,
                                               "buttons": [self.button(b.id, b.title) for b in node.buttons]}
        elif node.sections:
            self.nodes[self.node_ref(name)] = {"kind": "list", **shown, "button": _copy(node.list_button),
                                               "sections": [self._section(s) for s in node.sections]}
        else:
            if node.input_state and not then:
                then = node.input_state if node.input_state in {s.state for s in self.old.discovery} else None
            self.nodes[self.node_ref(name)] = {"kind": "message", **shown, **({"next": then} if then else {})}

    def _section(self, section: NodeSection) -> dict[str, Any]:
        return {**({"title": _copy(section.title)} if section.title else {}), "rows": [
            {**self.button(r.id, r.title), **({"description": _copy(r.description)} if r.description else {})}
            for r in section.rows]}

    # ---- quiz: multi-choice questions, single-choice lists, the segment

    def _quiz(self) -> None:
        old = self.old
        self.nodes["quiz_reset"] = {"kind": "set", "next": f"quiz_{old.quiz[0].id}", "assign": [
            {"var": var, "value": None} for question in old.quiz
            for var in (f"quiz.{question.id}", f"quiz_titles.{question.id}")] + [{"var": "segment", "value": None}]}
        for index, question in enumerate(old.quiz):
            following = f"quiz_{old.quiz[index + 1].id}" if index + 1 < len(old.quiz) else "segment"
            self.nodes[f"quiz_{question.id}"] = self._question(question, following)
        self.nodes["segment"] = {"kind": "branch", "cases": [
            {"when": [{"var": f"quiz.{question}", "in": list(chosen)} for question, chosen in rule.when.items()],
             "next": f"segment_{rule.segment}"} for rule in old.segment_rules],
            "default": f"segment_{old.default_segment}"}
        for segment, node_name in old.segment_nodes.items():
            self.nodes[f"segment_{segment}"] = {"kind": "set", "assign": [{"var": "segment", "value": segment}],
                                                "next": self.node_ref(node_name)}

    def _question(self, question: QuizQuestion, following: str) -> dict[str, Any]:
        options = [{"id": f"sales:qa:{question.id}:{o.id}", "title": _copy(o.title),
                    **({"description": _copy(o.description)} if o.description else {})} for o in question.options]
        if question.multi:
            return {
                "kind": "multi_choice", "text": _copy(question.text), "button": self.text("choose"),
                "options": [{**option, "value": o.id} for option, o in zip(options, question.options, strict=True)],
                "var": f"quiz.{question.id}", "label_var": f"quiz_titles.{question.id}",
                "picked": self.text("picked"),
                "more": {"id": f"sales:qm:{question.id}", "title": self.text("more")},
                "done": {"id": f"sales:qd:{question.id}", "title": self.text("done")}, "next": following}
        return {
            "kind": "list", "text": _copy(question.text), "button": self.text("choose"), "sections": [{"rows": [
                {**option, "next": following, "set": {f"quiz.{question.id}": [o.id],
                                                      f"quiz_titles.{question.id}": ["{option.title}"]}}
                for option, o in zip(options, question.options, strict=True)]}]}

    # ---- GPU audit

    def _gpu_audit(self) -> None:
        old, nodes = self.old, self.nodes
        nodes["gpu_list"] = {"kind": "list", "text": self.text("gpu_intro"), "button": self.text("choose"),
                             "sections": [{"rows": [
                                 *[self.button(f"sales:gpu:{gpu.id}", {lang: gpu.name for lang in self.languages})
                                   for gpu in old.gpu_audit],
                                 self.button("sales:gpu_other", self.text("gpu_other"))][:10]}]}
        nodes["gpu_lookup"] = {"kind": "lookup", "table": "gpu", "key": "{gpu_choice}", "next": "gpu_verdict",
                               "not_found": self.start}
        nodes["gpu_lookup_typed"] = {"kind": "lookup", "table": "gpu", "key": "{gpu_model}", "match": "contains",
                                     "columns": ["aliases", "id"], "next": "gpu_verdict", "not_found": "gpu_unknown"}
        url = {"url": old.github_url}
        nodes["gpu_verdict"] = {"kind": "buttons", "buttons": [self.menu_button()], "text": {
            lang: _rename(value, {"name": "table.gpu.name", "vram": "table.gpu.vram_gb", "runs": "table.gpu.runs"},
                          url)
            for lang, value in self.text("gpu_verdict").items()}}
        nodes["gpu_unknown"] = {"kind": "buttons", "buttons": [self.menu_button()], "text": {
            lang: _rename(value, {"model": "gpu_model"}, url) for lang, value in self.text("gpu_unknown").items()}}

    # ---- discovery, quote, spec

    def _discovery(self) -> None:
        old = self.old
        self.nodes["discovery_reset"] = {"kind": "set", "next": old.discovery[0].state, "assign": [
            {"var": f"discovery.{key}", "value": None} for key in self.discovery_keys]}
        for index, step in enumerate(old.discovery):
            following = old.discovery[index + 1].state if index + 1 < len(old.discovery) else "quote_pricing"
            self.nodes[step.state] = {"kind": "ask", "text": _copy(step.question), "var": f"discovery.{step.key}",
                                      "next": following}

    def _quote(self) -> None:
        nodes, pricing = self.nodes, self.old.pricing
        nodes["quote_pricing"] = {"kind": "lookup", "table": "pricing", "key": "default", "next": "quote_calc",
                                  "not_found": "quote_calc"}
        nodes["quote_calc"] = {"kind": "set", "next": "quote_rush", "assign": _quote_calculation()}
        nodes["quote_rush"] = {"kind": "branch", "cases": [{"when": [{"var": "quote.urgent", "equals": True}],
                                                            "next": "quote_rush_line"}], "default": "quote"}
        nodes["quote_rush_line"] = {"kind": "set", "next": "quote", "assign": [{"var": "quote.rush_line", "text": {
            lang: _rename(value, {"percent": "table.pricing.rush_surcharge_percent"})
            for lang, value in self.text("rush").items()}}]}

        def alternatives(lang: str) -> str:
            return "\n".join(f"• {_in(a.name, lang)}: {_money(a.price, pricing.currency)}: {_in(a.description, lang)}"
                             for a in pricing.alternatives)

        nodes["quote"] = {"kind": "buttons", "text": {lang: _rename(value, {
            "total": "quote.total_text", "base": "quote.base_text", "integrations": "quote.integrations",
            "integrations_cost": "quote.integrations_cost_text", "users": "quote.users",
            "users_cost": "quote.users_cost_text", "rush": "quote.rush_line"}, {"alternatives": alternatives(lang)})
            for lang, value in self.text("quote").items()},
            "buttons": [self.button("tz:generate", self.text("get_spec")), self.menu_button()]}

    def _spec(self) -> None:
        old, nodes = self.old, self.nodes
        custom = old.nodes.get("seg_custom")
        restart = self.button("sales:custom_start", custom.buttons[0].title) if custom and custom.buttons \
            else self.menu_button()
        nodes["spec_missing"] = {"kind": "buttons", "text": _escaped(self.text("spec_missing")),
                                 "buttons": [restart, self.menu_button()] if restart["id"] != "nav:menu"
                                 else [restart]}
        nodes["spec_summary"] = {"kind": "set", "next": "spec_text", "assign": [
            {"var": "quiz_summary", "expr": "join('; ', " + ", ".join(f"quiz_titles.{q.id}" for q in old.quiz)
                                            + ") or '-'"}]}
        nodes["spec_text"] = {"kind": "message", "text": {lang: _rename(value, {
            "answers": "quiz_summary", **{key: f"discovery.{key}" for key in self.discovery_keys}})
            for lang, value in self.text("spec").items()}}
        # Routes that reached the spec through its action now pass the check first.
        spec_nodes = {self.node_ref(name) for name, node in old.nodes.items() if node.action == "spec"}
        for built in nodes.values():
            for option in [*built.get("buttons", []), *(r for s in built.get("sections", []) for r in s["rows"])]:
                if option["next"] in spec_nodes:
                    option["next"] = "spec_check"

    # ---- FAQ

    def _faq(self) -> None:
        old = self.old
        for section in old.faq_sections:
            self.nodes[f"faq_{section.id}"] = {
                "kind": "list", "button": self.text("choose"),
                "text": {lang: _rename(value, {}, {"title": _in(section.title, lang)}) for lang, value in
                         self.text("faq_section").items()},
                "sections": [{"rows": [{"id": f"faq:{key}", "title": _copy(old.faq_titles.get(key) or {"en": key}),
                                        "next": f"faq_answer_{key}"} for key in section.keys]}]}
            for key in section.keys:
                self.nodes.setdefault(f"faq_answer_{key}", {
                    "kind": "buttons", "text": _escaped(old.faq_answers.get(key) or {"en": key}),
                    "buttons": [{"id": f"faq:back_{section.id}", "title": self.text("back"),
                                 "next": f"faq_{section.id}"}, self.menu_button()]})

    # ---- the document

    def _document(self) -> dict[str, Any]:
        old, pricing = self.old, self.old.pricing
        menu_target = self.node_ref(old.routes["nav:menu"]) if "nav:menu" in old.routes else self.start
        menu_route = old.routes.get("nav:menu", old.start_node)
        return {
            "version": 2, "languages": self.languages, "start": self.start,
            "routes": {"greetings": {lang: list(words) for lang, words in old.greetings.items()},
                       "menu": {"ids": [rid for rid in ("nav:menu", "nav:home")
                                        if old.routes.get(rid, old.start_node) == menu_route],
                                "node": menu_target},
                       "back": {"ids": ["nav:back"]},
                       "stop_words": list(old.stop_words), "start_words": list(old.start_words)},
            "texts": {name: self.text(name) for name in ("opted_out", "opted_in", "rate_limited")
                      if old.texts.get(name)},
            "tables": {
                "gpu": {"key": "id", "rows": [{"id": g.id, "name": g.name, "vram_gb": g.vram_gb,
                                               "aliases": g.aliases, "runs": _copy(g.runs)} for g in old.gpu_audit]},
                "pricing": {"key": "plan", "rows": [{"plan": "default", "currency": pricing.currency,
                                                     "base": pricing.base, "per_integration": pricing.per_integration,
                                                     "per_100_users": pricing.per_100_users,
                                                     "rush_surcharge_percent": pricing.rush_surcharge_percent}]}},
            "nodes": self.nodes,
        }


def _quote_calculation() -> list[dict[str, Any]]:
    """The quote's arithmetic, as the old engine computed it."""
    return [
        {"var": "quote.users", "expr": "number(discovery.users, 10)"},
        {"var": "quote.integrations", "expr": "count_items(discovery.integrations, 'none', 'no', 'нет', '-', "
                                              "'никаких')"},
        {"var": "quote.integrations_cost", "expr": "table.pricing.per_integration * quote.integrations"},
        {"var": "quote.users_cost", "expr": "table.pricing.per_100_users * max(1, ceil(quote.users / 100))"},
        {"var": "quote.urgent", "expr": "matches(discovery.deadline, 'urgent|asap|срочно')"},
        {"var": "quote.total", "expr": "table.pricing.base + quote.integrations_cost + quote.users_cost"},
        {"var": "quote.total", "expr": "quote.total + quote.total * table.pricing.rush_surcharge_percent // 100 "
                                       "if quote.urgent else quote.total"},
        *[{"var": f"quote.{name}_text", "expr": f"thousands({source}) + ' ' + table.pricing.currency"}
          for name, source in (("total", "quote.total"), ("base", "table.pricing.base"),
                               ("integrations_cost", "quote.integrations_cost"),
                               ("users_cost", "quote.users_cost"))],
        {"var": "quote.rush_line", "value": None},
    ]


def _without_unreachable(flow: dict[str, Any]) -> dict[str, Any]:
    """Old nodes no button or route led to (they could never be sent) are left out."""
    nodes = flow["nodes"]
    seen: set[str] = set()
    pending = [flow["start"], flow["routes"]["menu"]["node"]]
    while pending:
        name = pending.pop()
        if name in seen or name not in nodes:
            continue
        seen.add(name)
        node = nodes[name]
        pending += [value for key in ("next", "default", "not_found") if isinstance(value := node.get(key), str)]
        pending += [case["next"] for case in node.get("cases", [])]
        pending += [option["next"] for option in node.get("buttons", [])]
        pending += [row["next"] for section in node.get("sections", []) for row in section["rows"]]
    flow["nodes"] = {name: node for name, node in nodes.items() if name in seen}
    return flow
