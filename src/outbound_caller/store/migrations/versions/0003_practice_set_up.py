"""practice set-up: address and parking, unique provider and type names, the appointment
types each provider does, the practice's own appointment ids, the day of a campaign

Revision ID: 0003
Revises: 0002
Create Date: 2026-12-02
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0003"
down_revision = "0002"
branch_labels = None
depends_on = None


def upgrade() -> None:
    with op.batch_alter_table("practices", schema=None) as batch_op:
        batch_op.add_column(sa.Column("address", sa.Text(), server_default="", nullable=False))
        batch_op.add_column(sa.Column("parking", sa.Text(), server_default="", nullable=False))
    op.create_index("uq_providers_practice_name", "providers", ["practice_id", "name"], unique=True)
    op.create_index(
        "uq_appointment_types_practice_name",
        "appointment_types",
        ["practice_id", "name"],
        unique=True,
    )
    op.create_table(
        "provider_appointment_types",
        sa.Column("provider_id", sa.Integer(), nullable=False),
        sa.Column("type_id", sa.Integer(), nullable=False),
        sa.ForeignKeyConstraint(
            ["provider_id"],
            ["providers.id"],
            name=op.f("fk_provider_appointment_types_provider_id_providers"),
            ondelete="CASCADE",
        ),
        sa.ForeignKeyConstraint(
            ["type_id"],
            ["appointment_types.id"],
            name=op.f("fk_provider_appointment_types_type_id_appointment_types"),
            ondelete="CASCADE",
        ),
        sa.PrimaryKeyConstraint(
            "provider_id", "type_id", name=op.f("pk_provider_appointment_types")
        ),
    )
    with op.batch_alter_table("appointments", schema=None) as batch_op:
        batch_op.add_column(sa.Column("external_id", sa.String(length=100), nullable=True))
        batch_op.create_index(
            "uq_appointments_practice_external", ["practice_id", "external_id"], unique=True
        )
    with op.batch_alter_table("campaigns", schema=None) as batch_op:
        batch_op.add_column(sa.Column("day", sa.Date(), nullable=True))
    # what was set up before this revision keeps working: every provider does every type
    op.execute(
        "INSERT INTO provider_appointment_types (provider_id, type_id) "
        "SELECT p.id, t.id FROM providers p JOIN appointment_types t "
        "ON t.practice_id = p.practice_id"
    )


def downgrade() -> None:
    with op.batch_alter_table("campaigns", schema=None) as batch_op:
        batch_op.drop_column("day")
    with op.batch_alter_table("appointments", schema=None) as batch_op:
        batch_op.drop_index("uq_appointments_practice_external")
        batch_op.drop_column("external_id")
    op.drop_table("provider_appointment_types")
    op.drop_index("uq_appointment_types_practice_name", table_name="appointment_types")
    op.drop_index("uq_providers_practice_name", table_name="providers")
    with op.batch_alter_table("practices", schema=None) as batch_op:
        batch_op.drop_column("parking")
        batch_op.drop_column("address")
