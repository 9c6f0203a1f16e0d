"""What a flow would send for a list of user inputs: nothing is sent or stored.

The console's funnel tab and the tests walk flows with it; it is the engine itself, run on an
in-memory state, with the replies as WhatsApp message bodies.
"""

from __future__ import annotations

from typing import Any, Literal

from pydantic import BaseModel, ConfigDict, Field, model_validator

from wabot.funnel.engine import FunnelEngine
from wabot.funnel.flow import Flow
from wabot.models.conversation import ConversationState
from wabot.models.events import InboundEvent
from wabot.models.instance import InstanceConfig
from wabot.whatsapp.messages import Recipient, to_graph_payload

SIMULATED_USER = "simulated-user"
MAX_INPUTS = 200


class SimulatedInput(BaseModel):
    """A typed text, or the id of a tapped button or list row."""

    model_config = ConfigDict(extra="forbid")

    text: str | None = Field(default=None, min_length=1, max_length=4096)
    reply: str | None = Field(default=None, min_length=1, max_length=256)

    @model_validator(mode="after")
    def _one(self) -> SimulatedInput:
        if (self.text is None) == (self.reply is None):
            raise ValueError("give text or reply")
        return self


class SimulatedTurn(BaseModel):
    input: SimulatedInput
    messages: list[dict[str, Any]] = Field(description="Graph API message bodies, in order")
    llm: dict[str, Any] | None = Field(default=None, description="what would go to the LLM worker")
    handoff: dict[str, str] | None = None
    steps: list[str]


class Simulation(BaseModel):
    turns: list[SimulatedTurn]
    variables: dict[str, Any]
    at: str | None = Field(description="the node the user is at in the end")
    waiting_for: Literal["text", "reply"] | None = Field(description="text: an ask or llm node waits for text")


def _event(item: SimulatedInput, number: int, now: float) -> InboundEvent:
    if item.reply is not None:
        kind = "list_reply" if number % 2 else "button_reply"  # the engine treats both alike
        content: dict[str, Any] = {"type": kind, kind: {"id": item.reply, "title": item.reply[:24]}}
        message_type = "interactive"
    else:
        content, message_type = {"body": item.text}, "text"
    return InboundEvent(kind="message", tenant_id="simulator", instance_id="simulator", config_version=0,
                        phone_number_id="0", user_key=SIMULATED_USER, user_id=SIMULATED_USER,
                        message_id=f"simulated.{number}", type=message_type, content=content, raw={},
                        timestamp=int(now), request_id="simulated")


def simulate(flow: Flow, inputs: list[SimulatedInput], config: InstanceConfig, now: float,
             language: str | None = None) -> Simulation:
    engine = FunnelEngine(flow)
    # Gates and rate limits are the instance's business, not the flow's: the simulator is let through.
    config = config.model_copy(update={"running": True, "allowed_phones": [], "blocked_phones": []})
    recipient = Recipient(user_id=SIMULATED_USER)
    state = ConversationState()
    turns = []
    for number, item in enumerate(inputs[:MAX_INPUTS]):
        outcome = engine.handle(state, _event(item, number, now), config, now, language=language)
        state = outcome.state
        llm = None
        if outcome.to_llm:
            llm = {"message": item.text, **(outcome.llm or {})}
        turns.append(SimulatedTurn(input=item, messages=[to_graph_payload(r, recipient) for r in outcome.replies],
                                   llm=llm, handoff=outcome.handoff, steps=outcome.steps))
    waiting = flow.nodes.get(state.funnel_state or "")
    return Simulation(turns=turns, variables=state.vars, at=state.last_node,
                      waiting_for="text" if waiting is not None else ("reply" if state.last_node else None))
