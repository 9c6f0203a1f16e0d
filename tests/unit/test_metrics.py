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


def test_timed_records_milliseconds_with_the_dimensions_the_block_adds(capsys):
    with metrics.timed("GraphApiLatency", operation="send") as dims:
        dims["code"] = "200"
    with pytest.raises(TimeoutError), metrics.timed("GraphApiLatency", operation="send"):
        raise TimeoutError
    metrics.flush()
    lines = _emf_lines(capsys)
    assert {(line.get("code"), line.get("outcome")) for line in lines} == {("200", None), (None, "error")}
    for line in lines:
        assert line["_aws"]["CloudWatchMetrics"][0]["Metrics"] == [{"Name": "GraphApiLatency", "Unit": "Milliseconds"}]
        assert line["GraphApiLatency"][0] >= 0


def test_cold_start_is_counted_on_the_first_invocation_only(capsys, monkeypatch):
    monkeypatch.setattr(metrics._buffer, "cold", True)

    @metrics.log_metrics(service="status")
    def handler(event, context):
        return None

    handler({}, None)
    handler({}, None)
    counts = [line["ColdStart"] for line in _emf_lines(capsys) if "ColdStart" in line]
    assert counts == [[1.0]]
