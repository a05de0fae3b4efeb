"""``supportbot run``: start every configured channel plus the background jobs.

Each channel adapter is a Service (``start``/``stop``). The scheduler
(apscheduler's AsyncIOScheduler) retries the outbox and runs the jobs other
modules register through ``JOBS``.
"""

from __future__ import annotations

import asyncio
import contextlib
import functools
import logging
import signal
import time
from collections.abc import Awaitable, Callable
from pathlib import Path
from typing import Protocol

from apscheduler.schedulers.asyncio import AsyncIOScheduler

from supportbot.adapters.bootstrap import App

log = logging.getLogger(__name__)


class Service(Protocol):
    name: str

    async def start(self) -> None: ...

    async def stop(self) -> None: ...


# Factories called with the App; each returns the Services it wants started
# (an empty list when its settings are absent). Adapters append to this list.
ServiceFactory = Callable[[App], list[Service]]
SERVICE_FACTORIES: list[ServiceFactory] = []
# Periodic jobs: (name, seconds, factory(app) -> coroutine function).
JobFactory = Callable[[App], Callable[[], Awaitable[object]]]
JOBS: list[tuple[str, float, JobFactory]] = [
    ("outbox", 2.0, lambda app: app.core.dispatch_outbox),
    ("heartbeat", 10.0, lambda app: functools.partial(write_heartbeat, app)),
]
HEARTBEAT_MAX_AGE = 60.0


async def write_heartbeat(app: App) -> None:
    """Prove the event loop and the database are alive; `supportbot health` reads it."""
    with app.uow() as uow:
        uow.settings.get("heartbeat")  # a real round trip to the database
    path = app.settings.heartbeat_file
    try:
        path.write_text(str(time.time()))
    except OSError as exc:
        log.warning("cannot write heartbeat file %s: %s", path, exc)


def heartbeat_age(path: Path) -> float | None:
    try:
        return time.time() - float(path.read_text().strip())
    except (OSError, ValueError):
        return None


def _load_adapter_factories() -> None:
    """Import adapters that register themselves; a missing optional one is skipped."""
    for module in (
        "supportbot.adapters.slack.service",
        "supportbot.adapters.discord_bot.service",
        "supportbot.adapters.playground.service",
        "supportbot.adapters.operations",
    ):
        try:
            __import__(module)
        except ModuleNotFoundError as exc:
            if exc.name and module.startswith(exc.name):
                continue
            raise


def build_services(app: App) -> list[Service]:
    _load_adapter_factories()
    services: list[Service] = []
    for factory in SERVICE_FACTORIES:
        services.extend(factory(app))
    return services


def build_scheduler(app: App) -> AsyncIOScheduler:
    _load_adapter_factories()
    scheduler = AsyncIOScheduler(timezone="UTC")
    for name, seconds, factory in JOBS:
        scheduler.add_job(
            factory(app),
            "interval",
            seconds=seconds,
            id=name,
            max_instances=1,
            coalesce=True,
            misfire_grace_time=max(1, int(seconds)),
        )
    return scheduler


async def serve(app: App, services: list[Service], *, stop_event: asyncio.Event | None = None) -> None:
    """Run until SIGINT/SIGTERM (or ``stop_event``); stop everything cleanly."""
    stop_event = stop_event or asyncio.Event()
    loop = asyncio.get_running_loop()
    for sig in (signal.SIGINT, signal.SIGTERM):
        with contextlib.suppress(NotImplementedError, RuntimeError):
            loop.add_signal_handler(sig, stop_event.set)
    recovered = await app.core.recover()
    if recovered:
        log.info("recovered %d messages stored before the last stop", recovered)
    scheduler = build_scheduler(app)
    scheduler.start()
    await write_heartbeat(app)
    started: list[Service] = []
    try:
        for service in services:
            await service.start()
            started.append(service)
            log.info("started %s", service.name)
        await stop_event.wait()
    finally:
        for service in reversed(started):
            with contextlib.suppress(Exception):
                await service.stop()
        scheduler.shutdown(wait=False)
