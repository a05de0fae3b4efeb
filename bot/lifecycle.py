"""Conversation lifecycle: open -> waiting on customer -> resolved (-> reopened).

* An agent resolves a conversation (``ResolveConversation``), or the sweep
  resolves it automatically after ``operations.auto_resolve_hours`` of customer
  silence following our last reply, with one "still need help?" nudge (a
  SYSTEM message to the customer) at half that time.
* A customer message in a RESOLVED conversation reopens it (the core does
  that); the SLA hooks add the time it was resolved to the resolution due time.
* A follow-up saying the automatic answer did not help ("that didn't help",
  "still not working", ...) hands the conversation off with the failed answer
  in the context (``says_not_helped``, called by the core pipeline).

Nudges and automatic resolutions are claimed in ``sla_events`` (kinds
``nudge`` and ``auto_resolve``, keyed by the reply they follow), so several
schedulers act once.
"""

from __future__ import annotations

import functools
import logging
import re
from dataclasses import dataclass
from datetime import datetime, timedelta

from supportbot.bot.commands import resolve
from supportbot.bot.dispatch import Dispatcher
from supportbot.bot.domain import (
    Audience,
    Conversation,
    ConversationStatus,
    MessageKind,
    MessageState,
    OutboundKind,
    Role,
    SlaEvent,
    new_id,
)
from supportbot.bot.effects import EventBus
from supportbot.bot.outbox import OutboxWriter
from supportbot.bot.ports import Clock, Database, UnitOfWork

log = logging.getLogger(__name__)

NUDGE_TEXT = (
    "Just checking in: do you still need help with this? Reply here and we'll pick it up; "
    "otherwise we'll close this conversation soon."
)
AUTO_RESOLVED_NOTICE = "Resolved automatically after {hours:g} h without a reply from the customer."
BOT_ACTOR = "supportbot"

# Phrases meaning "your answer did not solve my problem". Matched on a
# normalised text (lower case, curly quotes straightened, apostrophes optional).
_NOT_HELPED = [
    r"\b(that|this|it|which|your answer|the answer|the article|the link)\s+(did ?n.?t|does ?n.?t|do not|does not|"
    r"did not|is ?n.?t|was ?n.?t|is not|was not)\s+(help|work|answer|solve|fix|resolve)",
    r"\b(did ?n.?t|does ?n.?t|do ?n.?t|did not|does not|not)\s+(help|helpful|solve|fix|resolve)\b",
    r"\b(still|keeps?)\s+(not|n.?t)\s+work",
    r"\bstill\s+(does ?n.?t|did ?n.?t|doesnt|didnt|can.?t|cannot|won.?t|broken|failing|fails|getting|get|see|seeing|"
    r"happening|the same|having)",
    r"\bstill\s+(have|has)\s+(the|this|that)\s+(same\s+)?(problem|issue|error)",
    r"\b(does ?n.?t|does not|did ?n.?t|did not)\s+answer\s+my\s+question",
    r"\bnot\s+what\s+i\s+(asked|meant|need|needed|was asking)",
    r"\b(useless|not useful|no help|not helpful|unhelpful)\b",
    r"\b(same|the same)\s+(error|problem|issue)\s+(again|still|persists)",
    r"\b(tried|followed|did)\s+(that|this|those steps|the steps|it)\b.*\b(but|still|no luck|nothing)",
    r"\bnope\b.*\b(still|work|help)",
]
_NOT_HELPED_RX = [re.compile(p) for p in _NOT_HELPED]
_NEGATED_PRAISE = re.compile(r"\b(thanks?|thank you|thx)\b.*\b(worked|works|fixed|solved|helped|perfect)\b")


def says_not_helped(text: str) -> bool:
    """True when a follow-up says the previous answer did not solve the problem.

    "That didn't help", "still not working", "this doesn't answer my question"
    -> True; "thanks, that worked" or a new question -> False.
    """
    normal = text.lower().replace("’", "'").replace("‘", "'")
    normal = re.sub(r"\s+", " ", normal)
    if _NEGATED_PRAISE.search(normal) and not re.search(r"\b(not|n't|still)\b", normal):
        return False
    return any(rx.search(normal) for rx in _NOT_HELPED_RX)


@dataclass(frozen=True)
class LifecycleResult:
    nudged: int = 0
    resolved: int = 0


def last_reply_after_customer(uow: UnitOfWork, conv: Conversation) -> datetime | None:
    """When we last replied to the customer, if the customer has not written
    (anything but noise) since; None while the customer is owed an answer."""
    last_reply = None
    for message in uow.messages.for_conversation(conv.id):
        if message.kind in (MessageKind.BOT_ANSWER, MessageKind.AGENT_REPLY):
            last_reply = message.created_at
        elif message.kind is MessageKind.CUSTOMER and message.state is not MessageState.IGNORED:
            last_reply = None
    return last_reply


class LifecycleSweeper:
    """Nudge, then resolve, conversations whose customer went quiet after our reply."""

    def __init__(
        self,
        *,
        db: Database,
        bus: EventBus,
        outbox: OutboxWriter,
        clock: Clock,
        dispatcher: Dispatcher,
        auto_resolve_after: timedelta,
    ) -> None:
        self.db = db
        self.bus = bus
        self.outbox = outbox
        self.clock = clock
        self.dispatcher = dispatcher
        self.after = auto_resolve_after

    async def sweep(self, *, dispatch: bool = True) -> LifecycleResult:
        now = self.clock.now()
        waiting = await self.db.read(  # one read-only pass finds the candidates
            lambda uow: [
                conv
                for conv in uow.conversations.list(statuses=[ConversationStatus.WAITING_ON_CUSTOMER])
                if (replied := last_reply_after_customer(uow, conv)) is not None and now - replied >= self.after / 2
            ]
        )
        nudged = resolved = 0
        for conv in waiting:
            try:
                outcome = await self.db.transaction(
                    functools.partial(self._sweep_one, conversation_id=conv.id, now=now)
                )
            except Exception:  # next sweep retries; claims make that safe
                log.exception("lifecycle sweep failed for conversation %s", conv.id)
                continue
            nudged += outcome == "nudge"
            resolved += outcome == "auto_resolve"
        if dispatch and (nudged or resolved):
            await self.dispatcher.dispatch()
        return LifecycleResult(nudged, resolved)

    def _sweep_one(self, uow: UnitOfWork, conversation_id: str, now: datetime) -> str | None:
        conv = uow.conversations.get(conversation_id)
        if conv is None or conv.status is not ConversationStatus.WAITING_ON_CUSTOMER:
            return None
        replied_at = last_reply_after_customer(uow, conv)
        if replied_at is None:
            return None
        silence = now - replied_at
        nudges = uow.sla_events.list(conversation_id=conv.id, kinds=["nudge"])
        nudged = any(e.due_at == replied_at for e in nudges)
        if silence >= self.after and nudged:
            if not uow.sla_events.claim(SlaEvent(new_id("sla"), conv.id, "auto_resolve", replied_at, now, {})):
                return None
            hours = self.after.total_seconds() / 3600
            resolve(
                uow,
                self.bus,
                conv,
                now,
                actor_id=BOT_ACTOR,
                actor_name=BOT_ACTOR,
                actor_role=Role.BOT,
                action="auto_resolve",
                automatic=True,
                notice=AUTO_RESOLVED_NOTICE.format(hours=hours),
            )
            return "auto_resolve"
        if silence >= self.after / 2 and not nudged:
            if not uow.sla_events.claim(SlaEvent(new_id("sla"), conv.id, "nudge", replied_at, now, {})):
                return None
            self.outbox.queue(
                uow,
                conv,
                Audience.CUSTOMER,
                OutboundKind.SYSTEM,
                NUDGE_TEXT,
                f"nudge:{conv.id}:{replied_at.isoformat()}",
                {"nudge": True},
            )
            return "nudge"
        return None
