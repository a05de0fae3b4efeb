"""Storage test fixtures: one unit-of-work factory per backend.

``uow_factory`` is parametrised over the in-memory fake, SQLite on a real
temporary file and PostgreSQL (only when ``SUPPORTBOT_TEST_DATABASE_URL`` is
set). PostgreSQL tests run in a schema created for this test session and
dropped afterwards; tables are truncated before every test.
"""

from __future__ import annotations

import shutil
from collections.abc import Iterator
from pathlib import Path

import pytest
import sqlalchemy as sa

from supportbot.bot.ports import UnitOfWorkFactory
from supportbot.storage import SqlUnitOfWorkFactory, make_engine, upgrade
from supportbot.storage.tables import metadata
from tests.fakes import InMemoryUnitOfWorkFactory
from tests.postgres import isolated_schema

BACKENDS = ["memory", "sqlite", pytest.param("postgres", marks=pytest.mark.postgres)]


@pytest.fixture(scope="session")
def sqlite_template(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A migrated SQLite file, copied for every test (migrating once is faster)."""
    path = tmp_path_factory.mktemp("sqlite-template") / "template.db"
    upgrade(f"sqlite:///{path}")
    return path


@pytest.fixture
def sqlite_url(sqlite_template: Path, tmp_path: Path) -> str:
    path = tmp_path / "supportbot.db"
    shutil.copyfile(sqlite_template, path)
    return f"sqlite:///{path}"


@pytest.fixture(scope="session")
def postgres_url() -> Iterator[str]:
    """URL of a fresh, migrated schema on the test PostgreSQL server."""
    with isolated_schema("supportbot_test") as url:
        yield url


@pytest.fixture(scope="session")
def postgres_engine(postgres_url: str) -> Iterator[sa.Engine]:
    engine = make_engine(postgres_url)
    yield engine
    engine.dispose()


@pytest.fixture
def clean_postgres_url(postgres_url: str, postgres_engine: sa.Engine) -> str:
    # DELETE is much faster than TRUNCATE on a handful of rows
    with postgres_engine.begin() as conn:
        for table in reversed(metadata.sorted_tables):
            conn.execute(table.delete())
    return postgres_url


@pytest.fixture(params=BACKENDS)
def backend(request: pytest.FixtureRequest) -> str:
    return request.param


@pytest.fixture
def uow_factory(backend: str, request: pytest.FixtureRequest) -> Iterator[UnitOfWorkFactory]:
    if backend == "memory":
        yield InMemoryUnitOfWorkFactory()
        return
    url = request.getfixturevalue("sqlite_url" if backend == "sqlite" else "clean_postgres_url")
    factory = SqlUnitOfWorkFactory(url)
    try:
        yield factory
    finally:
        factory.dispose()
