"""Ports: the interfaces the core depends on. Adapters implement them.

Repositories are synchronous and grouped in a unit of work (one transaction).
The async core never opens one on the event loop: it hands a function of the
unit of work to the ``Database`` port, which runs it off the loop (a worker
thread) and commits it. Channels and the CRM are async because they talk over
the network.
"""

from __future__ import annotations

import abc
from collections.abc import Callable, Sequence
from contextlib import AbstractContextManager
from dataclasses import dataclass, replace
from datetime import UTC, datetime, timedelta
from typing import TYPE_CHECKING, Any, TypeVar

from supportbot.bot.domain import (
    Account,
    AccountLookup,
    AgentActionRecord,
    Article,
    ArticleHit,
    Author,
    Classification,
    ClassificationRecord,
    Conversation,
    ConversationStatus,
    DecisionRecord,
    Delivery,
    Draft,
    DraftStatus,
    Handoff,
    HandoffStatus,
    MessageState,
    ModelStatus,
    ModelVersion,
    Outbound,
    Passage,
    Role,
    SlaEvent,
    StoredMessage,
)

if TYPE_CHECKING:
    import numpy as np

# --------------------------------------------------------------------------- clock


class Clock(abc.ABC):
    @abc.abstractmethod
    def now(self) -> datetime:
        """Current time, timezone-aware UTC."""


class SystemClock(Clock):
    def now(self) -> datetime:
        return datetime.now(UTC)


# --------------------------------------------------------------------------- telemetry


class Telemetry:
    """What the core counts and times, for an adapter to export (Prometheus at /metrics).

    Every method is a no-op here: the core runs the same without an exporter. Labels are
    low-cardinality names (platform, action, rule, kind, error class), never ids or text.
    """

    def inbound(self, platform: str, outcome: str) -> None:
        """A platform delivered a message: stored, duplicate or rejected."""

    def decided(self, platform: str, action: str, rule: str) -> None:
        """A message was triaged: answer/draft/handoff (or relay/ignore) by ``rule``."""

    def delivered(self, platform: str, kind: str, outcome: str, error: str | None = None) -> None:
        """An outbox item was sent, will be retried, or failed (``error``: a short class such as rate_limited)."""

    def observe(self, name: str, seconds: float) -> None:
        """A latency: crm_lookup, classify, process (receipt to decision)."""


# --------------------------------------------------------------------------- channel


@dataclass(frozen=True)
class Pace:
    """A rate budget posts draw from: ``per_second`` sustained, ``burst`` at once, shared by ``key``."""

    key: str
    per_second: float
    burst: int


class Channel(abc.ABC):
    """A chat platform as the core sees it: something that can post an Outbound."""

    platform: str

    def pace(self, outbound: Outbound, delivery: Delivery | None) -> Pace | None:
        """The budget this post draws from, as the platform documents it (None: unpaced).

        The dispatcher never sends faster, and after a 429 it holds every post of the same
        key until the platform's Retry-After has passed (not only the one that got the 429).
        """
        return None

    async def already_sent(self, outbound: Outbound, delivery: Delivery) -> str | None:
        """The platform id of ``outbound`` if an earlier attempt posted it (the sender died before
        recording it); None when it was not posted or the channel cannot tell."""
        return None

    @abc.abstractmethod
    async def send(self, outbound: Outbound, delivery: Delivery) -> str | None:
        """Post ``outbound`` where ``delivery`` says; return the platform message id.

        Raise ``bot.errors.RateLimited`` on 429 (the outbox retries after
        ``retry_after``) and ``DeliveryError`` on other failures
        (``permanent=True`` when retrying cannot help).
        """

    async def identify(self, author: Author) -> Author:
        """Who ``author`` is (role, name, team, email) when it was stored as ``Role.UNKNOWN``.

        Fails closed: anyone the platform cannot vouch for is a customer.
        """
        return replace(author, role=Role.CUSTOMER)


# --------------------------------------------------------------------------- CRM


class CRM(abc.ABC):
    @abc.abstractmethod
    async def find_account(self, lookup: AccountLookup) -> Account | None:
        """The account matching the lookup, or None when the customer is unknown."""

    @abc.abstractmethod
    async def list_accounts(self) -> list[Account]:
        """All accounts (the playground and terminal offer them as a picker)."""


# --------------------------------------------------------------------------- knowledge base


class TextEncoder(abc.ABC):
    """Sentence embeddings for semantic reranking (the classifier's encoder implements it).

    ``encode`` returns one L2-normalised float row per text, so a dot product is
    the cosine similarity; ``name`` identifies the model so cached vectors of
    another model are never mixed in.
    """

    name: str = "encoder"

    @abc.abstractmethod
    def encode(self, texts: Sequence[str]) -> np.ndarray: ...


class KnowledgeBase(abc.ABC):
    @abc.abstractmethod
    def search(self, query: str, *, intent: str | None = None, limit: int = 3) -> list[ArticleHit]:
        """Best matching articles, best first; articles tagged with ``intent`` rank higher.

        Each hit carries its best customer-facing passages (``ArticleHit.passages``)
        and the section they come from; internal sections are never returned.
        """

    def internal_notes(self, article_id: str) -> list[Passage]:
        """The article's agent-only passages (for staff cards); none by default."""
        return []

    @abc.abstractmethod
    def get(self, article_id: str) -> Article | None: ...

    @abc.abstractmethod
    def articles(self) -> list[Article]: ...


# --------------------------------------------------------------------------- classifier


class Classifier(abc.ABC):
    version: str

    @abc.abstractmethod
    def classify(self, text: str, *, context: Sequence[str] = ()) -> Classification:
        """Intent, urgency and sentiment of ``text``; ``context`` holds earlier
        customer messages of the same conversation, oldest first."""

    @abc.abstractmethod
    def labels(self) -> tuple[str, ...]:
        """The intents the model knows (without the out-of-scope label)."""

    @abc.abstractmethod
    def thresholds(self) -> dict[str, float]:
        """Per-intent automation thresholds measured on validation data.

        Key ``"*"`` holds the global threshold used for intents without their own.
        """


# --------------------------------------------------------------------------- repositories


class ConversationRepository(abc.ABC):
    @abc.abstractmethod
    def save(self, conversation: Conversation) -> None: ...

    @abc.abstractmethod
    def get(self, conversation_id: str) -> Conversation | None: ...

    @abc.abstractmethod
    def find_by_thread(
        self, platform: str, workspace_id: str, channel_id: str, thread_id: str
    ) -> Conversation | None: ...

    @abc.abstractmethod
    def find_by_staff_thread(self, platform: str, staff_thread_id: str) -> Conversation | None: ...

    @abc.abstractmethod
    def get_many(self, conversation_ids: Sequence[str]) -> dict[str, Conversation]: ...

    @abc.abstractmethod
    def note_delivery(
        self, conversation_id: str, *, staff_thread_id: str | None = None, first_response_at: datetime | None = None
    ) -> None:
        """Record what a delivery established: the mirror thread's id, and the first response
        (only if none was recorded yet), without rewriting the rest of the conversation."""

    @abc.abstractmethod
    def latest_for_customer(
        self, platform: str, workspace_id: str, channel_id: str, customer_id: str, since: datetime
    ) -> Conversation | None:
        """The newest unresolved conversation of this customer in this channel
        updated at or after ``since`` (groups top-level messages sent in a burst)."""

    @abc.abstractmethod
    def list(
        self,
        *,
        statuses: Sequence[ConversationStatus] | None = None,
        since: datetime | None = None,
        limit: int | None = None,
    ) -> list[Conversation]:
        """Conversations, oldest first, optionally filtered by status and created_at."""


class MessageRepository(abc.ABC):
    @abc.abstractmethod
    def add(self, message: StoredMessage) -> None:
        """Insert; raise ``DuplicateDelivery`` when (platform, workspace_id,
        channel_id, external_id) is already stored."""

    @abc.abstractmethod
    def save(self, message: StoredMessage) -> None: ...

    @abc.abstractmethod
    def set_state(
        self, message_id: str, state: MessageState, *, conversation_id: str | None = None, error: str | None = None
    ) -> None:
        """Change a message's processing state (and its conversation and error, when given)."""

    def find_external(
        self, platform: str, workspace_id: str, channel_id: str, external_id: str
    ) -> StoredMessage | None:
        """The message stored for this platform id (a reaction names the message it was added to)."""
        return next(
            (
                m
                for m in self.list()
                if (m.platform, m.workspace_id, m.channel_id, m.external_id)
                == (platform, workspace_id, channel_id, external_id)
            ),
            None,
        )

    @abc.abstractmethod
    def get(self, message_id: str) -> StoredMessage | None: ...

    @abc.abstractmethod
    def for_conversation(self, conversation_id: str) -> list[StoredMessage]:
        """Oldest first."""

    @abc.abstractmethod
    def in_state(self, state: MessageState, limit: int = 100) -> list[StoredMessage]:
        """Oldest first; used to recover messages stored but not processed."""

    @abc.abstractmethod
    def list(self, *, since: datetime | None = None) -> list[StoredMessage]: ...


class ClassificationRepository(abc.ABC):
    @abc.abstractmethod
    def add(self, record: ClassificationRecord) -> None: ...

    @abc.abstractmethod
    def for_conversation(self, conversation_id: str) -> list[ClassificationRecord]: ...

    @abc.abstractmethod
    def list(self, *, since: datetime | None = None) -> list[ClassificationRecord]: ...

    @abc.abstractmethod
    def correct(self, message_id: str, intent: str, *, by: str, at: datetime) -> int:
        """Record an agent's label for a message on its classification records (the model's own
        classification stays as it was); returns how many records it set. The latest label wins."""


class DecisionRepository(abc.ABC):
    @abc.abstractmethod
    def add(self, record: DecisionRecord) -> None: ...

    @abc.abstractmethod
    def get(self, decision_id: str) -> DecisionRecord | None: ...

    @abc.abstractmethod
    def for_conversation(self, conversation_id: str) -> list[DecisionRecord]: ...

    @abc.abstractmethod
    def list(self, *, since: datetime | None = None) -> list[DecisionRecord]: ...

    @abc.abstractmethod
    def set_shadow_agreement(self, decision_id: str, agreement: str) -> None:
        """Record how the agents' own reply compared with a shadow decision's would-be answer."""


class DraftRepository(abc.ABC):
    @abc.abstractmethod
    def save(self, draft: Draft) -> None: ...

    @abc.abstractmethod
    def get(self, draft_id: str) -> Draft | None: ...

    @abc.abstractmethod
    def list(
        self,
        *,
        status: DraftStatus | None = None,
        conversation_id: str | None = None,
        since: datetime | None = None,
    ) -> list[Draft]:
        """Oldest first."""


class HandoffRepository(abc.ABC):
    @abc.abstractmethod
    def save(self, handoff: Handoff) -> None: ...

    @abc.abstractmethod
    def get(self, handoff_id: str) -> Handoff | None: ...

    @abc.abstractmethod
    def list(
        self,
        *,
        statuses: Sequence[HandoffStatus] | None = None,
        conversation_id: str | None = None,
        since: datetime | None = None,
    ) -> list[Handoff]:
        """Oldest first."""


class AgentActionRepository(abc.ABC):
    @abc.abstractmethod
    def add(self, record: AgentActionRecord) -> None: ...

    @abc.abstractmethod
    def list(self, *, since: datetime | None = None, action: str | None = None) -> list[AgentActionRecord]: ...


class AccountCacheRepository(abc.ABC):
    @abc.abstractmethod
    def get(self, key: str) -> tuple[Account, datetime] | None:
        """Cached account for a lookup key and when it was fetched."""

    @abc.abstractmethod
    def put(self, key: str, account: Account, fetched_at: datetime) -> None: ...


class ModelVersionRepository(abc.ABC):
    """Registered models and which one is current; at most one version of a kind is current."""

    @abc.abstractmethod
    def add(self, version: ModelVersion) -> None:
        """Register a version with the status it has (``Conflict`` when its id exists). Adding a
        CURRENT version retires the kind's previous current one."""

    @abc.abstractmethod
    def get(self, version_id: str) -> ModelVersion | None: ...

    @abc.abstractmethod
    def current(self, kind: str) -> ModelVersion | None:
        """The version running bots should use, if any was promoted."""

    def active(self, kind: str) -> ModelVersion | None:
        """Old name of ``current``."""
        return self.current(kind)

    @abc.abstractmethod
    def list(self, kind: str | None = None) -> list[ModelVersion]:
        """Oldest first (by created_at)."""

    @abc.abstractmethod
    def make_current(self, version_id: str, *, promoted_at: datetime | None) -> ModelVersion | None:
        """Make ``version_id`` the current version of its kind and retire the previous current one
        (returned, or None). ``promoted_at`` is recorded unless None (a rollback keeps the old time).
        ``NotFound`` for an unknown id; ``Conflict`` when a concurrent promotion won."""

    @abc.abstractmethod
    def set_status(self, version_id: str, status: ModelStatus) -> None:
        """Change a version's status (not to CURRENT: use ``make_current``)."""


class OutboxRepository(abc.ABC):
    @abc.abstractmethod
    def add(self, outbound: Outbound) -> bool:
        """Queue ``outbound``; return False (and queue nothing) when its
        dedupe_key is already queued."""

    @abc.abstractmethod
    def save(self, outbound: Outbound) -> None: ...

    @abc.abstractmethod
    def get(self, outbound_id: str) -> Outbound | None: ...

    @abc.abstractmethod
    def find(self, dedupe_key: str) -> Outbound | None:
        """The item queued under ``dedupe_key``, if any."""

    @abc.abstractmethod
    def due(self, now: datetime, limit: int = 50) -> list[Outbound]:
        """Pending items whose next_attempt_at is unset or <= now and that nobody
        holds an unexpired claim on (claimed_until unset or <= now), oldest first."""

    @abc.abstractmethod
    def claim(self, outbound_id: str, owner: str, now: datetime, lease: timedelta) -> bool:
        """Atomically mark a PENDING item as being sent by ``owner`` until ``now + lease``
        unless another claim on it is still unexpired (claimed_until > now); return
        True when this caller got it. Concurrent callers (other processes) on the
        same database: at most one wins. An expired claim (a crashed sender) can be
        taken over, so the item is retried, never lost."""

    @abc.abstractmethod
    def claim_many(self, outbound_ids: Sequence[str], owner: str, now: datetime, lease: timedelta) -> set[str]:
        """``claim`` for many items in one statement; returns the ids this caller got."""

    @abc.abstractmethod
    def save_delivery(self, outbound: Outbound) -> None:
        """Store what delivering changed (status, attempts, next attempt, external id, error, claim),
        leaving text, payload and dedupe key as they are."""

    @abc.abstractmethod
    def held(self, now: datetime) -> dict[tuple[str, str], tuple[datetime, datetime | None]]:
        """Per (conversation id, audience), the creation time of the oldest PENDING non-reaction item
        that waits for a retry (next_attempt_at > now) or is being sent (claimed_until > now): later
        items of that conversation and audience must not overtake it. Second: the latest retry time
        among those items (None when they are only being sent)."""

    @abc.abstractmethod
    def failed(self, limit: int = 100) -> list[Outbound]:
        """FAILED items, newest first (the dead letters)."""

    @abc.abstractmethod
    def backlog(self) -> tuple[int, datetime | None]:
        """How many items are PENDING and when the oldest of them was queued."""

    @abc.abstractmethod
    def list(self, *, conversation_id: str | None = None) -> list[Outbound]: ...


class SettingRepository(abc.ABC):
    """Runtime overrides set by managers (e.g. automation thresholds)."""

    @abc.abstractmethod
    def get(self, key: str) -> Any | None: ...

    @abc.abstractmethod
    def set(self, key: str, value: Any) -> None: ...

    @abc.abstractmethod
    def items(self, prefix: str = "") -> dict[str, Any]: ...


class SlaEventRepository(abc.ABC):
    @abc.abstractmethod
    def claim(self, event: SlaEvent) -> bool:
        """Insert ``event``; return False (and insert nothing) when an event with the
        same (conversation_id, kind, due_at) exists, even one a concurrent
        transaction committed first. The enclosing transaction stays usable."""

    @abc.abstractmethod
    def list(
        self,
        *,
        since: datetime | None = None,
        conversation_id: str | None = None,
        kinds: Sequence[str] | None = None,
    ) -> list[SlaEvent]:
        """Oldest first (by created_at)."""


class UnitOfWork(abc.ABC):
    """One transaction over all repositories: ``with uow: ...; uow.commit()``.

    Leaving the block without commit rolls back.
    """

    conversations: ConversationRepository
    messages: MessageRepository
    classifications: ClassificationRepository
    decisions: DecisionRepository
    drafts: DraftRepository
    handoffs: HandoffRepository
    actions: AgentActionRepository
    accounts: AccountCacheRepository
    model_versions: ModelVersionRepository
    outbox: OutboxRepository
    settings: SettingRepository
    sla_events: SlaEventRepository

    def __enter__(self) -> UnitOfWork:
        return self

    def __exit__(self, *exc: object) -> None:
        self.rollback()

    @abc.abstractmethod
    def commit(self) -> None: ...

    @abc.abstractmethod
    def rollback(self) -> None: ...

    @abc.abstractmethod
    def savepoint(self) -> AbstractContextManager[None]:
        """A nested transaction: what the block changed is undone alone when it raises (and re-raised)."""


class UnitOfWorkFactory(abc.ABC):
    @abc.abstractmethod
    def __call__(self) -> UnitOfWork: ...

    def writer(self) -> UnitOfWork:
        """A unit of work that will write: a database may take its write lock up front (SQLite's
        BEGIN IMMEDIATE), so a transaction that read first never fails when it then writes."""
        return self()


T = TypeVar("T")


class Database(abc.ABC):
    """Runs units of work off the event loop.

    ``await db.transaction(work)`` calls ``work(uow)`` in a worker thread and
    commits when it returns (rolls back when it raises, and re-raises);
    ``await db.read(work)`` never commits. ``work`` must not await anything:
    a transaction is short and holds no lock while the loop waits on the network.
    """

    uow: UnitOfWorkFactory  # for synchronous callers (CLI commands, tests)

    @abc.abstractmethod
    async def transaction(self, work: Callable[[UnitOfWork], T]) -> T: ...

    @abc.abstractmethod
    async def read(self, work: Callable[[UnitOfWork], T]) -> T: ...

    @abc.abstractmethod
    def close(self) -> None:
        """Stop the worker threads (idempotent)."""
