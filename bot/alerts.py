"""Alerts for managers: green, yellow and red levels, posted once per crossing.

Each alert turns a metric (``bot.metrics``) into a level with the thresholds
in ``Settings.operations``:

- ``csat_auto``: CSAT on conversations answered by the bot, last 7 days
  (yellow below 85%, red below 75%; needs ``alert_min_ratings`` ratings).
- ``automation_drop``: automated resolution rate, last 7 days against the 7
  days before (yellow when it fell 5 points, red at 10 points).
- ``sla_breaches``: SLA breaches recorded in the last 24 h (yellow from 1,
  red from 5).

The last level of each alert is stored in the settings repository
(``alert.<name>``). A change of level posts one REPORT message to the
managers' channel (also the way back to green); the crossing is claimed in
``sla_events`` keyed by the previous state, so two schedulers post it once.
"""

from __future__ import annotations

import functools
import logging
from collections.abc import Callable
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta

from supportbot.bot.dispatch import Dispatcher
from supportbot.bot.domain import Audience, OutboundKind, SlaEvent, new_id
from supportbot.bot.metrics import compute_stats
from supportbot.bot.outbox import OutboxWriter
from supportbot.bot.ports import Clock, Database, UnitOfWork
from supportbot.bot.settings import OperationsSettings

log = logging.getLogger(__name__)

GREEN, YELLOW, RED = "green", "yellow", "red"
ICON = {GREEN: "🟢", YELLOW: "🟡", RED: "🔴"}
KEY_PREFIX = "alert."
EPOCH = datetime(1970, 1, 1, tzinfo=UTC)
BREACH_KINDS = ("frt_breach", "resolution_breach")


@dataclass(frozen=True)
class Reading:
    name: str
    level: str
    value: float
    text: str  # one line for humans


def _level_below(value: float, yellow: float, red: float) -> str:
    return RED if value < red else YELLOW if value < yellow else GREEN


def _level_above(value: float, yellow: float, red: float) -> str:
    return RED if value >= red else YELLOW if value >= yellow else GREEN


def evaluate(uow: UnitOfWork, now: datetime, settings: OperationsSettings) -> list[Reading]:
    """The current level of every alert that has enough data."""
    week = compute_stats(uow, now - timedelta(days=7), now)
    before = compute_stats(uow, now - timedelta(days=14), now - timedelta(days=7))
    readings = []
    if week.csat_auto is not None and week.csat_auto_responses >= settings.alert_min_ratings:
        yellow, red = settings.alert_auto_csat
        readings.append(
            Reading(
                "csat_auto",
                _level_below(week.csat_auto, yellow, red),
                week.csat_auto,
                f"CSAT on automatic answers is {week.csat_auto:.0%} over the last 7 days "
                f"({week.csat_auto_responses} ratings; yellow below {yellow:.0%}, red below {red:.0%}).",
            )
        )
    if week.automated_resolution_rate is not None and before.automated_resolution_rate is not None:
        drop = before.automated_resolution_rate - week.automated_resolution_rate
        yellow, red = settings.alert_automation_drop
        readings.append(
            Reading(
                "automation_drop",
                _level_above(drop, yellow, red),
                drop,
                f"Automated resolution is {week.automated_resolution_rate:.0%} this week against "
                f"{before.automated_resolution_rate:.0%} the week before ({-drop * 100:+.0f} pts).",
            )
        )
    breaches = len(uow.sla_events.list(since=now - timedelta(hours=24), kinds=list(BREACH_KINDS)))
    yellow_n, red_n = settings.alert_sla_breaches
    readings.append(
        Reading(
            "sla_breaches",
            _level_above(breaches, yellow_n, red_n),
            float(breaches),
            f"{breaches} SLA breach{'es' if breaches != 1 else ''} in the last 24 h "
            f"(yellow from {yellow_n}, red from {red_n}).",
        )
    )
    return readings


class AlertMonitor:
    def __init__(
        self,
        *,
        db: Database,
        outbox: OutboxWriter,
        clock: Clock,
        dispatcher: Dispatcher,
        settings: OperationsSettings,
        platforms: Callable[[], list[str]],
    ) -> None:
        self.db = db
        self.outbox = outbox
        self.clock = clock
        self.dispatcher = dispatcher
        self.settings = settings
        self.platforms = platforms  # where alerts go

    async def check(self, *, dispatch: bool = True) -> list[Reading]:
        """Evaluate every alert; post the ones whose level changed. Returns those."""
        now = self.clock.now()
        readings = await self.db.read(lambda uow: evaluate(uow, now, self.settings))
        posted = []
        for reading in readings:
            try:
                if await self.db.transaction(functools.partial(self._transition, reading=reading, now=now)):
                    posted.append(reading)
            except Exception:  # the next check retries; the claim keeps it single
                log.exception("alert %s failed", reading.name)
        if dispatch and posted:
            await self.dispatcher.dispatch()
        return posted

    def _transition(self, uow: UnitOfWork, reading: Reading, now: datetime) -> bool:
        key = KEY_PREFIX + reading.name
        state = uow.settings.get(key) or {"level": GREEN, "since": None}
        if state.get("level") == reading.level:
            return False
        anchor = datetime.fromisoformat(state["since"]) if state.get("since") else EPOCH
        claim = SlaEvent(
            new_id("sla"),
            f"alert:{reading.name}",
            f"alert_{reading.level}",
            anchor,
            now,
            {"from": state.get("level"), "value": reading.value},
        )
        if not uow.sla_events.claim(claim):
            return False
        uow.settings.set(key, {"level": reading.level, "since": now.isoformat(), "value": reading.value})
        previous = state.get("level", GREEN)
        verb = "recovered" if reading.level == GREEN else "is now"
        text = (
            f"{ICON[reading.level]} Alert {reading.name.replace('_', ' ')} {verb} {reading.level.upper()} "
            f"(was {previous}). {reading.text}"
        )
        for platform in self.platforms():
            self.outbox.queue(
                uow,
                None,
                Audience.MANAGERS,
                OutboundKind.REPORT,
                text,
                f"alert:{reading.name}:{reading.level}:{now.isoformat()}:{platform}",
                {
                    "alert": {
                        "name": reading.name,
                        "level": reading.level,
                        "previous": previous,
                        "value": reading.value,
                    }
                },
                platform=platform,
            )
        return True


def current_levels(uow: UnitOfWork) -> dict[str, str]:
    return {k[len(KEY_PREFIX) :]: (v or {}).get("level", GREEN) for k, v in uow.settings.items(KEY_PREFIX).items()}
