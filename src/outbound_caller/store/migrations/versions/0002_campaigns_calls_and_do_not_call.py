"""campaigns, calls and do-not-call

Revision ID: 0002
Revises: 0001
Create Date: 2026-11-25
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0002"
down_revision = "0001"
branch_labels = None
depends_on = None


def upgrade() -> None:
    with op.batch_alter_table("practices", schema=None) as batch_op:
        batch_op.add_column(
            sa.Column("call_window_start", sa.Time(), server_default="08:00:00", nullable=False)
        )
        batch_op.add_column(
            sa.Column("call_window_end", sa.Time(), server_default="21:00:00", nullable=False)
        )
        batch_op.add_column(
            sa.Column(
                "call_on_closed_days", sa.Boolean(), server_default=sa.false(), nullable=False
            )
        )
    op.create_table(
        "calls",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("room", sa.String(length=100), nullable=False),
        sa.Column("dispatch_id", sa.String(length=100), nullable=True),
        sa.Column("phone", sa.String(length=32), nullable=False),
        sa.Column("appointment_id", sa.Integer(), nullable=True),
        sa.Column("campaign_id", sa.Integer(), nullable=True),
        sa.Column("target_id", sa.Integer(), nullable=True),
        sa.Column("placed_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("ended_at", sa.DateTime(timezone=True), nullable=True),
        sa.Column("status", sa.String(length=20), nullable=False),
        sa.Column("sip_code", sa.Integer(), nullable=True),
        sa.Column("amd", sa.String(length=20), nullable=True),
        sa.Column("duration_s", sa.Float(), nullable=True),
        sa.Column("hangup_reason", sa.String(length=100), nullable=True),
        sa.Column("tools_used", sa.Text(), nullable=False),
        sa.Column("changes", sa.Text(), nullable=False),
        sa.Column("errors", sa.Text(), nullable=False),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_calls")),
        sa.UniqueConstraint("room", name=op.f("uq_calls_room")),
    )
    with op.batch_alter_table("calls", schema=None) as batch_op:
        batch_op.create_index(batch_op.f("ix_calls_campaign_id"), ["campaign_id"], unique=False)
        batch_op.create_index(batch_op.f("ix_calls_phone"), ["phone"], unique=False)
        batch_op.create_index(batch_op.f("ix_calls_placed_at"), ["placed_at"], unique=False)

    op.create_table(
        "do_not_call",
        sa.Column("phone", sa.String(length=32), nullable=False),
        sa.Column("reason", sa.String(length=200), nullable=False),
        sa.Column("added_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("added_by", sa.String(length=100), nullable=False),
        sa.PrimaryKeyConstraint("phone", name=op.f("pk_do_not_call")),
    )
    op.create_table(
        "campaigns",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("practice_id", sa.Integer(), nullable=False),
        sa.Column("name", sa.String(length=200), nullable=False),
        sa.Column("created_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("max_in_flight", sa.Integer(), nullable=False),
        sa.Column("calls_per_second", sa.Float(), nullable=False),
        sa.Column("last_dial_at", sa.DateTime(timezone=True), nullable=True),
        sa.Column("state", sa.String(length=20), nullable=False),
        sa.ForeignKeyConstraint(
            ["practice_id"],
            ["practices.id"],
            name=op.f("fk_campaigns_practice_id_practices"),
            ondelete="CASCADE",
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_campaigns")),
    )
    op.create_table(
        "campaign_targets",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("campaign_id", sa.Integer(), nullable=False),
        sa.Column("patient_id", sa.Integer(), nullable=True),
        sa.Column("appointment_id", sa.Integer(), nullable=True),
        sa.Column("phone", sa.String(length=32), nullable=False),
        sa.Column("name", sa.String(length=200), nullable=False),
        sa.Column("timezone", sa.String(length=64), nullable=False),
        sa.Column("state", sa.String(length=20), nullable=False),
        sa.Column("attempts", sa.Integer(), nullable=False),
        sa.Column("next_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("last_status", sa.String(length=20), nullable=True),
        sa.Column("skip_reason", sa.String(length=40), nullable=True),
        sa.CheckConstraint(
            "state IN ('pending', 'dialing', 'done', 'skipped')",
            name=op.f("ck_campaign_targets_state"),
        ),
        sa.ForeignKeyConstraint(
            ["appointment_id"],
            ["appointments.id"],
            name=op.f("fk_campaign_targets_appointment_id_appointments"),
        ),
        sa.ForeignKeyConstraint(
            ["campaign_id"],
            ["campaigns.id"],
            name=op.f("fk_campaign_targets_campaign_id_campaigns"),
            ondelete="CASCADE",
        ),
        sa.ForeignKeyConstraint(
            ["patient_id"], ["patients.id"], name=op.f("fk_campaign_targets_patient_id_patients")
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_campaign_targets")),
    )
    with op.batch_alter_table("campaign_targets", schema=None) as batch_op:
        batch_op.create_index(
            batch_op.f("ix_campaign_targets_campaign_id"), ["campaign_id"], unique=False
        )
        batch_op.create_index(
            "ix_campaign_targets_queue", ["campaign_id", "state", "next_at"], unique=False
        )


def downgrade() -> None:
    with op.batch_alter_table("practices", schema=None) as batch_op:
        batch_op.drop_column("call_on_closed_days")
        batch_op.drop_column("call_window_end")
        batch_op.drop_column("call_window_start")
    with op.batch_alter_table("campaign_targets", schema=None) as batch_op:
        batch_op.drop_index("ix_campaign_targets_queue")
        batch_op.drop_index(batch_op.f("ix_campaign_targets_campaign_id"))

    op.drop_table("campaign_targets")
    op.drop_table("campaigns")
    op.drop_table("do_not_call")
    with op.batch_alter_table("calls", schema=None) as batch_op:
        batch_op.drop_index(batch_op.f("ix_calls_placed_at"))
        batch_op.drop_index(batch_op.f("ix_calls_phone"))
        batch_op.drop_index(batch_op.f("ix_calls_campaign_id"))

    op.drop_table("calls")
