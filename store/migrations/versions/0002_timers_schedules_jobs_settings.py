"""timers schedules jobs settings

Revision ID: 0002
Revises: 0001
Create Date: 2026-11-24
"""

import sqlalchemy as sa
from alembic import op

revision = "0002"
down_revision = "0001"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table(
        "schedule",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("process_id", sa.String(length=200), nullable=False),
        sa.Column("version", sa.Integer(), nullable=False),
        sa.Column("timer_kind", sa.String(length=20), nullable=False),
        sa.Column("expression", sa.String(length=200), nullable=False),
        sa.Column("zone", sa.String(length=64), nullable=False),
        sa.Column("policy", sa.String(length=10), nullable=False),
        sa.Column("source", sa.String(length=100), nullable=False),
        sa.Column("enabled", sa.Boolean(), nullable=False),
        sa.Column("created_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("updated_at", sa.DateTime(timezone=True), nullable=False),
        sa.PrimaryKeyConstraint("id"),
        sa.UniqueConstraint("process_id"),
    )
    op.create_table(
        "setting",
        sa.Column("key", sa.String(length=100), nullable=False),
        sa.Column("value", sa.Text(), nullable=False),
        sa.Column("updated_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("updated_by", sa.String(length=200), nullable=False),
        sa.PrimaryKeyConstraint("key"),
    )
    op.create_table(
        "job",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("key", sa.String(length=200), nullable=False),
        sa.Column("kind", sa.String(length=20), nullable=False),
        sa.Column("instance_id", sa.Integer(), nullable=True),
        sa.Column("run_after", sa.DateTime(timezone=True), nullable=False),
        sa.Column("attempts", sa.Integer(), nullable=False),
        sa.Column("lease_owner", sa.String(length=200), nullable=True),
        sa.Column("lease_until", sa.DateTime(timezone=True), nullable=True),
        sa.Column("fence", sa.Integer(), nullable=False),
        sa.Column("last_error", sa.Text(), nullable=True),
        sa.Column("created_at", sa.DateTime(timezone=True), nullable=False),
        sa.ForeignKeyConstraint(
            ["instance_id"],
            ["instance.id"],
        ),
        sa.PrimaryKeyConstraint("id"),
        sa.UniqueConstraint("key"),
    )
    with op.batch_alter_table("job", schema=None) as batch_op:
        batch_op.create_index(batch_op.f("ix_job_instance_id"), ["instance_id"], unique=False)
        batch_op.create_index(batch_op.f("ix_job_run_after"), ["run_after"], unique=False)

    op.create_table(
        "schedule_fire",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("schedule_id", sa.Integer(), nullable=False),
        sa.Column("process_id", sa.String(length=200), nullable=False),
        sa.Column("period", sa.String(length=50), nullable=False),
        sa.Column("fire_time", sa.DateTime(timezone=True), nullable=False),
        sa.Column("fired_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("caught_up", sa.Boolean(), nullable=False),
        sa.Column("instance_id", sa.Integer(), nullable=True),
        sa.ForeignKeyConstraint(
            ["instance_id"],
            ["instance.id"],
        ),
        sa.ForeignKeyConstraint(
            ["schedule_id"],
            ["schedule.id"],
        ),
        sa.PrimaryKeyConstraint("id"),
        sa.UniqueConstraint("process_id", "period", name="uq_schedule_fire_period"),
    )
    with op.batch_alter_table("schedule_fire", schema=None) as batch_op:
        batch_op.create_index(batch_op.f("ix_schedule_fire_schedule_id"), ["schedule_id"], unique=False)
    # The history chain's head exists from the start, so two first writers cannot both insert it.
    op.execute(
        "INSERT INTO history_head (id, last_hash, count) SELECT 1, '" + "0" * 64 + "', 0 "
        "WHERE NOT EXISTS (SELECT 1 FROM history_head)"
    )


def downgrade() -> None:
    with op.batch_alter_table("schedule_fire", schema=None) as batch_op:
        batch_op.drop_index(batch_op.f("ix_schedule_fire_schedule_id"))

    op.drop_table("schedule_fire")
    with op.batch_alter_table("job", schema=None) as batch_op:
        batch_op.drop_index(batch_op.f("ix_job_run_after"))
        batch_op.drop_index(batch_op.f("ix_job_instance_id"))

    op.drop_table("job")
    op.drop_table("setting")
    op.drop_table("schedule")
