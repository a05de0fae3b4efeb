"""``supportbot run``: start the runtime's services and jobs, stop them cleanly.

The scheduler (apscheduler's AsyncIOScheduler) runs the runtime's jobs
(``bootstrap.build_jobs``); the database, not the scheduler, is the source of
truth, so restarts and replicas never repeat or skip work.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import signal
import time
from collections.abc import Awaitable, Callable, Iterable
from pathlib import Path
from typing import Any

from apscheduler.schedulers.asyncio import AsyncIOScheduler

from supportbot.adapters.bootstrap import Runtime, Service

log = logging.getLogger(__name__)

HEARTBEAT_MAX_AGE = 60.0


async def write_heartbeat(runtime: Runtime) -> None:
    """Prove the event loop and the database are alive; `supportbot health` reads it."""
    await runtime.core.db.read(lambda uow: uow.settings.get("heartbeat"))  # a real round trip to the database
    path = runtime.heartbeat_path()
    try:
        path.write_text(str(time.time()))
    except OSError as exc:
        log.warning("cannot write heartbeat file %s: %s", path, exc)


def heartbeat_age(path: Path) -> float | None:
    try:
        return time.time() - float(path.read_text().strip())
    except (OSError, ValueError):
        return None


def _tracked(run: Callable[[], Awaitable[object]], running: set[asyncio.Task[Any]]) -> Callable[[], Awaitable[None]]:
    """A job that ``serve`` can wait for on the way out; cancelled anyway, it ends quietly (apscheduler
    would log the cancellation as a job failure, traceback and all)."""

    async def job() -> None:
        task = asyncio.current_task()
        if task is not None:
            running.add(task)
        try:
            await run()
        except asyncio.CancelledError:
            log.debug("a scheduled job was cancelled by the stop")
        finally:
            if task is not None:
                running.discard(task)

    return job


def build_scheduler(runtime: Runtime, running: set[asyncio.Task[Any]] | None = None) -> AsyncIOScheduler:
    scheduler = AsyncIOScheduler(timezone="UTC")
    running = set() if running is None else running
    for job in runtime.jobs:
        scheduler.add_job(
            _tracked(job.run, running),
            "interval",
            seconds=job.seconds,
            id=job.name,
            max_instances=1,
            coalesce=True,
            misfire_grace_time=max(1, int(job.seconds)),
        )
    return scheduler


async def register_running_model(runtime: Runtime) -> None:
    """Record the model this bot runs (with its figures); the first one becomes the current version."""
    from supportbot.bot.classifier.versions import read_metadata, version_metrics
    from supportbot.bot.errors import ModelError

    path = getattr(runtime.core.classifier, "path", None) or str(runtime.settings.model_dir)
    try:
        metadata = read_metadata(path)
        metrics, data_hash = version_metrics(metadata), str(metadata.get("data_sha256") or "")
    except ModelError:
        metrics, data_hash = {}, ""
    await runtime.core.register_model_version(str(Path(path).resolve()), data_hash, metrics)


async def serve(
    runtime: Runtime, services: Iterable[Service] | None = None, *, stop_event: asyncio.Event | None = None
) -> None:
    """Run until SIGINT/SIGTERM (or ``stop_event``); stop everything cleanly."""
    stop_event = stop_event or asyncio.Event()
    loop = asyncio.get_running_loop()
    for sig in (signal.SIGINT, signal.SIGTERM):
        with contextlib.suppress(NotImplementedError, RuntimeError):
            loop.add_signal_handler(sig, stop_event.set)
    services = list(runtime.services.values() if services is None else services)
    running: set[asyncio.Task[Any]] = set()
    scheduler = build_scheduler(runtime, running)
    scheduler.start()
    await write_heartbeat(runtime)
    started: list[Service] = []
    failure: list[BaseException] = []

    async def when_ready() -> None:
        """The model may still be loading: once it is, record its version and recover what a crash left."""
        try:
            # waits for a background load; asyncio.run joins this thread on the way out, so a stop during
            # the load waits for it (native code torn down mid-load aborts the process)
            await asyncio.to_thread(lambda: runtime.core.classifier.version)
            await register_running_model(runtime)
            recovered = await runtime.core.recover()
            if recovered:
                log.info("recovered %d messages stored before the last stop", recovered)
        except Exception as exc:  # a bad model file: stop, with the reason
            failure.append(exc)
            stop_event.set()

    ready = asyncio.get_running_loop().create_task(when_ready())
    ops = runtime.ops
    try:
        if ops is not None:  # first: a taken port stops us before any platform connection is made
            await ops.start()
        for service in services:
            await service.start()
            started.append(service)
            log.info("started %s", service.name)
        log.info("supportbot running (%s)", ", ".join(s.name for s in started) or "no channels")
        await stop_event.wait()
    finally:
        ready.cancel()
        for service in reversed(started):
            with contextlib.suppress(Exception):
                await service.stop()
        if ops is not None:
            with contextlib.suppress(Exception):
                await ops.stop()
        scheduler.pause()  # no new runs; the ones under way finish (a heartbeat, a dispatch) before we go
        if running:
            await asyncio.wait(set(running), timeout=10.0)
        scheduler.shutdown(wait=False)
        with contextlib.suppress(Exception):
            await runtime.core.intake.drain(10.0)
        with contextlib.suppress(Exception):
            await runtime.core.dispatcher.drain(10.0)
    if failure:
        raise failure[0]
