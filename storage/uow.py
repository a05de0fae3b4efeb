"""SQL implementation of the repository and unit-of-work ports.

One ``SqlUnitOfWork`` is one SQLAlchemy session, i.e. one transaction:
``with factory() as uow: ...; uow.commit()``. Repositories return fresh domain
objects mapped from rows (never the rows), so mutating a returned object does
nothing until it is passed to ``save``.
"""

from __future__ import annotations

import contextlib
import copy
import functools
from collections.abc import Callable, Iterator, Sequence
from datetime import datetime, timedelta
from typing import Any

import sqlalchemy as sa
from sqlalchemy.dialects import postgresql, sqlite
from sqlalchemy.engine import Engine
from sqlalchemy.exc import IntegrityError
from sqlalchemy.orm import sessionmaker
from sqlmodel import Session, SQLModel

from supportbot.bot.domain import (
    Account,
    AgentActionRecord,
    ClassificationRecord,
    Conversation,
    ConversationStatus,
    DecisionRecord,
    Draft,
    DraftStatus,
    Handoff,
    HandoffStatus,
    MessageState,
    ModelStatus,
    ModelVersion,
    Outbound,
    OutboxStatus,
    SlaEvent,
    StoredMessage,
)
from supportbot.bot.errors import Conflict, DuplicateDelivery, NotFound
from supportbot.bot.ports import (
    AccountCacheRepository,
    AgentActionRepository,
    ClassificationRepository,
    ConversationRepository,
    DecisionRepository,
    DraftRepository,
    HandoffRepository,
    MessageRepository,
    ModelVersionRepository,
    OutboxRepository,
    SettingRepository,
    SlaEventRepository,
    UnitOfWork,
    UnitOfWorkFactory,
)
from supportbot.storage import mapping
from supportbot.storage.database import is_memory_sqlite, make_engine, normalize_url, upgrade
from supportbot.storage.tables import (
    AccountCacheRow,
    AgentActionRow,
    ClassificationRow,
    ConversationRow,
    DecisionRow,
    DraftRow,
    HandoffRow,
    MessageRow,
    ModelVersionRow,
    OutboxRow,
    SettingRow,
    SlaEventRow,
)


class _Connection:
    """The unit of work's connection, looked up once per transaction rather than per statement."""

    __slots__ = ("_session", "_connection")

    def __init__(self, session: Session) -> None:
        self._session = session
        self._connection: sa.Connection | None = None

    def get(self) -> sa.Connection:
        connection = self._connection
        if connection is None or connection.closed or not connection.in_transaction():
            connection = self._connection = self._session.connection()  # begins the transaction
        return connection

    def execute(self, stmt: Any, params: Any = None) -> Any:
        return self.get().execute(stmt, params)


@functools.cache
def _statements(row: type[SQLModel]) -> tuple[sa.Table, Any, Any, Any]:
    """Prebuilt Core statements for ``row``'s table (their compiled forms are cached by the engine)."""
    table: sa.Table = row.__table__  # type: ignore[attr-defined]
    by_id = sa.select(*table.c).where(table.c.id == sa.bindparam("_id"))
    update = table.update().where(table.c.id == sa.bindparam("_id"))
    return table, by_id, table.insert(), update


class _Repo:
    """Core (not ORM) statements on the session's connection.

    Rows never enter the session's identity map, so there is no flush
    machinery, no select-before-write and reads always see the database.
    """

    entity: type
    row: type[SQLModel]

    def __init__(self, session: Session, savepoints: bool = True, connection: _Connection | None = None) -> None:
        self._session = session
        self._connection = connection or _Connection(session)
        # PostgreSQL aborts the whole transaction on an error, so every write that may
        # fail runs in a SAVEPOINT. SQLite only undoes the failed statement, so single
        # statement writes need none there.
        self._savepoints = savepoints
        self.table, self._by_id, self._insert_stmt, self._update_stmt = _statements(self.row)
        self.c = self.table.c

    # -- helpers -------------------------------------------------------------

    def _execute(self, stmt: Any, params: Any = None) -> Any:
        return self._connection.execute(stmt, params)

    def _get(self, entity_id: str) -> Any:
        row = self._execute(self._by_id, {"_id": entity_id}).first()
        return None if row is None else mapping.from_row(self.entity, row, copy_json=False)

    def _all(self, stmt: Any, *, limit: int | None = None, newest: bool = False) -> list[Any]:
        created, seq = self.c.created_at, self.c.seq
        order = (created.desc(), seq.desc()) if newest else (created, seq)
        stmt = stmt.order_by(*order)
        if limit is not None:
            stmt = stmt.limit(limit)
        return [mapping.from_row(self.entity, row, copy_json=False) for row in self._execute(stmt)]

    def _select(self, since: datetime | None = None) -> Any:
        stmt = sa.select(*self.c)
        if since is not None:
            stmt = stmt.where(self.c.created_at >= mapping.to_utc(since))
        return stmt

    def _guarded(
        self,
        on_conflict: Callable[[IntegrityError], Exception | None],
        work: Callable[[], None],
        *,
        savepoint: bool | None = None,
    ) -> None:
        """Run ``work`` (inside a SAVEPOINT where the database needs one).

        On an IntegrityError only the failed statement (SQLite) or the
        savepoint (PostgreSQL) is rolled back, so the enclosing transaction
        (and everything done in it so far) stays usable; ``on_conflict`` maps
        the error to the exception to raise.
        """
        try:
            if self._savepoints if savepoint is None else savepoint:
                # on the connection itself: a Session.begin_nested() would only emit
                # the SAVEPOINT when the session next hands out its connection
                with self._connection.get().begin_nested():
                    work()
            else:
                work()
        except IntegrityError as error:
            replacement = on_conflict(error)
            if replacement is None:
                raise
            raise replacement from error

    def _insert_values(self, values: dict[str, Any], on_conflict: Callable[[IntegrityError], Exception | None]) -> None:
        self._guarded(on_conflict, lambda: self._execute(self._insert_stmt, values))

    def _insert(self, entity: Any, what: str) -> None:
        values = mapping.to_values(entity, copy_json=False)
        self._insert_values(values, lambda e: Conflict(f"{what} {entity.id} already exists"))

    def _upsert(self, entity: Any, on_conflict: Callable[[IntegrityError], Exception | None]) -> None:
        """Insert or update by id in one statement (INSERT ... ON CONFLICT (id) DO UPDATE)."""
        values = mapping.to_values(entity, copy_json=False)
        stmt = _upsert_statement(self.row, self._session.get_bind().dialect.name)
        self._guarded(on_conflict, lambda: self._execute(stmt, values))


def _dialect_insert(table: sa.Table, dialect: str) -> Any:
    if dialect == "postgresql":
        return postgresql.insert(table)
    return sqlite.insert(table)


@functools.cache
def _upsert_statement(row: type[SQLModel], dialect: str) -> Any:
    """INSERT ... ON CONFLICT (id) DO UPDATE every other column (SQLite 3.24+ and PostgreSQL)."""
    table: sa.Table = row.__table__  # type: ignore[attr-defined]
    stmt = _dialect_insert(table, dialect)
    columns = {c.name: stmt.excluded[c.name] for c in table.c if c.name not in ("id", "seq")}
    return stmt.on_conflict_do_update(index_elements=[table.c.id], set_=columns)


@functools.cache
def _insert_unless(row: type[SQLModel], dialect: str, column: str) -> Any:
    """INSERT ... ON CONFLICT (column) DO NOTHING RETURNING id: a row back says the row went in.

    (Not rowcount: psycopg 3 with SQLAlchemy 2.1 reports -1 for it.)"""
    table: sa.Table = row.__table__  # type: ignore[attr-defined]
    stmt = _dialect_insert(table, dialect).on_conflict_do_nothing(index_elements=[table.c[column]])
    return stmt.returning(table.c.id)


def _in(column: Any, values: Sequence[Any]) -> Any:
    return column.in_([str(v) for v in values])


# --------------------------------------------------------------------------- repositories

_CONV = ConversationRow.__table__.c  # type: ignore[attr-defined]
_MSG = MessageRow.__table__.c  # type: ignore[attr-defined]
_OUT = OutboxRow.__table__.c  # type: ignore[attr-defined]
_SLA = SlaEventRow.__table__.c  # type: ignore[attr-defined]


class SqlConversationRepository(_Repo, ConversationRepository):
    entity, row = Conversation, ConversationRow
    _by_thread = (
        sa.select(*_CONV)
        .where(
            _CONV.platform == sa.bindparam("platform"),
            _CONV.workspace_id == sa.bindparam("workspace_id"),
            _CONV.channel_id == sa.bindparam("channel_id"),
            _CONV.thread_id == sa.bindparam("thread_id"),
        )
        .order_by(_CONV.created_at, _CONV.seq)
        .limit(1)
    )
    _by_staff_thread = (
        sa.select(*_CONV)
        .where(_CONV.platform == sa.bindparam("platform"), _CONV.staff_thread_id == sa.bindparam("staff_thread_id"))
        .order_by(_CONV.created_at, _CONV.seq)
        .limit(1)
    )
    _latest_for_customer = (
        sa.select(*_CONV)
        .where(
            _CONV.platform == sa.bindparam("platform"),
            _CONV.workspace_id == sa.bindparam("workspace_id"),
            _CONV.channel_id == sa.bindparam("channel_id"),
            _CONV.customer_id == sa.bindparam("customer_id"),
            _CONV.status != ConversationStatus.RESOLVED.value,
            _CONV.updated_at >= sa.bindparam("since", type_=_CONV.updated_at.type),
        )
        .order_by(_CONV.updated_at.desc(), _CONV.created_at.desc(), _CONV.seq.desc())
        .limit(1)
    )

    def _first(self, stmt: Any, params: dict[str, Any]) -> Conversation | None:
        row = self._execute(stmt, params).first()
        return None if row is None else mapping.from_row(Conversation, row, copy_json=False)

    def save(self, conversation: Conversation) -> None:
        self._upsert(
            conversation,
            lambda e: Conflict(
                f"another conversation already owns thread {conversation.platform}/"
                f"{conversation.workspace_id}/{conversation.channel_id}/{conversation.thread_id}"
            ),
        )

    def get(self, conversation_id: str) -> Conversation | None:
        return self._get(conversation_id)

    def find_by_thread(self, platform: str, workspace_id: str, channel_id: str, thread_id: str) -> Conversation | None:
        return self._first(
            self._by_thread,
            {
                "platform": platform,
                "workspace_id": workspace_id,
                "channel_id": channel_id,
                "thread_id": thread_id,
            },
        )

    def find_by_staff_thread(self, platform: str, staff_thread_id: str) -> Conversation | None:
        return self._first(self._by_staff_thread, {"platform": platform, "staff_thread_id": staff_thread_id})

    _many = sa.select(*_CONV).where(_CONV.id.in_(sa.bindparam("ids", expanding=True)))

    def get_many(self, conversation_ids: Sequence[str]) -> dict[str, Conversation]:
        if not conversation_ids:
            return {}
        rows = self._execute(self._many, {"ids": list(conversation_ids)})
        return {row.id: mapping.from_row(Conversation, row, copy_json=False) for row in rows}

    def note_delivery(
        self, conversation_id: str, *, staff_thread_id: str | None = None, first_response_at: datetime | None = None
    ) -> None:
        if staff_thread_id is not None:
            self._execute(
                self.table.update().where(self.c.id == conversation_id).values(staff_thread_id=staff_thread_id)
            )
        if first_response_at is not None:
            self._execute(
                self.table.update()
                .where(self.c.id == conversation_id, self.c.first_response_at.is_(None))
                .values(first_response_at=mapping.to_utc(first_response_at))
            )

    def latest_for_customer(
        self, platform: str, workspace_id: str, channel_id: str, customer_id: str, since: datetime
    ) -> Conversation | None:
        return self._first(
            self._latest_for_customer,
            {
                "platform": platform,
                "workspace_id": workspace_id,
                "channel_id": channel_id,
                "customer_id": customer_id,
                "since": mapping.to_utc(since),
            },
        )

    def list(
        self,
        *,
        statuses: Sequence[ConversationStatus] | None = None,
        since: datetime | None = None,
        limit: int | None = None,
    ) -> list[Conversation]:
        stmt = self._select(since)
        if statuses is not None:
            stmt = stmt.where(_in(self.c.status, statuses))
        return self._all(stmt, limit=limit)


class SqlMessageRepository(_Repo, MessageRepository):
    entity, row = StoredMessage, MessageRow
    _delivered_stmt = (
        sa.select(_MSG.id)
        .where(
            _MSG.platform == sa.bindparam("platform"),
            _MSG.workspace_id == sa.bindparam("workspace_id"),
            _MSG.channel_id == sa.bindparam("channel_id"),
            _MSG.external_id == sa.bindparam("external_id"),
            _MSG.id != sa.bindparam("_id"),
        )
        .limit(1)
    )
    _for_conversation = (
        sa.select(*_MSG)
        .where(_MSG.conversation_id == sa.bindparam("conversation_id"))
        .order_by(_MSG.created_at, _MSG.seq)
    )

    _find_external_stmt = sa.select(*_MSG).where(
        _MSG.platform == sa.bindparam("platform"),
        _MSG.workspace_id == sa.bindparam("workspace_id"),
        _MSG.channel_id == sa.bindparam("channel_id"),
        _MSG.external_id == sa.bindparam("external_id"),
    )

    def find_external(
        self, platform: str, workspace_id: str, channel_id: str, external_id: str
    ) -> StoredMessage | None:
        row = self._execute(
            self._find_external_stmt,
            {"platform": platform, "workspace_id": workspace_id, "channel_id": channel_id, "external_id": external_id},
        ).first()
        return None if row is None else mapping.from_row(StoredMessage, row, copy_json=False)

    def _delivered(self, message: StoredMessage) -> str | None:
        return self._execute(
            self._delivered_stmt,
            {
                "platform": message.platform,
                "workspace_id": message.workspace_id,
                "channel_id": message.channel_id,
                "external_id": message.external_id,
                "_id": message.id,
            },
        ).scalar()

    def _on_conflict(self, message: StoredMessage) -> Callable[[IntegrityError], Exception | None]:
        def translate(error: IntegrityError) -> Exception | None:
            other = self._delivered(message)
            if other is not None:
                return DuplicateDelivery(
                    f"message {message.platform}/{message.workspace_id}/{message.channel_id}/"
                    f"{message.external_id} already stored as {other}"
                )
            return Conflict(f"message {message.id} already exists")

        return translate

    def add(self, message: StoredMessage) -> None:
        self._insert_values(mapping.to_values(message, copy_json=False), self._on_conflict(message))

    def save(self, message: StoredMessage) -> None:
        self._upsert(message, self._on_conflict(message))

    def set_state(
        self, message_id: str, state: MessageState, *, conversation_id: str | None = None, error: str | None = None
    ) -> None:
        values: dict[str, Any] = {"state": state.value}
        if conversation_id is not None:
            values["conversation_id"] = conversation_id
        if error is not None:
            values["error"] = error
        self._execute(self.table.update().where(self.c.id == message_id).values(**values))

    def get(self, message_id: str) -> StoredMessage | None:
        return self._get(message_id)

    def for_conversation(self, conversation_id: str) -> list[StoredMessage]:
        rows = self._execute(self._for_conversation, {"conversation_id": conversation_id})
        return [mapping.from_row(StoredMessage, row, copy_json=False) for row in rows]

    def in_state(self, state: MessageState, limit: int = 100) -> list[StoredMessage]:
        return self._all(self._select().where(self.c.state == MessageState(state).value), limit=limit)

    def list(self, *, since: datetime | None = None) -> list[StoredMessage]:
        return self._all(self._select(since))


class SqlClassificationRepository(_Repo, ClassificationRepository):
    entity, row = ClassificationRecord, ClassificationRow

    def add(self, record: ClassificationRecord) -> None:
        self._insert(record, "classification")

    def for_conversation(self, conversation_id: str) -> list[ClassificationRecord]:
        return self._all(self._select().where(self.c.conversation_id == conversation_id))

    def list(self, *, since: datetime | None = None) -> list[ClassificationRecord]:
        return self._all(self._select(since))

    def correct(self, message_id: str, intent: str, *, by: str, at: datetime) -> int:
        mapping.check_text("corrected intent", intent)
        stmt = (
            sa.update(self.table)
            .where(self.c.message_id == message_id)
            .values(corrected_intent=intent, corrected_by=by, corrected_at=mapping.to_utc(at))
        )
        return int(self._execute(stmt).rowcount or 0)


class SqlDecisionRepository(_Repo, DecisionRepository):
    entity, row = DecisionRecord, DecisionRow

    def add(self, record: DecisionRecord) -> None:
        self._insert(record, "decision")

    def get(self, decision_id: str) -> DecisionRecord | None:
        return self._get(decision_id)

    def for_conversation(self, conversation_id: str) -> list[DecisionRecord]:
        return self._all(self._select().where(self.c.conversation_id == conversation_id))

    def list(self, *, since: datetime | None = None) -> list[DecisionRecord]:
        return self._all(self._select(since))

    def set_shadow_agreement(self, decision_id: str, agreement: str) -> None:
        self._execute(self.table.update().where(self.c.id == decision_id).values(shadow_agreement=agreement))


class SqlDraftRepository(_Repo, DraftRepository):
    entity, row = Draft, DraftRow

    def save(self, draft: Draft) -> None:
        self._upsert(draft, lambda e: None)

    def get(self, draft_id: str) -> Draft | None:
        return self._get(draft_id)

    def list(
        self,
        *,
        status: DraftStatus | None = None,
        conversation_id: str | None = None,
        since: datetime | None = None,
    ) -> list[Draft]:
        stmt = self._select(since)
        if status is not None:
            stmt = stmt.where(self.c.status == DraftStatus(status).value)
        if conversation_id is not None:
            stmt = stmt.where(self.c.conversation_id == conversation_id)
        return self._all(stmt)


class SqlHandoffRepository(_Repo, HandoffRepository):
    entity, row = Handoff, HandoffRow

    def save(self, handoff: Handoff) -> None:
        self._upsert(handoff, lambda e: None)

    def get(self, handoff_id: str) -> Handoff | None:
        return self._get(handoff_id)

    def list(
        self,
        *,
        statuses: Sequence[HandoffStatus] | None = None,
        conversation_id: str | None = None,
        since: datetime | None = None,
    ) -> list[Handoff]:
        stmt = self._select(since)
        if statuses is not None:
            stmt = stmt.where(_in(self.c.status, statuses))
        if conversation_id is not None:
            stmt = stmt.where(self.c.conversation_id == conversation_id)
        return self._all(stmt)


class SqlAgentActionRepository(_Repo, AgentActionRepository):
    entity, row = AgentActionRecord, AgentActionRow

    def add(self, record: AgentActionRecord) -> None:
        self._insert(record, "agent action")

    def list(self, *, since: datetime | None = None, action: str | None = None) -> list[AgentActionRecord]:
        stmt = self._select(since)
        if action is not None:
            stmt = stmt.where(self.c.action == action)
        return self._all(stmt)


@functools.cache
def _key_statements(row: type[SQLModel]) -> tuple[Any, Any, Any, Any]:
    table: sa.Table = row.__table__  # type: ignore[attr-defined]
    by_key = sa.select(*table.c).where(table.c.key == sa.bindparam("_key"))
    update = table.update().where(table.c.key == sa.bindparam("_key"))
    return table.c, by_key, table.insert(), update


class _KeyValue:
    """Core access to a table keyed by a string primary key ``key``."""

    row: type[SQLModel]

    def __init__(self, session: Session, connection: _Connection | None = None) -> None:
        self._session = session
        self._connection = connection or _Connection(session)
        self.c, self._by_key, self._insert_stmt, self._update_stmt = _key_statements(self.row)

    def _execute(self, stmt: Any, params: Any = None) -> Any:
        return self._connection.execute(stmt, params)

    def _row(self, key: str) -> Any:
        return self._execute(self._by_key, {"_key": key}).first()

    def _put(self, key: str, values: dict[str, Any]) -> None:
        if self._execute(self._update_stmt, {"_key": key, **values}).rowcount == 0:
            self._execute(self._insert_stmt, {"key": key, **values})


class SqlAccountCacheRepository(_KeyValue, AccountCacheRepository):
    row = AccountCacheRow

    def get(self, key: str) -> tuple[Account, datetime] | None:
        row = self._row(key)
        if row is None:
            return None
        return mapping.account_from_json(row.account), mapping.from_db(row.fetched_at)

    def put(self, key: str, account: Account, fetched_at: datetime) -> None:
        mapping.check_text("account cache key", key)
        self._put(key, {"account": mapping.account_to_json(account), "fetched_at": mapping.to_utc(fetched_at)})


class SqlModelVersionRepository(_Repo, ModelVersionRepository):
    entity, row = ModelVersion, ModelVersionRow

    def _conflict(self, what: str) -> Callable[[IntegrityError], Exception | None]:
        return lambda e: Conflict(what)

    def _retire_current(self, kind: str, keep: str) -> None:
        self._execute(
            sa.update(self.table)
            .where(self.c.kind == kind, self.c.status == ModelStatus.CURRENT.value, self.c.id != keep)
            .values(status=ModelStatus.RETIRED.value)
        )

    def add(self, version: ModelVersion) -> None:
        values = mapping.to_values(version, copy_json=False)

        def work() -> None:
            if version.status is ModelStatus.CURRENT:
                self._retire_current(version.kind, version.id)
            self._execute(self._insert_stmt, values)

        # two statements: the retirement must be undone when the insert fails
        message = f"model version {version.id} already exists (or another is being made current)"
        self._guarded(self._conflict(message), work, savepoint=True)

    def get(self, version_id: str) -> ModelVersion | None:
        found: ModelVersion | None = self._get(version_id)
        return found

    def current(self, kind: str) -> ModelVersion | None:
        found = self._all(
            self._select().where(self.c.kind == kind, self.c.status == ModelStatus.CURRENT.value), limit=1, newest=True
        )
        return found[0] if found else None

    def list(self, kind: str | None = None) -> list[ModelVersion]:
        stmt = self._select()
        if kind is not None:
            stmt = stmt.where(self.c.kind == kind)
        return self._all(stmt)

    def make_current(self, version_id: str, *, promoted_at: datetime | None) -> ModelVersion | None:
        target = self.get(version_id)
        if target is None:
            raise NotFound(f"no model version {version_id}")
        previous = self.current(target.kind)
        values: dict[str, Any] = {"status": ModelStatus.CURRENT.value}
        if promoted_at is not None:
            values["promoted_at"] = mapping.to_utc(promoted_at)

        def work() -> None:
            self._retire_current(target.kind, version_id)
            self._execute(self._update_stmt, {"_id": version_id, **values})

        # the partial unique index refuses a second current version: a concurrent promotion won
        self._guarded(
            self._conflict("another promotion of this kind happened at the same time; try again"),
            work,
            savepoint=True,
        )
        return previous if previous is not None and previous.id != version_id else None

    def set_status(self, version_id: str, status: ModelStatus) -> None:
        if status is ModelStatus.CURRENT:
            raise ValueError("use make_current to make a version current")
        if self._execute(self._update_stmt, {"_id": version_id, "status": status.value}).rowcount == 0:
            raise NotFound(f"no model version {version_id}")


class _Deduplicated(Exception):
    """Internal: the outbox insert lost a race on dedupe_key."""


class SqlOutboxRepository(_Repo, OutboxRepository):
    entity, row = Outbound, OutboxRow
    _taken_stmt = (
        sa.select(_OUT.id).where(_OUT.dedupe_key == sa.bindparam("dedupe_key"), _OUT.id != sa.bindparam("_id")).limit(1)
    )

    def _taken(self, outbound: Outbound) -> bool:
        found = self._execute(self._taken_stmt, {"dedupe_key": outbound.dedupe_key, "_id": outbound.id})
        return found.first() is not None

    def add(self, outbound: Outbound) -> bool:
        values = mapping.to_values(outbound, copy_json=False)
        stmt = _insert_unless(self.row, self._session.get_bind().dialect.name, "dedupe_key")
        inserted = [0]

        def work() -> None:
            inserted[0] = int(self._execute(stmt, values).first() is not None)

        self._guarded(lambda e: Conflict(f"outbound {outbound.id} already exists"), work)
        return inserted[0] == 1  # 0: the dedupe_key was queued before (or by a concurrent transaction)

    def save(self, outbound: Outbound) -> None:
        self._upsert(
            outbound,
            lambda e: (
                Conflict(f"dedupe_key {outbound.dedupe_key!r} already used by another outbound")
                if self._taken(outbound)
                else None
            ),
        )

    def get(self, outbound_id: str) -> Outbound | None:
        return self._get(outbound_id)

    _by_key = sa.select(*_OUT).where(_OUT.dedupe_key == sa.bindparam("key"))

    def find(self, dedupe_key: str) -> Outbound | None:
        row = self._execute(self._by_key, {"key": dedupe_key}).first()
        return None if row is None else mapping.from_row(Outbound, row, copy_json=False)

    _now = sa.bindparam("now", type_=_OUT.created_at.type)
    _due_stmt = (
        sa.select(*_OUT)
        .where(
            _OUT.status == OutboxStatus.PENDING.value,
            sa.or_(_OUT.next_attempt_at.is_(None), _OUT.next_attempt_at <= _now),
            sa.or_(_OUT.claimed_until.is_(None), _OUT.claimed_until <= _now),
        )
        .order_by(_OUT.created_at, _OUT.seq)
        .limit(sa.bindparam("limit"))
    )

    def due(self, now: datetime, limit: int = 50) -> list[Outbound]:
        rows = self._execute(self._due_stmt, {"now": mapping.to_utc(now), "limit": limit})
        return [mapping.from_row(Outbound, row, copy_json=False) for row in rows]

    # One conditional UPDATE: the database serializes it (PostgreSQL re-checks the
    # WHERE clause on the row once a concurrent writer commits; SQLite has a single
    # writer), so of any number of concurrent claimers exactly one sees rowcount 1.
    _claim_stmt = (
        OutboxRow.__table__.update()  # type: ignore[attr-defined]
        .where(
            _OUT.id == sa.bindparam("_id"),
            _OUT.status == OutboxStatus.PENDING.value,
            sa.or_(_OUT.claimed_until.is_(None), _OUT.claimed_until <= sa.bindparam("_now")),
        )
        .values(claimed_by=sa.bindparam("_owner"), claimed_until=sa.bindparam("_until"))
    )
    _claim_many_stmt = (
        OutboxRow.__table__.update()  # type: ignore[attr-defined]
        .where(
            _OUT.id.in_(sa.bindparam("_ids", expanding=True)),
            _OUT.status == OutboxStatus.PENDING.value,
            sa.or_(_OUT.claimed_until.is_(None), _OUT.claimed_until <= sa.bindparam("_now")),
        )
        .values(claimed_by=sa.bindparam("_owner"), claimed_until=sa.bindparam("_until"))
        .returning(_OUT.id)
    )
    _held_stmt = (
        sa.select(
            _OUT.conversation_id,
            _OUT.audience,
            sa.func.min(_OUT.created_at, type_=_OUT.created_at.type),
            sa.func.max(
                sa.case((_OUT.next_attempt_at > _now, _OUT.next_attempt_at), else_=None), type_=_OUT.created_at.type
            ),
        )
        .where(
            _OUT.status == OutboxStatus.PENDING.value,
            _OUT.kind != "reaction",
            _OUT.conversation_id.is_not(None),
            sa.or_(_OUT.next_attempt_at > _now, _OUT.claimed_until > _now),
        )
        .group_by(_OUT.conversation_id, _OUT.audience)
    )
    # what delivering changes: never the text, payload or dedupe key
    _delivery_stmt = (
        OutboxRow.__table__.update()  # type: ignore[attr-defined]
        .where(_OUT.id == sa.bindparam("_id"))
        .values(
            status=sa.bindparam("status"),
            attempts=sa.bindparam("attempts"),
            next_attempt_at=sa.bindparam("next_attempt_at", type_=_OUT.created_at.type),
            external_id=sa.bindparam("external_id"),
            last_error=sa.bindparam("last_error"),
            claimed_by=sa.bindparam("claimed_by"),
            claimed_until=sa.bindparam("claimed_until", type_=_OUT.created_at.type),
        )
    )

    def claim(self, outbound_id: str, owner: str, now: datetime, lease: timedelta) -> bool:
        now = mapping.to_utc(now)
        params = {"_id": outbound_id, "_owner": owner, "_now": now, "_until": now + lease}
        return bool(self._execute(self._claim_stmt, params).rowcount == 1)

    def claim_many(self, outbound_ids: Sequence[str], owner: str, now: datetime, lease: timedelta) -> set[str]:
        if not outbound_ids:
            return set()
        now = mapping.to_utc(now)
        params = {"_ids": list(outbound_ids), "_owner": owner, "_now": now, "_until": now + lease}
        return {row[0] for row in self._execute(self._claim_many_stmt, params)}

    def save_delivery(self, outbound: Outbound) -> None:
        def utc(value: datetime | None) -> datetime | None:
            return None if value is None else mapping.to_utc(value)

        self._execute(
            self._delivery_stmt,
            {
                "_id": outbound.id,
                "status": outbound.status.value,
                "attempts": outbound.attempts,
                "next_attempt_at": utc(outbound.next_attempt_at),
                "external_id": outbound.external_id,
                "last_error": outbound.last_error,
                "claimed_by": outbound.claimed_by,
                "claimed_until": utc(outbound.claimed_until),
            },
        )

    def held(self, now: datetime) -> dict[tuple[str, str], tuple[datetime, datetime | None]]:
        rows = self._execute(self._held_stmt, {"now": mapping.to_utc(now)})
        return {
            (cid, audience): (mapping.from_db(at), mapping.from_db(retry) if retry is not None else None)
            for cid, audience, at, retry in rows
        }

    _backlog = sa.select(sa.func.count(), sa.func.min(_OUT.created_at, type_=_OUT.created_at.type)).where(
        _OUT.status == OutboxStatus.PENDING.value
    )

    def backlog(self) -> tuple[int, datetime | None]:
        count, oldest = self._execute(self._backlog).one()
        return int(count), mapping.from_db(oldest) if oldest is not None else None

    def failed(self, limit: int = 100) -> list[Outbound]:
        return self._all(self._select().where(self.c.status == OutboxStatus.FAILED.value), limit=limit, newest=True)

    def list(self, *, conversation_id: str | None = None) -> list[Outbound]:
        stmt = self._select()
        if conversation_id is not None:
            stmt = stmt.where(self.c.conversation_id == conversation_id)
        return self._all(stmt)


class SqlSettingRepository(_KeyValue, SettingRepository):
    row = SettingRow
    _items = sa.select(SettingRow.__table__.c.key, SettingRow.__table__.c.value).order_by(  # type: ignore[attr-defined]
        SettingRow.__table__.c.key  # type: ignore[attr-defined]
    )

    def get(self, key: str) -> Any | None:
        row = self._row(key)
        return None if row is None else row.value  # freshly decoded JSON: nothing else holds it

    def set(self, key: str, value: Any) -> None:
        mapping.check_text("setting key", key)
        self._put(key, {"value": copy.deepcopy(value)})

    def items(self, prefix: str = "") -> dict[str, Any]:
        # filter in Python: LIKE would treat "_" and "%" in the prefix as wildcards
        return {row.key: row.value for row in self._execute(self._items) if row.key.startswith(prefix)}


class _Claimed(Exception):
    """Internal: an sla_events claim lost to an existing or concurrent one."""


class SqlSlaEventRepository(_Repo, SlaEventRepository):
    entity, row = SlaEvent, SlaEventRow
    _exists_stmt = (
        sa.select(_SLA.id)
        .where(
            _SLA.conversation_id == sa.bindparam("conversation_id"),
            _SLA.kind == sa.bindparam("kind"),
            _SLA.due_at == sa.bindparam("due_at", type_=_SLA.due_at.type),
        )
        .limit(1)
    )

    def _exists(self, event: SlaEvent) -> bool:
        return (
            self._execute(
                self._exists_stmt,
                {
                    "conversation_id": event.conversation_id,
                    "kind": event.kind,
                    "due_at": mapping.to_utc(event.due_at),
                },
            ).first()
            is not None
        )

    def claim(self, event: SlaEvent) -> bool:
        if self._exists(event):
            return False
        try:
            # the UNIQUE (conversation_id, kind, due_at) constraint decides races
            self._insert_values(mapping.to_values(event, copy_json=False), lambda e: _Claimed())
        except _Claimed:
            return False
        return True

    def list(
        self,
        *,
        since: datetime | None = None,
        conversation_id: str | None = None,
        kinds: Sequence[str] | None = None,
    ) -> list[SlaEvent]:
        stmt = self._select(since)
        if conversation_id is not None:
            stmt = stmt.where(self.c.conversation_id == conversation_id)
        if kinds is not None:
            stmt = stmt.where(_in(self.c.kind, kinds))
        return self._all(stmt)


# --------------------------------------------------------------------------- unit of work


_REPOSITORIES: dict[str, Any] = {
    "conversations": SqlConversationRepository,
    "messages": SqlMessageRepository,
    "classifications": SqlClassificationRepository,
    "decisions": SqlDecisionRepository,
    "drafts": SqlDraftRepository,
    "handoffs": SqlHandoffRepository,
    "actions": SqlAgentActionRepository,
    "accounts": SqlAccountCacheRepository,
    "model_versions": SqlModelVersionRepository,
    "outbox": SqlOutboxRepository,
    "settings": SqlSettingRepository,
    "sla_events": SqlSlaEventRepository,
}


class SqlUnitOfWork(UnitOfWork):
    """One session (transaction) over all repositories."""

    def __init__(self, session_factory: Callable[[], Session]) -> None:
        self._session_factory = session_factory
        self._open(session_factory())

    def _open(self, session: Session) -> None:
        self.session = session
        self._savepoints = session.get_bind().dialect.name != "sqlite"
        self._connection = _Connection(session)

    def __getattr__(self, name: str) -> Any:
        # repositories are built on first use: most units of work touch two or three
        repo_type = _REPOSITORIES.get(name)
        if repo_type is None:
            raise AttributeError(name)
        repo: Any
        if issubclass(repo_type, _KeyValue):
            repo = repo_type(self.session, self._connection)
        else:
            repo = repo_type(self.session, self._savepoints, self._connection)
        setattr(self, name, repo)
        return repo

    def __enter__(self) -> SqlUnitOfWork:
        return self

    def __exit__(self, *exc: object) -> None:
        try:
            self.rollback()
        finally:
            self.session.close()

    def commit(self) -> None:
        self.session.commit()

    @contextlib.contextmanager
    def savepoint(self) -> Iterator[None]:
        # Plain SQL on the driver's cursor: the group-committing writer takes one per unit of work, and
        # SQLAlchemy's nested-transaction bookkeeping cost more than the statements themselves.
        cursor = self._connection.get().connection.dbapi_connection.cursor()  # type: ignore[union-attr]
        cursor.execute("SAVEPOINT supportbot_unit")
        try:
            yield
        except BaseException:
            cursor.execute("ROLLBACK TO SAVEPOINT supportbot_unit")
            cursor.execute("RELEASE SAVEPOINT supportbot_unit")
            raise
        else:
            cursor.execute("RELEASE SAVEPOINT supportbot_unit")
        finally:
            cursor.close()

    def rollback(self) -> None:
        self.session.rollback()


class SqlUnitOfWorkFactory(UnitOfWorkFactory):
    """Units of work over one engine (one connection pool) per factory.

    ``database_url``: ``sqlite:///path.db``, ``postgresql://user@host/db``
    (psycopg 3) or ``sqlite://`` (in memory). For files and servers the
    schema is not created here: run ``storage.upgrade(url)`` first. An
    in-memory database lives in this factory's single connection and starts
    empty, so the factory migrates it itself; every factory gets its own.
    ``engine`` reuses an existing engine (then nothing is migrated).
    """

    def __init__(self, database_url: str, *, engine: Engine | None = None, echo: bool = False) -> None:
        self.database_url = database_url
        if engine is None:
            engine = make_engine(database_url, echo=echo)
            if is_memory_sqlite(normalize_url(database_url)):
                upgrade(engine)
        self.engine = engine
        self._sessions = sessionmaker(self.engine, class_=Session, expire_on_commit=False, autoflush=True)
        sqlite = engine.dialect.name == "sqlite"
        # SQLite: a writer takes the write lock at BEGIN, so it waits (busy_timeout) instead of failing
        # when a transaction that read first then writes after another process committed.
        writer_engine = engine.execution_options(supportbot_begin="BEGIN IMMEDIATE") if sqlite else engine
        self._writer_sessions = sessionmaker(writer_engine, class_=Session, expire_on_commit=False, autoflush=True)
        # An in-memory database is one connection that two threads must never use at once.
        self.shared_connection = sqlite and is_memory_sqlite(engine.url)
        self.read_threads = 2

    def __call__(self) -> SqlUnitOfWork:
        return SqlUnitOfWork(self._sessions)

    def writer(self) -> SqlUnitOfWork:
        return SqlUnitOfWork(self._writer_sessions)

    def dispose(self) -> None:
        """Close every pooled connection (call on shutdown and in tests)."""
        self.engine.dispose()
