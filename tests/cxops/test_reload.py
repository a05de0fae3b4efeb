"""A promotion reaches running bots without a restart: two replicas on one database switch to the
promoted model through their scheduled reload job; a replica whose model is pinned by
SUPPORTBOT_MODEL_DIR keeps its own."""

from __future__ import annotations

import asyncio
import contextlib
from datetime import UTC, datetime

from supportbot.adapters.bootstrap import bootstrap
from supportbot.adapters.runtime import serve
from supportbot.adapters.settings import load_settings
from supportbot.bot.domain import Author, InboundMessage, ModelStatus, Role
from supportbot.bot.models import ModelRegistry
from supportbot.bot.ports import SystemClock
from tests.conftest import ACCOUNTS, write_kb
from tests.fakes.core import FakeChannel, FakeCRM


def _message(n: int) -> InboundMessage:
    return InboundMessage(
        "test",
        "W1",
        "C1",
        f"m{n}",
        Author(f"U{n}", "Alice", Role.CUSTOMER),
        "how do I reset my password",
        datetime.now(UTC),
    )


async def _wait_for(condition, timeout: float = 20.0) -> None:
    deadline = asyncio.get_running_loop().time() + timeout
    while not condition():
        assert asyncio.get_running_loop().time() < deadline, "timed out"
        await asyncio.sleep(0.1)


async def test_a_promotion_reaches_two_replicas_and_not_a_pinned_one(db_url, tmp_path, tiny_models, monkeypatch):
    monkeypatch.chdir(tmp_path)  # on PostgreSQL the knowledge-base index cache goes to the working directory
    (dir_a, version_a), (dir_b, version_b) = tiny_models["a"], tiny_models["b"]
    common = dict(
        database_url=db_url,
        kb_dir=write_kb(tmp_path / "kb"),
        models={"reload_seconds": 1, "retrain_enabled": False},
        playground_enabled=False,
    )
    # model a is current, b a candidate, before any bot starts
    registrar = bootstrap(
        load_settings(**common, heartbeat_file=tmp_path / "r0.hb"), crm=FakeCRM(ACCOUNTS), lazy_model=True
    )
    registry = ModelRegistry(registrar.core.db, SystemClock())
    await registry.register(version_a, str(dir_a), metrics={"precision_at_target": 0.99}, current_if_none=True)
    await registry.register(version_b, str(dir_b), metrics={"precision_at_target": 0.99})

    replicas = [
        bootstrap(
            load_settings(**common, heartbeat_file=tmp_path / f"r{i}.hb"),
            crm=FakeCRM(ACCOUNTS),
            channels=(FakeChannel(),),
        )
        for i in (1, 2)
    ]
    pinned = bootstrap(
        load_settings(**common, model_dir=dir_a, heartbeat_file=tmp_path / "r3.hb"),
        crm=FakeCRM(ACCOUNTS),
        channels=(FakeChannel(),),
    )
    running = [*replicas, pinned]
    assert all(r.core.classifier.version == version_a for r in running)  # the database's current model
    stop = asyncio.Event()
    tasks = [asyncio.create_task(serve(r, [], stop_event=stop)) for r in running]
    try:
        await asyncio.sleep(0.5)
        await registry.promote(version_b, actor="test", role=Role.MANAGER)
        await _wait_for(lambda: all(r.core.classifier.loaded_version() == version_b for r in replicas))
        for n, replica in enumerate(replicas):  # and they decide with it
            result = await replica.core.handle_inbound(_message(n), dispatch=False)
            assert result.classification is not None and result.classification.model_version == version_b
        assert pinned.core.classifier.loaded_version() == version_a  # SUPPORTBOT_MODEL_DIR wins
        # a rollback travels the same way
        await registry.rollback(actor="test", role=Role.MANAGER)
        await _wait_for(lambda: all(r.core.classifier.loaded_version() == version_a for r in replicas))
        with registrar.uow() as uow:
            assert uow.model_versions.get(version_b).status is ModelStatus.RETIRED
    finally:
        stop.set()
        for task in tasks:
            with contextlib.suppress(Exception):
                await asyncio.wait_for(task, 15)
        for r in [*running, registrar]:
            r.core.db.close()
