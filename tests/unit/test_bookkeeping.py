"""The sender reports outcomes and writes nothing; each worker's bookkeeping counts and logs them
in one place; a batch's counters are one write per instance."""

from __future__ import annotations

import time

import pytest

from wabot.bookkeeping import Bookkeeping
from wabot.models.events import InboundEvent
from wabot.models.instance import InstanceConfig
from wabot.repositories.stats import BatchedStats
from wabot.tenancy import TenantContext
from wabot.whatsapp.graph import GraphError
from wabot.whatsapp.sender import Delivery, DeliveryInterrupted, ReplySender

ACME, GLOBEX = TenantContext("acme"), TenantContext("globex")


def config() -> InstanceConfig:
    return InstanceConfig(tenant_id="acme", instance_id="bot", name="Bot", phone_number_id="1065403522")


class Graph:
    """Answers sends from a script: a wamid, or an error to raise."""

    def __init__(self, *answers) -> None:
        self.answers = list(answers)
        self.sent: list[dict] = []

    def send(self, phone_number_id: str, token: str, payload: dict) -> str:
        answer = self.answers[0] if len(self.answers) == 1 else self.answers.pop(0)  # the last one sticks
        if isinstance(answer, Exception):
            raise answer
        self.sent.append(payload)
        return answer

    def mark_read(self, *args) -> None:
        pass


class Secrets:
    def get(self, tenant, config, name, force_fetch=False) -> str:
        return "token-1234"


class Log:
    def __init__(self) -> None:
        self.lines: list[tuple[str, dict]] = []

    def warning(self, message, extra=None):
        self.lines.append((message, extra or {}))

    info = error = warning

    def exception(self, message, extra=None):
        self.lines.append((message, extra or {}))


class Stats:
    def __init__(self) -> None:
        self.increments: list[tuple[str, str, dict, dict]] = []
        self.states: list[dict] = []

    def increment(self, tenant, instance_id, counters, day=None, latest=None):
        self.increments.append((tenant.tenant_id, instance_id, dict(counters), dict(latest or {})))

    def set_state(self, tenant, instance_id, **fields):
        self.states.append(fields)


class Activity:
    def __init__(self) -> None:
        self.entries: list[tuple[str, str, str]] = []

    def record(self, tenant, instance_id, kind, text, details, actor=None):
        self.entries.append((tenant.tenant_id, kind, text))


def deliver(graph: Graph, replies: int = 2, seconds: float = 30) -> Delivery:
    progress: list[int] = []
    delivery = ReplySender(graph, Secrets(), Log()).deliver(  # type: ignore[arg-type]
        ACME, config(), [{"type": "text", "text": {"body": str(n)}} for n in range(replies)], 0,
        time.monotonic() + seconds, lambda sent, wamid: progress.append(sent))
    assert progress == list(range(1, delivery.sent + 1))
    return delivery


def test_a_permanent_failure_comes_back_as_the_outcome_and_bookkeeping_records_it_once():
    delivery = deliver(Graph("wamid.1", GraphError(131026, "undeliverable"), GraphError(190, "expired")))
    assert (delivery.sent, delivery.completed, delivery.message_ids) == (1, False, ("wamid.1",))
    assert "131026" in (delivery.failure or "") and delivery.token_error_code is None
    stats, activity = Stats(), Activity()
    bookkeeping = Bookkeeping(stats, activity, Log())  # type: ignore[arg-type]
    bookkeeping.delivered(ACME, "bot", delivery, {"inbound": 1}, "funnel")
    assert [e[1] for e in activity.entries] == ["error"]
    ((tenant, instance, counters, latest),) = stats.increments
    assert (tenant, instance, counters) == ("acme", "bot", {"inbound": 1, "outbound": 1, "errors": 1})
    assert set(latest) == {"last_inbound_at", "last_outbound_at"}


def test_an_invalid_token_is_reported_and_set_as_the_instance_last_error():
    delivery = deliver(Graph(GraphError(190, "expired"), GraphError(190, "expired")))
    assert delivery.token_error_code == 190 and not delivery.completed
    stats = Stats()
    Bookkeeping(stats, Activity(), Log()).delivered(ACME, "bot", delivery, {}, "funnel")  # type: ignore[arg-type]
    assert stats.states[0]["last_error"]["code"] == 190


def test_a_transient_failure_after_a_send_raises_with_what_went_out():
    with pytest.raises(DeliveryInterrupted) as raised:
        deliver(Graph("wamid.1", GraphError(131000, "try again")), replies=2, seconds=1.5)
    assert raised.value.sent == 1
    stats = Stats()
    Bookkeeping(stats, Activity(), Log()).interrupted(ACME, "bot", raised.value.sent)  # type: ignore[arg-type]
    assert stats.increments[0][2] == {"outbound": 1}


def test_bookkeeping_after_sending_is_best_effort():
    class Failing(Stats):
        def increment(self, *args, **kwargs):
            raise RuntimeError("throttled")

    log = Log()
    Bookkeeping(Failing(), Activity(), log).delivered(  # type: ignore[arg-type]
        ACME, "bot", Delivery(1, completed=True, message_ids=("wamid.1",)), {"inbound": 1}, "funnel")
    assert log.lines and "replies are out" in log.lines[0][0]


def test_dead_letters_are_logged_and_counted_for_their_tenant():
    stats, activity = Stats(), Activity()
    event = InboundEvent(tenant_id="globex", instance_id="bot", kind="message", type="text", message_id="wamid.x",
                         user_key="15550001111", phone="15550001111", timestamp=1, content={"body": "hi"},
                         config_version=1, phone_number_id="1065403522", raw={}, request_id="rq")
    Bookkeeping(stats, activity, Log()).dead_lettered(event, RuntimeError("boom"))  # type: ignore[arg-type]
    assert activity.entries[0][:2] == ("globex", "error") and "dead-letter" in activity.entries[0][2]
    assert stats.increments[0][:3] == ("globex", "bot", {"errors": 1, "dead_lettered": 1})


def test_a_batch_counters_are_one_write_per_instance_and_tenant():
    class Db:
        def __init__(self) -> None:
            self.updates: list[dict] = []

        def update_item(self, **arguments):
            self.updates.append(arguments)

    db = Db()
    stats = BatchedStats(db, "table", Log())
    for n in range(5):
        stats.increment(ACME, "bot", {"inbound": 1, "outbound": 2}, latest={"last_inbound_at": f"2026-12-01T00:0{n}"})
    stats.increment(GLOBEX, "bot", {"inbound": 1})
    assert db.updates == []  # nothing until the batch ends
    stats.flush()
    assert len(db.updates) == 2
    acme = next(u for u in db.updates if u["Key"]["pk"]["S"].startswith("TENANT#acme#"))
    values = {acme["ExpressionAttributeNames"][name.replace(":v", "#c").replace(":l", "#l")]: value
              for name, value in acme["ExpressionAttributeValues"].items() if name != ":exp"}
    assert values == {"inbound": {"N": "5"}, "outbound": {"N": "10"}, "last_inbound_at": {"S": "2026-12-01T00:04"}}
    stats.flush()
    assert len(db.updates) == 2  # flushed once


def test_answers_by_path_and_dead_letters_are_metrics_without_tenant_dimensions(capsys):
    import json

    from wabot import metrics

    metrics.flush()
    capsys.readouterr()
    bookkeeping = Bookkeeping(Stats(), Activity(), Log())  # type: ignore[arg-type]
    bookkeeping.delivered(ACME, "bot", Delivery(1, completed=True, message_ids=("w",)), {}, "voice")
    bookkeeping.delivered(ACME, "bot", Delivery(0, completed=False), {}, "funnel")  # nothing went out
    event = InboundEvent(tenant_id="acme", instance_id="bot", kind="message", type="text", message_id="wamid.x",
                         user_key="1", phone="1", timestamp=1, content={"body": "hi"}, config_version=1,
                         phone_number_id="1065403522", raw={}, request_id="rq")
    bookkeeping.dead_lettered(event, RuntimeError("boom"))
    metrics.flush()
    lines = [json.loads(line) for line in capsys.readouterr().out.splitlines() if line.startswith('{"_aws"')]
    names = {m["Name"] for line in lines for d in line["_aws"]["CloudWatchMetrics"] for m in d["Metrics"]}
    assert names == {"MessagesAnswered", "DeadLettered"}  # nothing for the delivery that sent nothing
    answered = next(line for line in lines if "MessagesAnswered" in line)
    assert answered["MessagesAnswered"] in (1, [1.0]) and answered["path"] == "voice"
    assert all("acme" not in json.dumps(line["_aws"]) for line in lines)
