"""The default funnel: every message it can produce fits WhatsApp's limits, every button leads
somewhere, and the routing rules hold (pure engine, no AWS)."""

from __future__ import annotations

import copy

import pytest
from pydantic import ValidationError

from wabot.funnel.default_funnel import DEFAULT_FUNNEL, default_funnel
from wabot.funnel.definition import FunnelDefinition
from wabot.funnel.engine import FunnelEngine
from wabot.models.conversation import ConversationState
from wabot.models.events import InboundEvent
from wabot.models.instance import InstanceConfig
from wabot.whatsapp.messages import ButtonsMessage, ListMessage

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


def test_default_funnel_fits_whatsapp_limits():
    assert default_funnel().limit_problems() == []


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
        assert not any(step.startswith("unknown_reply") for step in outcome.steps), reply_id
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
        assert outcome.steps[-1] == "quote"
        assert "300 000" in outcome.replies[0].body  # base + 0 integrations + 1 x 20 000 = 320 000
        assert "320 000" in outcome.replies[0].body


@pytest.mark.parametrize("answers, segment", [
    ({"budget": ["high"]}, "custom"),
    ({"goal": ["other"], "skills": ["none"], "budget": ["low"]}, "custom"),
    ({"skills": ["self"], "budget": ["mid"]}, "diy"),
    ({"skills": ["self"], "budget": ["high"]}, "custom"),
    ({"skills": ["help"], "budget": ["low"]}, "basic"),
    ({}, "basic"),
])
def test_determine_segment(answers, segment):
    assert ENGINE.determine_segment(answers) == segment


def test_greetings_are_nine_per_language_and_reset_free_input():
    assert all(len(words) == 9 for words in default_funnel().greetings.values())
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


def test_definition_rejects_broken_references_and_limits():
    broken = copy.deepcopy(DEFAULT_FUNNEL)
    broken["routes"]["sales:x"] = "missing"
    with pytest.raises(ValidationError, match=r"routes\.sales:x"):
        FunnelDefinition.model_validate(broken)
    too_long = copy.deepcopy(DEFAULT_FUNNEL)
    too_long["nodes"]["welcome"]["buttons"][0]["title"]["en"] = "A title far over twenty"
    problems = FunnelDefinition.model_validate(too_long).limit_problems()
    assert problems and problems[0].startswith("nodes.welcome.buttons.0.title (en)")
