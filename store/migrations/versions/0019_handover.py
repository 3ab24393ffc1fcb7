"""passing work on: a delegated task's owner, and copies of tasks

Revision ID: 0019
Revises: 0018
Create Date: 2026-12-05

委派 (delegate): a task's owner is who delegated it to its assignee; while they differ the assignee works and
hands it back, then the owner completes it. 抄送 (copy): users who see a task and its instance read-only.
"""

import sqlalchemy as sa
from alembic import op

revision = "0019"
down_revision = "0018"
branch_labels = None
depends_on = None


def upgrade() -> None:
    with op.batch_alter_table("task", schema=None) as batch_op:
        batch_op.add_column(sa.Column("owner", sa.String(length=200), nullable=True))
    op.create_table(
        "task_copy",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("task_id", sa.String(length=36), nullable=False),
        sa.Column("user_name", sa.String(length=200), nullable=False),
        sa.Column("copied_by", sa.String(length=200), nullable=False),
        sa.Column("copied_at", sa.DateTime(timezone=True), nullable=False),
        sa.ForeignKeyConstraint(["task_id"], ["task.id"]),
        sa.ForeignKeyConstraint(["user_name"], ["user_account.name"]),
        sa.PrimaryKeyConstraint("id"),
        sa.UniqueConstraint("task_id", "user_name", name="uq_task_copy"),
    )
    op.create_index("ix_task_copy_task_id", "task_copy", ["task_id"], unique=False)
    op.create_index("ix_task_copy_user_name", "task_copy", ["user_name"], unique=False)


def downgrade() -> None:
    op.drop_index("ix_task_copy_user_name", table_name="task_copy")
    op.drop_index("ix_task_copy_task_id", table_name="task_copy")
    op.drop_table("task_copy")
    with op.batch_alter_table("task", schema=None) as batch_op:
        batch_op.drop_column("owner")
