"""Builds a legacy platform on disk: the orchestrator database, per-bot funnel databases and
the per-tenant and shared WhatsApp folders, with realistic and deliberately broken rows."""

from __future__ import annotations

import json
import sqlite3
from pathlib import Path

ORCHESTRATOR_SCHEMA = """
CREATE TABLE whatsapp_instances (
    id TEXT PRIMARY KEY, tenant_id TEXT, name TEXT NOT NULL, phone_number_id TEXT, waba_id TEXT,
    access_token TEXT, verify_token TEXT, app_secret TEXT, webhook_port INTEGER, enabled INTEGER,
    auto_start INTEGER, llm_backend TEXT, system_prompt TEXT, llm_params TEXT, tts_enabled INTEGER,
    tts_engine TEXT, tts_voice TEXT, tts_preset TEXT, allowed_phones TEXT, blocked_phones TEXT,
    rate_limit_count INTEGER, rate_limit_hours REAL, owner_id TEXT)
"""
FUNNEL_SCHEMA = """
CREATE TABLE users (phone TEXT PRIMARY KEY, name TEXT, funnel_state TEXT, segment TEXT, quiz_answers TEXT,
                    created_at TEXT, updated_at TEXT, last_message_at TEXT);
CREATE TABLE events (id INTEGER PRIMARY KEY, phone TEXT, event_type TEXT, event_data TEXT, created_at TEXT);
CREATE TABLE custom_discovery (phone TEXT, step INTEGER, question TEXT, answer TEXT, created_at TEXT);
"""

SALES_BOT = {
    "id": "sales", "tenant_id": "acme", "name": "Продажи", "phone_number_id": "106540352242922",
    "waba_id": "102290129340398", "access_token": "EAAG-legacy-access-1111", "verify_token": "legacy-verify-2222",
    "app_secret": "legacy-app-secret-3333", "webhook_port": 8101, "enabled": 1, "auto_start": 1,
    "llm_backend": "vllm", "system_prompt": "", "llm_params": json.dumps({"temperature": 0.4, "max_tokens": 500}),
    "tts_enabled": 1, "tts_engine": "xtts", "tts_voice": "anna", "tts_preset": "warm",
    "allowed_phones": "", "blocked_phones": json.dumps(["+7 (900) 111-22-33"]), "rate_limit_count": 7,
    "rate_limit_hours": 3, "owner_id": "ivan",
}
SUPPORT_BOT = {**SALES_BOT, "id": "support", "name": "Support", "phone_number_id": "106540352242999",
               "auto_start": 0, "tts_enabled": 0, "tts_engine": None, "tts_voice": None, "tts_preset": None,
               "llm_params": None, "blocked_phones": "", "allowed_phones": "79001234567, 79007654321",
               "rate_limit_count": None, "rate_limit_hours": None, "system_prompt": "Be helpful."}
BAD_ROWS = [
    {**SALES_BOT, "id": "bad-phone", "name": "Bad phone", "phone_number_id": "not-a-number"},
    {**SALES_BOT, "id": "bad-json", "name": "Bad JSON", "phone_number_id": "555555555", "llm_params": "{oops"},
    {**SALES_BOT, "id": "hot", "name": "Too hot", "phone_number_id": "555555556",
     "llm_params": json.dumps({"temperature": 5})},
    {**SALES_BOT, "id": "dup", "name": "Duplicate", "phone_number_id": "106540352242922"},
]
DEFAULT_BOT = {**SALES_BOT, "id": "7", "tenant_id": None, "name": "Old Bot", "phone_number_id": "300000000007",
               "access_token": "EAAG-old-bot-token-7777", "app_secret": "old-bot-secret-7777",
               "verify_token": "old-bot-verify-7777"}
OTHER_TENANT_BOT = {**SALES_BOT, "id": "g1", "tenant_id": "globex", "name": "Globex", "phone_number_id": "400000000001"}


def _insert(connection: sqlite3.Connection, table: str, row: dict) -> None:
    columns = ", ".join(row)
    connection.execute(f"INSERT INTO {table} ({columns}) VALUES ({', '.join('?' * len(row))})",  # noqa: S608
                       list(row.values()))


def build_legacy(root: Path) -> tuple[Path, Path]:
    """Returns (orchestrator db, data dir)."""
    data = root / "data"
    data.mkdir(parents=True)
    db = root / "orchestrator.db"
    with sqlite3.connect(db) as connection:
        connection.execute(ORCHESTRATOR_SCHEMA)
        for row in [SALES_BOT, SUPPORT_BOT, *BAD_ROWS, DEFAULT_BOT, OTHER_TENANT_BOT]:
            _insert(connection, "whatsapp_instances", row)
    with sqlite3.connect(data / "wa_sales_sales.db") as connection:
        connection.executescript(FUNNEL_SCHEMA)
        _insert(connection, "users", {"phone": "+7 916 000-11-22", "name": "Мария Иванова",
                                      "funnel_state": "custom_step_2", "segment": "custom",
                                      "quiz_answers": json.dumps({"goal": ["docs"], "budget": "high"}),
                                      "last_message_at": "2026-11-20T10:00:00"})
        _insert(connection, "users", {"phone": "15550001111", "name": "John", "funnel_state": None,
                                      "segment": "basic", "quiz_answers": None, "last_message_at": "1763632800"})
        _insert(connection, "users", {"phone": "call me", "name": "Broken", "funnel_state": None})
        _insert(connection, "users", {"phone": "15550002222", "name": "Bad JSON", "quiz_answers": "{nope"})
        for i, (phone, kind, detail) in enumerate([
                ("+7 916 000-11-22", "welcome", None), ("+7 916 000-11-22", "quiz_answer", "goal=docs"),
                ("+7 916 000-11-22", "segment", "custom"), ("15550001111", "welcome", None),
                ("nobody", "welcome", None)], start=1):
            _insert(connection, "events", {"id": i, "phone": phone, "event_type": kind, "event_data": detail,
                                           "created_at": f"2026-11-20T10:0{i}:00"})
        _insert(connection, "custom_discovery", {"phone": "+7 916 000-11-22", "step": 1, "question": "Компания?",
                                                 "answer": "Банк «Восток»"})
    folder = data / "tenants" / "acme" / "platforms" / "whatsapp"
    folder.mkdir(parents=True)
    (folder / "config.txt").write_text("# legacy settings\nRATE_LIMIT_COUNT=9\nRATE_LIMIT_HOURS=2\nLANGUAGE=ru\n",
                                       encoding="utf-8")
    (folder / "keywords.txt").write_text("привет\nздравствуйте\nhello\nменю\n", encoding="utf-8")
    (folder / "prompt.txt").write_text("Ты вежливый консультант.", encoding="utf-8")
    (folder / "stats.json").write_text(json.dumps({"date": "2026-11-20", "sales": {"messages_in": 120,
                                                   "messages_out": 240, "users": 15}}), encoding="utf-8")
    shared = data / "platforms" / "whatsapp"
    shared.mkdir(parents=True)
    (shared / "prompt.txt").write_text("Old shared prompt.", encoding="utf-8")
    (shared / "stats.json").write_text(json.dumps({"date": "2026-01-01", "messages_in": 5}), encoding="utf-8")
    return db, data
