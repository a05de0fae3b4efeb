"""Agents' corrections and the review queue: what to label next, and the labels given so far.

A correction is an agent's intent for one customer message: a relabel, or the right intent given
when rejecting a draft. For retraining, the latest label per message wins, and each correction
carries what the model actually predicted for that message (the classification record), never an
earlier agent's label.

The review queue lists conversations worth labelling, most useful first: a rejected draft (an
agent said the bot was wrong but gave no intent), a 👎 on an automatic answer, an edited draft, a
question the model put out of scope, a low-confidence one. Labelled conversations leave the queue.
"""

from __future__ import annotations

from collections import defaultdict
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime

from supportbot.bot.domain import (
    AgentActionRecord,
    ClassificationRecord,
    DecisionRecord,
    Draft,
    DraftStatus,
    MessageKind,
)
from supportbot.bot.metrics import LOW_CONFIDENCE
from supportbot.bot.ports import UnitOfWork

# most useful first: an explicit "the bot was wrong" beats a doubt of the model's
REASONS = ("rejected_draft", "thumbs_down", "edited_draft", "out_of_scope", "low_confidence")


@dataclass(frozen=True)
class Correction:
    message_id: str | None
    conversation_id: str | None
    text: str
    intent: str  # the agent's label
    predicted: str  # what the model said for the message ("" when unknown)
    labelled_at: datetime
    by: str


def corrections(uow: UnitOfWork, since: datetime | None = None) -> list[Correction]:
    """The latest label per message (oldest first), from the ``relabel`` actions."""
    latest: dict[str, Correction] = {}
    for action in uow.actions.list(since=since, action="relabel"):
        d = action.detail
        text, intent = str(d.get("text") or ""), str(d.get("intent") or "")
        if not text or not intent:
            continue
        # labels recorded before message ids were kept: one per conversation
        key = str(d.get("message_id") or f"conversation:{action.conversation_id}")
        latest.pop(key, None)  # re-insert: the order is that of the latest label
        latest[key] = Correction(
            d.get("message_id"),
            action.conversation_id,
            text,
            intent,
            str(d.get("predicted_intent") or ""),
            action.created_at,
            action.actor_id,
        )
    return list(latest.values())


@dataclass(frozen=True)
class ReviewItem:
    conversation_id: str
    reason: str  # one of REASONS
    text: str  # the customer's question
    message_id: str
    predicted_intent: str
    confidence: float
    top_intents: tuple[str, ...]
    created_at: datetime

    def to_dict(self) -> dict[str, str]:
        return {"conversation_id": self.conversation_id, "reason": self.reason, "text": self.text}


def review_queue(uow: UnitOfWork, *, since: datetime | None = None, limit: int | None = 50) -> list[ReviewItem]:
    """Conversations worth labelling, most useful first (reason, then the least confident, then newest)."""
    classes: dict[str, list[ClassificationRecord]] = defaultdict(list)
    for record in uow.classifications.list(since=since):
        classes[record.conversation_id].append(record)
    if not classes:
        return []
    drafts: dict[str, list[Draft]] = defaultdict(list)
    for draft in uow.drafts.list(since=since):
        drafts[draft.conversation_id].append(draft)
    actions: dict[str, list[AgentActionRecord]] = defaultdict(list)
    for action in uow.actions.list(since=since):
        if action.conversation_id:
            actions[action.conversation_id].append(action)
    decisions = {d.id: d for d in uow.decisions.list(since=since)}
    answered = {d.conversation_id for d in decisions.values() if d.decision.action.value == "answer"}
    items = []
    for conversation_id, records in classes.items():
        if any(r.corrected_intent for r in records) or any(a.action == "relabel" for a in actions[conversation_id]):
            continue  # labelled already
        opening = records[0]
        reason, record = None, opening
        convo_drafts = drafts[conversation_id]
        rejected = [d for d in convo_drafts if d.status is DraftStatus.REJECTED and not d.corrected_intent]
        edited = [d for d in convo_drafts if d.status is DraftStatus.EDITED]
        negative = any(a.action == "csat" and a.detail.get("negative") for a in actions[conversation_id])
        if rejected:
            reason, record = "rejected_draft", _record_of(records, decisions, rejected[-1]) or opening
        elif negative and conversation_id in answered:
            reason = "thumbs_down"
        elif edited:
            reason, record = "edited_draft", _record_of(records, decisions, edited[-1]) or opening
        elif any(r.classification.out_of_scope for r in records):
            reason, record = "out_of_scope", next(r for r in records if r.classification.out_of_scope)
        elif any(r.classification.confidence < LOW_CONFIDENCE for r in records):
            reason = "low_confidence"
            record = min(records, key=lambda r: r.classification.confidence)
        if reason is None:
            continue
        message = uow.messages.get(record.message_id)
        if message is None or message.kind is not MessageKind.CUSTOMER:
            continue
        c = record.classification
        items.append(
            ReviewItem(
                conversation_id,
                reason,
                message.text,
                message.id,
                c.intent,
                c.confidence,
                tuple(s.intent for s in c.top_intents),
                record.created_at,
            )
        )
    items.sort(key=lambda i: (REASONS.index(i.reason), i.confidence, -i.created_at.timestamp()))
    return items[:limit] if limit is not None else items


def _record_of(
    records: list[ClassificationRecord], decisions: dict[str, DecisionRecord], draft: Draft
) -> ClassificationRecord | None:
    """The classification of the message a draft answered."""
    decision = decisions.get(draft.decision_id)
    if decision is None:
        return None
    return next((r for r in records if r.message_id == decision.message_id), None)


def _norm(text: str) -> str:
    return " ".join(text.lower().split())


def with_corrections(
    texts: Sequence[str], labels: Sequence[str], found: Sequence[Correction]
) -> tuple[list[str], list[str], int]:
    """Training rows plus agents' corrections: a corrected text already in the data takes the agent's
    label, a new one is added; a correction that changes nothing (same text, same label) is dropped.
    ``found`` is oldest first (``corrections``), so the latest label of a text wins. Returns the rows
    and how many corrections were used."""
    out_texts, out_labels = list(texts), list(labels)
    index = {_norm(t): i for i, t in enumerate(out_texts)}
    original = {i: lb for i, lb in enumerate(out_labels)}
    used: set[int] = set()  # row indices a correction set
    for c in found:
        key = _norm(c.text)
        row = index.get(key)
        if row is None:
            index[key] = row = len(out_texts)
            out_texts.append(c.text)
            out_labels.append(c.intent)
        else:
            out_labels[row] = c.intent
        if original.get(row) == out_labels[row]:
            used.discard(row)  # the data already said so: nothing learned from it
        else:
            used.add(row)
    return out_texts, out_labels, len(used)
