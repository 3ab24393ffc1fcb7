"""plan revisions: an issued quality plan is revised as a new edition, with its own approval

Revision ID: 0015
Revises: 0014
Create Date: 2026-12-05

A year still has one plan in force, but no longer one row: a revision (`opsqa plan revise YEAR`) is drafted
and approved again, and its issue supersedes the edition before it, which stays as it was issued. Every
plan of an older database is its year's first edition, in force.
"""

import sqlalchemy as sa
from alembic import op

from i18n import _
from store.db import DatabaseError

revision = "0015"
down_revision = "0014"
branch_labels = None
depends_on = None

CURRENT = "superseded_at IS NULL"  # as store/domain.py: the edition in force


def upgrade() -> None:
    with op.batch_alter_table("quality_plan", schema=None) as batch_op:
        batch_op.add_column(sa.Column("edition", sa.Integer(), nullable=False, server_default="1"))
        batch_op.add_column(sa.Column("superseded_at", sa.DateTime(timezone=True), nullable=True))
        batch_op.add_column(sa.Column("superseded_by", sa.Integer(), nullable=True))
        batch_op.add_column(sa.Column("revision_reason", sa.Text(), nullable=True))
        # deferred: a copy of the database (`db copy`) inserts an edition before the one that superseded it
        batch_op.create_foreign_key("fk_quality_plan_superseded_by", "quality_plan", ["superseded_by"], ["id"],
                                    deferrable=True, initially="DEFERRED")
        batch_op.drop_index("uq_quality_plan_period")
        batch_op.create_index("uq_quality_plan_current", ["period"], unique=True, sqlite_where=sa.text(CURRENT),
                              postgresql_where=sa.text(CURRENT))
        batch_op.create_index("uq_quality_plan_edition", ["period", "edition"], unique=True)


def downgrade() -> None:
    revised = op.get_bind().execute(sa.text(
        "SELECT DISTINCT period FROM quality_plan WHERE edition > 1 ORDER BY period")).scalars().all()
    if revised:
        raise DatabaseError(_(
            "the quality plans of {years} were revised; the schema before revision 0015 holds one plan a year, "
            "so this database cannot go back to it").format(years=", ".join(revised)))
    with op.batch_alter_table("quality_plan", schema=None) as batch_op:
        batch_op.drop_index("uq_quality_plan_edition")
        batch_op.drop_index("uq_quality_plan_current")
        batch_op.create_index("uq_quality_plan_period", ["period"], unique=True)
        batch_op.drop_constraint("fk_quality_plan_superseded_by", type_="foreignkey")
        batch_op.drop_column("revision_reason")
        batch_op.drop_column("superseded_by")
        batch_op.drop_column("superseded_at")
        batch_op.drop_column("edition")
