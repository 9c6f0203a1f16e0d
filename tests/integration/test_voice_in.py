"""Voice notes in, over moto: the funnel worker downloads the audio from the Graph API,
transcribes it with the instance's backend through the SSRF guard, keeps the transcript with the
message and handles it exactly like a text."""

from __future__ import annotations

import pytest

from devstack.fakes import voice_note
from tests.integration.funnel_harness import body_text, message_event, reply_ids
from tests.integration.llm_harness import ProviderFakes, guarded
from tests.integration.test_funnel_worker import configure
from wabot import aws
from wabot.repositories.activity import ActivityLog
from wabot.repositories.conversations import ConversationStore
from wabot.repositories.llm_config import LlmConfigRepository, LlmProvider, TenantSettings
from wabot.repositories.secrets import SecretStore
from wabot.repositories.stats import StatsRepository


@pytest.fixture
def stt(funnel):
    """The funnel's speech to text against the local stack's fake STT, behind the SSRF guard."""
    providers = ProviderFakes()
    voice = funnel.module.worker().service.voice
    voice.http = guarded(providers.handler)
    voice.backends.default_base_url = "http://llm.test/_local/fake-stt"
    return providers


def voice_event(funnel, instance, text: str, **kwargs):
    media_id = funnel.graph.api.add_inbound_media("audio/ogg; codecs=opus", voice_note(text))
    return message_event(instance, msg_type="audio", content={
        "id": media_id, "mime_type": "audio/ogg; codecs=opus", "voice": True}, **kwargs)


def stt_calls(providers) -> list:
    return [r for r in providers.requests if "fake-stt" in r.url.path]


def test_a_spoken_hi_greets_and_the_transcript_is_kept_once(funnel, stt, stack, acme):
    version = configure(stack, acme, stt_enabled=True)
    event = voice_event(funnel, acme, "hi", config_version=version)
    [welcome] = funnel.exchange(event)
    assert reply_ids(welcome)[0] == "sales:quiz"
    store = ConversationStore(aws.client("dynamodb"), stack.refs["AppTable"])
    assert store.transcript(acme.tenant, acme.instance_id, event.user_key, event.message_id) == "hi"
    [request] = stt_calls(stt)
    assert request.url.path == "/_local/fake-stt/v1/audio/transcriptions"
    assert b'name="language"\r\n\r\nen' in request.content and b"OggS" in request.content
    assert funnel.exchange(event) == []  # redelivered: nothing sent, nothing transcribed again
    assert len(stt_calls(stt)) == 1
    days = StatsRepository(aws.client("dynamodb"), stack.refs["AppTable"]).days(acme.tenant, acme.instance_id, 1)
    assert days[0]["counters"]["inbound_audio"] == 1 and days[0]["counters"]["transcribed"] == 1


def test_a_spoken_answer_fills_an_ask_step(funnel, stt, stack, acme):
    flow = {"languages": ["en"], "start": "name", "routes": {"greetings": {"en": ["hi"]}},
            "nodes": {"name": {"kind": "ask", "var": "name", "text": "Your name?", "next": "thanks"},
                      "thanks": {"kind": "message", "text": "Thanks, {name}."}}}
    from wabot.funnel.validation import parse_flow
    from wabot.repositories.funnels import FunnelRepository

    FunnelRepository(aws.client("dynamodb"), stack.refs["AppTable"]).put(acme.tenant, acme.instance_id,
                                                                          parse_flow(flow)[0])
    version = configure(stack, acme, stt_enabled=True)
    assert [body_text(m) for m in funnel.exchange(voice_event(funnel, acme, "hi", config_version=version))] == \
        ["Your name?"]
    assert [body_text(m) for m in funnel.exchange(voice_event(funnel, acme, "Alice", config_version=version))] == \
        ["Thanks, Alice."]


def test_gemini_backend_and_a_provider(funnel, stt, stack, acme):
    settings = LlmConfigRepository(aws.client("dynamodb"), stack.refs["AppTable"])
    secrets = SecretStore(f"/{stack.name}", aws.client("ssm"))
    settings.save_settings(acme.tenant, TenantSettings.model_validate({
        **settings.settings(acme.tenant).model_dump(), "gemini_base_url": "https://stt.test/_local/fake-stt"}))
    secrets.put_tenant_secret(acme.tenant, "gemini-key-1234", "settings", "gemini_api_key")
    version = configure(stack, acme, stt_enabled=True, stt_backend="gemini")
    [welcome] = funnel.exchange(voice_event(funnel, acme, "hi", config_version=version))
    assert reply_ids(welcome)[0] == "sales:quiz"
    [request] = stt_calls(stt)
    assert request.url.path == "/_local/fake-stt/v1beta/models/gemini-2.0-flash:generateContent"
    assert request.headers["x-goog-api-key"] == "gemini-key-1234"

    settings.save_provider(acme.tenant, LlmProvider(id="whisper", name="Whisper", kind="openai",
                                                    base_url="https://stt.test/_local/fake-stt", model="w-large"),
                           create=True)
    secrets.put_tenant_secret(acme.tenant, "provider-key-5678", "llm-providers", "whisper", "api_key")
    version = configure(stack, acme, stt_backend="cloud:whisper")
    [welcome] = funnel.exchange(voice_event(funnel, acme, "hi", user_phone="34600000077", user_id=None,
                                            config_version=version))
    assert reply_ids(welcome)[0] == "sales:quiz"
    request = stt_calls(stt)[-1]
    assert request.headers["authorization"] == "Bearer provider-key-5678" and b"w-large" in request.content


@pytest.mark.parametrize("case", ["backend fails", "download fails", "server refused by the SSRF guard",
                                  "speech to text off"])
def test_failures_answer_please_type_and_are_logged_and_counted(funnel, stt, stack, acme, case):
    version = configure(stack, acme, stt_enabled=case != "speech to text off")
    event = voice_event(funnel, acme, "!fail" if case == "backend fails" else "hi", config_version=version)
    if case == "download fails":
        event = event.model_copy(update={"content": {"id": "404404", "mime_type": "audio/ogg"}})
    if case == "server refused by the SSRF guard":
        settings = LlmConfigRepository(aws.client("dynamodb"), stack.refs["AppTable"])
        current = settings.settings(acme.tenant).model_dump()
        settings.save_settings(acme.tenant, TenantSettings.model_validate({
            **current, "stt_base_url": "https://169.254.169.254/latest"}))
    [answer] = funnel.exchange(event)
    assert "could not understand your voice message" in body_text(answer)
    counters = StatsRepository(aws.client("dynamodb"), stack.refs["AppTable"]).days(
        acme.tenant, acme.instance_id, 1)[0]["counters"]
    logs = ActivityLog(aws.client("dynamodb"), stack.refs["AppTable"]).recent(acme.tenant, acme.instance_id)
    if case == "speech to text off":
        assert stt_calls(stt) == [] and "stt_errors" not in counters
        return
    assert counters["stt_errors"] == 1
    [entry] = [e for e in logs if "voice message not transcribed" in e.summary]
    assert "169.254" not in entry.summary and "fake failure" not in entry.summary  # generic reasons only


def test_a_blocked_users_voice_note_is_never_transcribed(funnel, stt, stack, acme):
    version = configure(stack, acme, stt_enabled=True, blocked_phones=["34600000088"])
    assert funnel.exchange(voice_event(funnel, acme, "hi", user_phone="34600000088", user_id=None,
                                       config_version=version)) == []
    assert stt_calls(stt) == []
