"""The queue message contract: one normalized inbound event per WhatsApp message or status.

The webhook writes these to the inbound FIFO queue; the funnel (and through it the LLM worker)
reads them. The tenant travels inside every event: consumers never infer it from anything else.
"""

from __future__ import annotations

import hashlib
from typing import Any, Final, Literal

from pydantic import BaseModel, ConfigDict, Field

from wabot.tenancy import SLUG_PATTERN

EVENT_SCHEMA_VERSION: Final = 1


def _digest(*parts: str) -> str:
    return hashlib.sha256("\x1f".join(parts).encode("utf-8")).hexdigest()


class LlmInstruction(BaseModel):
    """Set by a flow's `llm` node on the LLM job: a composed prompt to ask instead of the
    user's text, and a system prompt to use instead of the instance's."""

    model_config = ConfigDict(frozen=True, extra="forbid")

    prompt: str | None = Field(default=None, max_length=4096)
    system_prompt: str | None = Field(default=None, max_length=20000)


class InboundEvent(BaseModel):
    """A message the user sent (`kind="message"`), a status of one we sent (`kind="status"`), or a
    text a person (an admin) sends to the user as the bot (`kind="outbound"`), queued in the same
    conversation so it is sent in order, by the same sender."""

    model_config = ConfigDict(frozen=True, extra="ignore")

    schema_version: Literal[1] = EVENT_SCHEMA_VERSION
    kind: Literal["message", "status", "outbound"]
    tenant_id: str = Field(pattern=SLUG_PATTERN)
    instance_id: str = Field(pattern=SLUG_PATTERN)
    config_version: int = Field(ge=0, description="instance config version the webhook saw")
    phone_number_id: str
    waba_id: str | None = None
    # Who: the business-scoped user id when there is one, else the phone number.
    user_key: str = Field(min_length=1)
    user_id: str | None = Field(default=None, description="business-scoped user id (BSUID)")
    phone: str | None = Field(default=None, description="wa_id / phone number, when Meta sent one")
    profile_name: str | None = None
    username: str | None = None
    # What: the WhatsApp message id (wamid); for statuses the id of our outbound message.
    message_id: str = Field(min_length=1)
    type: str = Field(description="message type (text, interactive, ...) or the status value")
    content: Any = Field(default=None, description="the type's object exactly as Meta sent it")
    raw: dict[str, Any] = Field(description="the whole message or status object as Meta sent it")
    timestamp: int = Field(description="unix seconds, from Meta")
    request_id: str = Field(description="id of the HTTP request that carried it")
    actor: str | None = Field(default=None, description="principal who sent an outbound message")
    llm: LlmInstruction | None = Field(default=None, description="on LLM jobs from a flow's llm node")

    @property
    def question(self) -> str:
        """What the LLM is asked for this message: its text (a voice note's transcript), or a note
        saying what kind of message came without text."""
        content = self.content if isinstance(self.content, dict) else {}
        text = content.get("body") or content.get("caption") or content.get("text")
        return str(text) if text else f"[the user sent a {self.type} message without text]"

    @property
    def conversation_id(self) -> str:
        """FIFO group id: one conversation (tenant, instance, user) is processed in order.

        Hashed so it fits SQS's 128-character limit (BSUIDs can be 131) and keeps phone
        numbers out of queue metadata.
        """
        return _digest(self.tenant_id, self.instance_id, self.user_key)

    @property
    def dedup_id(self) -> str:
        """Same WhatsApp event -> same id, for the queue's dedup and the consumers' idempotency."""
        if self.kind == "status":
            return _digest(self.tenant_id, self.instance_id, "status", self.message_id, self.type)
        return _digest(self.tenant_id, self.instance_id, self.kind, self.message_id)
