"""In-memory unit of work: a fake of ``bot.ports.UnitOfWork`` for core tests.

It follows the same contract as the SQL implementation in ``storage/`` (the
contract suite in ``tests/storage`` runs against both):

* every unit of work works on a private deep copy of the shared
  ``InMemoryStore``; ``commit()`` publishes the copy, ``rollback()`` (and
  leaving the ``with`` block without committing) discards it;
* objects handed to ``add``/``save`` are copied in and objects returned by
  ``get``/``list`` are copies, so mutating them without ``save`` never changes
  the store;
* lists are "oldest first" by ``created_at``; ties keep insertion order;
* NUL characters in string fields raise ``InvalidInput`` (PostgreSQL cannot
  store them in text columns);
* like the SQL tables, stored datetimes come back as aware UTC (naive ones are
  taken to be UTC) and dict/list fields and settings values go through a JSON
  round trip, so a payload that SQL could not store fails here too.

Concurrency is "last commit wins": a commit replaces the whole shared state.
That is enough for single-threaded tests; it does not emulate row locking.
"""

from __future__ import annotations

import contextlib
import copy
import dataclasses
import json
from collections.abc import Callable, Iterable, Iterator, Sequence
from dataclasses import dataclass, field, replace
from datetime import UTC, datetime, timedelta
from typing import Any, TypeVar

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
from supportbot.bot.errors import Conflict, DuplicateDelivery, InvalidInput, NotFound
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

T = TypeVar("T")


@dataclass
class InMemoryStore:
    """All persisted state, one dict per table keyed by id (insertion ordered)."""

    conversations: dict[str, Conversation] = field(default_factory=dict)
    messages: dict[str, StoredMessage] = field(default_factory=dict)
    classifications: dict[str, ClassificationRecord] = field(default_factory=dict)
    decisions: dict[str, DecisionRecord] = field(default_factory=dict)
    drafts: dict[str, Draft] = field(default_factory=dict)
    handoffs: dict[str, Handoff] = field(default_factory=dict)
    actions: dict[str, AgentActionRecord] = field(default_factory=dict)
    accounts: dict[str, tuple[Account, datetime]] = field(default_factory=dict)
    model_versions: dict[str, ModelVersion] = field(default_factory=dict)
    outbox: dict[str, Outbound] = field(default_factory=dict)
    settings: dict[str, Any] = field(default_factory=dict)
    sla_events: dict[str, SlaEvent] = field(default_factory=dict)


def _utc(value: datetime) -> datetime:
    return value.replace(tzinfo=UTC) if value.tzinfo is None else value.astimezone(UTC)


def _json(value: Any) -> Any:
    return json.loads(json.dumps(value))


def _check_text(field: str, value: str) -> None:
    # PostgreSQL text columns cannot hold NUL; every backend rejects it alike
    if "\x00" in value:
        raise InvalidInput(f"{field} contains a NUL character, which cannot be stored")


def _stored(entity: T) -> T:
    """What the SQL backend would keep of ``entity``: a UTC, JSON-clean deep copy."""
    changes: dict[str, Any] = {}
    for f in dataclasses.fields(entity):  # type: ignore[arg-type]
        value = getattr(entity, f.name)
        if isinstance(value, str):
            _check_text(f"{type(entity).__name__}.{f.name}", value)
        elif isinstance(value, datetime):
            changes[f.name] = _utc(value)
        elif isinstance(value, dict | list):
            changes[f.name] = _json(value)
    return copy.deepcopy(replace(entity, **changes))  # type: ignore[type-var]


def _oldest_first(items: Iterable[T], key: Callable[[T], datetime] = lambda x: x.created_at) -> list[T]:
    # sorted() is stable, so equal timestamps keep insertion order
    return [copy.deepcopy(x) for x in sorted(items, key=key)]


def _since(items: Iterable[T], since: datetime | None) -> Iterable[T]:
    if since is None:
        return items
    since = _utc(since)
    return (x for x in items if x.created_at >= since)  # type: ignore[attr-defined]


class _Repo:
    def __init__(self, uow: InMemoryUnitOfWork) -> None:
        self._uow = uow

    @property
    def _data(self) -> InMemoryStore:
        return self._uow._data


# --------------------------------------------------------------------------- repositories


class InMemoryConversationRepository(_Repo, ConversationRepository):
    def save(self, conversation: Conversation) -> None:
        key = (conversation.platform, conversation.workspace_id, conversation.channel_id, conversation.thread_id)
        for other in self._data.conversations.values():
            if (
                other.id != conversation.id
                and (other.platform, other.workspace_id, other.channel_id, other.thread_id) == key
            ):
                raise Conflict(f"another conversation already owns thread {key!r}: {other.id}")
        self._data.conversations[conversation.id] = _stored(conversation)

    def get(self, conversation_id: str) -> Conversation | None:
        return copy.deepcopy(self._data.conversations.get(conversation_id))

    def find_by_thread(self, platform: str, workspace_id: str, channel_id: str, thread_id: str) -> Conversation | None:
        for c in self._data.conversations.values():
            if (c.platform, c.workspace_id, c.channel_id, c.thread_id) == (
                platform,
                workspace_id,
                channel_id,
                thread_id,
            ):
                return copy.deepcopy(c)
        return None

    def get_many(self, conversation_ids: Sequence[str]) -> dict[str, Conversation]:
        return {
            i: copy.deepcopy(self._data.conversations[i]) for i in conversation_ids if i in self._data.conversations
        }

    def note_delivery(
        self, conversation_id: str, *, staff_thread_id: str | None = None, first_response_at: datetime | None = None
    ) -> None:
        conv = self._data.conversations.get(conversation_id)
        if conv is None:
            return
        if staff_thread_id is not None:
            conv.staff_thread_id = staff_thread_id
        if first_response_at is not None and conv.first_response_at is None:
            conv.first_response_at = _utc(first_response_at)

    def find_by_staff_thread(self, platform: str, staff_thread_id: str) -> Conversation | None:
        matches = [
            c
            for c in self._data.conversations.values()
            if c.platform == platform and c.staff_thread_id == staff_thread_id
        ]
        return _oldest_first(matches)[0] if matches else None

    def latest_for_customer(
        self, platform: str, workspace_id: str, channel_id: str, customer_id: str, since: datetime
    ) -> Conversation | None:
        since = _utc(since)
        matches = [
            c
            for c in self._data.conversations.values()
            if (c.platform, c.workspace_id, c.channel_id, c.customer_id)
            == (platform, workspace_id, channel_id, customer_id)
            and c.status != ConversationStatus.RESOLVED
            and c.updated_at >= since
        ]
        if not matches:
            return None
        # newest by updated_at, then created_at, then insertion order (stable sort)
        ordered = sorted(matches, key=lambda c: (c.updated_at, c.created_at))
        return copy.deepcopy(ordered[-1])

    def list(
        self,
        *,
        statuses: Sequence[ConversationStatus] | None = None,
        since: datetime | None = None,
        limit: int | None = None,
    ) -> list[Conversation]:
        items: Iterable[Conversation] = _since(self._data.conversations.values(), since)
        if statuses is not None:
            wanted = set(statuses)
            items = [c for c in items if c.status in wanted]
        result = _oldest_first(items)
        return result if limit is None else result[:limit]


class InMemoryMessageRepository(_Repo, MessageRepository):
    @staticmethod
    def _key(m: StoredMessage) -> tuple[str, str, str, str]:
        return (m.platform, m.workspace_id, m.channel_id, m.external_id)

    def _check_unique(self, message: StoredMessage) -> None:
        key = self._key(message)
        for other in self._data.messages.values():
            if other.id != message.id and self._key(other) == key:
                raise DuplicateDelivery(f"message {key!r} already stored as {other.id}")

    def add(self, message: StoredMessage) -> None:
        self._check_unique(message)
        if message.id in self._data.messages:
            raise Conflict(f"message id {message.id} already exists")
        self._data.messages[message.id] = _stored(message)

    def save(self, message: StoredMessage) -> None:
        self._check_unique(message)
        self._data.messages[message.id] = _stored(message)

    def set_state(
        self, message_id: str, state: MessageState, *, conversation_id: str | None = None, error: str | None = None
    ) -> None:
        message = self._data.messages.get(message_id)
        if message is None:
            return
        message.state = state
        message.conversation_id = conversation_id or message.conversation_id
        message.error = error or message.error

    def get(self, message_id: str) -> StoredMessage | None:
        return copy.deepcopy(self._data.messages.get(message_id))

    def for_conversation(self, conversation_id: str) -> list[StoredMessage]:
        return _oldest_first(m for m in self._data.messages.values() if m.conversation_id == conversation_id)

    def in_state(self, state: MessageState, limit: int = 100) -> list[StoredMessage]:
        return _oldest_first(m for m in self._data.messages.values() if m.state == state)[:limit]

    def list(self, *, since: datetime | None = None) -> list[StoredMessage]:
        return _oldest_first(_since(self._data.messages.values(), since))


def _insert(table: dict[str, T], item_id: str, item: T, what: str) -> None:
    if item_id in table:
        raise Conflict(f"{what} id {item_id} already exists")
    table[item_id] = _stored(item)


class InMemoryClassificationRepository(_Repo, ClassificationRepository):
    def add(self, record: ClassificationRecord) -> None:
        _insert(self._data.classifications, record.id, record, "classification")

    def for_conversation(self, conversation_id: str) -> list[ClassificationRecord]:
        return _oldest_first(r for r in self._data.classifications.values() if r.conversation_id == conversation_id)

    def list(self, *, since: datetime | None = None) -> list[ClassificationRecord]:
        return _oldest_first(_since(self._data.classifications.values(), since))

    def correct(self, message_id: str, intent: str, *, by: str, at: datetime) -> int:
        _check_text("corrected intent", intent)
        hits = [r for r in self._data.classifications.values() if r.message_id == message_id]
        for record in hits:
            record.corrected_intent, record.corrected_by, record.corrected_at = intent, by, _utc(at)
        return len(hits)


class InMemoryDecisionRepository(_Repo, DecisionRepository):
    def add(self, record: DecisionRecord) -> None:
        _insert(self._data.decisions, record.id, record, "decision")

    def get(self, decision_id: str) -> DecisionRecord | None:
        return copy.deepcopy(self._data.decisions.get(decision_id))

    def for_conversation(self, conversation_id: str) -> list[DecisionRecord]:
        return _oldest_first(r for r in self._data.decisions.values() if r.conversation_id == conversation_id)

    def list(self, *, since: datetime | None = None) -> list[DecisionRecord]:
        return _oldest_first(_since(self._data.decisions.values(), since))

    def set_shadow_agreement(self, decision_id: str, agreement: str) -> None:
        record = self._data.decisions.get(decision_id)
        if record is not None:
            record.shadow_agreement = agreement


class InMemoryDraftRepository(_Repo, DraftRepository):
    def save(self, draft: Draft) -> None:
        self._data.drafts[draft.id] = _stored(draft)

    def get(self, draft_id: str) -> Draft | None:
        return copy.deepcopy(self._data.drafts.get(draft_id))

    def list(
        self,
        *,
        status: DraftStatus | None = None,
        conversation_id: str | None = None,
        since: datetime | None = None,
    ) -> list[Draft]:
        return _oldest_first(
            d
            for d in _since(self._data.drafts.values(), since)
            if (status is None or d.status == status)
            and (conversation_id is None or d.conversation_id == conversation_id)
        )


class InMemoryHandoffRepository(_Repo, HandoffRepository):
    def save(self, handoff: Handoff) -> None:
        self._data.handoffs[handoff.id] = _stored(handoff)

    def get(self, handoff_id: str) -> Handoff | None:
        return copy.deepcopy(self._data.handoffs.get(handoff_id))

    def list(
        self,
        *,
        statuses: Sequence[HandoffStatus] | None = None,
        conversation_id: str | None = None,
        since: datetime | None = None,
    ) -> list[Handoff]:
        wanted = None if statuses is None else set(statuses)
        return _oldest_first(
            h
            for h in _since(self._data.handoffs.values(), since)
            if (wanted is None or h.status in wanted)
            and (conversation_id is None or h.conversation_id == conversation_id)
        )


class InMemoryAgentActionRepository(_Repo, AgentActionRepository):
    def add(self, record: AgentActionRecord) -> None:
        _insert(self._data.actions, record.id, record, "agent action")

    def list(self, *, since: datetime | None = None, action: str | None = None) -> list[AgentActionRecord]:
        return _oldest_first(
            a for a in _since(self._data.actions.values(), since) if action is None or a.action == action
        )


class InMemoryAccountCacheRepository(_Repo, AccountCacheRepository):
    def get(self, key: str) -> tuple[Account, datetime] | None:
        return copy.deepcopy(self._data.accounts.get(key))

    def put(self, key: str, account: Account, fetched_at: datetime) -> None:
        _check_text("account cache key", key)
        self._data.accounts[key] = (copy.deepcopy(account), _utc(fetched_at))


class InMemoryModelVersionRepository(_Repo, ModelVersionRepository):
    def _retire_current(self, kind: str, keep: str) -> None:
        for vid, other in self._data.model_versions.items():
            if other.kind == kind and other.status is ModelStatus.CURRENT and vid != keep:
                other.status = ModelStatus.RETIRED

    def add(self, version: ModelVersion) -> None:
        if version.id in self._data.model_versions:
            raise Conflict(f"model version id {version.id} already exists")
        if version.status is ModelStatus.CURRENT:
            self._retire_current(version.kind, version.id)
        self._data.model_versions[version.id] = _stored(version)

    def get(self, version_id: str) -> ModelVersion | None:
        return copy.deepcopy(self._data.model_versions.get(version_id))

    def current(self, kind: str) -> ModelVersion | None:
        found = [v for v in self._data.model_versions.values() if v.kind == kind and v.status is ModelStatus.CURRENT]
        return _oldest_first(found)[-1] if found else None

    def list(self, kind: str | None = None) -> list[ModelVersion]:
        return _oldest_first(v for v in self._data.model_versions.values() if kind is None or v.kind == kind)

    def make_current(self, version_id: str, *, promoted_at: datetime | None) -> ModelVersion | None:
        target = self._data.model_versions.get(version_id)
        if target is None:
            raise NotFound(f"no model version {version_id}")
        previous = self.current(target.kind)
        self._retire_current(target.kind, version_id)
        target.status = ModelStatus.CURRENT
        if promoted_at is not None:
            target.promoted_at = _utc(promoted_at)
        return previous if previous is not None and previous.id != version_id else None

    def set_status(self, version_id: str, status: ModelStatus) -> None:
        if status is ModelStatus.CURRENT:
            raise ValueError("use make_current to make a version current")
        target = self._data.model_versions.get(version_id)
        if target is None:
            raise NotFound(f"no model version {version_id}")
        target.status = status


class InMemoryOutboxRepository(_Repo, OutboxRepository):
    def add(self, outbound: Outbound) -> bool:
        if any(o.dedupe_key == outbound.dedupe_key for o in self._data.outbox.values()):
            return False
        _insert(self._data.outbox, outbound.id, outbound, "outbound")
        return True

    def save(self, outbound: Outbound) -> None:
        for other in self._data.outbox.values():
            if other.id != outbound.id and other.dedupe_key == outbound.dedupe_key:
                raise Conflict(f"dedupe_key {outbound.dedupe_key!r} already used by {other.id}")
        self._data.outbox[outbound.id] = _stored(outbound)

    def get(self, outbound_id: str) -> Outbound | None:
        return copy.deepcopy(self._data.outbox.get(outbound_id))

    def find(self, dedupe_key: str) -> Outbound | None:
        return copy.deepcopy(next((o for o in self._data.outbox.values() if o.dedupe_key == dedupe_key), None))

    def due(self, now: datetime, limit: int = 50) -> list[Outbound]:
        now = _utc(now)
        return _oldest_first(
            o
            for o in self._data.outbox.values()
            if o.status == OutboxStatus.PENDING
            and (o.next_attempt_at is None or o.next_attempt_at <= now)
            and (o.claimed_until is None or o.claimed_until <= now)
        )[:limit]

    def claim(self, outbound_id: str, owner: str, now: datetime, lease: timedelta) -> bool:
        # check-and-set on this transaction's copy: like the SQL backends only as long as the
        # claiming unit of work commits before another one starts (the core never awaits in between)
        now = _utc(now)
        item = self._data.outbox.get(outbound_id)
        if item is None or item.status != OutboxStatus.PENDING:
            return False
        if item.claimed_until is not None and item.claimed_until > now:
            return False
        item.claimed_by, item.claimed_until = owner, now + lease
        return True

    def claim_many(self, outbound_ids: Sequence[str], owner: str, now: datetime, lease: timedelta) -> set[str]:
        return {i for i in outbound_ids if self.claim(i, owner, now, lease)}

    def save_delivery(self, outbound: Outbound) -> None:
        stored = self._data.outbox.get(outbound.id)
        if stored is None:
            return
        for name in (
            "status",
            "attempts",
            "next_attempt_at",
            "external_id",
            "last_error",
            "claimed_by",
            "claimed_until",
        ):
            setattr(stored, name, copy.deepcopy(getattr(outbound, name)))

    def held(self, now: datetime) -> dict[tuple[str, str], tuple[datetime, datetime | None]]:
        now = _utc(now)
        held: dict[tuple[str, str], tuple[datetime, datetime | None]] = {}
        for o in self._data.outbox.values():
            retry = o.next_attempt_at if o.next_attempt_at is not None and o.next_attempt_at > now else None
            waiting = retry is not None or (o.claimed_until is not None and o.claimed_until > now)
            if o.status == OutboxStatus.PENDING and o.kind.value != "reaction" and o.conversation_id and waiting:
                key = (o.conversation_id, o.audience.value)
                at, latest = held.get(key, (o.created_at, None))
                if retry is not None:
                    latest = retry if latest is None else max(latest, retry)
                held[key] = (min(at, o.created_at), latest)
        return held

    def backlog(self) -> tuple[int, datetime | None]:
        pending = [o.created_at for o in self._data.outbox.values() if o.status == OutboxStatus.PENDING]
        return len(pending), min(pending, default=None)

    def failed(self, limit: int = 100) -> list[Outbound]:
        items = [o for o in self._data.outbox.values() if o.status == OutboxStatus.FAILED]
        return list(reversed(_oldest_first(items)))[:limit]

    def list(self, *, conversation_id: str | None = None) -> list[Outbound]:
        return _oldest_first(
            o for o in self._data.outbox.values() if conversation_id is None or o.conversation_id == conversation_id
        )


class InMemorySettingRepository(_Repo, SettingRepository):
    def get(self, key: str) -> Any | None:
        return copy.deepcopy(self._data.settings.get(key))

    def set(self, key: str, value: Any) -> None:
        _check_text("setting key", key)
        self._data.settings[key] = _json(value)

    def items(self, prefix: str = "") -> dict[str, Any]:
        return {k: copy.deepcopy(v) for k, v in sorted(self._data.settings.items()) if k.startswith(prefix)}


class InMemorySlaEventRepository(_Repo, SlaEventRepository):
    def claim(self, event: SlaEvent) -> bool:
        key = (event.conversation_id, event.kind, _utc(event.due_at))
        if any((e.conversation_id, e.kind, e.due_at) == key for e in self._data.sla_events.values()):
            return False
        _insert(self._data.sla_events, event.id, event, "sla event")
        return True

    def list(
        self,
        *,
        since: datetime | None = None,
        conversation_id: str | None = None,
        kinds: Sequence[str] | None = None,
    ) -> list[SlaEvent]:
        wanted = None if kinds is None else set(kinds)
        return _oldest_first(
            e
            for e in _since(self._data.sla_events.values(), since)
            if (conversation_id is None or e.conversation_id == conversation_id)
            and (wanted is None or e.kind in wanted)
        )


# --------------------------------------------------------------------------- unit of work


class InMemoryUnitOfWork(UnitOfWork):
    """A transaction over an ``InMemoryStore``; ``committed`` counts commits."""

    def __init__(self, factory: InMemoryUnitOfWorkFactory) -> None:
        self._factory = factory
        self._data = copy.deepcopy(factory.store)
        self.committed = 0
        self.rolled_back = 0
        self.conversations = InMemoryConversationRepository(self)
        self.messages = InMemoryMessageRepository(self)
        self.classifications = InMemoryClassificationRepository(self)
        self.decisions = InMemoryDecisionRepository(self)
        self.drafts = InMemoryDraftRepository(self)
        self.handoffs = InMemoryHandoffRepository(self)
        self.actions = InMemoryAgentActionRepository(self)
        self.accounts = InMemoryAccountCacheRepository(self)
        self.model_versions = InMemoryModelVersionRepository(self)
        self.outbox = InMemoryOutboxRepository(self)
        self.settings = InMemorySettingRepository(self)
        self.sla_events = InMemorySlaEventRepository(self)

    def __enter__(self) -> InMemoryUnitOfWork:
        # start from the latest committed state, like a new SQL transaction
        self._data = copy.deepcopy(self._factory.store)
        return self

    def commit(self) -> None:
        self._factory.store = self._data
        self._data = copy.deepcopy(self._data)
        self.committed += 1

    def rollback(self) -> None:
        self._data = copy.deepcopy(self._factory.store)
        self.rolled_back += 1

    @contextlib.contextmanager
    def savepoint(self) -> Iterator[None]:
        before = copy.deepcopy(self._data)
        try:
            yield
        except BaseException:
            self._data = before
            raise


class InMemoryUnitOfWorkFactory(UnitOfWorkFactory):
    """Hands out units of work over one shared ``InMemoryStore``.

    ``store`` is the committed state (inspect it in tests); ``created`` lists
    every unit of work handed out, so tests can assert on ``committed``.
    """

    def __init__(self, store: InMemoryStore | None = None) -> None:
        self.store = store if store is not None else InMemoryStore()
        self.created: list[InMemoryUnitOfWork] = []

    def __call__(self) -> InMemoryUnitOfWork:
        uow = InMemoryUnitOfWork(self)
        self.created.append(uow)
        return uow

    @property
    def commits(self) -> int:
        """Total commits over all units of work handed out."""
        return sum(u.committed for u in self.created)
