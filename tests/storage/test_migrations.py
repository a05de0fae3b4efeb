"""Alembic migrations: they apply cleanly, are idempotent and match the models."""

from __future__ import annotations

from pathlib import Path

import pytest
import sqlalchemy as sa
from alembic.autogenerate import compare_metadata
from alembic.runtime.migration import MigrationContext

from supportbot import storage
from supportbot.storage import current_revision, head_revision, make_engine, normalize_url, upgrade
from supportbot.storage.database import MIGRATIONS_DIR
from supportbot.storage.tables import metadata


def _diffs(engine: sa.Engine) -> list:
    with engine.connect() as conn:
        ctx = MigrationContext.configure(conn, opts={"compare_type": True})
        return compare_metadata(ctx, metadata)


def test_fresh_sqlite_file_upgrade_is_idempotent(tmp_path: Path) -> None:
    url = f"sqlite:///{tmp_path / 'fresh.db'}"
    assert current_revision(url) is None
    upgrade(url)
    assert current_revision(url) == head_revision() == "0005"
    upgrade(url)  # second run is a no-op
    assert current_revision(url) == head_revision()
    engine = make_engine(url)
    try:
        assert set(sa.inspect(engine).get_table_names()) == set(metadata.tables) | {"alembic_version"}
        with engine.connect() as conn:
            assert conn.exec_driver_sql("PRAGMA journal_mode").scalar() == "wal"
            assert conn.exec_driver_sql("PRAGMA busy_timeout").scalar() > 0
    finally:
        engine.dispose()


def test_migrated_sqlite_schema_matches_models(sqlite_url: str) -> None:
    engine = make_engine(sqlite_url)
    try:
        assert _diffs(engine) == []
    finally:
        engine.dispose()


@pytest.mark.postgres
def test_migrated_postgres_schema_matches_models(postgres_url: str) -> None:
    assert current_revision(postgres_url) == head_revision()
    upgrade(postgres_url)  # idempotent on PostgreSQL too
    engine = make_engine(postgres_url)
    try:
        assert _diffs(engine) == []
    finally:
        engine.dispose()


def test_in_memory_sqlite_factory_migrates_itself_and_is_private() -> None:
    # what `supportbot ask` does: upgrade(url) then SqlUnitOfWorkFactory(url) with "sqlite://"
    upgrade("sqlite://")
    first, second = storage.SqlUnitOfWorkFactory("sqlite://"), storage.SqlUnitOfWorkFactory("sqlite://")
    try:
        with first() as uow:
            uow.settings.set("k", 1)
            uow.commit()
        with first() as uow:
            assert uow.settings.get("k") == 1
        with second() as uow:
            assert uow.settings.get("k") is None
    finally:
        first.dispose()
        second.dispose()


def test_upgrade_accepts_an_engine_for_in_memory_sqlite() -> None:
    engine = make_engine("sqlite://")
    try:
        upgrade(engine)
        factory = storage.SqlUnitOfWorkFactory("sqlite://", engine=engine)
        with factory() as uow:
            uow.settings.set("k", 1)
            uow.commit()
        with factory() as uow:
            assert uow.settings.get("k") == 1
    finally:
        engine.dispose()


@pytest.mark.parametrize(
    "url", ["postgresql://u:p%40ss@db:5432/bot", "postgres://u@db/bot", "postgresql+psycopg://u@db/bot"]
)
def test_postgres_urls_use_psycopg3(url: str) -> None:
    assert normalize_url(url).drivername == "postgresql+psycopg"


def test_sqlite_url_is_left_alone() -> None:
    assert normalize_url("sqlite:///x.db").drivername == "sqlite"


def test_migration_files_ship_with_the_package() -> None:
    assert (MIGRATIONS_DIR / "env.py").is_file()
    assert (MIGRATIONS_DIR / "script.py.mako").is_file()  # package-data "*.mako"
    assert (MIGRATIONS_DIR / "__init__.py").is_file()
    assert (MIGRATIONS_DIR / "versions" / "__init__.py").is_file()  # so setuptools finds the versions


def test_0003_adds_outbox_claims_to_existing_rows_and_downgrades(tmp_path: Path) -> None:
    from alembic import command

    from supportbot.storage.database import alembic_config

    url = f"sqlite:///{tmp_path / 'claims.db'}"
    upgrade(url, "0002")
    engine = make_engine(url)
    try:
        with engine.begin() as conn:
            conn.exec_driver_sql(
                "INSERT INTO outbox (id, platform, audience, kind, text, dedupe_key, created_at, payload, status,"
                " attempts) VALUES ('out_1', 'slack', 'customer', 'answer', 'hi', 'k1', '2026-11-26 08:00:00',"
                " '{}', 'pending', 0)"
            )
        upgrade(engine)
        with engine.connect() as conn:
            row = conn.exec_driver_sql("SELECT status, claimed_by, claimed_until FROM outbox").one()
        assert tuple(row) == ("pending", None, None)  # existing items are unclaimed, so due at once
        with engine.begin() as conn:
            cfg = alembic_config()
            cfg.attributes["connection"] = conn
            command.downgrade(cfg, "0002")
        assert current_revision(engine) == "0002"
        columns = {c["name"] for c in sa.inspect(engine).get_columns("outbox")}
        assert "claimed_by" not in columns and "claimed_until" not in columns
        with engine.connect() as conn:
            assert conn.exec_driver_sql("SELECT id FROM outbox").scalar() == "out_1"
    finally:
        engine.dispose()


def test_the_head_constant_names_alembic_head():
    from supportbot.storage.migrations import HEAD

    assert head_revision() == HEAD
