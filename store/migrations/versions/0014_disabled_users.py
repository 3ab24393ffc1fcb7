"""disabled users

Revision ID: 0014
Revises: 0013
Create Date: 2026-11-25

A user is never deleted (the history and the records name them): an admin disables them instead, and a
disabled user can no longer act. Every user of an older database is active.
"""

import sqlalchemy as sa
from alembic import op

revision = "0014"
down_revision = "0013"
branch_labels = None
depends_on = None


def upgrade() -> None:
    with op.batch_alter_table("user_account", schema=None) as batch_op:
        batch_op.add_column(sa.Column("disabled_at", sa.DateTime(timezone=True), nullable=True))


def downgrade() -> None:
    with op.batch_alter_table("user_account", schema=None) as batch_op:
        batch_op.drop_column("disabled_at")
