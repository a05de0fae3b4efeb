"""Engines and schema migrations.

``make_engine(url)`` understands SQLite files (WAL, busy timeout, real
SAVEPOINTs), in-memory SQLite and PostgreSQL (``postgresql://`` and
``postgres://`` URLs use psycopg 3). ``upgrade(url)`` runs the alembic
migrations shipped in ``storage/migrations`` to head; it is idempotent.
"""

from __future__ import annotations

import time
from pathlib import Path
from typing import Any

import sqlalchemy as sa
from sqlalchemy.engine import URL, Engine, make_url
from sqlalchemy.pool import StaticPool

from supportbot.storage.migrations import HEAD

MIGRATIONS_DIR = Path(__file__).resolve().parent / "migrations"

SQLITE_BUSY_TIMEOUT_MS = 5000
MIGRATION_WAIT_SECONDS = 120.0  # how long a process waits for another one's migration (SQLite)


def normalize_url(database_url: str | URL) -> URL:
    """Parse ``database_url``; plain PostgreSQL URLs get the psycopg 3 driver."""
    url = make_url(database_url)
    if url.drivername in ("postgresql", "postgres"):
        url = url.set(drivername="postgresql+psycopg")
    return url


def is_memory_sqlite(url: URL) -> bool:
    return url.get_backend_name() == "sqlite" and url.database in (None, "", ":memory:")


def make_engine(database_url: str | URL, *, echo: bool = False) -> Engine:
    url = normalize_url(database_url)
    if url.get_backend_name() != "sqlite":
        return sa.create_engine(url, echo=echo, pool_pre_ping=True)

    kwargs: dict = {"connect_args": {"check_same_thread": False}}
    if is_memory_sqlite(url):
        kwargs["poolclass"] = StaticPool  # one shared connection, or every session sees an empty db
    engine = sa.create_engine(url, echo=echo, **kwargs)

    @sa.event.listens_for(engine, "connect")
    def _on_connect(dbapi_connection, _record) -> None:  # pragma: no cover - exercised via engine
        # Let SQLAlchemy, not pysqlite, emit BEGIN: pysqlite's implicit
        # transactions break SAVEPOINT (begin_nested) and transactional DDL.
        dbapi_connection.isolation_level = None
        cursor = dbapi_connection.cursor()
        if not is_memory_sqlite(url):
            cursor.execute("PRAGMA journal_mode=WAL")
        cursor.execute(f"PRAGMA busy_timeout={SQLITE_BUSY_TIMEOUT_MS}")
        cursor.execute("PRAGMA synchronous=NORMAL")
        cursor.close()

    @sa.event.listens_for(engine, "begin")
    def _on_begin(conn) -> None:  # pragma: no cover - exercised via engine
        # Deferred BEGIN: readers never wait (WAL), so a unit of work can read
        # while another one holds uncommitted writes. A second concurrent
        # *writer* waits up to busy_timeout. (BEGIN IMMEDIATE would make even a
        # read-only unit of work wait for any open writer, which deadlocks an
        # event loop that interleaves two units of work.) Units of work that will
        # write ask for BEGIN IMMEDIATE (``SqlUnitOfWorkFactory.writer``).
        conn.exec_driver_sql(conn.get_execution_options().get("supportbot_begin", "BEGIN"))

    return engine


def alembic_config(database_url: str | URL | None = None) -> Any:
    """An alembic Config for the bundled migrations; no alembic.ini needed."""
    from alembic.config import Config

    cfg = Config()
    cfg.set_main_option("script_location", str(MIGRATIONS_DIR))
    if database_url is not None:
        # configparser interpolation: escape % in passwords
        rendered = normalize_url(database_url).render_as_string(hide_password=False)
        cfg.set_main_option("sqlalchemy.url", rendered.replace("%", "%%"))
    return cfg


# Any fixed number: the PostgreSQL advisory lock that lets one replica migrate while the others wait.
_MIGRATION_LOCK = 0x5B0_7000


def upgrade(database_url: str | URL | Engine, revision: str = "head") -> None:
    """Apply the migrations up to ``revision`` (default: the newest). Idempotent.

    Safe when several replicas start together: on PostgreSQL the migration runs under a
    transaction-scoped advisory lock, on SQLite in a BEGIN IMMEDIATE transaction, so one
    process migrates and the others then find the schema up to date.
    """
    engine = database_url if isinstance(database_url, Engine) else make_engine(database_url)
    try:
        if revision == "head" and _revision_of(engine) == HEAD:
            return  # the common start-up: nothing to do, and alembic never loads
        deadline = time.monotonic() + MIGRATION_WAIT_SECONDS
        while True:
            try:
                _migrate(engine, revision)
                return
            except sa.exc.OperationalError as exc:
                # SQLite: another process holds the write lock longer than busy_timeout (it is migrating,
                # e.g. several `supportbot ask --store` started at once on a new file): wait for it
                if "locked" not in str(exc) or time.monotonic() > deadline:
                    raise
                time.sleep(0.2)
                if revision == "head" and _revision_of(engine) == HEAD:
                    return
    finally:
        if engine is not database_url:
            engine.dispose()


def _migrate(engine: Engine, revision: str) -> None:
    writer = engine.execution_options(supportbot_begin="BEGIN IMMEDIATE")
    with writer.begin() as connection:
        if connection.dialect.name == "postgresql":
            connection.exec_driver_sql(f"SELECT pg_advisory_xact_lock({_MIGRATION_LOCK})")
        from alembic import command

        cfg = alembic_config()
        cfg.attributes["connection"] = connection
        command.upgrade(cfg, revision)


def _revision_of(engine: Engine) -> str | None:
    """The database's revision from alembic's own table, or None (no table yet, or unreadable)."""
    try:
        with engine.connect() as connection:
            return connection.exec_driver_sql("SELECT version_num FROM alembic_version").scalar()
    except sa.exc.DBAPIError:
        return None


def current_revision(database_url: str | URL | Engine) -> str | None:
    """The migration revision the database is at; None for an empty database."""
    engine = database_url if isinstance(database_url, Engine) else make_engine(database_url)
    try:
        from alembic.runtime.migration import MigrationContext

        with engine.connect() as connection:
            return MigrationContext.configure(connection).get_current_revision()
    finally:
        if engine is not database_url:
            engine.dispose()


def head_revision() -> str | None:
    """The newest revision shipped with this code."""
    from alembic.script import ScriptDirectory

    return ScriptDirectory.from_config(alembic_config()).get_current_head()
