"""the inbox's indexes, and time-based one-time passwords

A user may add a second factor to the web sign-in: a TOTP secret (RFC 6238, what authenticator apps
show), with the last time step used so that one code signs in once.

Revision ID: 0017
Revises: 0016
Create Date: 2026-12-05

A person's open tasks are those assigned to them, those they claimed, and their roles' tasks nobody holds,
the most urgent first. Each part is read from an index that covers it (state, holder, due date, age,
process, id), so that the inbox of one person among 100,000 open tasks reads only that person's entries:
the role part by (state, role, assignee, claimed_by, ...), the other two by (assignee, state, ...) and
(claimed_by, state, ...). They replace the narrower indexes on (state, role), assignee and claimed_by, of
which they are extensions. What one completed (我的已办) and what one started (我发起的) are read by
(completed_by, completed_at) and (started_by, started_at). Open tasks by due date (what is overdue, the
next 30 days' deadlines) by (state, due_at), which replaces the index on due_at alone.
"""

import sqlalchemy as sa
from alembic import op

revision = "0017"
down_revision = "0016"
branch_labels = None
depends_on = None


def upgrade() -> None:
    with op.batch_alter_table("user_account", schema=None) as batch_op:
        batch_op.add_column(sa.Column("totp_secret", sa.String(length=64), nullable=True))
        batch_op.add_column(sa.Column("totp_last_step", sa.Integer(), nullable=True))
    with op.batch_alter_table("task", schema=None) as batch_op:
        batch_op.drop_index("ix_task_state_role")
        batch_op.drop_index("ix_task_assignee")
        batch_op.drop_index("ix_task_claimed_by")
        batch_op.drop_index("ix_task_due_at")
        batch_op.create_index("ix_task_state_due", ["state", "due_at"], unique=False)
        batch_op.create_index("ix_task_inbox_role", ["state", "role", "assignee", "claimed_by", "due_at",
                                                     "created_at", "process_id", "id"], unique=False)
        batch_op.create_index("ix_task_inbox_assignee", ["assignee", "state", "due_at", "created_at", "process_id",
                                                         "id"], unique=False)
        batch_op.create_index("ix_task_inbox_claimed", ["claimed_by", "state", "due_at", "created_at", "process_id",
                                                        "id", "assignee"], unique=False)
        batch_op.create_index("ix_task_done", ["completed_by", "completed_at"], unique=False)
    with op.batch_alter_table("instance", schema=None) as batch_op:
        batch_op.create_index("ix_instance_started_by", ["started_by", "started_at"], unique=False)


def downgrade() -> None:
    with op.batch_alter_table("instance", schema=None) as batch_op:
        batch_op.drop_index("ix_instance_started_by")
    with op.batch_alter_table("task", schema=None) as batch_op:
        batch_op.drop_index("ix_task_done")
        batch_op.drop_index("ix_task_inbox_claimed")
        batch_op.drop_index("ix_task_inbox_assignee")
        batch_op.drop_index("ix_task_inbox_role")
        batch_op.drop_index("ix_task_state_due")
        batch_op.create_index("ix_task_due_at", ["due_at"], unique=False)
        batch_op.create_index("ix_task_claimed_by", ["claimed_by"], unique=False)
        batch_op.create_index("ix_task_assignee", ["assignee"], unique=False)
        batch_op.create_index("ix_task_state_role", ["state", "role"], unique=False)
    with op.batch_alter_table("user_account", schema=None) as batch_op:
        batch_op.drop_column("totp_last_step")
        batch_op.drop_column("totp_secret")
