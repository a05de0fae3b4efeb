"""SQL tables (sqlmodel ``table=True`` models) behind the repositories.

Conventions:

* ``seq`` is an auto-increment surrogate primary key; it only exists to break
  ``created_at`` ties so "oldest first" keeps insertion order on every
  database. The domain id lives in ``id`` (unique).
* Enums are stored as their string values (plain VARCHAR, no native enum
  types, so adding a member needs no migration).
* Datetimes are ``TIMESTAMP WITH TIME ZONE``; ``storage.mapping`` writes UTC and
  re-attaches UTC on read because SQLite drops the offset.
* Nested value objects (classification, decision, citations, account, ...)
  and free-form dicts are JSON.

Every change here needs a migration in ``storage/migrations/versions``;
``tests/storage/test_migrations.py`` fails when the two disagree.
"""

from __future__ import annotations

from datetime import datetime
from typing import Any

import sqlalchemy as sa
from sqlmodel import Field, SQLModel

metadata = SQLModel.metadata
# Deterministic constraint names, so migrations can refer to them on every database.
metadata.naming_convention = {
    "ix": "ix_%(column_0_label)s",
    "uq": "uq_%(table_name)s_%(column_0_N_name)s",
    "ck": "ck_%(table_name)s_%(constraint_name)s",
    "fk": "fk_%(table_name)s_%(column_0_name)s_%(referred_table_name)s",
    "pk": "pk_%(table_name)s",
}

_TZ = sa.DateTime(timezone=True)


def _seq() -> Any:
    return Field(default=None, primary_key=True)


def _id() -> Any:
    return Field(sa_column_kwargs={"unique": True}, nullable=False)


def _when(*, nullable: bool = False, index: bool = False) -> Any:
    return Field(default=None, sa_type=_TZ, nullable=nullable, index=index)


def _json(*, nullable: bool = True) -> Any:
    return Field(default=None, sa_type=sa.JSON, nullable=nullable)


def _text(*, nullable: bool = False) -> Any:
    return Field(default=None, sa_type=sa.Text, nullable=nullable)


class ConversationRow(SQLModel, table=True):
    __tablename__ = "conversations"
    __table_args__ = (
        sa.UniqueConstraint("platform", "workspace_id", "channel_id", "thread_id", name="uq_conversations_thread"),
        sa.Index("ix_conversations_staff_thread", "platform", "staff_thread_id"),
        sa.Index("ix_conversations_customer", "platform", "workspace_id", "channel_id", "customer_id", "updated_at"),
        sa.Index("ix_conversations_status_created", "status", "created_at"),
    )

    seq: int | None = _seq()
    id: str = _id()
    platform: str
    workspace_id: str
    channel_id: str
    thread_id: str
    customer_id: str
    account_id: str | None = None
    created_at: datetime = _when(index=True)
    updated_at: datetime = _when()
    status: str
    intent: str | None = None
    urgency: str
    assignee_id: str | None = None
    staff_thread_id: str | None = None
    first_response_at: datetime | None = _when(nullable=True)
    resolved_at: datetime | None = _when(nullable=True)
    first_response_due_at: datetime | None = _when(nullable=True)
    resolution_due_at: datetime | None = _when(nullable=True)
    last_customer_message_at: datetime | None = _when(nullable=True)
    bot_handled: bool


class MessageRow(SQLModel, table=True):
    __tablename__ = "messages"
    __table_args__ = (
        sa.UniqueConstraint("platform", "workspace_id", "channel_id", "external_id", name="uq_messages_delivery"),
        sa.Index("ix_messages_conversation_created", "conversation_id", "created_at"),
        sa.Index("ix_messages_state_created", "state", "created_at"),
    )

    seq: int | None = _seq()
    id: str = _id()
    platform: str
    workspace_id: str
    channel_id: str
    external_id: str
    conversation_id: str | None = None
    author_id: str
    author_name: str = _text()
    role: str
    kind: str
    text: str = _text()
    created_at: datetime = _when(index=True)
    state: str
    thread_id: str | None = None
    error: str | None = _text(nullable=True)
    raw: Any = _json()


class ClassificationRow(SQLModel, table=True):
    __tablename__ = "classifications"
    __table_args__ = (sa.Index("ix_classifications_message", "message_id"),)

    seq: int | None = _seq()
    id: str = _id()
    conversation_id: str = Field(index=True)
    message_id: str
    classification: Any = _json(nullable=False)
    created_at: datetime = _when(index=True)
    corrected_intent: str | None = None
    corrected_by: str | None = None
    corrected_at: datetime | None = _when(nullable=True)


class DecisionRow(SQLModel, table=True):
    __tablename__ = "decisions"

    seq: int | None = _seq()
    id: str = _id()
    conversation_id: str = Field(index=True)
    message_id: str
    decision: Any = _json(nullable=False)
    account_tier: str | None = None
    created_at: datetime = _when(index=True)
    shadow: bool = False
    shadow_agreement: str | None = None


class DraftRow(SQLModel, table=True):
    __tablename__ = "drafts"
    __table_args__ = (sa.Index("ix_drafts_status_created", "status", "created_at"),)

    seq: int | None = _seq()
    id: str = _id()
    conversation_id: str = Field(index=True)
    decision_id: str
    text: str = _text()
    citations: Any = _json(nullable=False)
    created_at: datetime = _when(index=True)
    status: str
    final_text: str | None = _text(nullable=True)
    decided_by: str | None = None
    decided_at: datetime | None = _when(nullable=True)
    reject_reason: str | None = _text(nullable=True)
    corrected_intent: str | None = None


class HandoffRow(SQLModel, table=True):
    __tablename__ = "handoffs"
    __table_args__ = (sa.Index("ix_handoffs_status_created", "status", "created_at"),)

    seq: int | None = _seq()
    id: str = _id()
    conversation_id: str = Field(index=True)
    reason: str = _text()
    created_at: datetime = _when(index=True)
    status: str
    claimed_by: str | None = None
    claimed_at: datetime | None = _when(nullable=True)
    resolved_at: datetime | None = _when(nullable=True)


class AgentActionRow(SQLModel, table=True):
    __tablename__ = "agent_actions"

    seq: int | None = _seq()
    id: str = _id()
    actor_id: str
    actor_role: str
    action: str = Field(index=True)
    created_at: datetime = _when(index=True)
    conversation_id: str | None = Field(default=None, index=True)
    target_id: str | None = None
    detail: Any = _json(nullable=False)


class AccountCacheRow(SQLModel, table=True):
    __tablename__ = "account_cache"

    key: str = Field(primary_key=True)
    account: Any = _json(nullable=False)
    fetched_at: datetime = _when()


class ModelVersionRow(SQLModel, table=True):
    __tablename__ = "model_versions"
    __table_args__ = (
        sa.Index("ix_model_versions_kind_status", "kind", "status"),
        # at most one current version per kind, whatever two promotions racing on replicas do
        sa.Index(
            "uq_model_versions_current",
            "kind",
            unique=True,
            sqlite_where=sa.text("status = 'current'"),
            postgresql_where=sa.text("status = 'current'"),
        ),
    )

    seq: int | None = _seq()
    id: str = _id()
    kind: str
    path: str = _text()
    data_hash: str
    created_at: datetime = _when()
    metrics: Any = _json(nullable=False)
    status: str
    promoted_at: datetime | None = _when(nullable=True)


class OutboxRow(SQLModel, table=True):
    __tablename__ = "outbox"
    __table_args__ = (sa.Index("ix_outbox_status_created", "status", "created_at"),)

    seq: int | None = _seq()
    id: str = _id()
    platform: str
    audience: str
    kind: str
    text: str = _text()
    dedupe_key: str = Field(sa_column_kwargs={"unique": True}, nullable=False)
    created_at: datetime = _when()
    conversation_id: str | None = Field(default=None, index=True)
    payload: Any = _json(nullable=False)
    status: str
    attempts: int
    next_attempt_at: datetime | None = _when(nullable=True)
    external_id: str | None = None
    last_error: str | None = _text(nullable=True)
    claimed_by: str | None = None
    claimed_until: datetime | None = _when(nullable=True)


class SettingRow(SQLModel, table=True):
    __tablename__ = "settings"

    key: str = Field(primary_key=True)
    value: Any = _json()


class SlaEventRow(SQLModel, table=True):
    __tablename__ = "sla_events"
    __table_args__ = (sa.UniqueConstraint("conversation_id", "kind", "due_at", name="uq_sla_events_claim"),)

    seq: int | None = _seq()
    id: str = _id()
    conversation_id: str = Field(index=True)
    kind: str
    due_at: datetime = _when()
    created_at: datetime = _when(index=True)
    detail: Any = _json(nullable=False)


ALL_TABLES = (
    ConversationRow,
    MessageRow,
    ClassificationRow,
    DecisionRow,
    DraftRow,
    HandoffRow,
    AgentActionRow,
    AccountCacheRow,
    ModelVersionRow,
    OutboxRow,
    SettingRow,
    SlaEventRow,
)
