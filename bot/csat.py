"""Customer satisfaction: ask once when a conversation is resolved, store the answer.

On resolution (by an agent or automatically) the customer gets one SYSTEM
message with ``payload = {"csat": True, "conversation_id": ..., "options":
[...]}`` and a plain-text prompt; adapters may render the options as buttons
and call ``SupportCore.record_feedback(conversation_id, positive=..., score=...,
user_id=...)`` on a click. A typed reply ("5", "4/5", "👍", ":-1:") in the
conversation's thread is recorded too, instead of reopening it.

The prompt's outbox ``dedupe_key`` is ``csat:<conversation id>``: a
conversation that is reopened and resolved again is never asked twice. Only
the first rating of a conversation counts in the metrics. Which platforms get the
question is ``operations.csat_platforms``.
"""

from __future__ import annotations

import re
from dataclasses import dataclass

from supportbot.bot.domain import (
    Audience,
    Conversation,
    ConversationStatus,
    InboundMessage,
    MessageState,
    OutboundKind,
    StoredMessage,
)
from supportbot.bot.errors import InvalidInput
from supportbot.bot.ports import UnitOfWork

PROMPT = (
    "How did we do? Reply with a number from 1 (poor) to 5 (great), or 👍 / 👎. It takes a second and helps us improve."
)
OPTIONS = [
    {"label": "👍", "value": "up", "positive": True, "score": 5},
    {"label": "👎", "value": "down", "positive": False, "score": 1},
    *({"label": str(n), "value": str(n), "positive": n >= 4, "score": n} for n in range(1, 6)),
]

_SCORE = re.compile(r"^\s*([1-5])\s*(?:/\s*5|out of 5|stars?|⭐+)?\s*[.!]*\s*$")
_UP = {"👍", ":+1:", ":thumbsup:", "+1", "👍🏻", "👍🏼", "👍🏽", "👍🏾", "👍🏿"}
_DOWN = {"👎", ":-1:", ":thumbsdown:", "-1", "👎🏻", "👎🏼", "👎🏽", "👎🏾", "👎🏿"}


@dataclass(frozen=True)
class Rating:
    positive: bool
    score: int | None


def parse_rating(text: str) -> Rating | None:
    """A CSAT answer typed as a message, or None when the text is something else."""
    stripped = text.strip()
    if stripped in _UP:
        return Rating(True, None)
    if stripped in _DOWN:
        return Rating(False, None)
    match = _SCORE.match(stripped.lower())
    if match:
        score = int(match.group(1))
        return Rating(score >= 4, score)
    return None


def dedupe_key(conversation_id: str) -> str:
    return f"csat:{conversation_id}"


def was_asked(uow: UnitOfWork, conversation_id: str) -> bool:
    return any(o.dedupe_key == dedupe_key(conversation_id) for o in uow.outbox.list(conversation_id=conversation_id))


def has_rating(uow: UnitOfWork, conversation_id: str) -> bool:
    return any(a.conversation_id == conversation_id for a in uow.actions.list(action="csat"))


class CsatHooks:
    """Core hooks: ask on resolution; record a typed rating instead of reopening."""

    def __init__(self, core, platforms: list[str]) -> None:  # core: bot.service.SupportCore
        self.core = core
        self.platforms = set(platforms)

    def on_resolved(self, uow: UnitOfWork, conv: Conversation) -> None:
        if conv.platform not in self.platforms:
            return
        self.core.queue(
            uow,
            conv,
            Audience.CUSTOMER,
            OutboundKind.SYSTEM,
            PROMPT,
            dedupe_key(conv.id),
            {"csat": True, "conversation_id": conv.id, "options": OPTIONS},
        )

    async def intercept_inbound(self, core, conv: Conversation, stored: StoredMessage, msg: InboundMessage):
        rating = parse_rating(msg.text)
        if rating is None or msg.author.user_id != conv.customer_id or conv.status is not ConversationStatus.RESOLVED:
            return None  # in an open conversation "5" is an answer to a question, not a rating
        with core.uow() as uow:
            if not was_asked(uow, conv.id) or has_rating(uow, conv.id):
                return None
        try:
            result = await core.record_feedback(
                conv.id,
                positive=rating.positive,
                user_id=msg.author.user_id,
                score=rating.score,
                comment="typed reply",
                dispatch=False,
            )
        except InvalidInput:
            return None
        with core.uow() as uow:
            current = uow.messages.get(stored.id)
            if current is not None:
                current.state, current.conversation_id = MessageState.PROCESSED, conv.id
                uow.messages.save(current)
                uow.commit()
        result.message_id = stored.id
        return result
