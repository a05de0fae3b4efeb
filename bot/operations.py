"""The weekly report for managers, and the decoder adapters use to upload its chart."""

from __future__ import annotations

import asyncio
import base64
import binascii
import logging
from collections.abc import Callable, Sequence
from datetime import datetime, time, timedelta

from supportbot.bot.dispatch import Dispatcher
from supportbot.bot.domain import Audience, Outbound, OutboundKind, SlaEvent, new_id
from supportbot.bot.gaps import Topic, find_gaps, shared_encoder, unanswered
from supportbot.bot.metrics import compute_metrics, compute_stats
from supportbot.bot.outbox import OutboxWriter
from supportbot.bot.ports import Clock, Database, UnitOfWork
from supportbot.bot.report import summary_chart_svg, weekly_summary
from supportbot.bot.settings import OperationsSettings
from supportbot.bot.sla import BusinessCalendar

log = logging.getLogger(__name__)


class WeeklyReport:
    def __init__(
        self,
        *,
        db: Database,
        outbox: OutboxWriter,
        clock: Clock,
        dispatcher: Dispatcher,
        settings: OperationsSettings,
        calendar: BusinessCalendar,
        platforms: Callable[[], list[str]],
    ) -> None:
        self.db = db
        self.outbox = outbox
        self.clock = clock
        self.dispatcher = dispatcher
        self.settings = settings
        self.calendar = calendar
        self.platforms = platforms

    async def post(self, *, dispatch: bool = True) -> bool:
        """Post the weekly summary (text + SVG chart) to the managers' channel once a week.

        Due from ``operations.report_hour`` on ``operations.report_weekday`` (in the
        SLA time zone); claimed per report day, so replicas and restarts post it once.
        """
        now = self.clock.now()
        local = now.astimezone(self.calendar.zone)
        if local.weekday() != self.settings.report_weekday or local.hour < self.settings.report_hour:
            return False
        questions = await self.db.read(lambda uow: unanswered(uow, now - timedelta(days=7)))
        # clustering is CPU work with the sentence encoder: off the loop and outside the transaction
        topics = await asyncio.to_thread(lambda: find_gaps(questions, encoder=shared_encoder())) if questions else []
        posted = await self.db.transaction(lambda uow: self._queue(uow, now, local, topics))
        if posted and dispatch:
            await self.dispatcher.dispatch()
        return posted

    def _queue(self, uow: UnitOfWork, now: datetime, local: datetime, topics: Sequence[Topic] = ()) -> bool:
        zone = self.calendar.zone
        day_start = datetime.combine(local.date(), time(0), zone)
        platforms = self.platforms()
        if not uow.sla_events.claim(
            SlaEvent(new_id("sla"), "report:weekly", "weekly_report", day_start, now, {"platforms": platforms})
        ):
            return False
        metrics = compute_metrics(uow, now - timedelta(days=7), now, zone=zone)
        previous = compute_stats(uow, now - timedelta(days=14), now - timedelta(days=7))
        text = weekly_summary(metrics.overall, previous, topics)
        chart = base64.b64encode(summary_chart_svg(metrics).encode()).decode()
        for platform in platforms:
            self.outbox.queue(
                uow,
                None,
                Audience.MANAGERS,
                OutboundKind.REPORT,
                text,
                f"weekly-report:{platform}:{local.date().isoformat()}",
                {
                    "summary": text,
                    "stats": metrics.overall.to_dict(),
                    "gaps": [t.to_dict() for t in topics[:10]],
                    "chart": {
                        "filename": f"support-week-{local.date().isoformat()}.svg",
                        "mime_type": "image/svg+xml",
                        "base64": chart,
                    },
                },
                platform=platform,
            )
        return True


def report_chart(outbound: Outbound) -> tuple[str, bytes] | None:
    """(filename, bytes) of a report's chart (payload["chart"], base64), or None; adapters upload it."""
    chart = outbound.payload.get("chart")
    if not isinstance(chart, dict) or not chart.get("base64"):
        return None
    try:
        data = base64.b64decode(str(chart["base64"]), validate=True)
    except (binascii.Error, ValueError):
        log.warning("report %s: chart is not valid base64; posting the summary only", outbound.id)
        return None
    return str(chart.get("filename") or "chart.svg"), data
