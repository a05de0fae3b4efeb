"""Operations wiring in the core: SLA, lifecycle and CSAT hooks plus the sweeps
the scheduler runs (``adapters/operations.py`` registers them as jobs).

``Operations.install(core, settings)`` is called by the composition root; it
adds the hooks to ``core.hooks`` and returns the object holding the sweeps.
"""

from __future__ import annotations

import base64
import binascii
import logging
from datetime import datetime, time, timedelta

from supportbot.bot.alerts import AlertMonitor
from supportbot.bot.csat import CsatHooks
from supportbot.bot.domain import Audience, Outbound, OutboundKind, SlaEvent, new_id
from supportbot.bot.lifecycle import LifecycleSweeper
from supportbot.bot.metrics import compute_metrics, compute_stats
from supportbot.bot.report import summary_chart_svg, weekly_summary
from supportbot.bot.settings import Settings
from supportbot.bot.sla import SlaHooks, SlaPolicy, SlaSweeper

log = logging.getLogger(__name__)


class Operations:
    def __init__(self, core, settings: Settings) -> None:  # core: bot.service.SupportCore
        self.core = core
        self.settings = settings
        self.sla_policy = SlaPolicy(settings.sla)
        self.sla = SlaSweeper(core, self.sla_policy)
        self.lifecycle = LifecycleSweeper(core, timedelta(hours=settings.operations.auto_resolve_hours))
        self.sla_hooks = SlaHooks(self.sla_policy)
        self.csat_hooks = CsatHooks(core, settings.operations.csat_platforms)
        self.alerts = AlertMonitor(core, settings.operations, self.report_platforms)

    @classmethod
    def install(cls, core, settings: Settings) -> Operations:
        ops = cls(core, settings)
        core.hooks.extend([ops.sla_hooks, ops.csat_hooks])
        return ops

    def report_platforms(self) -> list[str]:
        """Where manager reports and alerts go: the setting, else every registered channel."""
        configured = self.settings.operations.report_platforms
        return list(configured) if configured else sorted(self.core.channels)

    async def weekly_report(self, *, dispatch: bool = True) -> bool:
        """Post the weekly summary (text + SVG chart) to the managers' channel once a week.

        Due from ``operations.report_hour`` on ``operations.report_weekday`` (in the
        SLA time zone); claimed per report day, so replicas and restarts post it once.
        """
        ops = self.settings.operations
        now = self.core.clock.now()
        zone = self.sla_policy.calendar.zone
        local = now.astimezone(zone)
        if local.weekday() != ops.report_weekday or local.hour < ops.report_hour:
            return False
        day_start = datetime.combine(local.date(), time(0), zone)
        platforms = self.report_platforms()
        with self.core.uow() as uow:
            if not uow.sla_events.claim(
                SlaEvent(new_id("sla"), "report:weekly", "weekly_report", day_start, now, {"platforms": platforms})
            ):
                return False
            metrics = compute_metrics(uow, now - timedelta(days=7), now, zone=zone)
            previous = compute_stats(uow, now - timedelta(days=14), now - timedelta(days=7))
            text = weekly_summary(metrics.overall, previous)
            chart = base64.b64encode(summary_chart_svg(metrics).encode()).decode()
            for platform in platforms:
                self.core.queue(
                    uow,
                    None,
                    Audience.MANAGERS,
                    OutboundKind.REPORT,
                    text,
                    f"weekly-report:{platform}:{local.date().isoformat()}",
                    {
                        "summary": text,
                        "stats": metrics.overall.to_dict(),
                        "chart": {
                            "filename": f"support-week-{local.date().isoformat()}.svg",
                            "mime_type": "image/svg+xml",
                            "base64": chart,
                        },
                    },
                    platform=platform,
                )
            uow.commit()
        if dispatch:
            await self.core.dispatch_outbox()
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
