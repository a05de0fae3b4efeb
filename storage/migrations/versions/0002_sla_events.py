"""Operations: the sla_events table (atomic claims of SLA warnings, escalations,
breaches, nudges, automatic resolutions and alert crossings).

Revision ID: 0002
Revises: 0001
Create Date: 2026-11-26 07:20:00
"""

from __future__ import annotations

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "0002"
down_revision: str | None = "0001"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    op.create_table(
        "sla_events",
        sa.Column("seq", sa.Integer(), nullable=False),
        sa.Column("id", sa.String(), nullable=False),
        sa.Column("conversation_id", sa.String(), nullable=False),
        sa.Column("kind", sa.String(), nullable=False),
        sa.Column("due_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("created_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("detail", sa.JSON(), nullable=False),
        sa.PrimaryKeyConstraint("seq", name=op.f("pk_sla_events")),
        sa.UniqueConstraint("id", name=op.f("uq_sla_events_id")),
        sa.UniqueConstraint("conversation_id", "kind", "due_at", name="uq_sla_events_claim"),
    )
    op.create_index(op.f("ix_sla_events_conversation_id"), "sla_events", ["conversation_id"])
    op.create_index(op.f("ix_sla_events_created_at"), "sla_events", ["created_at"])


def downgrade() -> None:
    op.drop_index(op.f("ix_sla_events_created_at"), table_name="sla_events")
    op.drop_index(op.f("ix_sla_events_conversation_id"), table_name="sla_events")
    op.drop_table("sla_events")
