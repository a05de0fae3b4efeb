"""Two units of work at once on a real database (the in-memory fake does not emulate locking)."""

from __future__ import annotations

import threading
from collections.abc import Iterator

import pytest

from supportbot.bot.errors import DuplicateDelivery
from supportbot.storage import SqlUnitOfWorkFactory
from tests.storage import builders as b


@pytest.fixture(params=["sqlite", pytest.param("postgres", marks=pytest.mark.postgres)])
def sql_factory(request: pytest.FixtureRequest) -> Iterator[SqlUnitOfWorkFactory]:
    url = request.getfixturevalue("sqlite_url" if request.param == "sqlite" else "clean_postgres_url")
    factory = SqlUnitOfWorkFactory(url)
    yield factory
    factory.dispose()


def test_concurrent_duplicate_delivery_waits_for_the_first_and_is_rejected(
    sql_factory: SqlUnitOfWorkFactory,
) -> None:
    """A platform retry arriving while the first delivery is still uncommitted."""
    first_added, release = threading.Event(), threading.Event()
    outcome: dict[str, object] = {}

    def first() -> None:
        with sql_factory() as uow:
            uow.messages.add(b.message(external_id="dup-1"))
            first_added.set()
            release.wait(5)
            uow.commit()

    def second() -> None:
        with sql_factory() as uow:
            try:
                uow.messages.add(b.message(external_id="dup-1"))
                uow.commit()
                outcome["second"] = "stored"
            except DuplicateDelivery:
                outcome["second"] = "duplicate"
                uow.messages.add(b.message(external_id="other"))  # transaction still usable
                uow.commit()

    t1 = threading.Thread(target=first)
    t1.start()
    assert first_added.wait(5)
    t2 = threading.Thread(target=second)
    t2.start()
    t2.join(0.2)  # the second writer is blocked (row lock on PostgreSQL, busy wait on SQLite)
    assert t2.is_alive()
    release.set()
    t1.join(5)
    t2.join(5)
    assert outcome == {"second": "duplicate"}
    with sql_factory() as uow:
        assert sorted(m.external_id for m in uow.messages.list()) == ["dup-1", "other"]


def test_reader_is_not_blocked_by_an_open_writer(sql_factory: SqlUnitOfWorkFactory) -> None:
    c = b.conversation()
    with sql_factory() as writer:
        writer.conversations.save(c)
        writer.settings.set("k", 1)
        with sql_factory() as reader:  # same thread: would deadlock if reads waited for the writer
            assert reader.conversations.list() == []
            assert reader.settings.get("k") is None
        writer.commit()
