"""Domain events: what happened to a conversation, in the past tense.

The state machine's transitions (``bot.domain``) return these; the event bus
(``bot.effects``) hands each one to its handlers inside the same transaction,
and the handlers queue what people should see (cards, notices, reactions,
acknowledgements, CSAT prompts). A transition never posts anything itself.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime


@dataclass(frozen=True)
class Event:
    conversation_id: str


@dataclass(frozen=True)
class HandedOff(Event):
    handoff_id: str
    reason: str
    key: str  # what caused it (message id, feedback), so a replayed cause queues nothing twice


@dataclass(frozen=True)
class HandoffClaimed(Event):
    handoff_id: str
    by_id: str
    by_name: str


@dataclass(frozen=True)
class Resolved(Event):
    by_id: str
    by_name: str
    automatic: bool
    notice: str  # the staff-side line, e.g. "Resolved by Sam."


@dataclass(frozen=True)
class Reopened(Event):
    """The customer wrote in a resolved conversation; the resolution clock was paused since ``resolved_at``."""

    resolved_at: datetime


@dataclass(frozen=True)
class CustomerReturned(Event):
    """The customer wrote while we were waiting on them; the resolution clock's pause ends."""


@dataclass(frozen=True)
class DraftApproved(Event):
    draft_id: str
    by_id: str
    by_name: str
    text: str
    edited: bool


@dataclass(frozen=True)
class DraftRejected(Event):
    draft_id: str
    by_id: str
    by_name: str
    reason: str
    corrected_intent: str | None


@dataclass(frozen=True)
class DraftSuperseded(Event):
    draft_id: str
    reason: str


@dataclass(frozen=True)
class IntentCorrected(Event):
    """An agent labelled a customer message with the right intent (a relabel, or a rejected draft)."""

    message_id: str | None
    intent: str
    predicted_intent: str | None  # what the model said for that message
    by_id: str
    by_name: str
    key: str  # the agent action's id, for dedupe keys


@dataclass(frozen=True)
class Triaged(Event):
    """A customer message was decided (answer, draft or hand-off); SLA clocks are (re)computed."""

    is_new: bool
    account_tier: str | None


__all__ = [
    "CustomerReturned",
    "DraftApproved",
    "DraftRejected",
    "DraftSuperseded",
    "Event",
    "HandedOff",
    "HandoffClaimed",
    "IntentCorrected",
    "Reopened",
    "Resolved",
    "Triaged",
]


@dataclass(frozen=True)
class Drafted(Event):
    """The bot wrote a draft an agent reviews before anything reaches the customer."""

    draft_id: str
