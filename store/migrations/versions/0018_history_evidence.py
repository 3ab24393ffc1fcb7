"""the history as evidence: chain positions given at commit, signing keys and signed checkpoints

Revision ID: 0018
Revises: 0017
Create Date: 2026-12-05

An event gets its id when it is appended and its place in the chain (`seq`) when its transaction commits,
under the history head for the commit alone; until now the head was locked from a transaction's first
event to its end, so that every writer on PostgreSQL queued behind the others' whole steps. Existing
events keep their places (seq = id). Checkpoints are signed by the service's Ed25519 key (`signing_key`
holds the public halves). The records' first seal is made after the upgrade (store.migrate.seal_baseline).
"""

import sqlalchemy as sa
from alembic import op

revision = "0018"
down_revision = "0017"
branch_labels = None
depends_on = None


def upgrade() -> None:
    with op.batch_alter_table("event", schema=None) as batch_op:
        batch_op.add_column(sa.Column("seq", sa.Integer(), nullable=True))
    op.execute("UPDATE event SET seq = id")
    with op.batch_alter_table("event", schema=None) as batch_op:
        batch_op.create_unique_constraint("uq_event_seq", ["seq"])
    # what the commit links: the few events of transactions not yet committed
    op.create_index("ix_event_unchained", "event", ["id"], unique=False,
                    sqlite_where=sa.text("seq IS NULL"), postgresql_where=sa.text("seq IS NULL"))
    if op.get_bind().dialect.name == "postgresql":  # ids were given by the head until now: the sequence follows
        op.execute("SELECT setval(pg_get_serial_sequence('event', 'id'), COALESCE((SELECT MAX(id) FROM event), 0) + 1, "
                   "false)")
    op.create_table(
        "signing_key",
        sa.Column("key_id", sa.String(length=16), nullable=False),
        sa.Column("public_key", sa.String(length=64), nullable=False),
        sa.Column("created_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("created_by", sa.String(length=200), nullable=False),
        sa.Column("retired_at", sa.DateTime(timezone=True), nullable=True),
        sa.PrimaryKeyConstraint("key_id"),
    )
    op.create_table(
        "history_checkpoint",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("seq", sa.Integer(), nullable=False),
        sa.Column("head_hash", sa.String(length=64), nullable=False),
        sa.Column("at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("database_id", sa.String(length=64), nullable=False),
        sa.Column("key_id", sa.String(length=16), nullable=False),
        sa.Column("signature", sa.String(length=100), nullable=False),
        sa.Column("reason", sa.String(length=50), nullable=False),
        sa.PrimaryKeyConstraint("id"),
    )
    op.create_index("ix_history_checkpoint_seq", "history_checkpoint", ["seq"], unique=False)


def downgrade() -> None:
    op.drop_index("ix_history_checkpoint_seq", table_name="history_checkpoint")
    op.drop_table("history_checkpoint")
    op.drop_table("signing_key")
    op.drop_index("ix_event_unchained", table_name="event")
    with op.batch_alter_table("event", schema=None) as batch_op:
        batch_op.drop_constraint("uq_event_seq", type_="unique")
        batch_op.drop_column("seq")
