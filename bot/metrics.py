"""Support metrics, computed in one place from stored events.

Slash commands, App Home, the playground, the HTML report, the weekly
summary and the alerts all call this module, so a number means the same
everywhere. Everything is computed from what the database stores
(conversations, decisions, hand-offs, drafts, agent and customer actions,
classifications, messages); nothing is counted on the side.

Definitions (a conversation belongs to the window it was *opened* in):

- volume: conversations opened in the window.
- answered by bot (raw deflection): share of conversations whose first
  decision was an automatic answer. Context only; it is not success.
- automated resolution: conversations whose first decision was an automatic
  answer and where, within 24 h of that answer, (a) no hand-off was opened,
  (b) no later decision was anything but another automatic answer (no draft,
  no hand-off), (c) the customer did not write again after the conversation
  was resolved (no reopening) and (d) the customer gave no negative rating.
  The rate is over *all* conversations (volume), so it never looks better
  by answering less. Answers younger than 24 h count provisionally.
- first response time (FRT): from the conversation's start to the first
  answer or agent reply the customer could read (acknowledgements do not
  count); p50 and p90 with linear interpolation.
- resolution time: from start to resolution, for resolved conversations.
- SLA compliance: per clock (first response, resolution), met when the
  response/resolution came before its due time, missed when it came after or
  is still outstanding past due while the conversation is open; clocks not
  yet decided are left out. ``sla_compliance`` is the share of conversations
  with a decided clock that missed none.
- CSAT: the first rating of each conversation; share positive (👍 or 4-5) and
  the mean 1-5 score. ``csat_auto`` is CSAT on conversations answered by the
  bot.
- hand-off rate: conversations with at least one hand-off / volume.
- drafts: approved, edited and rejected as shares of decided drafts; the mean
  edit distance (0 identical .. 1 rewritten) of edited drafts.
- intent accuracy (from agents' corrections): among conversations an agent
  reviewed (decided a draft or relabelled the intent), the share whose
  predicted intent was not relabelled to another one; per predicted intent.
- overrides per intent: edited + rejected drafts + relabels away from the
  predicted intent, over reviewed conversations of that intent.
- shadow mode (reported apart): decisions taken in shadow-mode channels are
  left out of every figure above (and so are conversations that have nothing
  else); ``shadow_*`` counts them by would-be action, and the agreement rate
  is the share of those compared with the agents' own first reply where the
  reply cited the same article or had the same intent as the would-be answer.
- low-confidence topics: classifications the model abstained on or scored
  below ``LOW_CONFIDENCE``, grouped by the model's best in-scope guess (with
  that guess's probability).

Breakdowns: by account tier (from the decision records; "unknown" without a
CRM account) and by channel (platform).
"""

from __future__ import annotations

from collections import Counter, defaultdict
from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field
from datetime import UTC, date, datetime, timedelta, tzinfo
from typing import Any

from supportbot.bot.domain import (
    OUT_OF_SCOPE,
    Action,
    AgentActionRecord,
    Conversation,
    ConversationStatus,
    DecisionRecord,
    DraftStatus,
    Handoff,
    HandoffStatus,
    MessageKind,
    MessageState,
)
from supportbot.bot.ports import UnitOfWork

AUTOMATION_WINDOW = timedelta(hours=24)
LOW_CONFIDENCE = 0.5
UNKNOWN_TIER = "unknown"


def percentile(values: Sequence[float], q: float) -> float | None:
    """Linear-interpolated percentile (q in 0..100); None for no values."""
    if not values:
        return None
    ordered = sorted(values)
    rank = (len(ordered) - 1) * q / 100
    low = int(rank)
    high = min(low + 1, len(ordered) - 1)
    return ordered[low] + (ordered[high] - ordered[low]) * (rank - low)


def _ratio(part: int, whole: int) -> float | None:
    return part / whole if whole else None


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
    resolution_p50_s: float | None = None
    resolution_p90_s: float | None = None
    frt_sla_met: int = 0
    frt_sla_missed: int = 0
    resolution_sla_met: int = 0
    resolution_sla_missed: int = 0
    sla_decided: int = 0  # conversations with at least one decided SLA clock
    sla_clean: int = 0  # ... of which none missed
    csat_responses: int = 0
    csat_positive: int = 0
    csat_mean_score: float | None = None
    csat_auto_responses: int = 0
    csat_auto_positive: int = 0
    reviewed: int = 0  # conversations an agent reviewed (for intent accuracy)
    relabelled: int = 0
    # shadow-mode channels, reported apart (their conversations are not in the figures above)
    shadow_conversations: int = 0
    shadow_decisions: int = 0
    shadow_answers: int = 0  # decisions that would have been automatic answers
    shadow_drafts: int = 0
    shadow_handoffs: int = 0
    shadow_compared: int = 0  # shadow decisions an agent's own reply could be compared with
    shadow_agreed: int = 0  # ... of which the reply cited the same article or had the same intent

    @property
    def shadow_agreement_rate(self) -> float | None:
        return _ratio(self.shadow_agreed, self.shadow_compared)

    @property
    def deflection_rate(self) -> float | None:
        return _ratio(self.answered_by_bot, self.volume)

    @property
    def automated_resolution_rate(self) -> float | None:
        return _ratio(self.automated_resolutions, self.volume)

    @property
    def handoff_rate(self) -> float | None:
        return _ratio(self.handoffs, self.volume)

    @property
    def drafts_decided(self) -> int:
        return self.drafts_approved + self.drafts_edited + self.drafts_rejected

    @property
    def draft_approval_rate(self) -> float | None:
        return _ratio(self.drafts_approved, self.drafts_decided)

    @property
    def draft_edit_rate(self) -> float | None:
        return _ratio(self.drafts_edited, self.drafts_decided)

    @property
    def draft_rejection_rate(self) -> float | None:
        return _ratio(self.drafts_rejected, self.drafts_decided)

    @property
    def frt_sla_compliance(self) -> float | None:
        return _ratio(self.frt_sla_met, self.frt_sla_met + self.frt_sla_missed)

    @property
    def resolution_sla_compliance(self) -> float | None:
        return _ratio(self.resolution_sla_met, self.resolution_sla_met + self.resolution_sla_missed)

    @property
    def sla_compliance(self) -> float | None:
        return _ratio(self.sla_clean, self.sla_decided)

    @property
    def csat(self) -> float | None:
        return _ratio(self.csat_positive, self.csat_responses)

    @property
    def csat_auto(self) -> float | None:
        return _ratio(self.csat_auto_positive, self.csat_auto_responses)

    @property
    def intent_accuracy(self) -> float | None:
        return _ratio(self.reviewed - self.relabelled, self.reviewed)

    def to_dict(self) -> dict[str, object]:
        return {
            "since": self.since.isoformat(),
            "until": self.until.isoformat(),
            "volume": self.volume,
            "answered_by_bot": self.answered_by_bot,
            "deflection_rate": self.deflection_rate,
            "automated_resolutions": self.automated_resolutions,
            "automated_resolution_rate": self.automated_resolution_rate,
            "handoffs": self.handoffs,
            "handoff_rate": self.handoff_rate,
            "drafts_approved": self.drafts_approved,
            "drafts_edited": self.drafts_edited,
            "drafts_rejected": self.drafts_rejected,
            "drafts_pending": self.drafts_pending,
            "draft_approval_rate": self.draft_approval_rate,
            "draft_edit_rate": self.draft_edit_rate,
            "draft_rejection_rate": self.draft_rejection_rate,
            "mean_edit_distance": self.mean_edit_distance,
            "first_response_p50_s": self.first_response_p50_s,
            "first_response_p90_s": self.first_response_p90_s,
            "resolution_p50_s": self.resolution_p50_s,
            "resolution_p90_s": self.resolution_p90_s,
            "resolved": self.resolved,
            "top_intents": self.top_intents,
            "frt_sla_compliance": self.frt_sla_compliance,
            "resolution_sla_compliance": self.resolution_sla_compliance,
            "sla_compliance": self.sla_compliance,
            "sla_missed": self.sla_decided - self.sla_clean,
            "csat": self.csat,
            "csat_responses": self.csat_responses,
            "csat_mean_score": self.csat_mean_score,
            "csat_auto": self.csat_auto,
            "csat_auto_responses": self.csat_auto_responses,
            "intent_accuracy": self.intent_accuracy,
            "reviewed": self.reviewed,
            "relabelled": self.relabelled,
            "shadow": {
                "conversations": self.shadow_conversations,
                "decisions": self.shadow_decisions,
                "answers": self.shadow_answers,
                "drafts": self.shadow_drafts,
                "handoffs": self.shadow_handoffs,
                "compared": self.shadow_compared,
                "agreed": self.shadow_agreed,
                "agreement_rate": self.shadow_agreement_rate,
            },
        }


# ============================================================================ per-conversation facts


@dataclass
class ConversationFacts:
    """What the metrics need to know about one conversation, derived once."""

    conversation: Conversation
    tier: str
    platform: str
    intent: str | None  # the model's first prediction (agents' relabels do not change it here)
    answered_by_bot: bool = False
    automated_resolution: bool = False
    handed_off: bool = False
    frt_s: float | None = None
    resolution_s: float | None = None
    frt_met: bool | None = None  # None: not decided yet / no SLA
    resolution_met: bool | None = None
    rating_positive: bool | None = None
    rating_score: int | None = None
    draft_statuses: list[DraftStatus] = field(default_factory=list)
    edit_distances: list[float] = field(default_factory=list)
    reviewed: bool = False
    relabelled_to: str | None = None


class EventLog:
    """Every stored event of a window, loaded with one query per table (no N+1)."""

    def __init__(self, uow: UnitOfWork, since: datetime, until: datetime) -> None:
        self.since, self.until = since, until
        conversations = [c for c in uow.conversations.list(since=since) if c.created_at <= until]
        ids = {c.id for c in conversations}
        decisions = [d for d in uow.decisions.list(since=since) if d.conversation_id in ids]
        # shadow-mode decisions are reported apart; conversations with nothing but those are left out
        self.shadow = [d for d in decisions if d.shadow]
        self.decisions = _group(d for d in decisions if not d.shadow)
        shadow_only = {d.conversation_id for d in self.shadow} - set(self.decisions)
        self.conversations = [c for c in conversations if c.id not in shadow_only]
        ids -= shadow_only
        self.handoffs = _group(h for h in uow.handoffs.list(since=since) if h.conversation_id in ids)
        self.drafts = _group(d for d in uow.drafts.list(since=since) if d.conversation_id in ids)
        self.actions = _group(a for a in uow.actions.list(since=since) if a.conversation_id in ids)
        self.classifications = _group(c for c in uow.classifications.list(since=since) if c.conversation_id in ids)
        self.customer_messages = _group(
            m
            for m in uow.messages.list(since=since)
            if m.conversation_id in ids and m.kind is MessageKind.CUSTOMER and m.state is MessageState.PROCESSED
        )

    def facts(self, now: datetime | None = None) -> list[ConversationFacts]:
        now = now or self.until
        return [self._facts(c, now) for c in self.conversations]

    def _facts(self, conv: Conversation, now: datetime) -> ConversationFacts:
        decisions = self.decisions.get(conv.id, [])
        handoffs = self.handoffs.get(conv.id, [])
        actions = self.actions.get(conv.id, [])
        classes = self.classifications.get(conv.id, [])
        tier = next((d.account_tier for d in decisions if d.account_tier), None) or UNKNOWN_TIER
        intent = classes[0].classification.intent if classes else conv.intent
        f = ConversationFacts(conv, tier, conv.platform, intent, handed_off=bool(handoffs))
        ratings = [a for a in actions if a.action == "csat"]
        if ratings:
            first = ratings[0].detail
            f.rating_positive = bool(first.get("positive")) and not first.get("negative")
            f.rating_score = first.get("score") if isinstance(first.get("score"), int) else None
        if decisions and decisions[0].decision.action is Action.ANSWER:
            f.answered_by_bot = True
            answered_at = decisions[0].created_at
            end = answered_at + AUTOMATION_WINDOW
            f.automated_resolution = not (
                any(h.created_at <= end for h in handoffs)
                or any(answered_at < d.created_at <= end and d.decision.action is not Action.ANSWER for d in decisions)
                or any(a.detail.get("negative") and a.created_at <= end for a in ratings[:1])
                or self._reopened(conv.id, actions, end)
            )
        if conv.first_response_at:
            f.frt_s = (conv.first_response_at - conv.created_at).total_seconds()
        if conv.status is ConversationStatus.RESOLVED and conv.resolved_at:
            f.resolution_s = (conv.resolved_at - conv.created_at).total_seconds()
        f.frt_met = _clock(conv.first_response_due_at, conv.first_response_at, now, running=True)
        f.resolution_met = _clock(
            conv.resolution_due_at,
            conv.resolved_at if conv.status is ConversationStatus.RESOLVED else None,
            now,
            running=conv.status is ConversationStatus.OPEN,
        )
        drafts = self.drafts.get(conv.id, [])
        f.draft_statuses = [d.status for d in drafts]
        f.edit_distances = [
            float(a.detail["edit_distance"])
            for a in actions
            if a.action == "edit_draft" and "edit_distance" in a.detail
        ]
        relabels = [a for a in actions if a.action == "relabel"]
        f.reviewed = bool(relabels) or any(d.status is not DraftStatus.PENDING for d in drafts)
        changed = [a.detail.get("intent") for a in relabels if a.detail.get("intent") != intent]
        f.relabelled_to = changed[-1] if changed else None
        return f

    def _reopened(self, conversation_id: str, actions: Sequence[AgentActionRecord], end: datetime) -> bool:
        resolutions = [a.created_at for a in actions if a.action in ("resolve", "auto_resolve")]
        if not resolutions:
            return False
        return any(
            any(r < m.created_at <= end for r in resolutions) for m in self.customer_messages.get(conversation_id, [])
        )


def _group(items: Iterable[Any]) -> dict[str, list[Any]]:
    grouped: dict[str, list[Any]] = defaultdict(list)
    for item in items:
        grouped[item.conversation_id].append(item)
    return grouped


def _clock(due: datetime | None, done: datetime | None, now: datetime, *, running: bool) -> bool | None:
    if due is None:
        return None
    if done is not None:
        return done <= due
    if running and now > due:
        return False
    return None


def aggregate(facts: Sequence[ConversationFacts], since: datetime, until: datetime) -> Stats:
    """Stats over already derived facts (a tier's, a channel's, a day's...)."""
    s = Stats(since=since, until=until, volume=len(facts))
    intents: Counter[str] = Counter()
    frt, resolution, scores, distances = [], [], [], []
    for f in facts:
        if f.intent:
            intents[f.intent] += 1
        s.answered_by_bot += f.answered_by_bot
        s.automated_resolutions += f.automated_resolution
        s.handoffs += f.handed_off
        if f.frt_s is not None:
            frt.append(f.frt_s)
        if f.resolution_s is not None:
            resolution.append(f.resolution_s)
        s.resolved += f.conversation.status is ConversationStatus.RESOLVED
        s.frt_sla_met += f.frt_met is True
        s.frt_sla_missed += f.frt_met is False
        s.resolution_sla_met += f.resolution_met is True
        s.resolution_sla_missed += f.resolution_met is False
        if f.frt_met is not None or f.resolution_met is not None:
            s.sla_decided += 1
            s.sla_clean += f.frt_met is not False and f.resolution_met is not False
        if f.rating_positive is not None:
            s.csat_responses += 1
            s.csat_positive += f.rating_positive
            if f.rating_score is not None:
                scores.append(f.rating_score)
            if f.answered_by_bot:
                s.csat_auto_responses += 1
                s.csat_auto_positive += f.rating_positive
        for status in f.draft_statuses:
            s.drafts_approved += status is DraftStatus.APPROVED
            s.drafts_edited += status is DraftStatus.EDITED
            s.drafts_rejected += status is DraftStatus.REJECTED
            s.drafts_pending += status is DraftStatus.PENDING
        distances += f.edit_distances
        s.reviewed += f.reviewed
        s.relabelled += f.reviewed and f.relabelled_to is not None
    s.top_intents = intents.most_common(10)
    s.first_response_p50_s, s.first_response_p90_s = percentile(frt, 50), percentile(frt, 90)
    s.resolution_p50_s, s.resolution_p90_s = percentile(resolution, 50), percentile(resolution, 90)
    s.mean_edit_distance = round(sum(distances) / len(distances), 4) if distances else None
    s.csat_mean_score = round(sum(scores) / len(scores), 3) if scores else None
    return s


def add_shadow(stats: Stats, shadow: Sequence[DecisionRecord]) -> Stats:
    """The shadow-mode figures: what the bot would have done, and how often the agents agreed."""
    stats.shadow_conversations = len({d.conversation_id for d in shadow})
    stats.shadow_decisions = len(shadow)
    stats.shadow_answers = sum(d.decision.action is Action.ANSWER for d in shadow)
    stats.shadow_drafts = sum(d.decision.action is Action.DRAFT for d in shadow)
    stats.shadow_handoffs = sum(d.decision.action is Action.HANDOFF for d in shadow)
    stats.shadow_compared = sum(d.shadow_agreement is not None for d in shadow)
    stats.shadow_agreed = sum(d.shadow_agreement in ("article", "intent") for d in shadow)
    return stats


def compute_stats(uow: UnitOfWork, since: datetime, until: datetime) -> Stats:
    """Overall stats of the conversations opened in [since, until] (shadow-mode decisions apart)."""
    log = EventLog(uow, since, until)
    return add_shadow(aggregate(log.facts(), since, until), log.shadow)


# ============================================================================ the full picture


@dataclass(frozen=True)
class IntentRow:
    intent: str
    conversations: int
    reviewed: int
    overrides: int  # edited + rejected drafts + relabels away
    relabelled: int

    @property
    def accuracy(self) -> float | None:
        return _ratio(self.reviewed - self.relabelled, self.reviewed)

    @property
    def override_rate(self) -> float | None:
        return _ratio(self.overrides, self.reviewed)


@dataclass(frozen=True)
class LowConfidenceRow:
    guess: str  # the model's best guess
    count: int
    mean_confidence: float
    abstained: int  # of which the model said out of scope


@dataclass
class Metrics:
    overall: Stats
    by_tier: dict[str, Stats]
    by_platform: dict[str, Stats]
    daily: list[tuple[date, Stats]]
    intents: list[IntentRow]  # most conversations first
    low_confidence: list[LowConfidenceRow]  # most frequent first
    frt_seconds: list[float]  # every first response time, for distributions

    @property
    def most_overridden(self) -> list[IntentRow]:
        rows = [r for r in self.intents if r.overrides]
        return sorted(rows, key=lambda r: (-(r.override_rate or 0), -r.overrides, r.intent))


def compute_metrics(uow: UnitOfWork, since: datetime, until: datetime, *, zone: tzinfo = UTC) -> Metrics:
    """Overall stats, breakdowns by tier, channel and day (in ``zone``), intent quality."""
    log = EventLog(uow, since, until)
    facts = log.facts()
    by_tier: dict[str, list[ConversationFacts]] = defaultdict(list)
    by_platform: dict[str, list[ConversationFacts]] = defaultdict(list)
    by_day: dict[date, list[ConversationFacts]] = defaultdict(list)
    for f in facts:
        by_tier[f.tier].append(f)
        by_platform[f.platform].append(f)
        by_day[f.conversation.created_at.astimezone(zone).date()].append(f)
    first_day, last_day = since.astimezone(zone).date(), until.astimezone(zone).date()
    days = [first_day + timedelta(days=n) for n in range((last_day - first_day).days + 1)]
    return Metrics(
        overall=add_shadow(aggregate(facts, since, until), log.shadow),
        by_tier={k: aggregate(v, since, until) for k, v in sorted(by_tier.items())},
        by_platform={k: aggregate(v, since, until) for k, v in sorted(by_platform.items())},
        daily=[(d, aggregate(by_day.get(d, []), since, until)) for d in days],
        intents=_intent_rows(facts),
        low_confidence=_low_confidence(log),
        frt_seconds=[f.frt_s for f in facts if f.frt_s is not None],
    )


def _intent_rows(facts: Sequence[ConversationFacts]) -> list[IntentRow]:
    grouped: dict[str, list[ConversationFacts]] = defaultdict(list)
    for f in facts:
        grouped[f.intent or OUT_OF_SCOPE].append(f)
    rows = []
    for intent, items in grouped.items():
        reviewed = [f for f in items if f.reviewed]
        relabelled = sum(f.relabelled_to is not None for f in reviewed)
        overrides = (
            sum(sum(s in (DraftStatus.EDITED, DraftStatus.REJECTED) for s in f.draft_statuses) for f in items)
            + relabelled
        )
        rows.append(IntentRow(intent, len(items), len(reviewed), overrides, relabelled))
    return sorted(rows, key=lambda r: (-r.conversations, r.intent))


def _low_confidence(log: EventLog) -> list[LowConfidenceRow]:
    grouped: dict[str, list[tuple[float, bool]]] = defaultdict(list)
    for records in log.classifications.values():
        for record in records:
            c = record.classification
            if not (c.out_of_scope or c.confidence < LOW_CONFIDENCE):
                continue
            guess, confidence = c.intent, c.confidence
            if c.out_of_scope or guess == OUT_OF_SCOPE:
                best = next((s for s in c.top_intents if s.intent != OUT_OF_SCOPE), None)
                guess, confidence = (best.intent, best.probability) if best else (OUT_OF_SCOPE, c.confidence)
            grouped[guess].append((confidence, c.out_of_scope))
    rows = [
        LowConfidenceRow(g, len(v), round(sum(x for x, _ in v) / len(v), 3), sum(o for _, o in v))
        for g, v in grouped.items()
    ]
    return sorted(rows, key=lambda r: (-r.count, r.guess))


def is_automated_resolution(
    uow: UnitOfWork, conversation_id: str, answered_at: datetime, handoffs: Sequence[Handoff] | None = None
) -> bool:
    """Answered by the bot and, within 24 h, not handed off, reopened or rated negatively.

    For one conversation; ``compute_stats`` derives the same for many at once.
    """
    conv = uow.conversations.get(conversation_id)
    if conv is None:
        return False
    log = EventLog(uow, conv.created_at, max(conv.created_at, answered_at) + AUTOMATION_WINDOW)
    log.conversations = [conv]
    return log.facts()[0].automated_resolution


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
