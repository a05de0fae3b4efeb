"""CX-ops: model versions get a status (current / candidate / retired) and a promotion time
instead of the ``active`` flag; classifications keep the agent's label beside the model's.

Revision ID: 0004
Revises: 0003
Create Date: 2026-12-03 09:00:00
"""

from __future__ import annotations

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "0004"
down_revision: str | None = "0003"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

_CURRENT = sa.text("status = 'current'")


def upgrade() -> None:
    # the active version of each kind was the running model: it becomes current, the rest retired
    op.add_column("model_versions", sa.Column("status", sa.String(), nullable=False, server_default="retired"))
    op.add_column("model_versions", sa.Column("promoted_at", sa.DateTime(timezone=True), nullable=True))
    op.execute("UPDATE model_versions SET status = 'current', promoted_at = created_at WHERE active")
    op.drop_index("ix_model_versions_kind_active", table_name="model_versions")
    with op.batch_alter_table("model_versions") as batch:  # SQLite rebuilds the table to drop a column
        batch.drop_column("active")
        batch.alter_column("status", server_default=None)
    op.create_index("ix_model_versions_kind_status", "model_versions", ["kind", "status"])
    op.create_index(
        "uq_model_versions_current",
        "model_versions",
        ["kind"],
        unique=True,
        sqlite_where=_CURRENT,
        postgresql_where=_CURRENT,
    )

    op.add_column("classifications", sa.Column("corrected_intent", sa.String(), nullable=True))
    op.add_column("classifications", sa.Column("corrected_by", sa.String(), nullable=True))
    op.add_column("classifications", sa.Column("corrected_at", sa.DateTime(timezone=True), nullable=True))
    op.create_index("ix_classifications_message", "classifications", ["message_id"])


def downgrade() -> None:
    op.drop_index("ix_classifications_message", table_name="classifications")
    with op.batch_alter_table("classifications") as batch:
        batch.drop_column("corrected_at")
        batch.drop_column("corrected_by")
        batch.drop_column("corrected_intent")

    op.drop_index("uq_model_versions_current", table_name="model_versions")
    op.drop_index("ix_model_versions_kind_status", table_name="model_versions")
    op.add_column("model_versions", sa.Column("active", sa.Boolean(), nullable=False, server_default=sa.false()))
    op.execute("UPDATE model_versions SET active = (status = 'current')")
    with op.batch_alter_table("model_versions") as batch:
        batch.drop_column("promoted_at")
        batch.drop_column("status")
        batch.alter_column("active", server_default=None)
    op.create_index("ix_model_versions_kind_active", "model_versions", ["kind", "active"])
