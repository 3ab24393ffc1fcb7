"""absences: a substitute does the tasks of someone away (代理)

Revision ID: 0020
Revises: 0019
Create Date: 2026-12-05
"""

import sqlalchemy as sa
from alembic import op

revision = "0020"
down_revision = "0019"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table(
        "absence",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("user_name", sa.String(length=200), nullable=False),
        sa.Column("substitute", sa.String(length=200), nullable=False),
        sa.Column("starts_on", sa.Date(), nullable=False),
        sa.Column("ends_on", sa.Date(), nullable=False),
        sa.Column("processes", sa.Text(), nullable=True),
        sa.Column("reason", sa.Text(), nullable=True),
        sa.Column("created_by", sa.String(length=200), nullable=False),
        sa.Column("created_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("ended_at", sa.DateTime(timezone=True), nullable=True),
        sa.ForeignKeyConstraint(["substitute"], ["user_account.name"]),
        sa.ForeignKeyConstraint(["user_name"], ["user_account.name"]),
        sa.PrimaryKeyConstraint("id"),
    )
    op.create_index("ix_absence_user_name", "absence", ["user_name"], unique=False)
    op.create_index("ix_absence_substitute", "absence", ["substitute"], unique=False)


def downgrade() -> None:
    op.drop_index("ix_absence_substitute", table_name="absence")
    op.drop_index("ix_absence_user_name", table_name="absence")
    op.drop_table("absence")
