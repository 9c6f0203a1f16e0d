"""A funnel is data: messages, buttons, lists, free-input steps, the quiz, segment rules, the
GPU audit table, the pricing table and FAQ, in every language the funnel speaks.

`FunnelDefinition.model_validate` checks the structure; `limit_problems()` renders every
message in every language and checks it against WhatsApp's limits, naming node and field.
"""

from __future__ import annotations

from typing import Any, Literal

from pydantic import BaseModel, ConfigDict, Field, ValidationError, model_validator

from wabot.whatsapp.messages import ButtonsMessage, ListMessage, TextMessage

Language = Literal["en", "ru"]
LocalizedText = dict[Language, str]
ACTIONS = ("quiz_start", "gpu_custom", "discovery_start", "spec", "menu")


class _Model(BaseModel):
    model_config = ConfigDict(extra="forbid")


class NodeButton(_Model):
    id: str = Field(min_length=1, description="reply id sent back when tapped, `prefix:action`")
    title: LocalizedText


class NodeRow(_Model):
    id: str = Field(min_length=1)
    title: LocalizedText
    description: LocalizedText | None = None


class NodeSection(_Model):
    title: LocalizedText | None = None
    rows: list[NodeRow]


class Node(_Model):
    """One message. With buttons: reply buttons; with sections: a list; else plain text."""

    text: LocalizedText
    header: LocalizedText | None = None
    footer: LocalizedText | None = None
    buttons: list[NodeButton] = Field(default_factory=list)
    list_button: LocalizedText | None = None
    sections: list[NodeSection] = Field(default_factory=list)
    then: str | None = Field(default=None, description="node sent right after this one")
    input_state: str | None = Field(default=None, description="funnel_state waiting for free text")
    action: str | None = None

    @model_validator(mode="after")
    def _shape(self) -> Node:
        if self.buttons and self.sections:
            raise ValueError("a node has buttons or list sections, not both")
        if self.sections and not self.list_button:
            raise ValueError("list_button is required with sections")
        if self.action is not None and self.action not in ACTIONS:
            raise ValueError(f"unknown action {self.action!r}")
        return self


class QuizOption(_Model):
    id: str = Field(pattern=r"^[a-z0-9_]{1,32}$")
    title: LocalizedText
    description: LocalizedText | None = None


class QuizQuestion(_Model):
    id: str = Field(pattern=r"^[a-z0-9_]{1,32}$")
    text: LocalizedText
    options: list[QuizOption] = Field(min_length=1, max_length=10)
    multi: bool = False


class SegmentRule(_Model):
    segment: Literal["diy", "basic", "custom"]
    when: dict[str, list[str]] = Field(description="question id -> any of these option ids; all must hold")


class GpuEntry(_Model):
    id: str = Field(pattern=r"^[a-z0-9_]{1,32}$")
    name: str = Field(min_length=1, max_length=24)
    vram_gb: int = Field(ge=1)
    aliases: list[str] = Field(default_factory=list)
    runs: LocalizedText


class DiscoveryStep(_Model):
    state: str = Field(pattern=r"^custom_step_[1-9]$")
    key: str = Field(pattern=r"^[a-z_]{1,32}$")
    question: LocalizedText


class Alternative(_Model):
    name: LocalizedText
    price: int = Field(ge=0)
    description: LocalizedText


class Pricing(_Model):
    currency: str = Field(min_length=1, max_length=8)
    base: int = Field(ge=0)
    per_integration: int = Field(ge=0)
    per_100_users: int = Field(ge=0)
    rush_surcharge_percent: int = Field(default=0, ge=0, le=200)
    alternatives: list[Alternative] = Field(default_factory=list)


class FaqSection(_Model):
    id: str = Field(pattern=r"^[a-z0-9_]{1,24}$")
    title: LocalizedText
    keys: list[str] = Field(min_length=1, max_length=9)


class FunnelDefinition(_Model):
    languages: list[Language] = Field(min_length=1)
    greetings: dict[Language, list[str]]
    stop_words: list[str] = Field(default_factory=lambda: ["stop", "стоп"])
    start_words: list[str] = Field(default_factory=lambda: ["start", "старт"])
    start_node: str
    nodes: dict[str, Node]
    routes: dict[str, str] = Field(description="reply id -> node id")
    quiz: list[QuizQuestion] = Field(min_length=1)
    segment_rules: list[SegmentRule]
    default_segment: Literal["diy", "basic", "custom"]
    segment_nodes: dict[Literal["diy", "basic", "custom"], str]
    gpu_audit: list[GpuEntry] = Field(min_length=1, max_length=9)
    github_url: str
    discovery: list[DiscoveryStep] = Field(min_length=1, max_length=5)
    pricing: Pricing
    faq_sections: list[FaqSection] = Field(min_length=1, max_length=3)
    faq_answers: dict[str, LocalizedText]
    faq_titles: dict[str, LocalizedText] = Field(description="list-row titles of the FAQ questions (<= 24)")
    texts: dict[str, LocalizedText]

    @model_validator(mode="after")
    def _references(self) -> FunnelDefinition:
        problems = []
        names = set(self.nodes)
        for name, node in self.nodes.items():
            if node.then and node.then not in names:
                problems.append(f"nodes.{name}.then: unknown node {node.then!r}")
        for reply_id, target in self.routes.items():
            if target not in names:
                problems.append(f"routes.{reply_id}: unknown node {target!r}")
        for required in [self.start_node, *self.segment_nodes.values()]:
            if required not in names:
                problems.append(f"unknown node {required!r}")
        questions = {q.id: {o.id for o in q.options} for q in self.quiz}
        for i, rule in enumerate(self.segment_rules):
            for qid, options in rule.when.items():
                if qid not in questions or not set(options) <= questions[qid]:
                    problems.append(f"segment_rules.{i}: unknown question or option in {qid!r}")
        for section in self.faq_sections:
            for key in section.keys:
                if key not in self.faq_answers or key not in self.faq_titles:
                    problems.append(f"faq_sections.{section.id}: no answer or title for {key!r}")
        for language in self.languages:
            problems += [f"{where}: no {language!r} text" for where, text in self._all_texts() if language not in text]
        if problems:
            raise ValueError("; ".join(problems))
        return self

    def _all_texts(self):
        for name, node in self.nodes.items():
            yield f"nodes.{name}.text", node.text
            yield from ((f"nodes.{name}.buttons.{b.id}", b.title) for b in node.buttons)
        for question in self.quiz:
            yield f"quiz.{question.id}.text", question.text
            yield from ((f"quiz.{question.id}.options.{o.id}", o.title) for o in question.options)
        yield from ((f"faq_answers.{k}", v) for k, v in self.faq_answers.items())
        yield from ((f"faq_titles.{k}", v) for k, v in self.faq_titles.items())
        yield from ((f"texts.{k}", v) for k, v in self.texts.items())

    # ---- rendering -----------------------------------------------------------------------

    def text(self, key: str, language: str, **values: Any) -> str:
        template = self.texts[key].get(language) or next(iter(self.texts[key].values()))
        return template.format(**values) if values else template

    def render(self, node_id: str, language: str) -> Any:
        """The node as an outbound WhatsApp message (validated against Meta's limits)."""
        node = self.nodes[node_id]
        return render_node(node, language)

    def limit_problems(self) -> list[str]:
        """Every message the funnel can produce, checked against WhatsApp's limits."""
        problems = []
        for language in self.languages:
            for name, node in self.nodes.items():
                try:
                    render_node(node, language)
                except ValidationError as exc:
                    problems += [f"nodes.{name}.{'.'.join(map(str, e['loc']))} ({language}): {e['msg']}"
                                 for e in exc.errors()]
                except ValueError as exc:
                    problems.append(f"nodes.{name} ({language}): {exc}")
        return problems


def _pick(text: LocalizedText | None, language: str) -> str | None:
    if text is None:
        return None
    return text.get(language) or next(iter(text.values()))  # type: ignore[call-overload]


def render_node(node: Node, language: str) -> Any:
    """Built from plain data so that a limit error's location names the field (buttons.0.title)."""
    body = _pick(node.text, language) or ""
    common = {"body": body, "header": _pick(node.header, language), "footer": _pick(node.footer, language)}
    if node.buttons:
        return ButtonsMessage.model_validate({**common, "buttons": [
            {"id": b.id, "title": _pick(b.title, language) or ""} for b in node.buttons]})
    if node.sections:
        return ListMessage.model_validate({**common, "button": _pick(node.list_button, language) or "", "sections": [
            {"title": _pick(s.title, language), "rows": [
                {"id": r.id, "title": _pick(r.title, language) or "", "description": _pick(r.description, language)}
                for r in s.rows]} for s in node.sections]})
    return TextMessage(body=body)
