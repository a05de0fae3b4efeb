"""What operators watch: Prometheus metrics (the core's ``Telemetry`` port) and the health report.

``PrometheusTelemetry`` counts and times what the core reports, in a registry of its own (no
process-global state, so several runtimes in one test process never collide). Gauges that
describe the present (outbox backlog, CRM health, platform connections) are set at scrape time
from a ``HealthReport``, which ``HealthCheck`` builds cheaply: one indexed query (the outbox
backlog, which doubles as the database probe) under a short timeout, shared by concurrent
callers and reused for a second.

Metric names (all prefixed ``supportbot_``):

=========================================  =========  ==========================================
``inbound_messages_total``                 counter    platform, outcome (stored/duplicate/rejected)
``decisions_total``                        counter    platform, action, rule
``deliveries_total``                       counter    platform, kind, outcome, cause
``latency_seconds``                        histogram  operation (crm_lookup, triage, process)
``database_up``                            gauge      1 when the health probe read the database
``outbox_pending``                         gauge      PENDING outbox items
``outbox_oldest_pending_age_seconds``      gauge      age of the oldest of them (0 when none)
``crm_up``                                 gauge      0 while lookups fail or the breaker is open
``crm_consecutive_failures``               gauge
``crm_breaker_open``                       gauge      1 while nobody waits on the CRM
``crm_last_success_timestamp_seconds``     gauge      Unix time of the last answer (0: never)
``platform_up``                            gauge      platform: the gateway/socket/receiver is up
=========================================  =========  ==========================================
"""

from __future__ import annotations

import asyncio
import logging
import time
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any

from prometheus_client import CollectorRegistry, Counter, Gauge, Histogram, generate_latest

from supportbot.bot.accounts import CrmHealth
from supportbot.bot.core import SupportCore
from supportbot.bot.ports import Telemetry

log = logging.getLogger(__name__)

CONTENT_TYPE = "text/plain; version=0.0.4; charset=utf-8"
# from a cached lookup (a millisecond) to a CRM or model that takes its whole deadline
LATENCY_BUCKETS = (0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0, 10.0, 30.0, 60.0)


def _label(value: str | None) -> str:
    """Labels are short names by the port's contract; cap them anyway so a bug cannot explode the series."""
    return (value or "")[:64]


class PrometheusTelemetry(Telemetry):
    def __init__(self, registry: CollectorRegistry | None = None) -> None:
        self.registry = registry or CollectorRegistry(auto_describe=True)
        r = self.registry
        self.inbound_total = Counter(
            "supportbot_inbound_messages", "Messages platforms delivered", ["platform", "outcome"], registry=r
        )
        self.decisions_total = Counter(
            "supportbot_decisions", "Messages triaged, by action and rule", ["platform", "action", "rule"], registry=r
        )
        self.deliveries_total = Counter(
            "supportbot_deliveries",
            "Outbox delivery attempts by outcome (sent, retry, failed) and cause",
            ["platform", "kind", "outcome", "cause"],
            registry=r,
        )
        self.latency = Histogram(
            "supportbot_latency_seconds",
            "Time spent in crm_lookup, triage and process (receipt to decision)",
            ["operation"],
            buckets=LATENCY_BUCKETS,
            registry=r,
        )
        self.database_up = Gauge("supportbot_database_up", "1 when the health probe read the database", registry=r)
        self.outbox_pending = Gauge("supportbot_outbox_pending", "Outbox items waiting to be sent", registry=r)
        self.outbox_oldest = Gauge(
            "supportbot_outbox_oldest_pending_age_seconds", "Age of the oldest pending outbox item", registry=r
        )
        self.crm_up = Gauge("supportbot_crm_up", "0 while CRM lookups fail or the breaker is open", registry=r)
        self.crm_failures = Gauge("supportbot_crm_consecutive_failures", "CRM lookups failed in a row", registry=r)
        self.crm_breaker_open = Gauge("supportbot_crm_breaker_open", "1 while the CRM breaker is open", registry=r)
        self.crm_last_success = Gauge(
            "supportbot_crm_last_success_timestamp_seconds", "When the CRM last answered (0: never)", registry=r
        )
        self.platform_up = Gauge(
            "supportbot_platform_up", "1 while a platform connection is up", ["platform"], registry=r
        )

    # ---------------------------------------------------------------- the port
    def inbound(self, platform: str, outcome: str) -> None:
        self.inbound_total.labels(_label(platform), _label(outcome)).inc()

    def decided(self, platform: str, action: str, rule: str) -> None:
        self.decisions_total.labels(_label(platform), _label(action), _label(rule)).inc()

    def delivered(self, platform: str, kind: str, outcome: str, error: str | None = None) -> None:
        self.deliveries_total.labels(_label(platform), _label(kind), _label(outcome), _label(error)).inc()

    def observe(self, name: str, seconds: float) -> None:
        self.latency.labels(_label(name)).observe(max(0.0, seconds))

    # ---------------------------------------------------------------- scrape time
    def update(self, report: HealthReport) -> None:
        self.database_up.set(1 if report.database_ok else 0)
        if report.database_ok:  # otherwise keep the last known backlog rather than claim it is empty
            self.outbox_pending.set(report.outbox_pending)
            self.outbox_oldest.set(report.outbox_oldest_seconds or 0.0)
        crm = report.crm
        self.crm_up.set(0 if report.crm_degraded else 1)
        self.crm_failures.set(crm.consecutive_failures)
        self.crm_breaker_open.set(1 if crm.open_until is not None and report.at < crm.open_until else 0)
        self.crm_last_success.set(crm.last_success.timestamp() if crm.last_success else 0)
        for name, state in report.platforms.items():
            self.platform_up.labels(_label(name)).set(1 if state.get("ok") else 0)

    def exposition(self) -> bytes:
        return generate_latest(self.registry)


# ==================================================================== health


@dataclass
class HealthReport:
    at: datetime
    database_ok: bool
    database_error: str | None = None
    database_ms: float | None = None
    outbox_pending: int = 0
    outbox_oldest_seconds: float | None = None
    outbox_stuck_after: float = 300.0
    crm: CrmHealth = field(default_factory=CrmHealth)
    crm_degraded: bool = False
    platforms: dict[str, dict[str, Any]] = field(default_factory=dict)

    @property
    def outbox_stuck(self) -> bool:
        return self.outbox_oldest_seconds is not None and self.outbox_oldest_seconds > self.outbox_stuck_after

    @property
    def status(self) -> str:
        if not self.database_ok:
            return "down"
        if self.crm_degraded or self.outbox_stuck or not all(p.get("ok") for p in self.platforms.values()):
            return "degraded"
        return "ok"

    @property
    def http_status(self) -> int:
        # degraded still serves: an orchestrator must not restart a bot over a CRM outage
        return 200 if self.database_ok else 503

    def to_dict(self) -> dict[str, Any]:
        def iso(value: datetime | None) -> str | None:
            return value.isoformat() if value else None

        crm = self.crm
        checks: dict[str, Any] = {
            "database": {"ok": self.database_ok}
            | ({"error": self.database_error} if self.database_error else {"latency_ms": self.database_ms}),
            "outbox": (
                {
                    "ok": not self.outbox_stuck,
                    "pending": self.outbox_pending,
                    "oldest_pending_seconds": (
                        round(self.outbox_oldest_seconds, 1) if self.outbox_oldest_seconds is not None else None
                    ),
                    "stuck_after_seconds": self.outbox_stuck_after,
                }
                if self.database_ok
                else {"ok": False, "error": "database unavailable"}
            ),
            "crm": {
                "ok": not self.crm_degraded,
                "consecutive_failures": crm.consecutive_failures,
                "last_error": crm.last_error,
                "last_error_at": iso(crm.last_error_at),
                "last_success": iso(crm.last_success),
                "breaker_open_until": iso(crm.open_until) if crm.open_until and self.at < crm.open_until else None,
            },
        }
        checks.update(self.platforms)
        return {"ok": self.database_ok, "status": self.status, "checks": checks}


PlatformHealth = Callable[[], Mapping[str, Any]]


class HealthCheck:
    """Builds a ``HealthReport``; cheap enough to poll every second from every load balancer.

    ``platforms`` returns the current ``name -> health()`` callables (services come and go).
    """

    def __init__(
        self,
        core: SupportCore,
        platforms: Callable[[], Mapping[str, PlatformHealth]] = dict,
        *,
        outbox_stuck_after: float = 300.0,
        db_timeout: float = 2.0,
        cache_seconds: float = 1.0,
    ) -> None:
        self.core = core
        self.platforms = platforms
        self.outbox_stuck_after = outbox_stuck_after
        self.db_timeout = db_timeout
        self.cache_seconds = cache_seconds
        self._last: tuple[float, HealthReport] | None = None
        self._pending: asyncio.Future[HealthReport] | None = None
        self._database_ok: bool | None = True

    async def report(self) -> HealthReport:
        now = time.monotonic()
        if self._last is not None and now - self._last[0] < self.cache_seconds:
            return self._last[1]
        if self._pending is None or self._pending.done():
            # one probe at a time: a slow database must not pile up reads behind the health check
            self._pending = asyncio.ensure_future(self._build())
        return await asyncio.shield(self._pending)

    async def _build(self) -> HealthReport:
        core = self.core
        at = core.clock.now()
        report = HealthReport(at=at, database_ok=False, outbox_stuck_after=self.outbox_stuck_after)
        started = time.perf_counter()
        try:
            pending, oldest = await asyncio.wait_for(
                core.db.read(lambda uow: uow.outbox.backlog()), timeout=self.db_timeout
            )
        except TimeoutError:
            report.database_error = f"no answer within {self.db_timeout:g}s"
        except Exception as exc:  # the error's class only: driver messages may name hosts and users
            report.database_error = type(exc).__name__
        else:
            report.database_ok = True
            report.database_ms = round((time.perf_counter() - started) * 1000, 1)
            report.outbox_pending = pending
            report.outbox_oldest_seconds = max(0.0, (at - oldest).total_seconds()) if oldest else None
        if report.database_ok != self._database_ok:  # the change, not every poll
            if report.database_ok:
                log.info("health: the database answers again")
            else:
                log.warning("health: the database does not answer (%s)", report.database_error)
            self._database_ok = report.database_ok
        report.crm = core.accounts.health()
        report.crm_degraded = report.crm.degraded(at)
        for name, health in self.platforms().items():
            try:
                report.platforms[name] = dict(health())
            except Exception as exc:
                report.platforms[name] = {"ok": False, "error": type(exc).__name__}
        self._last = (time.monotonic(), report)
        return report
