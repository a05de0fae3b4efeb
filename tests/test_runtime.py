"""`supportbot run` plumbing: the scheduler runs the jobs and the heartbeat proves liveness."""

from __future__ import annotations

import asyncio

from supportbot.adapters.runtime import HEARTBEAT_MAX_AGE, build_scheduler, heartbeat_age, serve


async def test_serve_recovers_starts_services_writes_heartbeats_and_stops(app, tmp_path):
    app.settings.heartbeat_file = tmp_path / "heartbeat"
    events: list[str] = []

    class Recorder:
        name = "recorder"

        async def start(self) -> None:
            events.append("start")

        async def stop(self) -> None:
            events.append("stop")

    stop = asyncio.Event()
    task = asyncio.create_task(serve(app, [Recorder()], stop_event=stop))
    for _ in range(200):
        if events and heartbeat_age(app.settings.heartbeat_file) is not None:
            break
        await asyncio.sleep(0.01)
    stop.set()
    await asyncio.wait_for(task, timeout=5)
    assert events == ["start", "stop"]
    assert 0 <= heartbeat_age(app.settings.heartbeat_file) < HEARTBEAT_MAX_AGE


async def test_scheduler_jobs_are_coroutines_it_can_await(app, tmp_path):
    app.settings.heartbeat_file = tmp_path / "heartbeat"  # not the working directory's
    scheduler = build_scheduler(app)
    scheduler.start(paused=True)
    try:
        jobs = {job.id: job for job in scheduler.get_jobs()}
        assert {"outbox", "heartbeat"} <= jobs.keys()
        for job in jobs.values():
            result = job.func()
            assert asyncio.iscoroutine(result), job.id
            await result
    finally:
        scheduler.shutdown(wait=False)
