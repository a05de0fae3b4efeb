"""Customers' feedback: CSAT after resolution and 👍/👎 on answers.

* On resolution (by an agent or automatically) the customer is asked once per
  conversation (``csat.PROMPT``; platforms in ``operations.csat_platforms``).
* A customer rates a conversation once: the first rating is claimed atomically
  in the database (two clicks at the same instant, on any replica, store one).
  Adapters turn a button into ``rate(conversation_id, user_id, option_value)``;
  a typed reply ("5", "👍") to the prompt is recognised by the intake.
* A negative rating of a conversation the bot answered on its own hands it to a
  person with the failed answer in context.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import UTC, datetime

from supportbot.bot import csat
from supportbot.bot.context import cached_account
from supportbot.bot.domain import (
    AgentActionRecord,
    Audience,
    Conversation,
    Decision,
    DecisionRecord,
    DraftStatus,
    HandoffStatus,
    MessageKind,
    OutboundKind,
    Role,
    SlaEvent,
    new_id,
)
from supportbot.bot.effects import EventBus, Scope
from supportbot.bot.errors import Conflict, InvalidInput, NotFound
from supportbot.bot.events import Resolved
from supportbot.bot.ports import Clock, Database, UnitOfWork
from supportbot.bot.presenter import ContextPacket
from supportbot.bot.triage import ANSWER_FAILED

RATING_CLAIM = "csat_rating"  # sla_events kind: one per conversation, the atomic "rated once"
EPOCH = datetime(1970, 1, 1, tzinfo=UTC)
ALREADY_RATED = "You already rated this conversation. Thank you!"


@dataclass(frozen=True)
class Rated:
    conversation_id: str
    handoff_id: str | None  # a negative rating of a bot answer opened this hand-off
    message: str = "Thanks for the feedback!"

    @property
    def decision(self) -> Decision | None:
        return ANSWER_FAILED if self.handoff_id else None


def hand_off_failed_answer(
    uow: UnitOfWork, bus: EventBus, conv: Conversation, failed: str, message_id: str, now: datetime, key: str
) -> str:
    """Record the answer_failed decision and hand ``conv`` to a person; returns the hand-off id."""
    uow.decisions.add(DecisionRecord(new_id("dec"), conv.id, message_id, ANSWER_FAILED, None, now))
    classes = uow.classifications.for_conversation(conv.id)
    transcript = uow.messages.for_conversation(conv.id)
    name = next((m.author_name for m in transcript if m.role is Role.CUSTOMER), "")
    packet = ContextPacket(
        conv,
        name,
        cached_account(uow, conv),
        classes[-1].classification if classes else None,
        ANSWER_FAILED,
        transcript,
    )
    pending = [d for d in uow.drafts.list(conversation_id=conv.id) if d.status is DraftStatus.PENDING]
    handoff, events = conv.hand_off(
        f"{ANSWER_FAILED.reason} Failed answer: {failed[:300]}", now, key=key, pending_drafts=pending
    )
    uow.handoffs.save(handoff)
    for draft in pending:
        uow.drafts.save(draft)
    bus.publish(uow, conv, events, packet=packet)
    uow.conversations.save(conv)
    return handoff.id


class Feedback:
    def __init__(self, db: Database, bus: EventBus, clock: Clock, *, csat_platforms: list[str]) -> None:
        self.db = db
        self.bus = bus
        self.clock = clock
        self.csat_platforms = set(csat_platforms)
        bus.subscribe(Resolved, self.ask_on_resolution)

    # ---------------------------------------------------------------- asking
    def ask_on_resolution(self, scope: Scope, event: Resolved) -> None:
        if scope.conv.platform not in self.csat_platforms:
            return
        scope.queue(
            Audience.CUSTOMER,
            OutboundKind.SYSTEM,
            csat.PROMPT,
            csat.dedupe_key(scope.conv.id),
            {"csat": True, "conversation_id": scope.conv.id, "options": csat.OPTIONS},
        )

    # ---------------------------------------------------------------- rating
    async def rate(self, conversation_id: str, user_id: str, value: str, *, comment: str = "button") -> Rated:
        """A rating button (``csat.OPTIONS`` value: up, down, 1-5) pressed by ``user_id``."""
        option = csat.option(value)
        if option is None:
            raise InvalidInput(f"unknown rating {value!r}")
        return await self.record(
            conversation_id, user_id, positive=option.positive, score=option.score, comment=comment
        )

    async def record(
        self, conversation_id: str, user_id: str, *, positive: bool, score: int | None = None, comment: str = ""
    ) -> Rated:
        return await self.db.transaction(
            lambda uow: self.rate_in(uow, conversation_id, user_id, positive, score, comment)
        )

    def rate_in(
        self, uow: UnitOfWork, conversation_id: str, user_id: str, positive: bool, score: int | None, comment: str
    ) -> Rated:
        """Store one rating in the caller's transaction; a second one is refused (``Conflict``)."""
        now = self.clock.now()
        conv = uow.conversations.get(conversation_id)
        if conv is None:
            raise NotFound(f"no conversation {conversation_id}")
        if conv.customer_id != user_id:
            raise InvalidInput("only the customer of this conversation can rate it")
        if not uow.sla_events.claim(SlaEvent(new_id("sla"), conv.id, RATING_CLAIM, EPOCH, now, {"user_id": user_id})):
            raise Conflict(ALREADY_RATED)
        uow.actions.add(
            AgentActionRecord(
                new_id("act"),
                user_id,
                Role.CUSTOMER,
                "csat",
                now,
                conv.id,
                conv.id,
                {"positive": positive, "negative": not positive, "score": score, "comment": comment[:1000]},
            )
        )
        handoff_id = None
        open_handoffs = uow.handoffs.list(statuses=[HandoffStatus.OPEN, HandoffStatus.CLAIMED], conversation_id=conv.id)
        if not positive and conv.bot_handled and not open_handoffs:
            answers = [m for m in uow.messages.for_conversation(conv.id) if m.kind is MessageKind.BOT_ANSWER]
            failed = answers[-1].text if answers else "(no answer found)"
            decisions = uow.decisions.for_conversation(conv.id)
            handoff_id = hand_off_failed_answer(
                uow,
                self.bus,
                conv,
                failed,
                decisions[-1].message_id if decisions else "",
                now,
                f"feedback:{conv.id}:{now.isoformat()}",
            )
        return Rated(conv.id, handoff_id)

    @staticmethod
    def awaits_rating(uow: UnitOfWork, conv: Conversation) -> bool:
        """The CSAT prompt went out and nobody rated yet (a typed "5" is then a rating, not a question)."""
        asked = any(o.dedupe_key == csat.dedupe_key(conv.id) for o in uow.outbox.list(conversation_id=conv.id))
        return asked and not uow.sla_events.list(conversation_id=conv.id, kinds=[RATING_CLAIM])
