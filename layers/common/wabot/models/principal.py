"""Admin API principals: API keys and their roles."""

from __future__ import annotations

from datetime import datetime
from typing import Literal

from pydantic import BaseModel, Field

Role = Literal["admin", "user", "guest"]
PRINCIPAL_PATTERN = r"^[A-Za-z0-9][A-Za-z0-9_.@\-]{0,127}$"


class ApiKeyRecord(BaseModel):
    """What is stored of an API key: never the key itself, only its hash."""

    key_id: str
    tenant_id: str
    principal_id: str = Field(pattern=PRINCIPAL_PATTERN)
    role: Role
    created_at: datetime
    created_by: str | None = None
    revoked_at: datetime | None = None
