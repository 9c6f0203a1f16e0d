"""Activity log entries: what happened to an instance, shown by the admin "logs" endpoint.

Entries never carry message text, phone numbers or secrets: only kinds, counts, ids and reasons.
"""

from __future__ import annotations

from datetime import datetime
from typing import Any, Literal

from pydantic import BaseModel, Field

ActivityKind = Literal[
    "webhook_accepted",
    "webhook_rejected",
    "webhook_ignored",
    "message_handled",
    "reply_sent",
    "error",
    "admin_change",
    "health_changed",
]


class ActivityEntry(BaseModel):
    at: datetime
    kind: ActivityKind
    summary: str = Field(max_length=500)
    detail: dict[str, Any] = Field(default_factory=dict)
    actor: str | None = None
