"""The core over the real SQL storage: SQLite file always, PostgreSQL when configured."""

from __future__ import annotations

import asyncio

import pytest

from supportbot.adapters.bootstrap import bootstrap
from supportbot.adapters.settings import load_settings
from supportbot.bot.domain import OutboundKind, OutboxStatus
from supportbot.bot.errors import RateLimited
from supportbot.bot.knowledge import MarkdownKnowledgeBase
from supportbot.storage import SqlUnitOfWorkFactory, upgrade
from tests.conftest import Customer, write_kb
from tests.fakes.core import FakeChannel, FakeClassifier, FakeClock, FakeCRM
from tests.postgres import isolated_schema


@pytest.fixture(params=["sqlite", "postgresql"])
def database_url(request, tmp_path):
    if request.param == "sqlite":
        yield f"sqlite:///{tmp_path / 'supportbot.db'}"
        return
    with isolated_schema("supportbot_it") as url:
        yield url


class SlowCRM(FakeCRM):
    """Yields to the event loop like a network CRM, so concurrent messages interleave."""

    async def find_account(self, lookup):
        await asyncio.sleep(0)
        return await super().find_account(lookup)


def _app(url, tmp_path, clock, channel):
    from tests.conftest import ACCOUNTS

    upgrade(url)
    settings = load_settings(database_url=url, kb_dir=write_kb(tmp_path / "kb"), crm_cache_seconds=0)
    return bootstrap(
        settings,
        uow=SqlUnitOfWorkFactory(url),
        classifier=FakeClassifier(),
        kb=MarkdownKnowledgeBase(settings.kb_dir),
        crm=SlowCRM(ACCOUNTS),
        clock=clock,
        channels=(channel,),
    )


async def test_answer_flow_and_duplicate_on_real_storage(database_url, tmp_path):
    clock, channel = FakeClock(), FakeChannel("test")
    app = _app(database_url, tmp_path, clock, channel)
    alice = Customer(app, clock)
    message = alice.message("How do I download my invoice?")
    assert (await app.core.handle_inbound(message)).decision.action.value == "answer"
    assert (await app.core.handle_inbound(message)).status == "duplicate"
    assert len(channel.texts(kind=OutboundKind.ANSWER)) == 1


async def test_pending_reply_survives_a_restart(database_url, tmp_path):
    clock = FakeClock()
    first_channel = FakeChannel("test")
    first_channel.fail_next(RateLimited(5), kind=OutboundKind.ANSWER)
    first = _app(database_url, tmp_path, clock, first_channel)
    await Customer(first, clock).says("How do I download my invoice?")
    assert first_channel.texts(kind=OutboundKind.ANSWER) == []

    clock.advance(seconds=6)
    second_channel = FakeChannel("test")  # a new process on the same database
    second = _app(database_url, tmp_path, clock, second_channel)
    await second.core.recover()
    assert len(second_channel.texts(kind=OutboundKind.ANSWER)) == 1
    with second.uow() as uow:
        assert all(o.status is OutboxStatus.SENT for o in uow.outbox.list())


async def test_concurrent_messages_of_one_thread_join_one_conversation(database_url, tmp_path):
    clock, channel = FakeClock(), FakeChannel("test")
    app = _app(database_url, tmp_path, clock, channel)
    alice = Customer(app, clock)
    root = alice.message("How do I download my invoice?", message_id="100.1")
    replies = [alice.message(f"also my password {i}?", thread="100.1", message_id=f"100.{i + 2}") for i in range(3)]
    results = await asyncio.gather(*(app.core.handle_inbound(m) for m in [*replies, root]))
    assert all(r.status in ("processed", "relayed") for r in results), [r.detail for r in results]
    assert len({r.conversation_id for r in results}) == 1


class InterleavingChannel(FakeChannel):
    """Yields to the event loop inside send, like a network call, so two dispatchers interleave."""

    async def send(self, outbound, delivery):
        await asyncio.sleep(0)
        return await super().send(outbound, delivery)


async def test_two_replicas_send_every_pending_item_exactly_once(database_url, tmp_path):
    from supportbot.bot.domain import Audience, Outbound, new_id

    clock = FakeClock()
    channel = InterleavingChannel("test")  # shared: records the sends of both replicas
    first = _app(database_url, tmp_path / "a", clock, channel)
    second = _app(database_url, tmp_path / "b", clock, channel)
    conversations = [None, "conv_1", "conv_2"]
    items = [
        Outbound(
            id=new_id("out"),
            platform="test",
            audience=Audience.MANAGERS,
            kind=OutboundKind.REPORT,
            text=f"report {i}",
            dedupe_key=f"report:{i}",
            created_at=clock.now(),
            conversation_id=conversations[i % 3],
        )
        for i in range(30)
    ]
    with first.core.uow() as uow:
        for item in items:
            assert uow.outbox.add(item)
        uow.commit()

    stats = await asyncio.gather(first.core.dispatch_outbox(), second.core.dispatch_outbox())

    sent_ids = [o.id for o, _ in channel.sent]
    assert sorted(sent_ids) == sorted(i.id for i in items)  # each once: none twice, none lost
    # a replica plans and claims a pass in one transaction: the other finds nothing left unclaimed
    # (claims under real parallelism: tests/storage/test_sql_concurrency.py)
    assert sum(s.sent for s in stats) == len(items)
    # within a conversation the replicas still deliver oldest first
    for cid in conversations:
        expected = [i.text for i in items if i.conversation_id == cid]
        assert [o.text for o, _ in channel.sent if o.conversation_id == cid] == expected
    with second.core.uow() as uow:
        stored = uow.outbox.list()
        assert all(o.status is OutboxStatus.SENT and o.claimed_by is None for o in stored)


def test_two_replicas_in_threads_send_every_pending_item_exactly_once(database_url, tmp_path):
    """As above, with truly parallel dispatchers: each its own thread, event loop and engine."""
    import threading

    from supportbot.bot.domain import Audience, Outbound, new_id

    class ThreadChannel(FakeChannel):
        async def send(self, outbound, delivery):
            await asyncio.sleep(0.001)
            with lock:
                return await super().send(outbound, delivery)

    lock = threading.Lock()
    clock = FakeClock()
    channel = ThreadChannel("test")
    apps = [_app(database_url, tmp_path / name, clock, channel) for name in ("a", "b", "c")]
    items = [
        Outbound(
            id=new_id("out"),
            platform="test",
            audience=Audience.MANAGERS,
            kind=OutboundKind.REPORT,
            text=f"report {i}",
            dedupe_key=f"report:{i}",
            created_at=clock.now(),
        )
        for i in range(40)
    ]
    with apps[0].core.uow() as uow:
        for item in items:
            assert uow.outbox.add(item)
        uow.commit()
    errors: list[BaseException] = []
    start = threading.Barrier(len(apps))

    def run(app):
        try:
            start.wait()
            asyncio.run(app.core.dispatch_outbox())
        except BaseException as exc:  # noqa: BLE001 - reported by the main thread
            errors.append(exc)

    threads = [threading.Thread(target=run, args=(app,)) for app in apps]
    for t in threads:
        t.start()
    for t in threads:
        t.join(60)
    assert errors == []
    assert sorted(o.id for o, _ in channel.sent) == sorted(i.id for i in items)
