"""Reading the legacy platform: the orchestrator's `whatsapp_instances` table, each bot's
`wa_sales_{instance_id}.db`, and the per-tenant (or older shared) WhatsApp folder.

The exact schema read is documented in the README ("Migrating from the legacy platform").
Reading never writes; every row that cannot be read is returned as a `Skipped` with the reason.
"""

from __future__ import annotations

import json
import sqlite3
from dataclasses import dataclass, field
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

INSTANCE_COLUMNS = (
    "id", "tenant_id", "name", "phone_number_id", "waba_id", "access_token", "verify_token", "app_secret",
    "webhook_port", "enabled", "auto_start", "llm_backend", "system_prompt", "llm_params", "tts_enabled",
    "tts_engine", "tts_voice", "tts_preset", "allowed_phones", "blocked_phones", "rate_limit_count",
    "rate_limit_hours", "owner_id",
)


@dataclass(frozen=True)
class Skipped:
    kind: str
    ref: str
    reason: str


@dataclass
class LegacyUser:
    phone: str
    name: str | None
    funnel_state: str | None
    segment: str | None
    quiz_answers: dict[str, list[str]]
    last_message_at: int | None
    events: list[dict[str, Any]] = field(default_factory=list)
    discovery: dict[int, str] = field(default_factory=dict)


@dataclass
class LegacyInstance:
    row: dict[str, Any]
    users: list[LegacyUser] = field(default_factory=list)


@dataclass
class TenantFolder:
    """`config.txt`, `keywords.txt`, `prompt.txt`, `stats.json` of the WhatsApp platform folder."""

    path: Path | None
    config: dict[str, str] = field(default_factory=dict)
    keywords: list[str] = field(default_factory=list)
    prompt: str | None = None
    stats: dict[str, Any] = field(default_factory=dict)
    stats_date: str | None = None


def _list(value: Any) -> list[str]:
    """Phones are stored as a JSON array or as comma/newline-separated text."""
    if value in (None, ""):
        return []
    if isinstance(value, str) and value.strip().startswith("["):
        return [str(v) for v in json.loads(value)]
    return [part.strip() for part in str(value).replace("\n", ",").split(",") if part.strip()]


def read_instances(db_path: Path, source_tenant: str) -> tuple[list[dict[str, Any]], list[Skipped]]:
    """Rows of `whatsapp_instances` belonging to the source tenant (NULL tenant = `default`)."""
    connection = sqlite3.connect(f"file:{db_path}?mode=ro", uri=True)
    connection.row_factory = sqlite3.Row
    try:
        present = {row[1] for row in connection.execute("PRAGMA table_info(whatsapp_instances)")}
        if not present:
            raise ValueError(f"{db_path} has no whatsapp_instances table")
        missing = {"id", "name", "phone_number_id"} - present
        if missing:
            raise ValueError(f"whatsapp_instances lacks the columns {sorted(missing)}")
        rows, skipped = [], []
        for raw in connection.execute("SELECT * FROM whatsapp_instances ORDER BY rowid"):
            row = {column: raw[column] if column in present else None for column in INSTANCE_COLUMNS}
            if (row["tenant_id"] or "default") != source_tenant:
                continue
            try:
                row["allowed_phones"] = _list(row["allowed_phones"])
                row["blocked_phones"] = _list(row["blocked_phones"])
                row["llm_params"] = json.loads(row["llm_params"]) if row["llm_params"] else {}
            except (ValueError, TypeError) as exc:
                skipped.append(Skipped("instance", str(row["id"]), f"unreadable JSON column: {exc}"))
                continue
            rows.append(row)
        return rows, skipped
    finally:
        connection.close()


def _epoch(value: Any) -> int | None:
    if value in (None, ""):
        return None
    if isinstance(value, int | float) or str(value).strip().isdigit():
        return int(value)
    try:
        parsed = datetime.fromisoformat(str(value).replace("Z", "+00:00"))
    except ValueError:
        return None
    return int((parsed if parsed.tzinfo else parsed.replace(tzinfo=UTC)).timestamp())


def read_funnel_db(path: Path) -> tuple[list[LegacyUser], list[Skipped]]:
    """`users` (keyed by phone as TEXT), `events`, `custom_discovery` of one bot."""
    if not path.exists():
        return [], []
    connection = sqlite3.connect(f"file:{path}?mode=ro", uri=True)
    connection.row_factory = sqlite3.Row
    tables = {row[0] for row in connection.execute("SELECT name FROM sqlite_master WHERE type = 'table'")}
    users: dict[str, LegacyUser] = {}
    skipped: list[Skipped] = []
    try:
        for row in connection.execute("SELECT * FROM users") if "users" in tables else []:
            data = dict(row)
            phone = str(data.get("phone") or "").strip()
            try:
                answers = json.loads(data["quiz_answers"]) if data.get("quiz_answers") else {}
                answers = {str(k): v if isinstance(v, list) else [str(v)] for k, v in answers.items()}
            except (ValueError, TypeError, AttributeError):
                skipped.append(Skipped("user", phone or "?", "unreadable quiz_answers JSON"))
                continue
            users[phone] = LegacyUser(phone=phone, name=data.get("name"), funnel_state=data.get("funnel_state"),
                                      segment=data.get("segment"), quiz_answers=answers,
                                      last_message_at=_epoch(data.get("last_message_at") or data.get("updated_at")))
        for row in connection.execute("SELECT * FROM events ORDER BY id") if "events" in tables else []:
            data = dict(row)
            user = users.get(str(data.get("phone") or "").strip())
            if user is None:
                skipped.append(Skipped("event", str(data.get("id")), "event of an unknown user"))
                continue
            user.events.append({"id": data.get("id"), "type": data.get("event_type") or "event",
                                "data": data.get("event_data"), "at": _epoch(data.get("created_at"))})
        for row in connection.execute("SELECT * FROM custom_discovery") if "custom_discovery" in tables else []:
            data = dict(row)
            user = users.get(str(data.get("phone") or "").strip())
            if user is None or not isinstance(data.get("step"), int):
                skipped.append(Skipped("discovery", str(data.get("phone")), "answer of an unknown user or step"))
                continue
            user.discovery[data["step"]] = str(data.get("answer") or "")
    finally:
        connection.close()
    return list(users.values()), skipped


def read_folder(data_dir: Path, source_tenant: str) -> TenantFolder:
    """`data/tenants/{tenant}/platforms/whatsapp/`, or for `default` the older `platforms/whatsapp/`."""
    candidates = [data_dir / "tenants" / source_tenant / "platforms" / "whatsapp"]
    if source_tenant == "default":
        candidates += [data_dir / "platforms" / "whatsapp", data_dir.parent / "platforms" / "whatsapp"]
    folder = next((path for path in candidates if path.is_dir()), None)
    result = TenantFolder(folder)
    if folder is None:
        return result
    if (folder / "config.txt").exists():
        for line in (folder / "config.txt").read_text(encoding="utf-8").splitlines():
            if "=" in line and not line.lstrip().startswith("#"):
                name, _, value = line.partition("=")
                result.config[name.strip().upper()] = value.strip()
    if (folder / "keywords.txt").exists():
        result.keywords = [w.strip() for w in (folder / "keywords.txt").read_text(encoding="utf-8").splitlines()
                           if w.strip() and not w.startswith("#")]
    if (folder / "prompt.txt").exists():
        result.prompt = (folder / "prompt.txt").read_text(encoding="utf-8").strip() or None
    stats_path = folder / "stats.json"
    if stats_path.exists():
        result.stats = json.loads(stats_path.read_text(encoding="utf-8"))
        stated = str(result.stats.pop("date", "") or "")[:10]
        result.stats_date = stated or datetime.fromtimestamp(stats_path.stat().st_mtime, UTC).date().isoformat()
    return result
