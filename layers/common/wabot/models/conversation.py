"""What the platform remembers of one user: the profile (funnel state, the reply plan being
sent, hand-off, inbox fields) and the LLM's pending burst messages. Stored by
`wabot.repositories.conversations`; apart from the funnel engine so that readers of profiles
(the LLM worker, the admin API) need not import the funnel's definitions.
"""

import hashlib
from typing import Any, Literal

from pydantic import BaseModel, Field

from wabot.models.message_log import LogEntry

# How many recently answered messages a profile remembers (as short digests, to keep the item small).
HANDLED_MEMORY = 16
# How many of the user's latest funnel steps the profile keeps.
STEPS_MEMORY = 50


class ConversationState(BaseModel):
    funnel_state: str | None = Field(default=None, description="the node waiting for the user's free text")
    vars: dict[str, Any] = Field(default_factory=dict, description="the flow's variables for this user")
    opted_out: bool = False
    last_node: str | None = None
    previous_node: str | None = None
    llm_window_start: float | None = None
    llm_count: int = 0
    llm_notice_sent: bool = False
    # Stored before flows had variables; moved into `vars` when read (wabot.funnel.legacy).
    segment: str | None = None
    quiz_answers: dict[str, list[str]] = Field(default_factory=dict)
    discovery: dict[str, str] = Field(default_factory=dict)


class ReplyPlan(BaseModel):
    """The replies decided for one inbound message, stored before the first is sent, so that a
    retry sends exactly the ones not sent yet."""

    message_id: str
    replies: list[dict[str, Any]] = Field(description="Graph API message bodies, in order")
    llm_job: dict[str, Any] | None = None
    sent: int = 0
    llm_queued: bool = Field(default=False, description="the LLM job was handed on (a retry does not again)")
    counters: dict[str, int] = Field(default_factory=dict, description="stats to add once the plan is done")
    log: list[LogEntry] = Field(default_factory=list, description="the decision's message log entries (what the "
                                "user sent, the events it caused), written in one item with the replies")
    covers: list[str] = Field(default_factory=list, description="LLM: later messages of the burst answered too")
    covered_by: str | None = Field(default=None, description="LLM: answered with this earlier message's burst")

    @property
    def done(self) -> bool:
        """Every reply sent and the LLM job (if any) handed on: a retry has nothing left to do."""
        return self.sent >= len(self.replies) and (self.llm_job is None or self.llm_queued)


class PendingLlmMessage(BaseModel):
    """An LLM-bound message of a burst that no LLM answer covers yet."""

    sk: str
    message_id: str
    text: str
    at: float = Field(description="when the funnel handed it on (epoch seconds)")
    plain: bool = Field(description="no flow `llm` instruction: may be answered together with its neighbours")


class UserProfile(BaseModel):
    user_key: str
    user_id: str | None = None
    phone: str | None = None
    profile_name: str | None = None
    state: ConversationState = Field(default_factory=ConversationState)
    last_inbound_at: int | None = None
    plan: ReplyPlan | None = None
    steps: list[str] = Field(default_factory=list, description="the latest funnel steps, oldest first")
    handled: list[str] = Field(default_factory=list, description="digests of the last messages answered, newest last")
    # Conversation operations (see wabot.handoff): who talks to the user, and what the inbox shows.
    mode: Literal["bot", "human"] = "bot"
    human_since: int | None = None
    human_by: str | None = Field(default=None, description="principal, or `user` for the flow's handoff step")
    human_message: str | None = Field(default=None, description="the message whose planned replies announce "
                                      "the hand-off: the only bot replies still sent while human")
    last_manager_at: int | None = None
    last_outbound_at: int | None = None
    preview: str | None = Field(default=None, description="the latest message, shortened, for the inbox")
    unread: int = Field(default=0, description="user messages since the conversation was last answered")
    failure: dict[str, Any] | None = Field(default=None, description="the last failed send: code, title, at")
    version: int = 0

    @property
    def last_activity_at(self) -> int:
        return max(self.last_inbound_at or 0, self.last_manager_at or 0, self.human_since or 0)

    @staticmethod
    def _digest(message_id: str) -> str:
        return hashlib.blake2b(message_id.encode(), digest_size=6).hexdigest()

    def with_steps(self, steps: list[str]) -> list[str]:
        """`steps` with these added (bounded)."""
        return [*self.steps, *steps][-STEPS_MEMORY:]

    def already_answered(self, message_id: str) -> bool:
        """True for a message whose replies all went out and whose plan is no longer the current
        one: an out-of-order retry (a DLQ redrive, or one whose idempotency record failed to
        complete) must not decide, and so send, it again. A message whose plan was replaced
        before it was sent is not remembered, so it is decided again."""
        current = self.plan.message_id if self.plan else None
        return message_id != current and self._digest(message_id) in self.handled

    def already_remembered(self, message_id: str) -> bool:
        return self._digest(message_id) in self.handled

    def remember(self, message_id: str) -> list[str]:
        """`handled` with this message added (bounded)."""
        return [*self.handled, self._digest(message_id)][-HANDLED_MEMORY:]
