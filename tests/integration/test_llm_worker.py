"""The LLM worker over moto: backends, history, fallback, exactly once, voice notes, tenants."""

from __future__ import annotations

import httpx
import pytest

from tests import payloads
from tests.integration.funnel_harness import message_event, sqs_record
from tests.integration.llm_harness import guarded
from tests.integration.test_funnel_worker import configure
from wabot import aws
from wabot.repositories.activity import ActivityLog
from wabot.repositories.conversations import ConversationStore
from wabot.repositories.llm_config import LlmConfigRepository, LlmProvider
from wabot.repositories.secrets import SecretStore
from wabot.repositories.stats import StatsRepository


def texts(graph) -> list[str]:
    return [m["text"]["body"] for m in graph.sent() if m["type"] == "text"]


def counters(stack, instance) -> dict:
    stats = StatsRepository(aws.client("dynamodb"), stack.refs["AppTable"])
    days = stats.days(instance.tenant, instance.instance_id, 1)
    return days[0]["counters"] if days else {}


def test_answer_in_whatsapp_formatting_with_persona_and_usage(llm, stack, acme):
    version = configure(stack, acme, system_prompt="You sell LocalAI.", llm_params={"temperature": 0.2})
    assert llm.ask(message_event(acme, text="Do you ship abroad?", config_version=version)) == []
    [answer] = texts(llm.graph)
    assert answer.startswith("*Fake LLM* (default)") and "Do you ship abroad?" in answer
    [body] = llm.providers.llm_bodies()
    assert body["messages"][0] == {"role": "system", "content": "You sell LocalAI."}
    assert body["temperature"] == 0.2
    stats = counters(stack, acme)
    assert stats["llm_calls"] == 1 and stats["prompt_tokens"] > 0 and stats["completion_tokens"] > 0
    assert stats["outbound"] == 1


def test_flow_llm_node_prompt_and_system_prompt_replace_the_instances(llm, stack, acme):
    """A job from a flow's llm node carries its composed prompt and system prompt."""
    from wabot.models.events import LlmInstruction

    version = configure(stack, acme, system_prompt="You sell LocalAI.")
    event = message_event(acme, text="typed by the user", config_version=version).model_copy(
        update={"llm": LlmInstruction(prompt="Suggest a gift with Bag.", system_prompt="Be short.")})
    assert llm.ask(event) == []
    [body] = llm.providers.llm_bodies()
    assert body["messages"][0] == {"role": "system", "content": "Be short."}
    assert body["messages"][-1] == {"role": "user", "content": "Suggest a gift with Bag."}


@pytest.mark.parametrize("per_message", [False, True])
def test_activity_log_has_llm_answers_only_when_asked(llm, stack, acme, per_message):
    llm.module.worker().service.activity_per_message = per_message
    try:
        assert llm.ask(message_event(acme, text="Do you ship abroad?")) == []
    finally:
        llm.module.worker().service.activity_per_message = False
    logs = ActivityLog(aws.client("dynamodb"), stack.refs["AppTable"]).recent(acme.tenant, acme.instance_id)
    assert [e.summary for e in logs if e.kind == "reply_sent"] == (["LLM reply sent"] if per_message else [])
    assert len(texts(llm.graph)) == 1


def test_history_is_sent_oldest_first_and_kept_per_tenant(llm, stack, acme, globex):
    llm.ask(message_event(acme, text="first question"))
    llm.ask(message_event(acme, text="second question"))
    llm.ask(message_event(globex, text="globex question"))
    bodies = llm.providers.llm_bodies()
    second = [m["content"] for m in bodies[1]["messages"] if m["role"] != "system"]
    assert second[0] == "first question" and second[-1] == "second question" and len(second) == 3
    globex_turns = [m for m in bodies[2]["messages"] if m["role"] != "system"]
    assert globex_turns == [{"role": "user", "content": "globex question"}]
    store = ConversationStore(aws.client("dynamodb"), stack.refs["AppTable"])
    history = store.history(globex.tenant, globex.instance_id, payloads.BSUID, 10)
    assert history[0] == ("user", "globex question") and len(history) == 2


def test_history_length_is_limited(llm, stack, acme):
    version = configure(stack, acme, llm_history_turns=1)
    for i in range(3):
        llm.ask(message_event(acme, text=f"q{i}", config_version=version))
    last = [m["content"] for m in llm.providers.llm_bodies()[-1]["messages"]]
    assert last == ["q1", last[1], "q2"]


def test_timeout_and_5xx_then_success(llm, acme):
    llm.providers.failures = [httpx.ReadTimeout("slow"), 502]
    assert llm.ask(message_event(acme, text="hello?")) == []
    assert len(texts(llm.graph)) == 1 and "hello?" in texts(llm.graph)[0]


def test_permanent_failure_sends_the_fallback_once(llm, stack, acme):
    version = configure(stack, acme, llm_fallback_message="Our team will answer you soon.")
    llm.providers.failures = [401]
    event = message_event(acme, text="hi there", config_version=version)
    assert llm.ask(event, "sqs-1") == []
    assert llm.ask(event, "sqs-2") == []  # redelivered later as a new SQS message
    assert texts(llm.graph) == ["Our team will answer you soon."]
    logs = ActivityLog(aws.client("dynamodb"), stack.refs["AppTable"]).recent(acme.tenant, acme.instance_id)
    assert any(e.kind == "error" and "LLM (vllm) failed" in e.summary for e in logs)
    assert counters(stack, acme)["llm_errors"] == 1


def test_redelivery_after_a_send_failure_resumes_without_asking_again(llm, acme, monkeypatch):
    import llm_service

    from tests.integration.funnel_harness import graph_error

    llm.graph.failures = [graph_error(131000, 500)] * 30
    # About 4 s of function time: enough for the LLM on a busy machine, not for outlasting 30
    # Graph API failures (their backoff alone is longer).
    monkeypatch.setattr(llm.module.worker().consumer, "safety_margin", 86.0)
    monkeypatch.setattr(llm_service, "RESERVE_SECONDS", 0.5)
    event = message_event(acme, text="long question")
    assert llm.ask(event, "sqs-1") == ["sqs-1"]
    monkeypatch.undo()
    llm.graph.failures = []
    assert llm.deliver(sqs_record(event, "sqs-1", receive_count=2)) == []
    assert len(llm.providers.llm_bodies()) == 1
    assert len(texts(llm.graph)) == 1


def test_gemini_backend_with_tenant_key(llm, stack, acme):
    SecretStore("/wabot-test", aws.client("ssm")).put_tenant_secret(acme.tenant, "gemini-key-123456",
                                                                    "settings", "gemini_api_key")
    version = configure(stack, acme, llm_backend="gemini")
    answer = {"candidates": [{"content": {"parts": [{"text": "Gemini says hi."}]}}],
              "usageMetadata": {"promptTokenCount": 3, "candidatesTokenCount": 3}}
    seen = []

    def gemini(request: httpx.Request) -> httpx.Response:
        seen.append(request)
        return httpx.Response(200, json=answer)

    llm.module.worker().service.http = guarded(gemini)
    assert llm.ask(message_event(acme, text="hi", config_version=version)) == []
    assert texts(llm.graph) == ["Gemini says hi."]
    assert seen[0].headers["x-goog-api-key"] == "gemini-key-123456"
    assert ":generateContent" in seen[0].url.path


def test_registered_anthropic_provider(llm, stack, acme):
    LlmConfigRepository(aws.client("dynamodb"), stack.refs["AppTable"]).save_provider(acme.tenant, LlmProvider(
        id="claude", name="Claude", kind="anthropic", base_url="https://api.anthropic.test", model="claude-x"),
        create=True)
    SecretStore("/wabot-test", aws.client("ssm")).put_tenant_secret(acme.tenant, "sk-ant-123456", "llm-providers",
                                                                    "claude", "api_key")
    version = configure(stack, acme, llm_backend="cloud:claude")
    seen = []

    def anthropic(request: httpx.Request) -> httpx.Response:
        seen.append(request)
        return httpx.Response(200, json={"content": [{"type": "text", "text": "Claude here."}],
                                         "usage": {"input_tokens": 5, "output_tokens": 2}})

    llm.module.worker().service.http = guarded(anthropic)
    assert llm.ask(message_event(acme, text="hi", config_version=version)) == []
    assert texts(llm.graph) == ["Claude here."]
    assert seen[0].headers["x-api-key"] == "sk-ant-123456" and seen[0].url.path == "/v1/messages"
    assert counters(stack, acme)["prompt_tokens"] == 5


def test_unknown_provider_falls_back(llm, stack, acme):
    version = configure(stack, acme, llm_backend="cloud:missing")
    assert llm.ask(message_event(acme, text="hi", config_version=version)) == []
    assert "Sorry" in texts(llm.graph)[0]


def test_voice_reply_is_uploaded_as_ogg_opus_and_sent_as_voice(llm, stack, acme):
    version = configure(stack, acme, tts_enabled=True, tts_engine="xtts", tts_voice="anna")
    assert llm.ask(message_event(acme, text="tell me", config_version=version)) == []
    uploads = [e for e in llm.graph.api.recorded() if "media_id" in e]
    assert len(uploads) == 1 and uploads[0]["mime_type"] == "audio/ogg; codecs=opus"
    _, data = llm.graph.api.media[uploads[0]["media_id"]]
    assert data[:4] == b"OggS" and b"OpusHead" in data[:100]
    sent = llm.graph.sent()
    assert [m["type"] for m in sent] == ["text", "audio"]
    assert sent[1]["audio"] == {"id": uploads[0]["media_id"], "voice": True}
    tts_request = next(r for r in llm.providers.requests if "fake-tts" in r.url.path)
    assert tts_request.url.path.endswith("/tts_to_audio/") and b'"anna"' in tts_request.content
    assert counters(stack, acme)["voice_replies"] == 1


def test_tts_failure_still_sends_the_text(llm, stack, acme):
    version = configure(stack, acme, tts_enabled=True, tts_engine="piper")
    llm.providers.tts_failures = 1
    assert llm.ask(message_event(acme, text="tell me", config_version=version)) == []
    assert [m["type"] for m in llm.graph.sent()] == ["text"]
    logs = ActivityLog(aws.client("dynamodb"), stack.refs["AppTable"]).recent(acme.tenant, acme.instance_id)
    assert any("voice reply failed" in e.summary for e in logs)


def test_long_answers_are_split(llm, stack, acme):
    long_answer = "This sentence is part of a long answer. " * 200
    llm.module.worker().service.http = guarded(
        lambda request: httpx.Response(200, json={"choices": [{"message": {"content": long_answer}}]}))
    assert llm.ask(message_event(acme, text="essay please")) == []
    parts = texts(llm.graph)
    assert len(parts) == 2 and all(len(p) <= 4096 for p in parts)


def test_stopped_instance_sends_nothing(llm, stack, acme):
    version = configure(stack, acme, running=False)
    assert llm.ask(message_event(acme, text="hi", config_version=version)) == []
    assert llm.graph.sent() == [] and llm.providers.llm_bodies() == []


@pytest.mark.parametrize("base_url", ["http://169.254.169.254/latest", "https://169.254.169.254",
                                      "https://[fd00:ec2::254]", "https://10.0.0.8:8000", "https://metadata.internal"])
def test_an_instance_url_to_an_internal_address_is_never_called(llm, stack, acme, base_url):
    """The worker refuses before connecting; the user gets the fallback, the log a fixed reason."""
    llm.module.worker().service.http.resolve = lambda host, port: ["169.254.169.254"]
    version = configure(stack, acme, llm_base_url=base_url)
    assert llm.ask(message_event(acme, text="hi", config_version=version)) == []
    assert llm.providers.requests == []
    assert "Sorry" in texts(llm.graph)[0]
    logs = ActivityLog(aws.client("dynamodb"), stack.refs["AppTable"]).recent(acme.tenant, acme.instance_id)
    assert [e.summary for e in logs if e.kind == "error"] == ["LLM (vllm) failed: openai backend not allowed"]


@pytest.mark.parametrize("answer", [httpx.Response(200, json=[{"choices": []}]),
                                    httpx.Response(200, json={"choices": "metadata-secret"}),
                                    httpx.Response(200, content=b"x" * (1024 * 1024 + 1)),
                                    httpx.Response(500, text="metadata-secret in the body")])
def test_a_bad_provider_answer_is_one_generic_logged_error_not_a_dead_letter(llm, stack, acme, answer):
    llm.module.worker().service.http = guarded(lambda request: answer)
    assert llm.ask(message_event(acme, text="hi")) == []  # nothing left for a retry or the DLQ
    assert "Sorry" in texts(llm.graph)[0]
    logs = ActivityLog(aws.client("dynamodb"), stack.refs["AppTable"]).recent(acme.tenant, acme.instance_id)
    [error] = [e for e in logs if e.kind == "error"]
    assert error.summary.startswith("LLM (vllm) failed: openai backend ")
    assert "metadata-secret" not in error.model_dump_json() and "choices" not in error.summary


def test_a_tts_server_answer_over_10_mb_is_refused_and_the_text_still_goes(llm, stack, acme):
    providers = llm.providers

    def handler(request):
        if "fake-tts" in request.url.path:
            return httpx.Response(200, content=b"R" * (10 * 1024 * 1024 + 1))
        return providers.handler(request)

    llm.module.worker().service.http = guarded(handler)
    version = configure(stack, acme, tts_enabled=True, tts_engine="xtts")
    assert llm.ask(message_event(acme, text="tell me", config_version=version)) == []
    assert [m["type"] for m in llm.graph.sent()] == ["text"]
    logs = ActivityLog(aws.client("dynamodb"), stack.refs["AppTable"]).recent(acme.tenant, acme.instance_id)
    assert "voice reply failed: xtts backend too large" in [e.summary for e in logs]
