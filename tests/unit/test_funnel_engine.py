"""The flow engine on the shipped templates and on small flows: routing, every node kind,
validation naming node and field, old-shape funnels and states (pure, no AWS)."""

from __future__ import annotations

import copy

import pytest

from tests.legacy_funnel import LEGACY_SALES_FUNNEL
from wabot.funnel.engine import FunnelEngine
from wabot.funnel.flow import Flow
from wabot.funnel.legacy import convert_legacy
from wabot.funnel.simulate import SimulatedInput, simulate
from wabot.funnel.templates import TEMPLATES, default_funnel, template, template_document
from wabot.funnel.validation import parse_flow
from wabot.models.conversation import ConversationState
from wabot.models.events import InboundEvent
from wabot.models.instance import InstanceConfig
from wabot.whatsapp.messages import ButtonsMessage, ListMessage, MediaMessage, TextMessage

ENGINE = FunnelEngine(default_funnel())


def config(**changes) -> InstanceConfig:
    return InstanceConfig(tenant_id="acme", instance_id="bot", name="Bot", phone_number_id="1", **changes)


def event(text: str | None = None, reply: str | None = None, type_: str = "text") -> InboundEvent:
    if reply:
        content, type_ = {"type": "button_reply", "button_reply": {"id": reply, "title": "x"}}, "interactive"
    else:
        content = {"body": text} if text is not None else {}
    return InboundEvent(kind="message", tenant_id="acme", instance_id="bot", config_version=1, phone_number_id="1",
                        user_key="US.1", user_id="US.1", phone="15550001111", message_id="m", type=type_,
                        content=content, raw={}, timestamp=1, request_id="r")


def reply_ids(message) -> list[str]:
    if isinstance(message, ButtonsMessage):
        return [b.id for b in message.buttons]
    if isinstance(message, ListMessage):
        return [row.id for s in message.sections for row in s.rows]
    return []


def problems_of(document) -> dict[str, list[str]]:
    _, problems = parse_flow(document)
    return {level: [".".join(map(str, p.loc)) + ": " + p.msg for p in problems if p.level == level]
            for level in ("error", "warning")}


# ---- the shipped templates -----------------------------------------------------------------------


@pytest.mark.parametrize("name", list(TEMPLATES))
def test_templates_have_no_problem_at_all(name):
    assert problems_of(template_document(name)) == {"error": [], "warning": []}


def test_the_sales_template_is_the_old_default_funnel_converted():
    """Old-shape funnels stored before flows answer exactly as the sales template does."""
    assert convert_legacy(copy.deepcopy(LEGACY_SALES_FUNNEL)) == template_document("sales")


def test_the_engine_names_no_node_action_or_table_of_the_sales_funnel():
    from pathlib import Path

    import wabot.funnel.engine as engine

    source = Path(engine.__file__).read_text()
    for name in ("seg_custom", "custom_start", "tz:generate", "quiz_start", "gpu_custom", "discovery_start",
                 "gpu", "pricing", "sales:", "faq:", "welcome"):
        assert name not in source, name


@pytest.mark.parametrize("language", ["en", "ru"])
def test_every_button_of_the_default_funnel_leads_somewhere(language):
    """Breadth-first over every reply id any message offers, in both languages."""
    cfg = config(language=language)
    start = ENGINE.handle(ConversationState(), event("hi"), cfg, 0)
    queue = [(start.state, rid) for m in start.replies for rid in reply_ids(m)]
    seen: set[str] = set()
    while queue:
        state, reply_id = queue.pop(0)
        if reply_id in seen:
            continue
        seen.add(reply_id)
        outcome = ENGINE.handle(state, event(reply=reply_id), cfg, 0)
        assert outcome.replies, reply_id
        assert not any(step.startswith(("unknown_reply", "missing", "error")) for step in outcome.steps), reply_id
        queue += [(outcome.state, rid) for m in outcome.replies for rid in reply_ids(m)]
    assert {"sales:quiz", "faq:menu", "sales:gpu_list", "sales:custom_start", "faq:back_product",
            "sales:qd:goal", "sales:gpu_other"} <= seen
    assert len(seen) > 40


def test_free_input_answers_and_quote_in_both_languages():
    for language in ("en", "ru"):
        state = ENGINE.handle(ConversationState(), event(reply="sales:custom_start"), config(language=language),
                              0).state
        for answer in ("Shop", "40", "none", "a few docs", "in a year"):
            outcome = ENGINE.handle(state, event(answer), config(language=language), 0)
            state = outcome.state
        assert outcome.steps[-1] == "node:quote"
        assert "300 000" in outcome.replies[0].body  # base + 0 integrations + 1 x 20 000 = 320 000
        assert "320 000" in outcome.replies[0].body
        assert ("urgent" in outcome.replies[0].body) is False


@pytest.mark.parametrize("goal, skills, budget, segment", [
    ("docs", "help", "high", "custom"),
    ("other", "none", "low", "custom"),
    ("docs", "self", "mid", "diy"),
    ("docs", "self", "high", "custom"),
    ("support", "help", "low", "basic"),
])
def test_segment_rules(goal, skills, budget, segment):
    state = ConversationState()
    for reply in ("sales:quiz", f"sales:qa:goal:{goal}", "sales:qd:goal", f"sales:qa:skills:{skills}",
                  f"sales:qa:budget:{budget}"):
        outcome = ENGINE.handle(state, event(reply=reply), config(), 0)
        state = outcome.state
    assert state.vars["segment"] == segment
    assert outcome.steps[-1] == f"node:seg_{segment}"


def test_greetings_are_nine_per_language_and_reset_free_input():
    assert all(len(words) == 9 for words in default_funnel().routes.greetings.values())
    state = ConversationState(funnel_state="custom_step_2")
    outcome = ENGINE.handle(state, event("  Привет! "), config(), 0)
    assert outcome.steps == ["node:welcome", "greeting"]
    assert outcome.state.funnel_state is None


def test_media_without_caption_and_reactions():
    assert ENGINE.handle(ConversationState(), event(type_="reaction"), config(), 0).steps == ["ignored:reaction"]
    image = ENGINE.handle(ConversationState(), event(type_="image"), config(), 0)
    assert image.to_llm


def test_rate_limit_window_resets():
    cfg = config(rate_limit_count=1, rate_limit_hours=1)
    first = ENGINE.handle(ConversationState(), event("q1"), cfg, 0)
    second = ENGINE.handle(first.state, event("q2"), cfg, 10)
    third = ENGINE.handle(second.state, event("q3"), cfg, 20)
    later = ENGINE.handle(third.state, event("q4"), cfg, 3601)
    assert (first.to_llm, second.to_llm, third.to_llm, later.to_llm) == (True, False, False, True)
    assert len(second.replies) == 1 and third.replies == []
    assert "1 h" in second.replies[0].body


def test_old_state_is_moved_into_variables():
    state = ConversationState(funnel_state="custom_step_5", segment="custom", quiz_answers={"goal": ["docs"]},
                              discovery={"company": "Shop", "users": "40", "integrations": "none", "data": "pdf"})
    outcome = ENGINE.handle(state, event("asap"), config(), 0)
    assert "*Estimate: 416 000 ₽*" in outcome.replies[0].body  # 320 000 + 30 % rush
    assert outcome.state.vars["segment"] == "custom" and outcome.state.vars["quiz.goal"] == ["docs"]
    assert (outcome.state.quiz_answers, outcome.state.discovery, outcome.state.segment) == ({}, {}, None)


def test_analytics_counts_reached_and_moved_on():
    first = ENGINE.handle(ConversationState(), event("hi"), config(), 0)
    assert first.counters == {"fn:in:welcome": 1}
    second = ENGINE.handle(first.state, event(reply="faq:menu"), config(), 0)
    assert second.counters == {"fn:out:welcome": 1, "fn:in:faq_menu": 1}
    llm = ENGINE.handle(second.state, event("a question"), config(), 0)
    assert llm.counters == {} and llm.to_llm  # free text does not move the user through the flow


# ---- a small flow with every node kind -------------------------------------------------------------


def small_flow(**changes) -> dict:
    flow = {
        "languages": ["en", "de"],
        "start": "hello",
        "variables": {"shop": "Tiny Shop"},
        "routes": {"greetings": {"en": ["hi"], "de": ["hallo"]},
                   "menu": {"ids": ["menu"], "words": {"en": ["menu"]}, "node": "hello"},
                   "back": {"ids": ["back"], "words": {"en": ["back"]}}},
        "tables": {"sizes": {"key": "code", "rows": [
            {"code": "s", "label": {"en": "Small", "de": "Klein"}, "price": 10, "aliases": ["small", "klein"]},
            {"code": "l", "label": {"en": "Large", "de": "Groß"}, "price": 25, "aliases": ["large", "gross"]}]}},
        "nodes": {
            "hello": {"kind": "buttons", "text": {"en": "Welcome to {shop}!", "de": "Willkommen bei {shop}!"},
                      "header": "Tiny", "buttons": [
                          {"id": "order", "title": {"en": "Order", "de": "Bestellen"}, "next": "size"},
                          {"id": "extras", "title": {"en": "Extras", "de": "Extras"}, "next": "extras"},
                          {"id": "human", "title": {"en": "A person", "de": "Ein Mensch"}, "next": "human"}]},
            "size": {"kind": "list", "text": "Size?", "button": "Sizes", "sections": [{"rows": [
                {"id": "size:s", "title": {"en": "Small", "de": "Klein"},
                 "set": {"size": "s", "label": "{option.title}"}, "next": "find"},
                {"id": "size:l", "title": {"en": "Large", "de": "Groß"}, "set": {"size": "l"}, "next": "find"},
                {"id": "size:typed", "title": {"en": "Type it", "de": "Tippen"}, "next": "typed"}]}]},
            "typed": {"kind": "ask", "text": "Which size?", "var": "typed", "next": "find_typed"},
            "find_typed": {"kind": "lookup", "table": "sizes", "key": "{typed}", "match": "contains",
                           "columns": ["aliases"], "next": "qty", "not_found": "size"},
            "find": {"kind": "lookup", "table": "sizes", "key": "{size}", "next": "qty", "not_found": "size"},
            "qty": {"kind": "ask", "text": "How many {table.sizes.label}?", "var": "qty",
                    "validate": {"type": "number", "min": 1, "max": 20, "integer": True},
                    "invalid": "1 to 20, please.", "next": "total"},
            "total": {"kind": "set", "next": "big", "assign": [
                {"var": "total", "expr": "qty * table.sizes.price"},
                {"var": "total_text", "expr": "thousands(total) + ' EUR'"},
                {"var": "note", "text": {"en": "Thanks", "de": "Danke"}}]},
            "big": {"kind": "branch", "cases": [{"when": [{"var": "total", "min": 100}], "next": "discount"}],
                    "default": "summary"},
            "discount": {"kind": "message", "text": "Big order: 5 % off.",
                         "media": {"type": "image", "link": "https://cdn.example.com/sale.png"}, "next": "summary"},
            "summary": {"kind": "buttons", "text": "{note}! {qty} x {table.sizes.label}: {total_text}", "buttons": [
                {"id": "confirm", "title": {"en": "Confirm", "de": "OK"}, "next": "done"},
                {"id": "menu", "title": {"en": "Menu", "de": "Menü"}, "next": "hello"}]},
            "done": {"kind": "end", "text": "Ordered."},
            "extras": {"kind": "multi_choice", "text": "Extras?", "button": "Extras", "var": "extras",
                       "label_var": "extra_names", "picked": "Added {choice}.",
                       "options": [{"id": "x:bag", "title": "Bag", "value": "bag"}, {"id": "x:card", "title": "Card"}],
                       "more": {"id": "x:more", "title": "More"}, "done": {"id": "x:done", "title": "Done"},
                       "next": "ask_ai"},
            "ask_ai": {"kind": "llm", "prompt": "Suggest a gift with {extra_names}.", "system_prompt": "Be short.",
                       "next": "hello"},
            "human": {"kind": "handoff", "text": "A person will answer.", "note": "wants a person"},
        },
    }
    flow.update(changes)
    return flow


SMALL = Flow.model_validate(small_flow())


def walk(flow: Flow, *inputs: str, language: str | None = None, now: float = 0):
    items = [SimulatedInput(reply=i.removeprefix("@")) if i.startswith("@") else SimulatedInput(text=i)
             for i in inputs]
    return simulate(flow, items, config(), now, language=language)


def texts(turn) -> list[str]:
    found = []
    for message in turn.messages:
        kind = message["type"]
        found.append(message["interactive"]["body"]["text"] if kind == "interactive" else
                     message["text"]["body"] if kind == "text" else message[kind].get("caption", ""))
    return found


def test_small_flow_has_no_problem():
    assert problems_of(small_flow()) == {"error": [], "warning": []}


def test_order_path_with_lookup_validation_arithmetic_branch_and_media():
    result = walk(SMALL, "hi", "@order", "@size:l", "zero", "7", "@confirm")
    turns = result.turns
    assert texts(turns[0]) == ["Welcome to Tiny Shop!"]
    assert turns[0].messages[0]["interactive"]["header"] == {"type": "text", "text": "Tiny"}
    assert texts(turns[2]) == ["How many Large?"]
    assert texts(turns[3]) == ["1 to 20, please."]  # invalid: asked again, still waiting
    assert turns[3].steps == ["invalid:qty"]
    assert texts(turns[4]) == ["Big order: 5 % off.", "Thanks! 7 x Large: 175 EUR"]
    assert turns[4].messages[0]["type"] == "image"
    assert turns[4].messages[0]["image"] == {"link": "https://cdn.example.com/sale.png",
                                             "caption": "Big order: 5 % off."}
    assert texts(turns[5]) == ["Ordered."]
    assert result.variables["total"] == 175 and result.variables["table.sizes"] == "l"


def test_german_and_typed_lookup():
    result = walk(SMALL, "hallo", "@order", "@size:typed", "eine GROSS bitte", "2", language="de")
    assert texts(result.turns[0]) == ["Willkommen bei Tiny Shop!"]
    assert texts(result.turns[3]) == ["How many Groß?"]
    assert texts(result.turns[4]) == ["Danke! 2 x Groß: 50 EUR"]
    unknown = walk(SMALL, "hi", "@order", "@size:typed", "medium")
    assert unknown.turns[3].steps == ["node:find_typed", "node:size"]  # not found: the list again


def test_option_sets_its_title_and_back_and_menu_routes():
    result = walk(SMALL, "hi", "@order", "@size:s", "back", "menu")
    assert result.variables["label"] == "Small"
    assert result.turns[3].steps == ["node:size"]  # back: the previous stop
    assert result.turns[4].steps == ["node:hello"]


def test_multi_choice_then_llm_prompt_then_handoff():
    result = walk(SMALL, "hi", "@extras", "@x:bag", "@x:more", "@x:card", "@x:bag", "@x:done", "@human")
    turns = result.turns
    assert texts(turns[2]) == ["Added Bag."]
    assert [b["reply"]["id"] for b in turns[2].messages[0]["interactive"]["action"]["buttons"]] == ["x:more", "x:done"]
    assert turns[3].messages[0]["interactive"]["type"] == "list"
    assert result.variables["extras"] == ["bag", "x:card"] and result.variables["extra_names"] == ["Bag", "Card"]
    assert turns[6].llm == {"message": None, "prompt": "Suggest a gift with Bag, Card.", "system_prompt": "Be short."}
    assert texts(turns[6]) == ["Welcome to Tiny Shop!"]
    assert turns[7].handoff == {"node": "human", "note": "wants a person"}
    assert texts(turns[7]) == ["A person will answer."]


def test_llm_node_waits_for_the_next_message():
    flow = small_flow()
    flow["nodes"]["ask_ai"] = {"kind": "llm", "text": "Ask away.", "system_prompt": "You sell bags."}
    result = walk(Flow.model_validate(flow), "hi", "@extras", "@x:done", "which bag?", "and a card?")
    assert texts(result.turns[2]) == ["Ask away."] and result.turns[2].llm is None
    assert result.turns[3].llm == {"message": "which bag?", "system_prompt": "You sell bags."}
    assert result.turns[4].llm == {"message": "and a card?"}  # then free text as always


def test_unknown_reply_goes_back_to_the_start():
    result = walk(SMALL, "@retired-button")
    assert result.turns[0].steps == ["unknown_reply:retired-button", "node:hello"]


@pytest.mark.parametrize("rule, answers", [
    ({"type": "number", "min": 1, "max": 5}, {"3": 3, "2,5": 2.5, "6": None, "x": None}),
    ({"type": "phone"}, {"+49 (30) 123-4567": "+49301234567", "12": None, "call me": None}),
    ({"type": "email"}, {"Ann@Example.org": "ann@example.org", "ann@": None}),
    ({"type": "date", "not_before": "today"}, {"2030-01-02": "2030-01-02", "02.01.2030": "2030-01-02",
                                               "2020-01-01": None, "soon": None}),
    ({"type": "regex", "pattern": "[A-Z]{2}\\d{4}"}, {"AB1234": "AB1234", "ab1234": None}),
    ({"type": "text", "min": 2, "max": 5}, {"Ann": "Ann", "A": None, "Annabel": None}),
])
def test_ask_validation(rule, answers):
    from wabot.funnel.engine import validate_answer
    from wabot.funnel.flow import Validation

    validation = Validation.model_validate(rule)
    now = 1_893_456_000 - 86400 * 365  # 2029
    assert {text: validate_answer(validation, text, now) for text in answers} == answers


# ---- validation names node and field ------------------------------------------------------------


@pytest.mark.parametrize("mutate, expected", [
    (lambda f: f["nodes"]["hello"]["buttons"][0].update(next="nowhere"),
     "nodes.hello.buttons.0.next: unknown node 'nowhere'"),
    (lambda f: f["nodes"]["hello"]["buttons"][0]["title"].update(de="Ein viel zu langer Knopftitel"),
     "nodes.hello.buttons.0.title: String should have at most 20 characters (de)"),
    (lambda f: f["nodes"]["hello"]["text"].pop("de"), "nodes.hello.text: no 'de' text"),
    (lambda f: f["nodes"]["size"]["sections"][0]["rows"][0].update(description="d" * 73),
     "nodes.size.sections.0.rows.0.description: String should have at most 72 characters (en)"),
    (lambda f: f["nodes"]["summary"].update(text="x" * 1100), "nodes.summary.text: String should have at most 1024"),
    (lambda f: f["nodes"]["total"].update(next="total"), "nodes.total: a loop that never waits for the user: total"),
    (lambda f: f["nodes"]["total"]["assign"][0].update(expr="__import__('os')"), "nodes.total.assign.0.expr: "),
    (lambda f: f["nodes"]["total"]["assign"][0].update(expr="qty ** 99"), "nodes.total.assign.0.expr: only"),
    (lambda f: f["nodes"]["qty"].update(validate={"type": "regex", "pattern": "(a+)+$"}),
     "nodes.qty.validate.pattern: nested quantifiers"),
    (lambda f: f["nodes"]["find"].update(table="colours"), "nodes.find.table: unknown table 'colours'"),
    (lambda f: f["nodes"]["summary"]["buttons"][1].update(next="done"),
     "nodes.summary.buttons.1.next: reply id 'menu' is the menu route's"),
    (lambda f: f["nodes"]["hello"]["buttons"][0].update(id="x:more"),
     "nodes.extras.more.id: reply id 'x:more' also means something else"),
    (lambda f: f["nodes"]["summary"].update(text="Hello {name"), "nodes.summary.text: malformed template"),
    (lambda f: f["nodes"]["hello"]["buttons"].append({"id": "4", "title": "4", "next": "hello"}),
     "nodes.hello.buttons: List should have at most 3 items"),
    (lambda f: f["nodes"]["done"].update(kind="teleport"), "nodes.done: Input tag 'teleport'"),
    (lambda f: f["nodes"]["big"].pop("default"), "nodes.big.default: Field required"),
    (lambda f: f["nodes"]["total"]["assign"].append({"var": "table.x", "value": 1}), "variables under table"),
    (lambda f: f.update(start="nope"), "start: unknown node 'nope'"),
])
def test_validation_errors_name_node_and_field(mutate, expected):
    document = small_flow()
    mutate(document)
    errors = problems_of(document)["error"]
    assert any(error.startswith(expected) or expected in error for error in errors), errors


def test_warnings_unreachable_nodes_and_variables_never_set():
    document = small_flow()
    document["nodes"]["orphan"] = {"kind": "message", "text": "Hi {nickname}"}
    found = problems_of(document)
    assert found["error"] == []
    assert "nodes.orphan: unreachable: no path leads here" in found["warning"]
    assert "nodes.orphan.text: variable 'nickname' is read but never set" in found["warning"]


def test_at_most_500_nodes():
    document = small_flow()
    document["nodes"].update({f"n{i}": {"kind": "end"} for i in range(500)})
    assert any("at most 500" in error for error in problems_of(document)["error"])


def test_old_shape_document_is_accepted_and_converted():
    flow, problems = parse_flow(copy.deepcopy(LEGACY_SALES_FUNNEL))
    assert flow is not None and problems == []
    assert flow.nodes["welcome"].kind == "buttons"


def test_clinic_template_walks_to_a_booking_and_an_emergency():
    clinic = template("clinic")
    now = 1_893_456_000 - 86400 * 365
    booking = walk(clinic, "hi", "@clinic:book", "@clinic:service:cleaning", "Ann Lee", "yesterday", "01.06.2029",
                   "+1 555 010 2030", "@clinic:confirm", now=now)
    assert "Good choice: *Hygiene cleaning*" in texts(booking.turns[2])[0]
    assert texts(booking.turns[4]) == ["Please write a date from today on, like 24.12.2026."]
    assert "• Hygiene cleaning (45 min, from $90)\n• 2029-06-01\n• Ann Lee, +15550102030" in \
        texts(booking.turns[6])[0]
    assert booking.turns[7].handoff["note"] == "New booking: Hygiene cleaning on 2029-06-01 for Ann Lee, +15550102030"
    assert booking.variables["booking.status"] == "requested"
    emergency = walk(clinic, "hi", "@clinic:book", "@clinic:service:emergency", "Bo", "01.06.2029", "+44 20 7946 0000",
                     now=now)
    assert emergency.turns[-1].handoff["note"].startswith("EMERGENCY: Bo, +442079460000")
    assert isinstance(FunnelEngine(clinic).handle(ConversationState(), event("hi"), config(), now).replies[0],
                      ButtonsMessage)
    hours = FunnelEngine(clinic).handle(ConversationState(), event(reply="clinic:hours"), config(), now)
    assert [type(m) for m in hours.replies] == [MediaMessage, ButtonsMessage]
    cancelled = walk(clinic, "hi", "@clinic:book", "@clinic:service:implant", "Cy", "02.06.2029", "+15550102030",
                     "@clinic:cancel", now=now)
    assert texts(cancelled.turns[5])[0].startswith("Implants start with a free")
    assert cancelled.turns[-1].steps == ["node:cancelled"]
    assert isinstance(FunnelEngine(clinic).handle(ConversationState(), event("stop"), config(), now).replies[0],
                      TextMessage)


def test_the_readme_example_flow_is_valid_and_walks():
    """The flow language's example in the README is complete and answers as documented."""
    import json
    import re
    from pathlib import Path

    readme = (Path(__file__).resolve().parents[2] / "README.md").read_text()
    section = readme[readme.index("A complete small flow"):]
    document = json.loads(re.search(r"```json\n(.*?)\n```", section, re.S).group(1))
    assert problems_of(document) == {"error": [], "warning": []}
    result = walk(Flow.model_validate(document), "hallo", "@order", "@cake:lemon", "2", "24.12.2030", "@yes",
                  language="de", now=1_800_000_000)
    assert texts(result.turns[4]) == ["2 x Zitronentarte am 2030-12-24: 48 EUR. Bestellen?"]
    assert result.turns[5].handoff == {"node": "ordered", "note": "Order: 2 x lemon on 2030-12-24"}
    assert texts(result.turns[5]) == ["Danke! Wir bestätigen per Nachricht."]


def test_a_stored_node_the_flow_no_longer_has_leads_to_the_start():
    state = ConversationState(last_node="gone", previous_node="removed_in_an_edit", funnel_state="also_gone")
    outcome = ENGINE.handle(state, event(reply="nav:back"), config(), 0)
    assert outcome.steps == ["missing:removed_in_an_edit", "node:welcome"]
    assert reply_ids(outcome.replies[0])[0] == "sales:quiz"
    assert ENGINE.handle(state, event("some text"), config(), 0).to_llm  # no question is open


def test_old_shape_documents_checked_less_strictly_still_convert():
    legacy = copy.deepcopy(LEGACY_SALES_FUNNEL)
    legacy["pricing"]["alternatives"][0]["name"] = {"en": "Basic only in English"}
    legacy["faq_sections"][0]["title"] = {"en": "About"}
    flow, problems = parse_flow(legacy)
    assert flow is not None and [p for p in problems if p.level == "error"] == []
    broken = copy.deepcopy(LEGACY_SALES_FUNNEL)
    broken["segment_nodes"] = {"diy": 5}
    flow, problems = parse_flow(broken)
    assert flow is None and problems[0].loc == ("segment_nodes", "diy")


def test_every_node_kind_has_its_handlers():
    """A new node kind in `flow.Node` needs the engine's handler; the validation's per-kind checks name only kinds
    that exist (a typo would silently skip a check)."""
    from wabot.funnel import validation
    from wabot.funnel.flow import NODE_KINDS

    assert set(ENGINE._enter_by_kind) == set(NODE_KINDS)
    assert set(validation._PART_TEXTS) <= set(NODE_KINDS)
    assert set(validation._Check(default_funnel())._variable_checks) <= set(NODE_KINDS)
