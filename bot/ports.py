"""Ports: the interfaces the core depends on. Adapters implement them.

Repositories are synchronous (the storage is a local SQL database and calls
are short); channels and the CRM are async because they talk over the network.
"""

from __future__ import annotations

import abc
from collections.abc import Sequence
from datetime import UTC, datetime, timedelta
from typing import TYPE_CHECKING, Any

from supportbot.bot.domain import (
    Account,
    AccountLookup,
    AgentActionRecord,
    Article,
    ArticleHit,
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
    ModelVersion,
    Outbound,
    Passage,
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


# --------------------------------------------------------------------------- channel


class Channel(abc.ABC):
    """A chat platform as the core sees it: something that can post an Outbound."""

    platform: str

    @abc.abstractmethod
    async def send(self, outbound: Outbound, delivery: Delivery) -> str | None:
        """Post ``outbound`` where ``delivery`` says; return the platform message id.

        Raise ``bot.errors.RateLimited`` on 429 (the outbox retries after
        ``retry_after``) and ``DeliveryError`` on other failures
        (``permanent=True`` when retrying cannot help).
        """


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


class DecisionRepository(abc.ABC):
    @abc.abstractmethod
    def add(self, record: DecisionRecord) -> None: ...

    @abc.abstractmethod
    def get(self, decision_id: str) -> DecisionRecord | None: ...

    @abc.abstractmethod
    def for_conversation(self, conversation_id: str) -> list[DecisionRecord]: ...

    @abc.abstractmethod
    def list(self, *, since: datetime | None = None) -> list[DecisionRecord]: ...


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
    @abc.abstractmethod
    def add(self, version: ModelVersion) -> None:
        """Register a model version; it becomes the active one of its kind."""

    @abc.abstractmethod
    def active(self, kind: str) -> ModelVersion | None: ...

    @abc.abstractmethod
    def list(self, kind: str | None = None) -> list[ModelVersion]: ...


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


class UnitOfWorkFactory(abc.ABC):
    @abc.abstractmethod
    def __call__(self) -> UnitOfWork: ...
