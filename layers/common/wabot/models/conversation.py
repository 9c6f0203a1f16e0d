"""What the funnel remembers of one user, stored in the user's profile.

Apart from the funnel engine so that readers of profiles (the LLM worker, the admin API) need
not import the funnel's definitions.
"""

from typing import Any

from pydantic import BaseModel, Field


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
