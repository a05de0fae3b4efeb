"""Storage test fixtures: one unit-of-work factory per backend.

``uow_factory`` is parametrised over the in-memory fake, SQLite on a real
temporary file and PostgreSQL (only when ``SUPPORTBOT_TEST_DATABASE_URL`` is
set). PostgreSQL tests run in a schema created for this test session and
dropped afterwards; tables are truncated before every test.
"""

from __future__ import annotations

import os
import shutil
import uuid
from collections.abc import Iterator
from pathlib import Path

import pytest
import sqlalchemy as sa
from sqlalchemy.engine import make_url

from bot.ports import UnitOfWorkFactory
from storage import SqlUnitOfWorkFactory, make_engine, normalize_url, upgrade
from storage.tables import metadata
from tests.fakes import InMemoryUnitOfWorkFactory

PG_ENV = "SUPPORTBOT_TEST_DATABASE_URL"
PG_SKIP = f"{PG_ENV} not set: PostgreSQL tests skipped"

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
    base = os.environ.get(PG_ENV)
    if not base:
        pytest.skip(PG_SKIP)
    schema = f"supportbot_test_{uuid.uuid4().hex[:12]}"
    admin = make_engine(base)
    with admin.begin() as conn:
        conn.exec_driver_sql(f'CREATE SCHEMA "{schema}"')
    url = normalize_url(make_url(base)).update_query_dict({"options": f"-csearch_path={schema}"})
    rendered = url.render_as_string(hide_password=False)
    try:
        upgrade(rendered)
        yield rendered
    finally:
        with admin.begin() as conn:
            conn.exec_driver_sql(f'DROP SCHEMA "{schema}" CASCADE')
        admin.dispose()


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
