"""Support metrics, computed in one place from stored events.

Slash commands, App Home, the playground, reports and alerts all call this
module, so a number means the same everywhere.

Definitions
- volume: conversations opened in the window.
- deflection (raw): share of conversations where the bot's first decision
  was an automatic answer. Shown for context only; it is not success.
- automated resolution: share of conversations the bot answered on its own
  where, within 24 h of the answer, the customer was not handed off to a
  human, did not reopen the conversation and gave no negative rating.
- first response time: from the first customer message to the first answer
  or agent reply the customer could read (acknowledgements do not count).
"""

from __future__ import annotations

from collections import Counter
from collections.abc import Sequence
from dataclasses import dataclass, field
from datetime import datetime, timedelta

from bot.domain import Action, ConversationStatus, DraftStatus, HandoffStatus
from bot.ports import UnitOfWork

AUTOMATION_WINDOW = timedelta(hours=24)


def percentile(values: Sequence[float], q: float) -> float | None:
    """Linear-interpolated percentile (q in 0..100); None for no values."""
    if not values:
        return None
    ordered = sorted(values)
    rank = (len(ordered) - 1) * q / 100
    low = int(rank)
    high = min(low + 1, len(ordered) - 1)
    return ordered[low] + (ordered[high] - ordered[low]) * (rank - low)


@dataclass
class Stats:
    since: datetime
    until: datetime
    volume: int = 0
    answered_by_bot: int = 0
    automated_resolutions: int = 0
    handoffs: int = 0
    drafts_approved: int = 0
    drafts_edited: int = 0
    drafts_rejected: int = 0
    drafts_pending: int = 0
    mean_edit_distance: float | None = None
    first_response_p50_s: float | None = None
    first_response_p90_s: float | None = None
    resolved: int = 0
    top_intents: list[tuple[str, int]] = field(default_factory=list)

    @property
    def deflection_rate(self) -> float | None:
        return self.answered_by_bot / self.volume if self.volume else None

    @property
    def automated_resolution_rate(self) -> float | None:
        return self.automated_resolutions / self.volume if self.volume else None

    @property
    def handoff_rate(self) -> float | None:
        return self.handoffs / self.volume if self.volume else None

    @property
    def drafts_decided(self) -> int:
        return self.drafts_approved + self.drafts_edited + self.drafts_rejected

    def to_dict(self) -> dict[str, object]:
        return {
            "since": self.since.isoformat(), "until": self.until.isoformat(), "volume": self.volume,
            "answered_by_bot": self.answered_by_bot, "deflection_rate": self.deflection_rate,
            "automated_resolutions": self.automated_resolutions,
            "automated_resolution_rate": self.automated_resolution_rate,
            "handoffs": self.handoffs, "handoff_rate": self.handoff_rate,
            "drafts_approved": self.drafts_approved, "drafts_edited": self.drafts_edited,
            "drafts_rejected": self.drafts_rejected, "drafts_pending": self.drafts_pending,
            "mean_edit_distance": self.mean_edit_distance,
            "first_response_p50_s": self.first_response_p50_s, "first_response_p90_s": self.first_response_p90_s,
            "resolved": self.resolved, "top_intents": self.top_intents,
        }


def compute_stats(uow: UnitOfWork, since: datetime, until: datetime) -> Stats:
    stats = Stats(since=since, until=until)
    conversations = [c for c in uow.conversations.list(since=since) if c.created_at <= until]
    stats.volume = len(conversations)
    intents: Counter[str] = Counter()
    response_times: list[float] = []
    for conv in conversations:
        if conv.intent:
            intents[conv.intent] += 1
        if conv.first_response_at:
            response_times.append((conv.first_response_at - conv.created_at).total_seconds())
        if conv.status is ConversationStatus.RESOLVED:
            stats.resolved += 1
        decisions = uow.decisions.for_conversation(conv.id)
        handoffs = uow.handoffs.list(conversation_id=conv.id)
        stats.handoffs += 1 if handoffs else 0
        if not decisions or decisions[0].decision.action is not Action.ANSWER:
            continue
        stats.answered_by_bot += 1
        answered_at = decisions[0].created_at
        if is_automated_resolution(uow, conv.id, answered_at, handoffs):
            stats.automated_resolutions += 1
    stats.top_intents = intents.most_common(10)
    stats.first_response_p50_s = percentile(response_times, 50)
    stats.first_response_p90_s = percentile(response_times, 90)
    distances = []
    for draft in uow.drafts.list(since=since):
        if draft.created_at > until:
            continue
        if draft.status is DraftStatus.APPROVED:
            stats.drafts_approved += 1
        elif draft.status is DraftStatus.EDITED:
            stats.drafts_edited += 1
        elif draft.status is DraftStatus.REJECTED:
            stats.drafts_rejected += 1
        else:
            stats.drafts_pending += 1
    for action in uow.actions.list(since=since, action="edit_draft"):
        if "edit_distance" in action.detail:
            distances.append(float(action.detail["edit_distance"]))
    stats.mean_edit_distance = round(sum(distances) / len(distances), 4) if distances else None
    return stats


def is_automated_resolution(uow: UnitOfWork, conversation_id: str, answered_at: datetime, handoffs=None) -> bool:
    """Answered by the bot and, within 24 h, not handed off, reopened or rated negatively."""
    window_end = answered_at + AUTOMATION_WINDOW
    handoffs = handoffs if handoffs is not None else uow.handoffs.list(conversation_id=conversation_id)
    if any(h.created_at <= window_end for h in handoffs):
        return False
    later = [d for d in uow.decisions.for_conversation(conversation_id) if answered_at < d.created_at <= window_end]
    if any(d.decision.action is not Action.ANSWER for d in later):
        return False
    ratings = uow.actions.list(action="csat")
    return not any(
        r.conversation_id == conversation_id and r.detail.get("negative") and r.created_at <= window_end
        for r in ratings
    )


@dataclass(frozen=True)
class QueueItem:
    kind: str  # "draft" or "handoff"
    id: str
    conversation_id: str
    created_at: datetime
    summary: str
    owner: str | None = None


def work_queue(uow: UnitOfWork) -> list[QueueItem]:
    """Open hand-offs and drafts awaiting approval, oldest first."""
    items = [
        QueueItem("draft", d.id, d.conversation_id, d.created_at, d.text.splitlines()[0][:80] if d.text else "")
        for d in uow.drafts.list(status=DraftStatus.PENDING)
    ]
    items += [
        QueueItem("handoff", h.id, h.conversation_id, h.created_at, h.reason[:80], h.claimed_by)
        for h in uow.handoffs.list(statuses=[HandoffStatus.OPEN, HandoffStatus.CLAIMED])
    ]
    return sorted(items, key=lambda item: item.created_at)
