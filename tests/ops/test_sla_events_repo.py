"""The sla_events claim: insert-or-skip on every backend, also against a concurrent transaction."""

from __future__ import annotations

import threading
from datetime import UTC, datetime, timedelta

import pytest

from supportbot.bot.domain import SlaEvent
from supportbot.storage import SqlUnitOfWorkFactory
from tests.fakes.memory_uow import InMemoryUnitOfWorkFactory
from tests.ops.conftest import database_url

DUE = datetime(2026, 11, 26, 10, 0, tzinfo=UTC)


def event(n: int, kind: str = "frt_warning", conv: str = "c1", due: datetime = DUE) -> SlaEvent:
    return SlaEvent(f"sla_{n}", conv, kind, due, DUE + timedelta(minutes=n), {"n": n})


@pytest.fixture(params=["memory", "sqlite", pytest.param("postgres", marks=pytest.mark.postgres)])
def factory(request, tmp_path):
    if request.param == "memory":
        yield InMemoryUnitOfWorkFactory()
        return
    sql = SqlUnitOfWorkFactory(database_url(request, request.param, tmp_path))
    yield sql
    sql.dispose()


def test_claim_is_insert_or_skip_and_the_transaction_stays_usable(factory):
    with factory() as uow:
        assert uow.sla_events.claim(event(1)) is True
        assert uow.sla_events.claim(event(2)) is False  # same (conversation, kind, due)
        assert uow.sla_events.claim(event(3, kind="frt_escalation")) is True
        assert uow.sla_events.claim(event(4, due=DUE + timedelta(hours=1))) is True
        uow.settings.set("still", "usable")
        uow.commit()
    with factory() as uow:
        assert uow.sla_events.claim(event(5)) is False  # committed claims count too
        assert [e.id for e in uow.sla_events.list()] == ["sla_1", "sla_3", "sla_4"]
        assert [e.id for e in uow.sla_events.list(kinds=["frt_escalation"])] == ["sla_3"]
        assert [e.id for e in uow.sla_events.list(conversation_id="c2")] == []
        assert [e.id for e in uow.sla_events.list(since=DUE + timedelta(minutes=3))] == ["sla_3", "sla_4"]
        assert uow.sla_events.list()[0].detail == {"n": 1} and uow.sla_events.list()[0].due_at == DUE
        assert uow.settings.get("still") == "usable"


def test_a_concurrent_claim_of_the_same_event_never_wins_twice(backend_url):
    first, second = SqlUnitOfWorkFactory(backend_url), SqlUnitOfWorkFactory(backend_url)
    outcome: list[object] = []
    try:
        holder = first()
        assert holder.sla_events.claim(event(1)) is True  # not committed yet

        def rival() -> None:
            try:
                with second() as uow:
                    won = uow.sla_events.claim(event(2))
                    if won:
                        uow.commit()
                    outcome.append(won)
            except Exception as exc:  # SQLite may refuse the write ("database is locked"): retried next sweep
                outcome.append(exc)

        thread = threading.Thread(target=rival)
        thread.start()
        thread.join(timeout=0.5)  # the rival waits for the holder's lock (PostgreSQL) or the busy timeout
        holder.commit()
        holder.session.close()
        thread.join(timeout=30)
        assert not thread.is_alive()
        assert outcome and outcome[0] is not True
        with first() as uow:
            assert [e.id for e in uow.sla_events.list()] == ["sla_1"]
    finally:
        first.dispose()
        second.dispose()
