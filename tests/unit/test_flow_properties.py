"""Property tests over generated flows: validation never crashes, every valid flow renders only
messages within WhatsApp's limits, and simulate never raises on any input sequence."""

from __future__ import annotations

import string

from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from wabot.funnel.flow import NODE_KINDS, ButtonsNode, ListNode, MultiChoiceNode
from wabot.funnel.simulate import SimulatedInput, simulate
from wabot.funnel.templates import TEMPLATES, template
from wabot.funnel.validation import parse_flow
from wabot.models.instance import InstanceConfig
from wabot.whatsapp.messages import from_graph_payload

CONFIG = InstanceConfig(tenant_id="acme", instance_id="bot", name="Bot", phone_number_id="1",
                        rate_limit_count=2)
VARS = ["name", "a.b", "n", "items", "table.t.col", "table.t.id", "option.title"]
PLAIN = st.text(alphabet=string.ascii_letters + string.digits + " *_~.,!?\n🙂ЖüÅ", max_size=30)
SHORT = st.text(alphabet=string.ascii_letters + string.digits + " *_~.,!?🙂ЖüÅ", min_size=1, max_size=12)
# Within every limit as written (variables may still make them long: the engine clips).
TEMPLATE = st.one_of(
    SHORT,
    st.builds(lambda a, v: f"{a}{{{v}}}", SHORT, st.sampled_from(VARS)),
    st.sampled_from(["{{literal}}", "{name}", "{a.b}{a.b}", "🙂"]),
)
# Anything, also beyond the limits or malformed: validation must name it.
ANY_TEMPLATE = st.one_of(
    TEMPLATE, PLAIN,
    st.sampled_from(["x" * 1100, "y" * 30, "", "{a.b}{a.b}{a.b}" * 30, "{broken", "{a:>5}", "{}"]),
)


@st.composite
def texts(draw, languages, chaos):
    template = ANY_TEMPLATE if chaos else TEMPLATE
    if draw(st.booleans()):
        return draw(template)
    return {language: draw(template) for language in languages if not chaos or draw(st.booleans())}


@st.composite
def documents(draw):
    chaos = draw(st.booleans())  # with invalid parts (then validation must say so), or without
    languages = draw(st.lists(st.sampled_from(["en", "de", "pt-BR"]), min_size=1, max_size=2, unique=True))
    count = draw(st.integers(1, 8))
    ids = [f"n{i}" for i in range(count)]
    target = st.sampled_from([*ids, "missing"] if chaos else ids)
    reply = st.sampled_from(["a", "b", "c", "d", "x" * 201] if chaos else ["a", "b", "c", "d"])
    text = texts(languages, chaos)
    assignment = st.one_of(
        st.fixed_dictionaries({"var": st.sampled_from(["name", "n", "a.b", "table.x"]),
                               "value": st.one_of(st.none(), st.integers(-5, 5), ANY_TEMPLATE,
                                                  st.lists(PLAIN, max_size=2))}),
        st.fixed_dictionaries({"var": st.sampled_from(["n", "name"]), "expr": st.sampled_from([
            "n + 1", "number(name, 1) * 1000000000000", "ceil(n / 0)", "join(', ', items, name)",
            "thousands(n) + ' EUR'", "matches(name, '(a+)+')", "1 if n > 2 else 'x' + name", "n * n * n * n * n",
            "count_items(name, 'none')", "max()", "-name", "name in ['a', 'b'] and not n"]
            + (["items[0]", "n ** 2", "__import__('os')", "(" * 300] if chaos else []))}),
        st.fixed_dictionaries({"var": st.just("name"), "text": text}),
    )

    def option(rows: bool):
        fields = {"id": reply, "title": text, "next": target,
                  "set": st.dictionaries(st.sampled_from(["name", "items", "a.b"]), TEMPLATE, max_size=2)}
        if rows:
            fields["description"] = st.one_of(st.none(), text)
        return st.fixed_dictionaries(fields)

    kinds = {
        "message": st.fixed_dictionaries(
            {"kind": st.just("message"), "text": text, "next": st.one_of(st.none(), target)},
            optional={"header": text, "media": st.just({"type": "image", "link": "https://cdn.example.com/a.png"})}),
        "buttons": st.fixed_dictionaries({"kind": st.just("buttons"), "text": text,
                                          "buttons": st.lists(option(False), min_size=1, max_size=3)},
                                         optional={"footer": text}),
        "list": st.fixed_dictionaries({"kind": st.just("list"), "text": text, "button": text, "sections": st.lists(
            st.fixed_dictionaries({"rows": st.lists(option(True), min_size=1, max_size=4)},
                                  optional={"title": text}), min_size=1, max_size=3)}),
        "ask": st.fixed_dictionaries({"kind": st.just("ask"), "text": text, "var": st.sampled_from(["name", "n"]),
                                      "next": target, "validate": st.sampled_from([
                                          {"type": "text", "max": 10}, {"type": "number", "min": 0},
                                          {"type": "phone"}, {"type": "email"}, {"type": "date", "not_before": "today"},
                                          {"type": "regex", "pattern": "[a-z]+"}])}),
        "multi_choice": st.fixed_dictionaries({
            "kind": st.just("multi_choice"), "text": text, "button": text, "var": st.just("items"),
            "label_var": st.just("labels"), "picked": text, "next": target,
            "options": st.lists(st.fixed_dictionaries({"id": st.sampled_from(["m1", "m2", "m3"]), "title": text}),
                                min_size=1, max_size=3),
            "more": st.just({"id": "more", "title": "More"}), "done": st.just({"id": "done", "title": "Done"})}),
        "set": st.fixed_dictionaries({"kind": st.just("set"), "assign": st.lists(assignment, min_size=1, max_size=3),
                                      "next": target}),
        "branch": st.fixed_dictionaries({"kind": st.just("branch"), "default": target, "cases": st.lists(
            st.fixed_dictionaries({"next": target, "when": st.lists(st.sampled_from([
                {"var": "n", "min": 1}, {"var": "name", "equals": "x"}, {"var": "items", "in": ["m1"]},
                {"var": "a.b", "is_set": True}]), min_size=1, max_size=2)}), min_size=1, max_size=2)}),
        "lookup": st.fixed_dictionaries({"kind": st.just("lookup"),
                                         "table": st.sampled_from(["t", "nope"] if chaos else ["t"]),
                                         "key": st.sampled_from(["{name}", "k1", "{n}"]), "next": target,
                                         "not_found": target, "match": st.sampled_from(["exact", "contains"])}),
        "handoff": st.fixed_dictionaries({"kind": st.just("handoff"), "next": st.one_of(st.none(), target)},
                                         optional={"text": text, "note": TEMPLATE}),
        "llm": st.fixed_dictionaries({"kind": st.just("llm"), "next": st.one_of(st.none(), target)},
                                     optional={"prompt": text, "text": text, "system_prompt": PLAIN}),
        "end": st.fixed_dictionaries({"kind": st.just("end")}, optional={"text": text}),
    }
    assert set(kinds) == set(NODE_KINDS), "every node kind needs a strategy here"
    nodes = {node_id: draw(st.sampled_from(list(kinds)).flatmap(kinds.get)) for node_id in ids}
    if not chaos:  # one meaning per reply id
        for node_id, node in nodes.items():
            options = node.get("buttons", []) + [row for section in node.get("sections", []) for row in section["rows"]]
            for number, option in enumerate(options):
                option["id"] = f"{node_id}:{number}"
    return {"languages": languages, "start": "n0", "nodes": nodes,
            # Long values: every text that reads them grows past WhatsApp's limits unless clipped.
            "variables": draw(st.dictionaries(st.sampled_from(["name", "a.b", "items", "n"]), st.one_of(
                st.integers(0, 3), st.sampled_from(["Ann", "x" * 1100, "🙂" * 300, "z" * 5000]),
                st.lists(st.sampled_from(["m1", "y" * 100]), max_size=3)), max_size=3)),
            "routes": {"greetings": {languages[0]: ["hi"]}, "menu": {"ids": ["nav:menu"], "node": "n0"},
                       "back": {"ids": ["nav:back"], "words": {languages[0]: ["back"]}}},
            "tables": {"t": {"key": "id", "rows": [{"id": "k1", "col": "x" * 80, "aliases": ["k"]},
                                                    {"id": "2", "col": {languages[0]: "two"}}]}}}


def reply_ids(flow) -> list[str]:
    found = []
    for node in flow.nodes.values():
        if isinstance(node, ButtonsNode):
            found += [b.id for b in node.buttons]
        elif isinstance(node, ListNode):
            found += [row.id for section in node.sections for row in section.rows]
        elif isinstance(node, MultiChoiceNode):
            found += [o.id for o in node.options] + [node.more.id, node.done.id]
    return found


def inputs_for(flow):
    """Starts with a greeting (the start node), then anything: taps of the flow's buttons, texts."""
    replies = reply_ids(flow) or ["none"]
    return st.lists(st.one_of(
        st.builds(lambda r: SimulatedInput(reply=r), st.sampled_from([*replies, "nav:menu", "nav:back", "unknown"])),
        st.builds(lambda t: SimulatedInput(text=t), st.one_of(
            st.sampled_from(["hi", "back", "stop", "start", "12", "ann@example.org", "+49 30 1234567", "2099-01-01",
                             "k1", "x" * 1000]),
            st.text(min_size=1, max_size=50).filter(str.strip)))), min_size=1, max_size=12).map(
        lambda inputs: [SimulatedInput(text="hi"), *inputs])


def assert_within_limits(result) -> None:
    for turn in result.turns:
        assert len(turn.messages) <= 10
        for message in turn.messages:
            from_graph_payload(message)  # the strict models: raises beyond any WhatsApp limit


@settings(max_examples=400, deadline=None, suppress_health_check=[HealthCheck.too_slow, HealthCheck.data_too_large])
@given(documents(), st.data())
def test_validation_never_crashes_and_valid_flows_simulate_within_limits(document, data):
    flow, problems = parse_flow(document)
    assert all(problem.msg for problem in problems)
    if flow is None:
        assert any(problem.level == "error" for problem in problems)
        return
    inputs = data.draw(inputs_for(flow))
    result = simulate(flow, inputs, CONFIG, 1_800_000_000, language=data.draw(st.sampled_from(["en", "de", "fr"])))
    assert len(result.turns) == len(inputs)
    assert result.turns[0].messages or result.turns[0].steps
    assert_within_limits(result)


@settings(max_examples=100, deadline=None)
@given(st.recursive(st.none() | st.booleans() | st.integers() | st.text(max_size=5),
                    lambda inner: st.lists(inner, max_size=3) | st.dictionaries(st.sampled_from(
                        ["kind", "nodes", "start", "languages", "text", "next", "n0", "buttons", "template"]),
                        inner, max_size=4), max_leaves=20))
def test_validation_never_crashes_on_arbitrary_json(document):
    flow, problems = parse_flow(document)
    assert flow is None and problems


@settings(max_examples=60, deadline=None)
@given(st.sampled_from(list(TEMPLATES)), st.data())
def test_templates_simulate_any_input_sequence(name, data):
    flow = template(name)
    inputs = data.draw(inputs_for(flow))
    language = data.draw(st.sampled_from(["en", "ru"]))
    assert_within_limits(simulate(flow, inputs, CONFIG, 1_800_000_000, language=language))
