"""The funnel worker end to end over moto, with a fake Graph API: exact outbound messages."""

from __future__ import annotations

import pytest

from tests import payloads
from tests.integration.conftest import drain, whole_table
from tests.integration.funnel_harness import (
    body_text,
    graph_error,
    message_event,
    reply_ids,
    sqs_record,
    status_event,
)
from wabot import aws, keys
from wabot.dynamo import key as item_key
from wabot.dynamo import query_partition
from wabot.models.instance import InstanceConfig
from wabot.repositories.activity import ActivityLog
from wabot.repositories.conversations import ConversationStore
from wabot.repositories.instances import InstanceRepository
from wabot.repositories.stats import STATS_SHARDS, StatsRepository


def configure(stack, instance, **changes):
    repository = InstanceRepository(aws.client("dynamodb"), stack.refs["AppTable"])
    config = repository.get(instance.tenant, instance.instance_id)
    repository.put(instance.tenant, InstanceConfig.model_validate(
        {**config.model_dump(), **changes, "version": config.version + 1}))
    return config.version + 1


def say(funnel, instance, text, **kwargs):
    return funnel.exchange(message_event(instance, text=text, **kwargs))


def tap(funnel, instance, reply_id, kind="button_reply", **kwargs):
    return funnel.exchange(message_event(instance, reply=(kind, reply_id), **kwargs))


def steps(stack, instance, user_key=payloads.BSUID):
    return ConversationStore(aws.client("dynamodb"), stack.refs["AppTable"]).steps(
        instance.tenant, instance.instance_id, user_key)


def profile(stack, instance, user_key=payloads.BSUID):
    return ConversationStore(aws.client("dynamodb"), stack.refs["AppTable"]).get_profile(
        instance.tenant, instance.instance_id, user_key)


def test_greeting_gets_the_welcome_buttons_addressed_with_plus(funnel, acme):
    [welcome] = say(funnel, acme, "Hello!")
    assert welcome["to"] == "+" + payloads.PHONE
    assert welcome["type"] == "interactive"
    assert reply_ids(welcome) == ["sales:quiz", "faq:menu", "sales:manager"]
    assert "LocalAI Assistant" in body_text(welcome)
    assert funnel.graph.reads()  # the user's message was marked as read


def test_russian_instance_answers_in_russian(funnel, stack, acme):
    configure(stack, acme, language="ru")
    [welcome] = say(funnel, acme, "привет", config_version=2)
    assert body_text(welcome).startswith("👋 Здравствуйте")


def test_user_without_phone_is_answered_by_bsuid(funnel, acme):
    [welcome] = say(funnel, acme, "hi", user_phone=None, user_id="BR.998877")
    assert welcome["recipient"] == "BR.998877" and "to" not in welcome


def quiz_to_segment(funnel, acme, goal, skills, budget):
    sent = tap(funnel, acme, "sales:quiz")
    assert [m["type"] for m in sent] == ["text", "interactive"]
    assert reply_ids(sent[1]) == [f"sales:qa:goal:{o}" for o in ("support", "docs", "sales", "other")]
    picked = tap(funnel, acme, f"sales:qa:goal:{goal}", "list_reply")
    assert reply_ids(picked[0]) == ["sales:qm:goal", "sales:qd:goal"]
    [skills_q] = tap(funnel, acme, "sales:qd:goal")
    assert reply_ids(skills_q)[0] == "sales:qa:skills:self"
    [budget_q] = tap(funnel, acme, f"sales:qa:skills:{skills}", "list_reply")
    assert reply_ids(budget_q)[0] == "sales:qa:budget:low"
    return tap(funnel, acme, f"sales:qa:budget:{budget}", "list_reply")


def test_diy_path_with_gpu_audit(funnel, stack, acme):
    [segment] = quiz_to_segment(funnel, acme, "docs", "self", "low")
    assert reply_ids(segment) == ["sales:gpu_list", "faq:cat_install", "nav:menu"]
    [gpus] = tap(funnel, acme, "sales:gpu_list")
    assert "sales:gpu:rtx3090" in reply_ids(gpus) and reply_ids(gpus)[-1] == "sales:gpu_other"
    [verdict] = tap(funnel, acme, "sales:gpu:rtx3090", "list_reply")
    assert "RTX 3090" in body_text(verdict) and "github.com" in body_text(verdict)
    [prompt] = tap(funnel, acme, "sales:gpu_other", "list_reply")
    assert "RTX 3080" in body_text(prompt)
    assert profile(stack, acme).state.funnel_state == "diy_gpu_custom"
    [typed] = say(funnel, acme, "I have an RTX 4090")
    assert "RTX 4090" in body_text(typed)
    tap(funnel, acme, "sales:gpu_other", "list_reply")
    [unknown] = say(funnel, acme, "GTX 750")
    assert "GTX 750" in body_text(unknown) and profile(stack, acme).state.funnel_state is None
    assert "node:segment_diy" in steps(stack, acme)
    assert profile(stack, acme).state.vars["segment"] == "diy"


def test_basic_path_with_payment_link_and_manager(funnel, stack, acme):
    [segment] = quiz_to_segment(funnel, acme, "support", "help", "mid")
    assert reply_ids(segment) == ["sales:basic_value", "sales:basic_demo", "sales:basic_order"]
    [value] = tap(funnel, acme, "sales:basic_value")
    assert "99,000" in body_text(value)
    [demo] = tap(funnel, acme, "sales:basic_demo")
    assert "demo" in body_text(demo)
    [order] = tap(funnel, acme, "sales:basic_order")
    assert "https://yoomoney.ru/" in body_text(order) and "+7 900" in body_text(order)
    answers = profile(stack, acme).state.vars
    assert (answers["quiz.goal"], answers["quiz.skills"], answers["quiz.budget"]) == (["support"], ["help"], ["mid"])


def test_quiz_more_adds_several_answers(funnel, stack, acme):
    tap(funnel, acme, "sales:quiz")
    tap(funnel, acme, "sales:qa:goal:docs", "list_reply")
    [again] = tap(funnel, acme, "sales:qm:goal")
    assert reply_ids(again)[0] == "sales:qa:goal:support"
    tap(funnel, acme, "sales:qa:goal:sales", "list_reply")
    tap(funnel, acme, "sales:qd:goal")
    assert profile(stack, acme).state.vars["quiz.goal"] == ["docs", "sales"]


def test_custom_path_discovery_quote_and_spec(funnel, stack, acme):
    [segment] = quiz_to_segment(funnel, acme, "docs", "help", "high")
    assert reply_ids(segment)[0] == "sales:custom_start"
    start = tap(funnel, acme, "sales:custom_start")
    assert body_text(start[-1]).startswith("1/5")
    for answer, expected_next in [("A bank", "2/5"), ("250", "3/5"), ("1C, Bitrix24", "4/5"),
                                  ("10,000 PDF contracts", "5/5")]:
        [question] = say(funnel, acme, answer)
        assert body_text(question).startswith(expected_next)
    assert profile(stack, acme).state.funnel_state == "custom_step_5"
    [quote] = say(funnel, acme, "urgent, next month")
    text = body_text(quote)
    # base 300 000 + 2 integrations x 50 000 + 3 x 20 000 per 100 users = 460 000, +30% urgent
    assert "*Estimate: 598 000 ₽*" in text
    assert "Basic package: 99 000 ₽" in text
    assert reply_ids(quote) == ["tz:generate", "nav:menu"]
    spec = tap(funnel, acme, "tz:generate")
    assert "*1. Company:* A bank" in body_text(spec[-1]) and "*3. Integrations:* 1C, Bitrix24" in body_text(spec[-1])
    assert profile(stack, acme).state.vars["discovery.users"] == "250"


def test_free_input_step_is_resumed_from_saved_state(funnel, stack, acme):
    """A state stored before flows had variables (discovery answers as their own field) still answers."""
    store = ConversationStore(aws.client("dynamodb"), stack.refs["AppTable"])
    say(funnel, acme, "hi")
    saved = store.get_profile(acme.tenant, acme.instance_id, payloads.BSUID)
    saved.state.funnel_state = "custom_step_3"
    saved.state.discovery = {"company": "Shop", "users": "5"}
    store.save_profile(acme.tenant, acme.instance_id, saved)
    [question] = say(funnel, acme, "none")
    assert body_text(question).startswith("4/5")


def test_faq_navigation_both_directions(funnel, acme):
    [menu] = tap(funnel, acme, "faq:menu")
    assert reply_ids(menu) == ["faq:cat_product", "faq:cat_install", "faq:cat_pricing"]
    [section] = tap(funnel, acme, "faq:cat_product", "list_reply")
    assert reply_ids(section) == ["faq:what_is", "faq:offline", "faq:security", "faq:vs_cloud", "faq:cloud_models"]
    [answer] = tap(funnel, acme, "faq:offline", "list_reply")
    assert "offline" in body_text(answer).lower()
    assert reply_ids(answer) == ["faq:back_product", "nav:menu"]
    [back] = tap(funnel, acme, "faq:back_product")
    assert reply_ids(back) == reply_ids(section)
    [home] = tap(funnel, acme, "nav:menu")
    assert reply_ids(home) == ["sales:quiz", "faq:menu", "sales:manager"]


def test_unknown_reply_falls_back_to_the_welcome(funnel, acme):
    [welcome] = tap(funnel, acme, "sales:retired_button")
    assert reply_ids(welcome)[0] == "sales:quiz"


def test_free_text_goes_to_the_llm_queue_in_conversation_order(funnel, stack, acme):
    first = message_event(acme, text="What about GDPR?")
    second = message_event(acme, text="And HIPAA?")
    assert funnel.send(first, second) == []
    assert funnel.graph.sent() == []
    jobs = drain(stack.refs["LlmQueue"])
    assert [j["body"]["message_id"] for j in jobs] == [first.message_id, second.message_id]
    assert jobs[0]["attributes"]["MessageGroupId"] == first.conversation_id


def test_rate_limit_one_notice_per_window(funnel, stack, acme):
    configure(stack, acme, rate_limit_count=2, rate_limit_hours=5)
    sent = [say(funnel, acme, f"question {i}", config_version=2) for i in range(4)]
    assert sent[0] == [] and sent[1] == []
    assert "limit" in body_text(sent[2][0])
    assert sent[3] == []
    assert len(drain(stack.refs["LlmQueue"])) == 2


def test_stop_and_start(funnel, stack, acme):
    [bye] = say(funnel, acme, "STOP")
    assert "START" in body_text(bye)
    assert say(funnel, acme, "hi") == []
    assert say(funnel, acme, "anything") == []
    assert drain(stack.refs["LlmQueue"]) == []
    back = say(funnel, acme, "start")
    assert [reply_ids(m) for m in back][1] == ["sales:quiz", "faq:menu", "sales:manager"]
    [bye_ru] = say(funnel, acme, "СТОП")
    assert profile(stack, acme).state.opted_out is True and bye_ru


@pytest.mark.parametrize("changes, answered", [
    ({"blocked_phones": [payloads.PHONE]}, False),
    ({"blocked_phones": [payloads.BSUID]}, False),
    ({"allowed_phones": ["79990000000"]}, False),
    ({"allowed_phones": [payloads.PHONE]}, True),
    ({"allowed_phones": [payloads.BSUID]}, True),
])
def test_blocked_and_allowed_lists(funnel, stack, acme, changes, answered):
    version = configure(stack, acme, **changes)
    sent = say(funnel, acme, "hi", config_version=version)
    assert bool(sent) is answered
    if not answered:
        logs = ActivityLog(aws.client("dynamodb"), stack.refs["AppTable"]).recent(acme.tenant, acme.instance_id)
        assert logs[0].detail == {"gate": "blocked"}


def test_stopped_instance_records_but_sends_nothing(funnel, stack, acme):
    version = configure(stack, acme, running=False)
    assert say(funnel, acme, "hi", config_version=version) == []
    assert funnel.graph.api.recorded() == []  # not even a read receipt
    stats = StatsRepository(aws.client("dynamodb"), stack.refs["AppTable"]).days(acme.tenant, acme.instance_id, 1)
    assert stats[0]["counters"]["inbound"] == 1


# ---- exactly once ----------------------------------------------------------------------------


def test_same_event_three_times_and_after_the_dedup_window_gives_one_reply_set(funnel, acme):
    event = message_event(acme, text="hi")
    assert funnel.deliver(sqs_record(event, "sqs-1")) == []
    assert funnel.deliver(sqs_record(event, "sqs-1", receive_count=2)) == []
    assert funnel.deliver(sqs_record(event, "sqs-2")) == []  # a Meta retry queued again later
    assert len(funnel.graph.sent()) == 1


@pytest.mark.parametrize("text", ["hi", "What about GDPR?"])  # a funnel reply; a question for the LLM
def test_redelivered_message_is_counted_logged_and_handed_on_once_without_an_idempotency_record(
        funnel, stack, acme, text):
    event = message_event(acme, text=text)
    for record in (sqs_record(event, "sqs-1"), sqs_record(event, "sqs-1", receive_count=2), sqs_record(event, "sqs-2")):
        assert funnel.deliver(record) == []
    assert len(funnel.graph.sent()) == (1 if text == "hi" else 0)
    assert len(drain(stack.refs["LlmQueue"])) == (0 if text == "hi" else 1)
    turns = list(query_partition(aws.client("dynamodb"), stack.refs["AppTable"],
                                 keys.user_pk(acme.tenant, acme.instance_id, payloads.BSUID), "MSG#"))
    assert len(turns) == 1 and turns[0]["entries"]["L"][0]["M"]["direction"]["S"] == "in"
    (today,) = StatsRepository(aws.client("dynamodb"), stack.refs["AppTable"]).days(acme.tenant, acme.instance_id, 1)
    assert today["counters"]["inbound"] == 1
    assert not whole_table(stack, "IdempotencyTable")
    # One profile write: the decision. The turn's log item marks the plan done.
    assert profile(stack, acme).version == 1


def test_graph_failure_midway_then_retry_sends_no_duplicate_and_misses_nothing(funnel, acme):
    event = message_event(acme, reply=("button_reply", "sales:quiz"))  # two replies: intro + question
    funnel.graph.failures = [graph_error(131000, 500)] * 20
    funnel.graph.fail_when = lambda body: body.get("type") == "interactive"
    # Leave no time for in-function retries, so the failure reaches the queue.
    consumer = funnel.module.worker().consumer
    consumer.safety_margin = 29.9
    try:
        failed = funnel.deliver(sqs_record(event, "sqs-1"))
    finally:
        consumer.safety_margin = 3.0
    assert failed == ["sqs-1"]
    assert [m["type"] for m in funnel.graph.sent()] == ["text"]
    funnel.graph.failures = []
    assert funnel.deliver(sqs_record(event, "sqs-1", receive_count=2)) == []
    assert [m["type"] for m in funnel.graph.sent()] == ["text", "interactive"]


def test_transient_errors_are_retried_within_the_invocation(funnel, acme):
    funnel.graph.failures = [graph_error(130429, 400), graph_error(131000, 500), (503, {})]
    [welcome] = say(funnel, acme, "hi")
    assert reply_ids(welcome)[0] == "sales:quiz"


def test_permanent_error_is_recorded_not_retried(funnel, stack, acme):
    funnel.graph.failures = [graph_error(131047, 400, "Re-engagement message")]
    event = message_event(acme, text="hi")
    assert funnel.send(event) == []
    assert funnel.graph.sent() == []
    logs = ActivityLog(aws.client("dynamodb"), stack.refs["AppTable"]).recent(acme.tenant, acme.instance_id)
    assert any("131047" in entry.summary for entry in logs)
    stats = StatsRepository(aws.client("dynamodb"), stack.refs["AppTable"]).days(acme.tenant, acme.instance_id, 1)
    assert stats[0]["counters"]["errors"] == 1
    assert funnel.send(event) == [] and funnel.graph.sent() == []  # and not sent on a redelivery


def test_expired_token_is_re_read_once_then_shown_in_status(funnel, stack, acme):
    funnel.graph.failures = [graph_error(190, 401, "Error validating access token")] * 2
    assert funnel.send(message_event(acme, text="hi")) == []
    assert funnel.graph.sent() == []
    state = StatsRepository(aws.client("dynamodb"), stack.refs["AppTable"]).state(acme.tenant, acme.instance_id)
    assert state["last_error"]["code"] == 190
    funnel.graph.failures = [graph_error(190, 401)]  # the re-read token works
    assert say(funnel, acme, "hi")


def test_one_failing_conversation_does_not_hold_back_others(funnel, acme):
    other_user = message_event(acme, text="hi", user_phone="79001112233", user_id="RU.1")
    poison = sqs_record(message_event(acme, text="hi"), "bad")
    poison["body"] = "{not json"
    good = sqs_record(other_user, "good")
    assert funnel.deliver(poison, good) == ["bad"]
    assert [m["to"] for m in funnel.graph.sent()] == ["+79001112233"]


def test_failure_keeps_later_messages_of_the_same_conversation(funnel, acme):
    first, second = message_event(acme, text="hi"), message_event(acme, text="menu")
    bad = sqs_record(first, "first")
    bad["body"] = "{broken"
    assert funnel.deliver(bad, sqs_record(second, "second")) == ["first", "second"]
    assert funnel.graph.sent() == []


def _forget_idempotency(stack) -> None:
    """As when a completion write failed, or after a DLQ redrive past the idempotency window."""
    dynamodb = aws.client("dynamodb")
    for item in whole_table(stack, "IdempotencyTable"):
        dynamodb.delete_item(TableName=stack.refs["IdempotencyTable"], Key={"id": item["id"]})


def test_answered_message_arriving_again_after_later_ones_is_not_answered_again(funnel, stack, acme):
    first, second = (message_event(acme, reply=("list_reply", f"faq:{key}")) for key in ("what_is", "price"))
    assert funnel.send(first) == [] and funnel.send(second) == []
    assert len(funnel.graph.sent()) == 2
    _forget_idempotency(stack)
    assert funnel.send(first) == []  # out of order: its plan is no longer the current one
    assert funnel.send(second) == []  # in order: its plan says everything was sent
    assert len(funnel.graph.sent()) == 2
    # The first is remembered; the second is the current plan, done by its turn's log item.
    assert len(profile(stack, acme).handled) == 1


def test_message_overtaken_before_its_replies_went_out_is_still_answered(funnel, stack, acme):
    say(funnel, acme, "hi")
    first, second = (message_event(acme, reply=("list_reply", f"faq:{key}")) for key in ("what_is", "price"))
    funnel.graph.failures = [graph_error(131000, 500)] * 20
    consumer = funnel.module.worker().consumer
    consumer.safety_margin = 29.9  # no time for in-function retries: the failure reaches the queue
    try:
        assert funnel.deliver(sqs_record(first, "sqs-1")) == ["sqs-1"]
    finally:
        consumer.safety_margin = 3.0
    funnel.graph.failures = []
    assert funnel.send(second) == []  # a redrive can deliver out of order
    assert funnel.deliver(sqs_record(first, "sqs-1", receive_count=2)) == []
    texts = [body_text(m) for m in funnel.graph.sent()][1:]
    assert len(texts) == 2 and texts[0].startswith("*Price?*") and texts[1].startswith("*What is it?*")


def test_messages_failed_behind_an_earlier_one_are_logged_when_dead_lettered(funnel, stack, acme):
    first, second = message_event(acme, text="hi"), message_event(acme, text="menu")
    bad = sqs_record(first, "first", receive_count=5)
    bad["body"] = "{broken"  # unreadable: it names no tenant, so only the logs have it
    assert funnel.deliver(bad, sqs_record(second, "second", receive_count=5)) == ["first", "second"]
    logs = ActivityLog(aws.client("dynamodb"), stack.refs["AppTable"]).recent(acme.tenant, acme.instance_id)
    [entry] = [e for e in logs if "dead-letter" in e.summary]
    assert entry.detail["message_id"] == second.message_id[-40:] and "ConversationBlocked" in entry.summary
    stats = StatsRepository(aws.client("dynamodb"), stack.refs["AppTable"]).days(acme.tenant, acme.instance_id, 1)
    assert stats[0]["counters"]["dead_lettered"] == 1


def test_profile_item_stays_within_one_write_unit(funnel, stack, acme):
    """Written once per answered message: compressed, a profile with a plan of interactive
    replies, its log entries and its recent steps fits DynamoDB's 1 KB write unit."""
    for key in ("what_is", "price", "support", "offline", "security", "install"):
        funnel.exchange(message_event(acme, reply=("list_reply", f"faq:{key}")))
    item = aws.client("dynamodb").get_item(TableName=stack.refs["AppTable"], Key=item_key(
        keys.user_pk(acme.tenant, acme.instance_id, payloads.BSUID), "PROFILE"))["Item"]
    size = sum(len(name) + len(next(iter(value.values()))) for name, value in item.items())
    assert size < 1024, size
    stored = profile(stack, acme)
    # One profile write per message (the decision, its log entries riding in the plan): the
    # turn's log item, not a second profile write, says its one reply went out.
    assert stored.version == 6 and len(stored.plan.replies) == 1 and stored.plan.log and len(stored.steps) >= 6


@pytest.mark.parametrize("per_message", [False, True])
def test_activity_log_has_answered_messages_only_when_asked(funnel, stack, acme, per_message):
    funnel.module.worker().service.activity_per_message = per_message
    try:
        say(funnel, acme, "hi")
        tap(funnel, acme, "sales:quiz")
    finally:
        funnel.module.worker().service.activity_per_message = False
    logs = ActivityLog(aws.client("dynamodb"), stack.refs["AppTable"]).recent(acme.tenant, acme.instance_id)
    answered = [e.summary for e in logs if e.kind == "reply_sent"]
    assert answered == (["interactive message answered, 2 replies sent", "text message answered, 1 reply sent"]
                        if per_message else [])


def test_unique_users_counted_once_per_day_from_the_profile(funnel, stack, acme):
    day = 1_795_000_000 // 86400 * 86400  # midnight UTC
    for user, at in (("A.1", day + 10), ("A.1", day + 20), ("B.2", day + 30), ("A.1", day + 86400 + 5)):
        funnel.exchange(message_event(acme, text="hi", user_id=user, timestamp=at))
    stats = StatsRepository(aws.client("dynamodb"), stack.refs["AppTable"]).days(acme.tenant, acme.instance_id, 1)
    assert stats[0]["counters"]["inbound"] == 4
    assert stats[0]["counters"]["unique_users"] == 3  # A and B on day one, A again on day two
    day_prefix = f"{keys.DAY_SK_PREFIX}{stats[0]['date']}"
    shards = list(query_partition(aws.client("dynamodb"), stack.refs["AppTable"],
                                  keys.stats_pk(acme.tenant, acme.instance_id), day_prefix))
    assert 1 <= len(shards) <= STATS_SHARDS
    # Nothing that grows with the users (the flow's analytics grow with its nodes, in the same items).
    names = {name for item in shards for name in item}
    assert {name for name in names if not name.startswith("fn:")} <= {
        "pk", "sk", "expires_at", "inbound", "inbound_text", "outbound", "unique_users", "last_inbound_at",
        "last_outbound_at"}
    flow = StatsRepository(aws.client("dynamodb"), stack.refs["AppTable"]).funnel_days(acme.tenant, acme.instance_id, 1)
    assert flow[0]["nodes"]["welcome"] == {"in": 4, "out": 2}  # A twice, then again


# ---- statuses --------------------------------------------------------------------------------


def test_a_status_still_queued_in_the_conversation_queue_is_applied_like_the_status_worker_does(funnel, stack, acme):
    """Statuses now go to the status worker; one queued here by an older webhook still counts once."""
    store = ConversationStore(aws.client("dynamodb"), stack.refs["AppTable"])
    assert funnel.send(status_event(acme, "wamid.OUT1", "read"), status_event(acme, "wamid.OUT1", "delivered")) == []
    assert store.outbound_status(acme.tenant, acme.instance_id, payloads.BSUID, "wamid.OUT1") == "read"
    assert funnel.send(status_event(acme, "wamid.OUT1", "read")) == []  # duplicate
    counters = StatsRepository(aws.client("dynamodb"), stack.refs["AppTable"]).days(
        acme.tenant, acme.instance_id, 1)[0]["counters"]
    assert (counters["read"], counters.get("delivered", 0)) == (1, 0)


# ---- tenants ---------------------------------------------------------------------------------


def test_two_tenants_same_user_progress_independently(funnel, stack, acme, globex):
    tap(funnel, acme, "sales:quiz")
    tap(funnel, acme, "sales:qa:goal:docs", "list_reply")
    [welcome] = say(funnel, globex, "hi")
    assert welcome["to"] == "+" + payloads.PHONE
    assert "quiz.goal" not in profile(stack, globex).state.vars
    assert profile(stack, acme).state.vars["quiz.goal"] == ["docs"]
    sent_from = [e["phone_number_id"] for e in funnel.graph.api.recorded() if e["body"].get("status") != "read"]
    assert set(sent_from) == {acme.phone_number_id, globex.phone_number_id}
    assert steps(stack, globex) == ["node:welcome", "greeting"]
