"""Scheduler jobs for operations: SLA sweep, lifecycle sweep, alerts, weekly report.

``adapters.runtime`` imports this module and runs every job in ``JOBS`` on
its AsyncIOScheduler. Jobs are registered with a short tick; each one runs
its sweep when the interval from the settings (``sla.sweep_seconds``,
``operations.lifecycle_sweep_seconds``, ``operations.alerts_sweep_seconds``)
has passed, so intervals are configurable without touching the scheduler.
The weekly report job checks hourly-ish whether this week's report is due.
All of them are safe to run on several replicas at once: every action is
claimed in the database first.
"""

from __future__ import annotations

import logging
import time
from collections.abc import Awaitable, Callable

from supportbot.adapters.bootstrap import App
from supportbot.adapters.runtime import JOBS
from supportbot.bot.operations import Operations

log = logging.getLogger(__name__)

TICK_SECONDS = 5.0


def operations_of(app: App) -> Operations:
    ops = app.extras.get("operations")
    if ops is None:
        ops = app.extras["operations"] = Operations.install(app.core, app.settings)
    return ops


def _every(interval: Callable[[App], float], run: Callable[[Operations], Awaitable[object]]):
    """A job factory: run ``run`` when ``interval(app)`` seconds have passed since the last run."""

    def factory(app: App) -> Callable[[], Awaitable[None]]:
        last = [float("-inf")]

        async def job() -> None:
            now = time.monotonic()
            if now - last[0] < interval(app):
                return
            last[0] = now
            await run(operations_of(app))

        return job

    return factory


def register() -> None:
    names = {name for name, _, _ in JOBS}
    jobs = [
        ("sla_sweep", _every(lambda app: app.settings.sla.sweep_seconds, lambda ops: ops.sla.sweep())),
        (
            "lifecycle_sweep",
            _every(lambda app: app.settings.operations.lifecycle_sweep_seconds, lambda ops: ops.lifecycle.sweep()),
        ),
        ("alerts", _every(lambda app: app.settings.operations.alerts_sweep_seconds, lambda ops: ops.alerts.check())),
        ("weekly_report", _every(lambda app: 600.0, lambda ops: ops.weekly_report())),
    ]
    for name, factory in jobs:
        if name not in names:
            JOBS.append((name, TICK_SECONDS, factory))


register()
