"""加签: users asked to sign a task before it counts as done

Revision ID: 0021
Revises: 0020
Create Date: 2026-12-05

A task with signers cannot be completed until each of them has approved it; a rejection stands until the
signer is asked again. Who asked, why, and each decision stay on the row and in the history.
"""

import sqlalchemy as sa
from alembic import op

revision = "0021"
down_revision = "0020"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table(
        "task_signer",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("task_id", sa.String(length=36), nullable=False),
        sa.Column("user_name", sa.String(length=200), nullable=False),
        sa.Column("asked_by", sa.String(length=200), nullable=False),
        sa.Column("asked_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("reason", sa.Text(), nullable=False),
        sa.Column("decision", sa.String(length=20), nullable=True),
        sa.Column("decided_at", sa.DateTime(timezone=True), nullable=True),
        sa.Column("note", sa.Text(), nullable=True),
        sa.ForeignKeyConstraint(["task_id"], ["task.id"]),
        sa.ForeignKeyConstraint(["user_name"], ["user_account.name"]),
        sa.PrimaryKeyConstraint("id"),
        sa.UniqueConstraint("task_id", "user_name", name="uq_task_signer"),
    )
    op.create_index("ix_task_signer_task_id", "task_signer", ["task_id"], unique=False)
    op.create_index("ix_task_signer_user_name", "task_signer", ["user_name"], unique=False)


def downgrade() -> None:
    op.drop_index("ix_task_signer_user_name", table_name="task_signer")
    op.drop_index("ix_task_signer_task_id", table_name="task_signer")
    op.drop_table("task_signer")
