"""Conversation routing and the sales funnel, as pure logic.

`FunnelEngine.handle(state, event, config, now)` decides everything one inbound message
causes: the replies (validated WhatsApp messages), the user's new state, the funnel steps to
record, and whether the text goes to the LLM. It does no I/O, so a decision can be stored
before anything is sent and replayed exactly after a crash.
"""

from __future__ import annotations

import math
import re
import string
from dataclasses import dataclass, field
from typing import Any

from wabot.funnel.definition import FunnelDefinition, QuizQuestion
from wabot.identity import normalize_user_ref
from wabot.models.conversation import ConversationState
from wabot.models.events import InboundEvent
from wabot.models.instance import InstanceConfig
from wabot.whatsapp.messages import ButtonsMessage, ListMessage, ListRow, ListSection, ReplyButton, TextMessage

GPU_CUSTOM_STATE = "diy_gpu_custom"
LIST_ROWS_MAX = 10


@dataclass
class Outcome:
    replies: list[Any] = field(default_factory=list)
    state: ConversationState = field(default_factory=ConversationState)
    steps: list[str] = field(default_factory=list)
    to_llm: bool = False
    gate: str | None = None  # why nothing was answered: stopped, blocked, opted_out


def _normalize(text: str) -> str:
    return text.strip().lower().strip(string.punctuation + "!?.,¡¿…«» ").strip()


def _user_refs(event: InboundEvent) -> set[str]:
    refs = set()
    for value in (event.phone, event.user_id):
        if value:
            try:
                refs.add(normalize_user_ref(value))
            except ValueError:
                refs.add(value)
    return refs


def _money(amount: int, currency: str) -> str:
    return f"{amount:,}".replace(",", " ") + f" {currency}"


class FunnelEngine:
    def __init__(self, definition: FunnelDefinition) -> None:
        self.d = definition
        self._greetings = {_normalize(w) for words in definition.greetings.values() for w in words}
        self._stop = {_normalize(w) for w in definition.stop_words}
        self._start = {_normalize(w) for w in definition.start_words}
        self._input_states = {step.state for step in definition.discovery} | {GPU_CUSTOM_STATE}

    # ---- entry point -----------------------------------------------------------------------

    def handle(self, state: ConversationState, event: InboundEvent, config: InstanceConfig, now: float) -> Outcome:
        out = Outcome(state=state.model_copy(deep=True))
        lang = config.language
        if not config.running:
            out.gate = "stopped"
            return out
        refs = _user_refs(event)
        if refs & set(config.blocked_phones) or (config.allowed_phones and not refs & set(config.allowed_phones)):
            out.gate = "blocked"
            return out
        text = self._text(event)
        word = _normalize(text) if text is not None else None
        if out.state.opted_out:
            if word in self._start:
                out.state.opted_out = False
                out.replies.append(TextMessage(body=self.d.text("opted_in", lang)))
                self._send_node(out, self.d.start_node, lang)
                out.steps.append("opt_in")
            else:
                out.gate = "opted_out"
            return out
        if word in self._stop:
            out.state.opted_out = True
            out.state.funnel_state = None
            out.replies.append(TextMessage(body=self.d.text("opted_out", lang)))
            out.steps.append("opt_out")
            return out
        if word in self._greetings:
            out.state.funnel_state = None
            self._send_node(out, self.d.start_node, lang)
            out.steps.append("greeting")
            return out
        if event.type == "text" and out.state.funnel_state in self._input_states and text:
            self._free_input(out, text.strip(), lang)
            return out
        reply_id = self._reply_id(event)
        if reply_id:
            self._route(out, reply_id, lang)
            return out
        if event.type in ("reaction", "system", "unsupported", "revoke") or (text is None and event.type == "text"):
            out.steps.append(f"ignored:{event.type}")
            return out
        self._to_llm(out, config, now, lang)
        return out

    # ---- inputs ----------------------------------------------------------------------------

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

    # ---- routing ---------------------------------------------------------------------------

    def _route(self, out: Outcome, reply_id: str, lang: str) -> None:
        prefix, _, action = reply_id.partition(":")
        handler = {"sales": self._sales, "faq": self._faq, "tz": self._tz, "nav": self._nav}.get(prefix)
        if handler is None or not handler(out, action, reply_id, lang):
            # A reply we do not know (an old or edited funnel): back to the start, never silence.
            out.steps.append(f"unknown_reply:{reply_id[:64]}")
            self._send_node(out, self.d.start_node, lang)

    def _send_node(self, out: Outcome, node_id: str, lang: str) -> None:
        node = self.d.nodes[node_id]
        out.state.previous_node, out.state.last_node = out.state.last_node, node_id
        out.replies.append(self.d.render(node_id, lang))
        out.steps.append(f"node:{node_id}")
        if node.input_state:
            out.state.funnel_state = node.input_state
        if node.action == "quiz_start":
            out.state.quiz_answers = {}
            out.state.segment = None
            out.replies.append(self._question(self.d.quiz[0], lang))
        elif node.action == "gpu_custom":
            out.state.funnel_state = GPU_CUSTOM_STATE
        elif node.action == "discovery_start":
            out.state.discovery = {}
            first = self.d.discovery[0]
            out.state.funnel_state = first.state
            out.replies.append(TextMessage(body=first.question[lang]))
        elif node.action == "spec":
            self._spec(out, lang)
        if node.then:
            self._send_node(out, node.then, lang)

    def _routed_node(self, out: Outcome, reply_id: str, lang: str) -> bool:
        node_id = self.d.routes.get(reply_id)
        if node_id is None:
            return False
        self._send_node(out, node_id, lang)
        return True

    # ---- sales: quiz, segment, GPU audit ------------------------------------------------------

    def _sales(self, out: Outcome, action: str, reply_id: str, lang: str) -> bool:
        parts = action.split(":")
        questions = {q.id: q for q in self.d.quiz}
        if parts[0] == "qa" and len(parts) == 3 and parts[1] in questions:
            question = questions[parts[1]]
            if parts[2] not in {o.id for o in question.options}:
                return False
            chosen = out.state.quiz_answers.setdefault(question.id, [])
            if question.multi:
                if parts[2] not in chosen:
                    chosen.append(parts[2])
                out.steps.append(f"quiz:{question.id}={parts[2]}")
                title = next(o.title for o in question.options if o.id == parts[2])
                out.replies.append(ButtonsMessage(body=self.d.text("picked", lang, choice=title[lang]), buttons=[
                    ReplyButton(id=f"sales:qm:{question.id}", title=self.d.text("more", lang)),
                    ReplyButton(id=f"sales:qd:{question.id}", title=self.d.text("done", lang))]))
                return True
            out.state.quiz_answers[question.id] = [parts[2]]
            out.steps.append(f"quiz:{question.id}={parts[2]}")
            self._next_question(out, question, lang)
            return True
        if parts[0] == "qm" and len(parts) == 2 and parts[1] in questions:
            out.replies.append(self._question(questions[parts[1]], lang))
            return True
        if parts[0] == "qd" and len(parts) == 2 and parts[1] in questions:
            self._next_question(out, questions[parts[1]], lang)
            return True
        if action == "gpu_list":
            out.replies.append(self._gpu_list(lang))
            out.steps.append("gpu_list")
            return True
        if parts[0] == "gpu" and len(parts) == 2:
            gpu = next((g for g in self.d.gpu_audit if g.id == parts[1]), None)
            if gpu is None:
                return False
            self._gpu_verdict(out, gpu, lang)
            return True
        return self._routed_node(out, reply_id, lang)

    def _question(self, question: QuizQuestion, lang: str) -> ListMessage:
        rows = [ListRow(id=f"sales:qa:{question.id}:{o.id}", title=o.title[lang],
                        description=o.description[lang] if o.description else None) for o in question.options]
        return ListMessage(body=question.text[lang], button=self.d.text("choose", lang),
                           sections=[ListSection(rows=rows)])

    def _next_question(self, out: Outcome, question: QuizQuestion, lang: str) -> None:
        index = [q.id for q in self.d.quiz].index(question.id)
        if index + 1 < len(self.d.quiz):
            out.replies.append(self._question(self.d.quiz[index + 1], lang))
            return
        out.state.segment = self.determine_segment(out.state.quiz_answers)
        out.steps.append(f"segment:{out.state.segment}")
        self._send_node(out, self.d.segment_nodes[out.state.segment], lang)  # type: ignore[index]

    def determine_segment(self, answers: dict[str, list[str]]) -> str:
        for rule in self.d.segment_rules:
            if all(set(answers.get(qid, [])) & set(options) for qid, options in rule.when.items()):
                return rule.segment
        return self.d.default_segment

    def _gpu_list(self, lang: str) -> ListMessage:
        rows = [ListRow(id=f"sales:gpu:{g.id}", title=g.name) for g in self.d.gpu_audit]
        rows.append(ListRow(id="sales:gpu_other", title=self.d.text("gpu_other", lang)))
        return ListMessage(body=self.d.text("gpu_intro", lang), button=self.d.text("choose", lang),
                           sections=[ListSection(rows=rows[:LIST_ROWS_MAX])])

    def _gpu_verdict(self, out: Outcome, gpu: Any, lang: str) -> None:
        body = self.d.text("gpu_verdict", lang, name=gpu.name, vram=gpu.vram_gb, runs=gpu.runs[lang],
                           url=self.d.github_url)
        out.replies.append(ButtonsMessage(body=body, buttons=[self._menu_button(lang)]))
        out.steps.append(f"gpu:{gpu.id}")

    # ---- free-input steps --------------------------------------------------------------------

    def _free_input(self, out: Outcome, text: str, lang: str) -> None:
        state = out.state.funnel_state
        if state == GPU_CUSTOM_STATE:
            out.state.funnel_state = None
            wanted = re.sub(r"\s+", "", text.lower())
            gpu = next((g for g in self.d.gpu_audit
                        if any(alias.lower() in wanted for alias in [*g.aliases, g.id])), None)
            if gpu is not None:
                self._gpu_verdict(out, gpu, lang)
            else:
                body = self.d.text("gpu_unknown", lang, model=text[:60], url=self.d.github_url)
                out.replies.append(ButtonsMessage(body=body, buttons=[self._menu_button(lang)]))
                out.steps.append("gpu:unknown")
            return
        steps = self.d.discovery
        index = next(i for i, step in enumerate(steps) if step.state == state)
        out.state.discovery[steps[index].key] = text[:1000]
        out.steps.append(f"discovery:{steps[index].key}")
        if index + 1 < len(steps):
            out.state.funnel_state = steps[index + 1].state
            out.replies.append(TextMessage(body=steps[index + 1].question[lang]))
            return
        out.state.funnel_state = None
        out.replies.append(ButtonsMessage(body=self.calculate_quote(out.state.discovery, lang), buttons=[
            ReplyButton(id="tz:generate", title=self.d.text("get_spec", lang)), self._menu_button(lang)]))
        out.steps.append("quote")

    def calculate_quote(self, discovery: dict[str, str], lang: str) -> str:
        pricing = self.d.pricing
        users_match = re.search(r"\d[\d\s]*", discovery.get("users", ""))
        users = int(re.sub(r"\s", "", users_match.group())) if users_match else 10
        raw = [part.strip() for part in re.split(r"[,;\n]", discovery.get("integrations", ""))]
        integrations = [p for p in raw if p and _normalize(p) not in ("none", "no", "нет", "-", "никаких")]
        integrations_cost = pricing.per_integration * len(integrations)
        users_cost = pricing.per_100_users * max(1, math.ceil(users / 100))
        total = pricing.base + integrations_cost + users_cost
        rush = ""
        if re.search(r"urgent|asap|срочно", discovery.get("deadline", ""), re.IGNORECASE):
            total += total * pricing.rush_surcharge_percent // 100
            rush = self.d.text("rush", lang, percent=pricing.rush_surcharge_percent)
        alternatives = "\n".join(f"• {a.name[lang]}: {_money(a.price, pricing.currency)}: {a.description[lang]}"
                                 for a in pricing.alternatives)
        return self.d.text("quote", lang, total=_money(total, pricing.currency),
                           base=_money(pricing.base, pricing.currency), integrations=len(integrations),
                           integrations_cost=_money(integrations_cost, pricing.currency), users=users,
                           users_cost=_money(users_cost, pricing.currency), rush=rush, alternatives=alternatives)

    # ---- FAQ, spec, navigation ------------------------------------------------------------------

    def _faq(self, out: Outcome, action: str, reply_id: str, lang: str) -> bool:
        sections = {s.id: s for s in self.d.faq_sections}
        for prefix in ("cat_", "back_"):
            if action.startswith(prefix) and action[len(prefix):] in sections:
                section = sections[action[len(prefix):]]
                rows = [ListRow(id=f"faq:{key}", title=self.d.faq_titles[key][lang]) for key in section.keys]
                out.replies.append(ListMessage(
                    body=self.d.text("faq_section", lang, title=section.title[lang]),
                    button=self.d.text("choose", lang), sections=[ListSection(rows=rows)]))
                out.steps.append(f"faq:{action}")
                return True
        section = next((s for s in self.d.faq_sections if action in s.keys), None)
        if section is not None:
            out.replies.append(ButtonsMessage(body=self.d.faq_answers[action][lang], buttons=[
                ReplyButton(id=f"faq:back_{section.id}", title=self.d.text("back", lang)), self._menu_button(lang)]))
            out.steps.append(f"faq:{action}")
            return True
        return self._routed_node(out, reply_id, lang)

    def _tz(self, out: Outcome, action: str, reply_id: str, lang: str) -> bool:
        return self._routed_node(out, reply_id, lang)

    def _spec(self, out: Outcome, lang: str) -> None:
        keys = [step.key for step in self.d.discovery]
        if not all(out.state.discovery.get(key) for key in keys):
            out.replies[-1] = ButtonsMessage(body=self.d.text("spec_missing", lang), buttons=[
                ReplyButton(id="sales:custom_start", title=self.d.nodes["seg_custom"].buttons[0].title[lang])
                if "seg_custom" in self.d.nodes else self._menu_button(lang), self._menu_button(lang)])
            out.steps.append("spec:missing")
            return
        titles = {(q.id, o.id): o.title[lang] for q in self.d.quiz for o in q.options}
        answers = "; ".join(
            ", ".join(titles.get((qid, a), a) for a in chosen)
            for qid, chosen in out.state.quiz_answers.items()) or "-"
        values = {key: out.state.discovery.get(key, "-") for key in keys}
        body = self.d.text("spec", lang, answers=answers, **values)
        out.replies.append(TextMessage(body=body[:4096]))
        out.steps.append("spec")

    def _nav(self, out: Outcome, action: str, reply_id: str, lang: str) -> bool:
        if action == "back":
            target = out.state.previous_node or self.d.start_node
            self._send_node(out, target, lang)
            return True
        return self._routed_node(out, reply_id, lang)

    def _menu_button(self, lang: str) -> ReplyButton:
        return ReplyButton(id="nav:menu", title=self.d.text("menu", lang))

    # ---- LLM hand-off ---------------------------------------------------------------------------

    def _to_llm(self, out: Outcome, config: InstanceConfig, now: float, lang: str) -> None:
        """At most `rate_limit_count` messages per `rate_limit_hours` window; one notice per window."""
        state = out.state
        window = config.rate_limit_hours * 3600
        if state.llm_window_start is None or now - state.llm_window_start >= window:
            state.llm_window_start, state.llm_count, state.llm_notice_sent = now, 0, False
        if state.llm_count >= config.rate_limit_count:
            if not state.llm_notice_sent:
                state.llm_notice_sent = True
                hours = max(1, math.ceil((state.llm_window_start + window - now) / 3600))
                out.replies.append(TextMessage(body=self.d.text("rate_limited", lang, hours=hours)))
            out.steps.append("llm:rate_limited")
            return
        state.llm_count += 1
        out.to_llm = True
        out.steps.append("llm")
