"""wabot.metrics: EMF lines on stdout with the metric and only low-cardinality dimensions."""

from __future__ import annotations

import json

import pytest

from wabot import metrics


def _emf_lines(capsys: pytest.CaptureFixture[str]) -> list[dict]:
    return [json.loads(line) for line in capsys.readouterr().out.splitlines() if line.startswith('{"_aws"')]


def _by_metric(lines: list[dict]) -> dict[str, dict]:
    found = {}
    for line in lines:
        for directive in line["_aws"]["CloudWatchMetrics"]:
            for metric in directive["Metrics"]:
                found[metric["Name"]] = {"line": line, "dimensions": directive["Dimensions"], "unit": metric["Unit"]}
    return found


@pytest.fixture(autouse=True)
def _empty_buffer():
    metrics.flush()
    yield
    metrics.flush()


def test_handler_metrics_are_printed_once_with_only_allowed_dimensions(capsys):
    @metrics.log_metrics(service="webhook")
    def handler(event, context):
        metrics.count("WebhooksAccepted")
        metrics.count("WebhooksRejected", reason="invalid_signature")
        metrics.count("WebhooksRejected", reason="invalid_signature")
        metrics.add_metadata("tenant_id", "tenant-a")
        return "done"

    assert handler({}, None) == "done"
    found = _by_metric(_emf_lines(capsys))

    rejected = found["WebhooksRejected"]
    assert rejected["dimensions"] == [["reason", "service"]]  # one set, the service included
    assert rejected["line"]["WebhooksRejected"] == [1.0, 1.0]
    assert rejected["line"]["service"] == "webhook"
    assert rejected["line"]["tenant_id"] == "tenant-a"  # metadata, not a dimension
    assert found["WebhooksAccepted"]["dimensions"] == [["service"]]
    assert found["WebhooksAccepted"]["unit"] == "Count"
    for entry in found.values():
        for dimension_set in entry["dimensions"]:
            assert set(dimension_set) <= metrics.ALLOWED_DIMENSIONS
            assert "tenant_id" not in dimension_set
        assert entry["line"]["_aws"]["CloudWatchMetrics"][0]["Namespace"] == "tests"


def test_tenant_user_or_instance_ids_are_refused_as_dimensions():
    for name in ("tenant_id", "user_id", "instance_id"):
        with pytest.raises(ValueError, match="low-cardinality"):
            metrics.count("MessagesAnswered", **{name: "x"})


def test_metrics_are_flushed_when_the_handler_raises(capsys):
    @metrics.log_metrics(service="llm")
    def handler(event, context):
        metrics.count("LlmCalls", backend="vllm", outcome="ok")
        raise RuntimeError("boom")

    with pytest.raises(RuntimeError):
        handler({}, None)
    found = _by_metric(_emf_lines(capsys))
    assert found["LlmCalls"]["line"]["backend"] == "vllm"
    assert found["LlmCalls"]["line"]["service"] == "llm"
    # and nothing stays buffered for the next invocation
    metrics.flush()
    assert _emf_lines(capsys) == []


def test_call_counts_by_outcome_and_times_both(capsys):
    with metrics.call("SttApi", backend="openai"):
        pass
    with pytest.raises(TimeoutError), metrics.call("SttApi", backend="openai"):
        raise TimeoutError
    metrics.flush()
    lines = _emf_lines(capsys)
    calls = {line["outcome"]: line["SttApiCalls"] for line in lines if "SttApiCalls" in line}
    assert calls == {"ok": [1.0], "error": [1.0]}
    [latency] = [line for line in lines if "SttApiLatency" in line]
    assert latency["backend"] == "openai" and len(latency["SttApiLatency"]) == 2
    assert latency["_aws"]["CloudWatchMetrics"][0]["Metrics"] == [{"Name": "SttApiLatency", "Unit": "Milliseconds"}]


def test_cold_start_is_counted_on_the_first_invocation_only(capsys, monkeypatch):
    monkeypatch.setattr(metrics._buffer, "cold", True)

    @metrics.log_metrics(service="status")
    def handler(event, context):
        return None

    handler({}, None)
    handler({}, None)
    counts = [line["ColdStart"] for line in _emf_lines(capsys) if "ColdStart" in line]
    assert counts == [[1.0]]


# ---- what the outbound clients emit ----------------------------------------------------------


def test_graph_api_calls_and_errors_by_operation_and_code(capsys):
    import httpx

    from wabot.whatsapp.graph import GraphClient, GraphError

    answers = iter([httpx.Response(200, json={"messages": [{"id": "wamid.1"}]}),
                    httpx.Response(400, json={"error": {"code": 131056, "message": "pair rate limit"}})])
    graph = GraphClient("https://graph.test", "v23.0",
                        httpx.Client(transport=httpx.MockTransport(lambda request: next(answers))))
    assert graph.send("123", "token", {"to": "1"}) == "wamid.1"
    with pytest.raises(GraphError):
        graph.send("123", "token", {"to": "1"})
    metrics.flush()

    lines = _emf_lines(capsys)
    calls = {line["outcome"]: line["GraphApiCalls"] for line in lines if "GraphApiCalls" in line}
    assert calls == {"ok": [1.0], "error": [1.0]}
    errors = [line for line in lines if "GraphApiErrors" in line]
    assert [(e["operation"], e["code"], e["GraphApiErrors"]) for e in errors] == [("send", "131056", [1.0])]
    latency = next(line for line in lines if "GraphApiLatency" in line)
    assert latency["operation"] == "send" and len(latency["GraphApiLatency"]) == 2
    assert "123" not in json.dumps(lines)  # the phone number id (part of the path) is never a dimension


def test_llm_calls_latency_and_tokens_by_backend(capsys):
    import httpx

    from wabot.llm.backends import Backend, ChatRequest, complete
    from wabot.net import GuardedHttp

    answer = {"choices": [{"message": {"content": "hi"}}], "usage": {"prompt_tokens": 12, "completion_tokens": 3}}
    http = GuardedHttp(client=httpx.Client(transport=httpx.MockTransport(lambda r: httpx.Response(200, json=answer))),
                       resolve=lambda host, port: ["93.184.215.14"])
    complete(http, Backend("openai", "https://llm.test", "m"), ChatRequest("", [], "hello"), deadline=1e9)
    metrics.flush()

    found = _by_metric(_emf_lines(capsys))
    assert found["LlmApiCalls"]["line"]["outcome"] == "ok"
    assert found["LlmPromptTokens"]["line"]["LlmPromptTokens"] == [12.0]
    assert found["LlmCompletionTokens"]["line"]["LlmCompletionTokens"] == [3.0]
    for name in ("LlmApiCalls", "LlmApiLatency", "LlmPromptTokens"):
        assert found[name]["line"]["backend"] == "openai"


def test_a_missing_namespace_never_fails_the_handler(monkeypatch, capsys):
    monkeypatch.delenv("POWERTOOLS_METRICS_NAMESPACE")

    @metrics.log_metrics(service="webhook")
    def handler(event, context):
        metrics.count("WebhooksAccepted")
        return "answered"

    assert handler({}, None) == "answered"
    assert _emf_lines(capsys) == []
