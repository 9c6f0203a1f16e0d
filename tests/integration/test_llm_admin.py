"""Admin routes for tenant LLM settings and registered providers."""

from __future__ import annotations

import pytest

from scripts import create_tenant as cli
from tests.integration.admin_client import AdminClient

PROVIDER = {"name": "Claude", "kind": "anthropic", "base_url": "https://api.anthropic.com",
            "model": "claude-sonnet", "api_key": "sk-ant-secret-4242"}


@pytest.fixture
def clients(gateway, stack):
    tables = stack.refs["AppTable"], stack.refs["ApiKeyTable"]
    admin = AdminClient(gateway, cli.create_tenant("acme", "Acme", "root", *tables))
    other = AdminClient(gateway, cli.create_tenant("globex", "Globex", "root", *tables))
    guest_key = admin.post("/admin/api-keys", {"role": "guest", "principal_id": "g"}).json()["api_key"]
    return admin, other, AdminClient(gateway, guest_key)


def test_providers_crud_with_masked_keys(clients):
    admin, other, guest = clients
    created = admin.post("/admin/llm/providers", PROVIDER)
    assert created.status == 201, created.body
    body = created.json()
    assert (body["id"], body["backend"], body["api_key"]) == ("claude", "cloud:claude", "****4242")
    assert admin.post("/admin/llm/providers", PROVIDER).status == 409
    assert guest.post("/admin/llm/providers", {**PROVIDER, "id": "other"}).status == 403
    assert guest.get("/admin/llm/providers/claude").json()["model"] == "claude-sonnet"
    assert other.get("/admin/llm/providers/claude").status == 404
    assert other.get("/admin/llm/providers").json()["items"] == []
    updated = admin.put("/admin/llm/providers/claude", {"model": "claude-opus", "api_key": "sk-ant-rotated-7777"})
    assert updated.json()["model"] == "claude-opus" and updated.json()["api_key"] == "****7777"
    assert "sk-ant" not in "".join(r.body.decode() for r in admin.responses)
    assert admin.put("/admin/llm/providers/claude", {"kind": "cohere"}).status == 422
    assert admin.delete("/admin/llm/providers/claude").status == 204
    assert admin.get("/admin/llm/providers/claude").status == 404


def test_instances_may_only_use_existing_providers_and_in_use_ones_stay(clients):
    admin, *_ = clients
    base = {"name": "Bot", "phone_number_id": "111111111"}
    bad = admin.post("/admin/whatsapp/instances", {**base, "llm_backend": "cloud:nope"})
    assert bad.status == 422 and ["body", "llm_backend"] in [d["loc"] for d in bad.json()["detail"]]
    admin.post("/admin/llm/providers", PROVIDER)
    made = admin.post("/admin/whatsapp/instances", {**base, "llm_backend": "cloud:claude", "llm_model": "x",
                                                     "llm_history_turns": 4,
                                                     "llm_fallback_message": "We will call you back."})
    assert made.status == 201, made.body
    assert (made.json()["llm_backend"], made.json()["llm_history_turns"]) == ("cloud:claude", 4)
    in_use = admin.delete("/admin/llm/providers/claude")
    assert in_use.status == 409 and "bot" in in_use.json()["message"]


def test_tenant_settings(clients):
    admin, other, guest = clients
    assert guest.get("/admin/settings").json()["gemini_model"] == "gemini-2.0-flash"
    changed = admin.put("/admin/settings", {"vllm_base_url": "http://vllm.internal:8000", "vllm_model": "qwen",
                                            "tts_base_urls": {"xtts": "http://xtts:8020"},
                                            "gemini_api_key": "AIza-secret-9999"})
    assert changed.status == 200, changed.body
    body = changed.json()
    assert body["vllm_model"] == "qwen" and body["gemini_api_key"] == "****9999"
    assert body["tts_base_urls"] == {"xtts": "http://xtts:8020/"}
    assert admin.put("/admin/settings", {"vllm_model": "llama"}).json()["vllm_base_url"] == \
        "http://vllm.internal:8000/"
    assert guest.put("/admin/settings", {"vllm_model": "x"}).status == 403
    assert admin.put("/admin/settings", {"tts_base_urls": {"espeak": "http://x"}}).status == 422
    assert other.get("/admin/settings").json()["vllm_model"] is None
    # null resets a field to its default (found by fuzzing: it was a 500 for non-nullable ones)
    reset = admin.put("/admin/settings", {"gemini_model": None, "gemini_base_url": None, "vllm_model": None})
    assert reset.status == 200, reset.body
    assert reset.json()["gemini_model"] == "gemini-2.0-flash" and reset.json()["vllm_model"] is None
    assert reset.json()["vllm_base_url"] == "http://vllm.internal:8000/"


def test_voice_in_typing_and_burst_settings(clients):
    admin, other, guest = clients
    base = {"name": "Voice", "phone_number_id": "111111112"}
    made = admin.post("/admin/whatsapp/instances", base).json()
    assert (made["read_receipts"], made["typing_indicator"], made["stt_enabled"], made["stt_backend"],
            made["llm_debounce_seconds"]) == (True, True, False, "openai", 2)
    changed = admin.put("/admin/whatsapp/instances/voice", {"stt_enabled": True, "stt_backend": "gemini",
                                                            "typing_indicator": False, "llm_debounce_seconds": 0})
    assert changed.status == 200, changed.body
    assert (changed.json()["stt_backend"], changed.json()["typing_indicator"],
            changed.json()["llm_debounce_seconds"]) == ("gemini", False, 0)
    for bad, field in [({"stt_backend": "whisper"}, "stt_backend"), ({"llm_debounce_seconds": 11},
                                                                      "llm_debounce_seconds"),
                       ({"read_receipts": None}, "read_receipts"), ({"stt_backend": "cloud:nope"}, "stt_backend")]:
        refused = admin.put("/admin/whatsapp/instances/voice", bad)
        assert refused.status == 422 and field in str(refused.json()["detail"]), (bad, refused.body)
    admin.post("/admin/llm/providers", PROVIDER)  # anthropic: cannot transcribe
    refused = admin.put("/admin/whatsapp/instances/voice", {"stt_backend": "cloud:claude"})
    assert refused.status == 422 and ["body", "stt_backend"] in [d["loc"] for d in refused.json()["detail"]]
    admin.post("/admin/llm/providers", {**PROVIDER, "name": "Whisper", "kind": "openai", "model": "whisper-1"})
    assert admin.put("/admin/whatsapp/instances/voice", {"stt_backend": "cloud:whisper"}).status == 200
    assert admin.delete("/admin/llm/providers/whisper").status == 409  # in use for speech to text
    settings = admin.put("/admin/settings", {"stt_base_url": "https://stt.example.com/v1", "stt_model": "large-v3",
                                             "stt_api_key": "stt-secret-3131"})
    assert settings.status == 200, settings.body
    assert (settings.json()["stt_model"], settings.json()["stt_api_key"]) == ("large-v3", "****3131")
    assert guest.put("/admin/settings", {"stt_base_url": "https://stt.example.com"}).status == 403
    assert admin.put("/admin/settings", {"stt_base_url": "ftp://stt.example.com"}).status == 422
    assert other.get("/admin/settings").json()["stt_api_key"] is None
    assert "stt-secret" not in "".join(r.body.decode() for r in admin.responses)
