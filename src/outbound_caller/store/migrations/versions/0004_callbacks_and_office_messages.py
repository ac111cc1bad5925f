"""callbacks and messages for the office: when a patient asked to be called back, and what
they asked the agent to pass on

Revision ID: 0004
Revises: 0003
Create Date: 2026-12-02
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0004"
down_revision = "0003"
branch_labels = None
depends_on = None


def upgrade() -> None:
    with op.batch_alter_table("calls", schema=None) as batch_op:
        batch_op.add_column(sa.Column("callback_at", sa.DateTime(timezone=True), nullable=True))
        batch_op.add_column(sa.Column("callback_note", sa.Text(), nullable=True))
        batch_op.add_column(
            sa.Column("office_messages", sa.Text(), server_default="", nullable=False)
        )


def downgrade() -> None:
    with op.batch_alter_table("calls", schema=None) as batch_op:
        batch_op.drop_column("office_messages")
        batch_op.drop_column("callback_note")
        batch_op.drop_column("callback_at")
