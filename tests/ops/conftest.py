"""Fixtures for operations tests: apps on a chosen backend with a controllable clock.

``backend_url`` is parametrised over SQLite (a real file) and PostgreSQL (only
when ``SUPPORTBOT_TEST_DATABASE_URL`` is set; a fresh schema per session,
tables emptied before each test). ``make_app`` builds a full app through the
composition root; calling it twice on the same URL gives two independent
SupportCore instances on one database (two replicas, or a restart).
"""

from __future__ import annotations

import uuid
from collections.abc import Callable, Iterator
from datetime import UTC, datetime

import pytest

from supportbot.adapters.bootstrap import Runtime, bootstrap
from supportbot.adapters.settings import load_settings
from supportbot.bot.domain import Account, Author, InboundMessage, Role
from supportbot.bot.knowledge import MarkdownKnowledgeBase
from supportbot.storage import SqlUnitOfWorkFactory, make_engine, upgrade
from supportbot.storage.tables import metadata
from tests.conftest import write_kb
from tests.fakes.core import FakeChannel, FakeClassifier, FakeClock, FakeCRM
from tests.fakes.memory_uow import InMemoryUnitOfWorkFactory
from tests.postgres import isolated_schema

OPS_ACCOUNTS = [
    Account("acc_ent", "Enterprise Co", tier="enterprise", arr=300000),
    Account("acc_pro", "Pro Co", tier="pro", arr=24000),
    Account("acc_free", "Free Co", tier="free"),
    Account("acc_small", "Small Co", tier="starter", arr=1200),
]

# Thursday 26 Nov 2026, 09:00 UTC
START = datetime(2026, 11, 26, 9, 0, tzinfo=UTC)


@pytest.fixture(scope="session")
def pg_base_url() -> Iterator[str]:
    with isolated_schema("supportbot_ops") as url:
        yield url


def database_url(request, backend: str, tmp_path) -> str:
    """A migrated, empty database of ``backend`` ("sqlite" file or "postgres")."""
    if backend == "sqlite":
        url = f"sqlite:///{tmp_path / 'ops.db'}"
        upgrade(url)
        return url
    url = request.getfixturevalue("pg_base_url")
    engine = make_engine(url)
    try:
        with engine.begin() as conn:
            for table in reversed(metadata.sorted_tables):
                conn.execute(table.delete())
    finally:
        engine.dispose()
    return url


@pytest.fixture(params=["sqlite", pytest.param("postgres", marks=pytest.mark.postgres)])
def backend_url(request, tmp_path) -> str:
    return database_url(request, request.param, tmp_path)


@pytest.fixture
def clock() -> FakeClock:
    return FakeClock(START)


@pytest.fixture
def kb_dir(tmp_path):
    return write_kb(tmp_path / "kb")


@pytest.fixture
def make_app(kb_dir, clock) -> Iterator[Callable[..., Runtime]]:
    factories: list[SqlUnitOfWorkFactory] = []

    def build(
        url: str | None = None, *, channel: FakeChannel | None = None, uow: object | None = None, **settings
    ) -> Runtime:
        settings.setdefault(
            "sla", {"timezone": "Europe/Berlin", "oncall": {"test": ["U_ONCALL"]}, "holidays": ["2026-12-25"]}
        )
        settings.setdefault("operations", {"csat_platforms": ["test"], "auto_resolve_hours": 48})
        if uow is not None:  # another replica on the same database
            pass
        elif url is None:
            uow = InMemoryUnitOfWorkFactory()
        else:
            uow = SqlUnitOfWorkFactory(url)
            factories.append(uow)
        cfg = load_settings(database_url=url or "sqlite://", kb_dir=kb_dir, **settings)
        return bootstrap(
            cfg,
            uow=uow,
            classifier=FakeClassifier(),
            kb=MarkdownKnowledgeBase(kb_dir),
            crm=FakeCRM(OPS_ACCOUNTS),
            clock=clock,
            channels=(channel or FakeChannel("test"),),
        )

    yield build
    for factory in factories:
        factory.dispose()


def message(
    clock: FakeClock,
    text: str,
    *,
    user: str = "U_CUST",
    account: str | None = "acc_pro",
    message_id: str | None = None,
    thread: str | None = None,
    channel: str = "C_SHARED",
) -> InboundMessage:
    return InboundMessage(
        platform="test",
        workspace_id="W1",
        channel_id=channel,
        message_id=message_id or f"{user}-{uuid.uuid4().hex[:8]}",
        author=Author(user, "Customer", Role.CUSTOMER),
        text=text,
        sent_at=clock.now(),
        thread_id=thread,
        account_id=account,
    )
