"""SQL implementation of the repository and unit-of-work ports.

One ``SqlUnitOfWork`` is one SQLAlchemy session, i.e. one transaction:
``with factory() as uow: ...; uow.commit()``. Repositories return fresh domain
objects mapped from rows (never the rows), so mutating a returned object does
nothing until it is passed to ``save``.
"""

from __future__ import annotations

import copy
from collections.abc import Callable, Sequence
from datetime import datetime
from typing import Any

import sqlalchemy as sa
from sqlalchemy.engine import Engine
from sqlalchemy.exc import IntegrityError
from sqlalchemy.orm import sessionmaker
from sqlmodel import Session, SQLModel, col, select

from bot.domain import (
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
    ModelVersion,
    Outbound,
    OutboxStatus,
    SlaEvent,
    StoredMessage,
)
from bot.errors import Conflict, DuplicateDelivery
from bot.ports import (
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
from storage import mapping
from storage.database import is_memory_sqlite, make_engine, normalize_url, upgrade
from storage.tables import (
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


class _Repo:
    entity: type
    row: type[SQLModel]

    def __init__(self, session: Session) -> None:
        self._session = session

    # -- helpers -------------------------------------------------------------

    def _row_by_id(self, entity_id: str) -> Any:
        return self._session.exec(select(self.row).where(self.row.id == entity_id)).first()  # type: ignore[attr-defined]

    def _get(self, entity_id: str) -> Any:
        row = self._row_by_id(entity_id)
        return None if row is None else mapping.from_row(self.entity, row)

    def _all(self, stmt: Any, *, limit: int | None = None, newest: bool = False) -> list[Any]:
        created, seq = self.row.created_at, self.row.seq  # type: ignore[attr-defined]
        order = (col(created).desc(), col(seq).desc()) if newest else (col(created), col(seq))
        stmt = stmt.order_by(*order)
        if limit is not None:
            stmt = stmt.limit(limit)
        return [mapping.from_row(self.entity, row) for row in self._session.exec(stmt)]

    def _select(self, since: datetime | None = None) -> Any:
        stmt = select(self.row)
        if since is not None:
            stmt = stmt.where(self.row.created_at >= mapping.to_utc(since))  # type: ignore[attr-defined]
        return stmt

    def _guarded_flush(
        self, on_conflict: Callable[[IntegrityError], Exception | None], work: Callable[[], None]
    ) -> None:
        """Run ``work`` and flush inside a SAVEPOINT.

        On an IntegrityError only the savepoint is rolled back, so the
        enclosing transaction (and everything done in it so far) stays
        usable; ``on_conflict`` maps the error to the exception to raise.
        """
        try:
            with self._session.begin_nested():
                work()
                self._session.flush()
        except IntegrityError as error:
            replacement = on_conflict(error)
            if replacement is None:
                raise
            raise replacement from error

    def _insert(self, entity: Any, what: str) -> None:
        row = mapping.to_row(entity)
        self._guarded_flush(
            lambda e: Conflict(f"{what} {entity.id} already exists"),
            lambda: self._session.add(row),
        )

    def _upsert(self, entity: Any, on_conflict: Callable[[IntegrityError], Exception | None]) -> None:
        def work() -> None:
            row = self._row_by_id(entity.id)
            if row is None:
                self._session.add(mapping.to_row(entity))
            else:
                mapping.update_row(row, entity)

        self._guarded_flush(on_conflict, work)


def _in(column: Any, values: Sequence[Any]) -> Any:
    return col(column).in_([str(v) for v in values])


# --------------------------------------------------------------------------- repositories


class SqlConversationRepository(_Repo, ConversationRepository):
    entity, row = Conversation, ConversationRow

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

    def find_by_thread(
        self, platform: str, workspace_id: str, channel_id: str, thread_id: str
    ) -> Conversation | None:
        found = self._all(select(ConversationRow).where(
            ConversationRow.platform == platform,
            ConversationRow.workspace_id == workspace_id,
            ConversationRow.channel_id == channel_id,
            ConversationRow.thread_id == thread_id,
        ), limit=1)
        return found[0] if found else None

    def find_by_staff_thread(self, platform: str, staff_thread_id: str) -> Conversation | None:
        found = self._all(select(ConversationRow).where(
            ConversationRow.platform == platform,
            ConversationRow.staff_thread_id == staff_thread_id,
        ), limit=1)
        return found[0] if found else None

    def latest_for_customer(
        self, platform: str, workspace_id: str, channel_id: str, customer_id: str, since: datetime
    ) -> Conversation | None:
        stmt = (
            select(ConversationRow)
            .where(
                ConversationRow.platform == platform,
                ConversationRow.workspace_id == workspace_id,
                ConversationRow.channel_id == channel_id,
                ConversationRow.customer_id == customer_id,
                ConversationRow.status != ConversationStatus.RESOLVED.value,
                ConversationRow.updated_at >= mapping.to_utc(since),
            )
            .order_by(
                col(ConversationRow.updated_at).desc(),
                col(ConversationRow.created_at).desc(),
                col(ConversationRow.seq).desc(),
            )
            .limit(1)
        )
        row = self._session.exec(stmt).first()
        return None if row is None else mapping.from_row(Conversation, row)

    def list(
        self,
        *,
        statuses: Sequence[ConversationStatus] | None = None,
        since: datetime | None = None,
        limit: int | None = None,
    ) -> list[Conversation]:
        stmt = self._select(since)
        if statuses is not None:
            stmt = stmt.where(_in(ConversationRow.status, statuses))
        return self._all(stmt, limit=limit)


class SqlMessageRepository(_Repo, MessageRepository):
    entity, row = StoredMessage, MessageRow

    def _delivered(self, message: StoredMessage) -> MessageRow | None:
        return self._session.exec(select(MessageRow).where(
            MessageRow.platform == message.platform,
            MessageRow.workspace_id == message.workspace_id,
            MessageRow.channel_id == message.channel_id,
            MessageRow.external_id == message.external_id,
            MessageRow.id != message.id,
        )).first()

    def _on_conflict(self, message: StoredMessage) -> Callable[[IntegrityError], Exception | None]:
        def translate(error: IntegrityError) -> Exception | None:
            other = self._delivered(message)
            if other is not None:
                return DuplicateDelivery(
                    f"message {message.platform}/{message.workspace_id}/{message.channel_id}/"
                    f"{message.external_id} already stored as {other.id}"
                )
            return Conflict(f"message {message.id} already exists")

        return translate

    def add(self, message: StoredMessage) -> None:
        row = mapping.to_row(message)
        self._guarded_flush(self._on_conflict(message), lambda: self._session.add(row))

    def save(self, message: StoredMessage) -> None:
        self._upsert(message, self._on_conflict(message))

    def get(self, message_id: str) -> StoredMessage | None:
        return self._get(message_id)

    def for_conversation(self, conversation_id: str) -> list[StoredMessage]:
        return self._all(select(MessageRow).where(MessageRow.conversation_id == conversation_id))

    def in_state(self, state: MessageState, limit: int = 100) -> list[StoredMessage]:
        return self._all(select(MessageRow).where(MessageRow.state == MessageState(state).value), limit=limit)

    def list(self, *, since: datetime | None = None) -> list[StoredMessage]:
        return self._all(self._select(since))


class SqlClassificationRepository(_Repo, ClassificationRepository):
    entity, row = ClassificationRecord, ClassificationRow

    def add(self, record: ClassificationRecord) -> None:
        self._insert(record, "classification")

    def for_conversation(self, conversation_id: str) -> list[ClassificationRecord]:
        stmt = select(ClassificationRow).where(ClassificationRow.conversation_id == conversation_id)
        return self._all(stmt)

    def list(self, *, since: datetime | None = None) -> list[ClassificationRecord]:
        return self._all(self._select(since))


class SqlDecisionRepository(_Repo, DecisionRepository):
    entity, row = DecisionRecord, DecisionRow

    def add(self, record: DecisionRecord) -> None:
        self._insert(record, "decision")

    def get(self, decision_id: str) -> DecisionRecord | None:
        return self._get(decision_id)

    def for_conversation(self, conversation_id: str) -> list[DecisionRecord]:
        return self._all(select(DecisionRow).where(DecisionRow.conversation_id == conversation_id))

    def list(self, *, since: datetime | None = None) -> list[DecisionRecord]:
        return self._all(self._select(since))


class SqlDraftRepository(_Repo, DraftRepository):
    entity, row = Draft, DraftRow

    def save(self, draft: Draft) -> None:
        self._upsert(draft, lambda e: None)

    def get(self, draft_id: str) -> Draft | None:
        return self._get(draft_id)

    def list(
        self, *, status: DraftStatus | None = None, conversation_id: str | None = None,
        since: datetime | None = None,
    ) -> list[Draft]:
        stmt = self._select(since)
        if status is not None:
            stmt = stmt.where(DraftRow.status == DraftStatus(status).value)
        if conversation_id is not None:
            stmt = stmt.where(DraftRow.conversation_id == conversation_id)
        return self._all(stmt)


class SqlHandoffRepository(_Repo, HandoffRepository):
    entity, row = Handoff, HandoffRow

    def save(self, handoff: Handoff) -> None:
        self._upsert(handoff, lambda e: None)

    def get(self, handoff_id: str) -> Handoff | None:
        return self._get(handoff_id)

    def list(
        self, *, statuses: Sequence[HandoffStatus] | None = None,
        conversation_id: str | None = None, since: datetime | None = None,
    ) -> list[Handoff]:
        stmt = self._select(since)
        if statuses is not None:
            stmt = stmt.where(_in(HandoffRow.status, statuses))
        if conversation_id is not None:
            stmt = stmt.where(HandoffRow.conversation_id == conversation_id)
        return self._all(stmt)


class SqlAgentActionRepository(_Repo, AgentActionRepository):
    entity, row = AgentActionRecord, AgentActionRow

    def add(self, record: AgentActionRecord) -> None:
        self._insert(record, "agent action")

    def list(self, *, since: datetime | None = None, action: str | None = None) -> list[AgentActionRecord]:
        stmt = self._select(since)
        if action is not None:
            stmt = stmt.where(AgentActionRow.action == action)
        return self._all(stmt)


class SqlAccountCacheRepository(AccountCacheRepository):
    def __init__(self, session: Session) -> None:
        self._session = session

    def get(self, key: str) -> tuple[Account, datetime] | None:
        row = self._session.get(AccountCacheRow, key)
        if row is None:
            return None
        return mapping.account_from_json(row.account), mapping.from_db(row.fetched_at)

    def put(self, key: str, account: Account, fetched_at: datetime) -> None:
        mapping.check_text("account cache key", key)
        data, when = mapping.account_to_json(account), mapping.to_utc(fetched_at)
        row = self._session.get(AccountCacheRow, key)
        if row is None:
            self._session.add(AccountCacheRow(key=key, account=data, fetched_at=when))
        else:
            row.account, row.fetched_at = data, when
        self._session.flush()


class SqlModelVersionRepository(_Repo, ModelVersionRepository):
    entity, row = ModelVersion, ModelVersionRow

    def add(self, version: ModelVersion) -> None:
        def work() -> None:
            self._session.execute(
                sa.update(ModelVersionRow)
                .where(col(ModelVersionRow.kind) == version.kind, col(ModelVersionRow.active).is_(True))
                .values(active=False)
            )
            row = mapping.to_row(version)
            row.active = True  # type: ignore[attr-defined]
            self._session.add(row)

        self._guarded_flush(lambda e: Conflict(f"model version {version.id} already exists"), work)

    def active(self, kind: str) -> ModelVersion | None:
        found = self._all(
            select(ModelVersionRow).where(
                ModelVersionRow.kind == kind, col(ModelVersionRow.active).is_(True)
            ),
            limit=1, newest=True,
        )
        return found[0] if found else None

    def list(self, kind: str | None = None) -> list[ModelVersion]:
        stmt = select(ModelVersionRow)
        if kind is not None:
            stmt = stmt.where(ModelVersionRow.kind == kind)
        return self._all(stmt)


class _Deduplicated(Exception):
    """Internal: the outbox insert lost a race on dedupe_key."""


class SqlOutboxRepository(_Repo, OutboxRepository):
    entity, row = Outbound, OutboxRow

    def _taken(self, outbound: Outbound) -> bool:
        return self._session.exec(
            select(OutboxRow.id).where(
                OutboxRow.dedupe_key == outbound.dedupe_key, OutboxRow.id != outbound.id
            )
        ).first() is not None

    def add(self, outbound: Outbound) -> bool:
        if self._taken(outbound):
            return False
        row = mapping.to_row(outbound)
        try:
            self._guarded_flush(
                lambda e: _Deduplicated() if self._taken(outbound) else Conflict(
                    f"outbound {outbound.id} already exists"
                ),
                lambda: self._session.add(row),
            )
        except _Deduplicated:
            return False  # a concurrent transaction queued the same key first
        return True

    def save(self, outbound: Outbound) -> None:
        self._upsert(outbound, lambda e: Conflict(
            f"dedupe_key {outbound.dedupe_key!r} already used by another outbound"
        ) if self._taken(outbound) else None)

    def get(self, outbound_id: str) -> Outbound | None:
        return self._get(outbound_id)

    def due(self, now: datetime, limit: int = 50) -> list[Outbound]:
        stmt = select(OutboxRow).where(
            OutboxRow.status == OutboxStatus.PENDING.value,
            sa.or_(
                col(OutboxRow.next_attempt_at).is_(None),
                col(OutboxRow.next_attempt_at) <= mapping.to_utc(now),
            ),
        )
        return self._all(stmt, limit=limit)

    def list(self, *, conversation_id: str | None = None) -> list[Outbound]:
        stmt = select(OutboxRow)
        if conversation_id is not None:
            stmt = stmt.where(OutboxRow.conversation_id == conversation_id)
        return self._all(stmt)


class SqlSettingRepository(SettingRepository):
    def __init__(self, session: Session) -> None:
        self._session = session

    def get(self, key: str) -> Any | None:
        row = self._session.get(SettingRow, key)
        return None if row is None else copy.deepcopy(row.value)

    def set(self, key: str, value: Any) -> None:
        mapping.check_text("setting key", key)
        value = copy.deepcopy(value)
        row = self._session.get(SettingRow, key)
        if row is None:
            self._session.add(SettingRow(key=key, value=value))
        else:
            row.value = value
        self._session.flush()

    def items(self, prefix: str = "") -> dict[str, Any]:
        stmt = select(SettingRow).order_by(col(SettingRow.key))
        # filter in Python: LIKE would treat "_" and "%" in the prefix as wildcards
        return {
            row.key: copy.deepcopy(row.value)
            for row in self._session.exec(stmt)
            if row.key.startswith(prefix)
        }


class _Claimed(Exception):
    """Internal: an sla_events claim lost to an existing or concurrent one."""


class SqlSlaEventRepository(_Repo, SlaEventRepository):
    entity, row = SlaEvent, SlaEventRow

    def _exists(self, event: SlaEvent) -> bool:
        return self._session.exec(
            select(SlaEventRow.id).where(
                SlaEventRow.conversation_id == event.conversation_id,
                SlaEventRow.kind == event.kind,
                SlaEventRow.due_at == mapping.to_utc(event.due_at),
            )
        ).first() is not None

    def claim(self, event: SlaEvent) -> bool:
        if self._exists(event):
            return False
        row = mapping.to_row(event)
        try:
            # the UNIQUE (conversation_id, kind, due_at) constraint decides races
            self._guarded_flush(lambda e: _Claimed(), lambda: self._session.add(row))
        except _Claimed:
            return False
        return True

    def list(
        self, *, since: datetime | None = None, conversation_id: str | None = None,
        kinds: Sequence[str] | None = None,
    ) -> list[SlaEvent]:
        stmt = self._select(since)
        if conversation_id is not None:
            stmt = stmt.where(SlaEventRow.conversation_id == conversation_id)
        if kinds is not None:
            stmt = stmt.where(_in(SlaEventRow.kind, kinds))
        return self._all(stmt)


# --------------------------------------------------------------------------- unit of work


class SqlUnitOfWork(UnitOfWork):
    """One session (transaction) over all repositories."""

    def __init__(self, session_factory: Callable[[], Session]) -> None:
        self._session_factory = session_factory
        self._open(session_factory())

    def _open(self, session: Session) -> None:
        self.session = session
        self.conversations = SqlConversationRepository(session)
        self.messages = SqlMessageRepository(session)
        self.classifications = SqlClassificationRepository(session)
        self.decisions = SqlDecisionRepository(session)
        self.drafts = SqlDraftRepository(session)
        self.handoffs = SqlHandoffRepository(session)
        self.actions = SqlAgentActionRepository(session)
        self.accounts = SqlAccountCacheRepository(session)
        self.model_versions = SqlModelVersionRepository(session)
        self.outbox = SqlOutboxRepository(session)
        self.settings = SqlSettingRepository(session)
        self.sla_events = SqlSlaEventRepository(session)

    def __enter__(self) -> SqlUnitOfWork:
        return self

    def __exit__(self, *exc: object) -> None:
        try:
            self.rollback()
        finally:
            self.session.close()

    def commit(self) -> None:
        self.session.commit()

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

    def __call__(self) -> SqlUnitOfWork:
        return SqlUnitOfWork(self._sessions)

    def dispose(self) -> None:
        """Close every pooled connection (call on shutdown and in tests)."""
        self.engine.dispose()
