"""Shadow mode: decisions taken in a shadow-mode channel are flagged, and keep how the agents' own
reply compared with the would-be answer (metrics report them apart).

Revision ID: 0005
Revises: 0004
Create Date: 2026-12-02 05:00:00
"""

from __future__ import annotations

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "0005"
down_revision: str | None = "0004"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    op.add_column("decisions", sa.Column("shadow", sa.Boolean(), nullable=False, server_default=sa.false()))
    op.add_column("decisions", sa.Column("shadow_agreement", sa.String(), nullable=True))
    with op.batch_alter_table("decisions") as batch:
        batch.alter_column("shadow", server_default=None)


def downgrade() -> None:
    with op.batch_alter_table("decisions") as batch:
        batch.drop_column("shadow_agreement")
        batch.drop_column("shadow")
