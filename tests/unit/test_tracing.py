"""Tracer: applied in Lambda, a no-op elsewhere (tests never need X-Ray)."""

from __future__ import annotations

import aws_lambda_powertools

from wabot import tracing


def handler(event, context):
    return {"ok": event}


def test_outside_lambda_the_handler_is_unchanged(monkeypatch):
    monkeypatch.delenv("LAMBDA_TASK_ROOT", raising=False)
    assert tracing.capture_lambda_handler("webhook")(handler) is handler


def test_disabled_by_environment_the_handler_is_unchanged(monkeypatch):
    monkeypatch.setenv("LAMBDA_TASK_ROOT", "/var/task")
    monkeypatch.setenv("POWERTOOLS_TRACE_DISABLED", "true")
    assert tracing.capture_lambda_handler("webhook")(handler) is handler


def test_in_lambda_the_powertools_tracer_wraps_the_handler(monkeypatch):
    made = {}

    class FakeTracer:
        _is_tracer_disabled = staticmethod(lambda: False)

        def __init__(self, service, patch_modules):
            made.update(service=service, patch_modules=patch_modules)

        def capture_lambda_handler(self, function, capture_response):
            made["capture_response"] = capture_response

            def traced(event, context):
                made["called"] = True
                return function(event, context)

            return traced

    monkeypatch.setattr(aws_lambda_powertools, "Tracer", FakeTracer)
    traced = tracing.capture_lambda_handler("funnel")(handler)

    assert traced({"a": 1}, None) == {"ok": {"a": 1}}
    assert made == {"service": "funnel", "patch_modules": ("botocore",), "capture_response": False, "called": True}
