"""Who talks to a user: the bot (default) or a person (`human`), and WhatsApp's 24-hour window.

A conversation becomes `human` when the flow reaches a `handoff` step, a manager replies, or an
admin takes it over; it returns to the bot on release, or by itself `handoff_timeout_hours`
after the last manager message (or the hand-off, if no manager wrote since). The timeout is
evaluated when read, so no scheduler is needed.

`bot_may_send` is the one check every bot send goes through (funnel replies, LLM replies,
voice notes; `ReplySender.deliver` calls it right before each send), and `human_is_handling`
the one question other features ask (no typing indicator while a person handles the user).
"""

from __future__ import annotations

from wabot.models.conversation import UserProfile
from wabot.models.instance import InstanceConfig

SERVICE_WINDOW_SECONDS = 24 * 3600


def human_is_handling(profile: UserProfile | None, config: InstanceConfig, now: float) -> bool:
    """True while a person handles this conversation (the hand-off has not timed out)."""
    if profile is None or profile.mode != "human":
        return False
    started = max(profile.last_manager_at or 0, profile.human_since or 0)
    return now < started + config.handoff_timeout_hours * 3600


def bot_may_send(profile: UserProfile | None, config: InstanceConfig, message_id: str, now: float) -> bool:
    """May the bot send its replies to `message_id` now? Not while a person handles the user,
    except the replies of the message that started the hand-off (they announce it)."""
    if not human_is_handling(profile, config, now):
        return True
    return profile is not None and profile.human_message == message_id


def window_closes_at(profile: UserProfile | None) -> int | None:
    """When WhatsApp's customer service window closes: 24 h after the user's last message
    (the business's own messages do not extend it); None if the user never wrote."""
    if profile is None or not profile.last_inbound_at:
        return None
    return profile.last_inbound_at + SERVICE_WINDOW_SECONDS


def window_is_open(profile: UserProfile | None, now: float) -> bool:
    closes = window_closes_at(profile)
    return closes is not None and now < closes
