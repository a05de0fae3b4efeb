"""Service-level agreements: due times, business hours, the pause while we wait
on the customer, and the sweep that warns, escalates and records breaches.

Targets come from ``Settings.sla`` per account tier and urgency. A target
counts business minutes (Mon-Fri 09:00-18:00 in the configured zone, minus
holidays) unless it is 24/7.

Due times live on the conversation (``first_response_due_at``,
``resolution_due_at``). The resolution clock pauses while the conversation
waits on the customer (or is resolved): when the customer writes again, the
paused time is recorded as a ``pause`` event and added to the resolution due
time, so recomputing due times (urgency changed) keeps earlier pauses.

The sweep looks at OPEN conversations only. For each clock still running it
compares the time left with the target: at ``warn_at`` (75%) of the allowed
time used it posts a warning in the mirror thread, at ``escalate_at`` (90%) it
mentions the assignee and the on-call (or managers), and at 100% it records a
breach. Each of those is claimed in ``sla_events`` with a UNIQUE
(conversation_id, kind, due_at) in the same transaction that queues the
message, so several schedulers, or one before and after a restart, act on
each event exactly once.
"""

from __future__ import annotations

import functools
import logging
from dataclasses import dataclass
from datetime import UTC, date, datetime, time, timedelta
from zoneinfo import ZoneInfo

from supportbot.bot.dispatch import Dispatcher
from supportbot.bot.domain import (
    Audience,
    Conversation,
    ConversationStatus,
    MessageKind,
    OutboundKind,
    SlaEvent,
    Urgency,
    new_id,
)
from supportbot.bot.effects import EventBus, Scope
from supportbot.bot.events import CustomerReturned, Reopened, Triaged
from supportbot.bot.outbox import OutboxWriter
from supportbot.bot.ports import Clock, Database, UnitOfWork
from supportbot.bot.settings import SlaSettings, SlaTarget

log = logging.getLogger(__name__)

FRT, RESOLUTION = "frt", "resolution"
WARNING, ESCALATION, BREACH = "warning", "escalation", "breach"
PAUSE = "pause"
_MAX_DAYS = 3660  # a target can never be more than ten years of business days away


class BusinessCalendar:
    """Working hours in one time zone; all inputs and outputs are aware datetimes."""

    def __init__(self, zone: str, days: list[int], start: time, end: time, holidays: list[date]) -> None:
        if end <= start:
            raise ValueError("business hours must end after they start")
        self.zone = ZoneInfo(zone)
        self.days = frozenset(days)
        self.start, self.end = start, end
        self.holidays = frozenset(holidays)

    @classmethod
    def from_settings(cls, settings: SlaSettings) -> BusinessCalendar:
        return cls(
            settings.timezone, settings.business_days, settings.business_start, settings.business_end, settings.holidays
        )

    def is_business_day(self, day: date) -> bool:
        return day.weekday() in self.days and day not in self.holidays

    def _window(self, day: date) -> tuple[datetime, datetime]:
        opens = datetime.combine(day, self.start, self.zone).astimezone(UTC)
        closes = datetime.combine(day, self.end, self.zone).astimezone(UTC)
        return opens, closes

    def add(self, start: datetime, minutes: float) -> datetime:
        """The moment ``minutes`` business minutes after ``start``."""
        remaining = timedelta(minutes=max(minutes, 0.0))
        current = start.astimezone(UTC)
        day = current.astimezone(self.zone).date()
        for _ in range(_MAX_DAYS):
            if self.is_business_day(day):
                opens, closes = self._window(day)
                current = max(current, opens)
                if current < closes:
                    available = closes - current
                    if remaining <= available:
                        return current + remaining
                    remaining -= available
            day += timedelta(days=1)
            current = max(current, datetime.combine(day, time(0), self.zone).astimezone(UTC))
        raise ValueError("no business hours configured within ten years")

    def elapsed(self, since: datetime, until: datetime) -> float:
        """Business minutes between two moments (0 when ``until`` is not later)."""
        a, b = since.astimezone(UTC), until.astimezone(UTC)
        if b <= a:
            return 0.0
        total = timedelta(0)
        day = a.astimezone(self.zone).date()
        last = b.astimezone(self.zone).date()
        while day <= last:
            if self.is_business_day(day):
                opens, closes = self._window(day)
                lo, hi = max(a, opens), min(b, closes)
                if hi > lo:
                    total += hi - lo
            day += timedelta(days=1)
        return total.total_seconds() / 60


@dataclass(frozen=True)
class ClockState:
    """One running SLA clock of a conversation at a moment."""

    clock: str  # frt or resolution
    due_at: datetime
    target_minutes: float
    remaining_minutes: float  # in the target's own minutes (business or wall); negative when breached

    @property
    def used(self) -> float:
        return 1.0 - self.remaining_minutes / self.target_minutes


ON_TRACK, AT_RISK, BREACHED = "on_track", "at_risk", "breached"


@dataclass(frozen=True)
class SlaStanding:
    """The SLA clock of a conversation that is due first, and how it stands (for queues)."""

    clock: ClockState
    risk: str  # on_track, at_risk (``warn_at`` of the allowed time used) or breached


class SlaPolicy:
    def __init__(self, settings: SlaSettings) -> None:
        self.settings = settings
        self.calendar = BusinessCalendar.from_settings(settings)

    # ------------------------------------------------------------ targets and arithmetic
    def target(self, tier: str | None, urgency: Urgency | str) -> SlaTarget:
        targets = self.settings.targets
        by_urgency = targets.get(tier or "*") or targets.get("*") or {}
        key = urgency.value if isinstance(urgency, Urgency) else str(urgency)
        found = by_urgency.get(key) or by_urgency.get("*")
        if found is None:
            fallback = targets.get("*", {})
            found = fallback.get(key) or fallback.get("*")
        if found is None:
            raise ValueError(f"no SLA target for tier {tier!r} and urgency {key!r} and no '*' fallback")
        return found

    def add(self, start: datetime, minutes: float, business_hours: bool) -> datetime:
        if business_hours:
            return self.calendar.add(start, minutes)
        return start.astimezone(UTC) + timedelta(minutes=minutes)

    def elapsed(self, since: datetime, until: datetime, business_hours: bool) -> float:
        if business_hours:
            return self.calendar.elapsed(since, until)
        return max(0.0, (until - since).total_seconds() / 60)

    def remaining(self, now: datetime, due: datetime, business_hours: bool) -> float:
        if now <= due:
            return self.elapsed(now, due, business_hours)
        return -self.elapsed(due, now, business_hours)

    def compute_due(
        self,
        created_at: datetime,
        tier: str | None,
        urgency: Urgency,
        *,
        paused_business: float = 0.0,
        paused_wall: float = 0.0,
    ) -> tuple[datetime, datetime]:
        """(first response due, resolution due) for a conversation opened at ``created_at``."""
        target = self.target(tier, urgency)
        paused = paused_business if target.business_hours else paused_wall
        return (
            self.add(created_at, target.first_response_minutes, target.business_hours),
            self.add(created_at, target.resolution_minutes + paused, target.business_hours),
        )

    def clocks(self, conv: Conversation, tier: str | None, now: datetime) -> list[ClockState]:
        """The SLA clocks running for ``conv`` now (none unless it is OPEN)."""
        if conv.status is not ConversationStatus.OPEN:
            return []
        target = self.target(tier, conv.urgency)
        states = []
        if conv.first_response_at is None and conv.first_response_due_at is not None:
            states.append(
                ClockState(
                    FRT,
                    conv.first_response_due_at,
                    target.first_response_minutes,
                    self.remaining(now, conv.first_response_due_at, target.business_hours),
                )
            )
        if conv.resolution_due_at is not None:
            states.append(
                ClockState(
                    RESOLUTION,
                    conv.resolution_due_at,
                    target.resolution_minutes,
                    self.remaining(now, conv.resolution_due_at, target.business_hours),
                )
            )
        return states

    def standing(self, conv: Conversation, tier: str | None, now: datetime) -> SlaStanding | None:
        """The running clock due first and its risk; None when no clock runs (waiting on the customer, resolved)."""
        if not self.settings.enabled:
            return None
        states = self.clocks(conv, tier, now)
        if not states:
            return None
        first = min(states, key=lambda s: s.due_at)
        if first.remaining_minutes <= 0:
            risk = BREACHED
        elif first.target_minutes <= 0 or first.used >= self.settings.warn_at:
            risk = AT_RISK
        else:
            risk = ON_TRACK
        return SlaStanding(first, risk)


def tier_of(uow: UnitOfWork, conv: Conversation) -> str | None:
    """The account tier recorded with the conversation's latest decision."""
    for record in reversed(uow.decisions.for_conversation(conv.id)):
        if record.account_tier:
            return record.account_tier
    return None


def paused_minutes(uow: UnitOfWork, conversation_id: str) -> tuple[float, float]:
    """(business, wall) minutes the resolution clock was paused so far."""
    events = uow.sla_events.list(conversation_id=conversation_id, kinds=[PAUSE])
    return (
        sum(float(e.detail.get("business_minutes", 0)) for e in events),
        sum(float(e.detail.get("wall_minutes", 0)) for e in events),
    )


class SlaClocks:
    """Event handlers: set due times when a message is triaged, extend them by the time we waited."""

    def __init__(self, policy: SlaPolicy) -> None:
        self.policy = policy

    def subscribe(self, bus: EventBus) -> None:
        bus.subscribe(Triaged, self.on_triaged)
        bus.subscribe(Reopened, self.on_reopened)
        bus.subscribe(CustomerReturned, self.on_customer_returned)

    def on_triaged(self, scope: Scope, event: Triaged) -> None:
        if not self.policy.settings.enabled:
            return
        conv = scope.conv
        # a new conversation has no earlier decision to take the tier from
        tier = event.account_tier if event.account_tier or event.is_new else tier_of(scope.uow, conv)
        business, wall = (0.0, 0.0) if event.is_new else paused_minutes(scope.uow, conv.id)
        conv.first_response_due_at, conv.resolution_due_at = self.policy.compute_due(
            conv.created_at, tier, conv.urgency, paused_business=business, paused_wall=wall
        )

    def on_reopened(self, scope: Scope, event: Reopened) -> None:
        self._end_pause(scope, event.resolved_at)

    def on_customer_returned(self, scope: Scope, event: CustomerReturned) -> None:
        replies = [
            m
            for m in scope.uow.messages.for_conversation(scope.conv.id)
            if m.kind in (MessageKind.BOT_ANSWER, MessageKind.AGENT_REPLY)
        ]
        self._end_pause(scope, replies[-1].created_at if replies else scope.conv.updated_at)

    def _end_pause(self, scope: Scope, paused_since: datetime) -> None:
        """The customer wrote: extend the resolution due time by the time the clock was paused."""
        conv, uow = scope.conv, scope.uow
        now = conv.last_customer_message_at or conv.updated_at
        if not self.policy.settings.enabled or conv.resolution_due_at is None:
            return
        earlier = uow.sla_events.list(conversation_id=conv.id, kinds=[PAUSE])
        if earlier:  # never count the same paused stretch twice
            paused_since = max(paused_since, earlier[-1].due_at)
        if now <= paused_since:
            return
        business = self.policy.calendar.elapsed(paused_since, now)
        wall = (now - paused_since).total_seconds() / 60
        claimed = uow.sla_events.claim(
            SlaEvent(
                new_id("sla"),
                conv.id,
                PAUSE,
                now,
                now,
                {
                    "since": paused_since.isoformat(),
                    "business_minutes": round(business, 3),
                    "wall_minutes": round(wall, 3),
                },
            )
        )
        if not claimed:
            return
        target = self.policy.target(tier_of(uow, conv), conv.urgency)
        extra = business if target.business_hours else wall
        conv.resolution_due_at = self.policy.add(conv.resolution_due_at, extra, target.business_hours)


def _duration(minutes: float) -> str:
    minutes = abs(minutes)
    if minutes < 90:
        return f"{minutes:.0f} min"
    if minutes < 48 * 60:
        return f"{minutes / 60:.1f} h"
    return f"{minutes / 1440:.1f} days"


@dataclass(frozen=True)
class SweepResult:
    warnings: int = 0
    escalations: int = 0
    breaches: int = 0


class SlaSweeper:
    """Warn, escalate and record breaches for every OPEN conversation."""

    def __init__(
        self, *, db: Database, outbox: OutboxWriter, clock: Clock, dispatcher: Dispatcher, policy: SlaPolicy
    ) -> None:
        self.db = db
        self.outbox = outbox
        self.clock = clock
        self.dispatcher = dispatcher
        self.policy = policy

    async def sweep(self, *, dispatch: bool = True) -> SweepResult:
        if not self.policy.settings.enabled:
            return SweepResult()
        now = self.clock.now()
        # a read-only pass; write transactions only where something is due
        open_convs = await self.db.read(
            lambda uow: [
                conv
                for conv in uow.conversations.list(statuses=[ConversationStatus.OPEN])
                if self._unclaimed(uow, conv, now)
            ]
        )
        counts = {WARNING: 0, ESCALATION: 0, BREACH: 0}
        for conv in open_convs:
            try:
                for level in await self.db.transaction(
                    functools.partial(self._sweep_one, conversation_id=conv.id, now=now)
                ):
                    counts[level] += 1
            except Exception:  # one bad row or a lost write race must not stop the sweep; next sweep retries
                log.exception("SLA sweep failed for conversation %s", conv.id)
        if dispatch and any(counts.values()):
            await self.dispatcher.dispatch()
        return SweepResult(counts[WARNING], counts[ESCALATION], counts[BREACH])

    def _crossed(self, state: ClockState) -> list[str]:
        settings = self.policy.settings
        return [
            level
            for level, at in ((WARNING, settings.warn_at), (ESCALATION, settings.escalate_at), (BREACH, 1.0))
            if state.used >= at
        ]

    def _unclaimed(self, uow: UnitOfWork, conv: Conversation, now: datetime) -> bool:
        """Whether ``conv`` has a crossed level not claimed yet."""
        due = [(state, self._crossed(state)) for state in self.policy.clocks(conv, tier_of(uow, conv), now)]
        if not any(levels for _, levels in due):
            return False
        claimed = {(e.kind, e.due_at) for e in uow.sla_events.list(conversation_id=conv.id)}
        return any((f"{state.clock}_{level}", state.due_at) not in claimed for state, levels in due for level in levels)

    def _sweep_one(self, uow: UnitOfWork, conversation_id: str, now: datetime) -> list[str]:
        fired: list[str] = []
        conv = uow.conversations.get(conversation_id)
        if conv is None:
            return fired
        for state in self.policy.clocks(conv, tier_of(uow, conv), now):
            crossed = self._crossed(state)
            if not crossed:
                continue
            highest = crossed[-1]
            for level in crossed:
                kind = f"{state.clock}_{level}"
                event = SlaEvent(
                    new_id("sla"),
                    conv.id,
                    kind,
                    state.due_at,
                    now,
                    {"used": round(state.used, 4), "target_minutes": state.target_minutes},
                )
                if not uow.sla_events.claim(event):
                    continue
                # a warning superseded by a later level in the same sweep is recorded, not posted
                if level == WARNING and highest != WARNING:
                    continue
                self._post(uow, conv, state, level)
                fired.append(level)
        return fired

    def _post(self, uow: UnitOfWork, conv: Conversation, state: ClockState, level: str) -> None:
        what = "first response" if state.clock == FRT else "resolution"
        due = state.due_at.astimezone(self.policy.calendar.zone).strftime("%a %d %b %H:%M %Z")
        mentions: list[str] = []
        if level == WARNING:
            text = (
                f"⚠️ SLA warning: {what} due {due} — {_duration(state.remaining_minutes)} left "
                f"({state.used:.0%} of the {_duration(state.target_minutes)} target used)."
            )
        elif level == ESCALATION:
            mentions = self.escalation_targets(conv)
            # plain text names the people; adapters turn payload["mentions"] into real platform mentions
            who = " ".join(f"@{m}" for m in mentions) or "(no on-call or manager configured)"
            text = (
                f"🚨 SLA escalation: {what} due {due} — only {_duration(state.remaining_minutes)} left "
                f"({state.used:.0%} used). {who} please take this conversation."
            )
        else:
            mentions = self.escalation_targets(conv)
            text = f"❌ SLA breached: {what} was due {due} ({_duration(state.target_minutes)} target)."
        self.outbox.queue(
            uow,
            conv,
            Audience.STAFF,
            OutboundKind.NOTICE,
            text,
            f"sla:{conv.id}:{state.clock}_{level}:{state.due_at.isoformat()}",
            {
                "sla": {
                    "clock": state.clock,
                    "level": level,
                    "due_at": state.due_at.isoformat(),
                    "used": round(state.used, 4),
                },
                "mentions": mentions,
            },
        )

    def escalation_targets(self, conv: Conversation) -> list[str]:
        """The assignee first, then the platform's on-call, else its managers."""
        settings = self.policy.settings
        people = [conv.assignee_id] if conv.assignee_id else []
        people += settings.oncall.get(conv.platform) or settings.managers.get(conv.platform) or []
        return list(dict.fromkeys(p for p in people if p))
