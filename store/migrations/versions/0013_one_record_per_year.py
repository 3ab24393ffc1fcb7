"""one record per year: a year's full internal audit and its issued quality plan are unique

Revision ID: 0013
Revises: 0012
Create Date: 2026-11-25

Before this revision nothing refused a second full audit of a year (the annual cycle's and one planned by
hand) or a second issued plan (the cycle's and a plan started on its own). A database holding such twins
is not changed behind its users' backs: the upgrade stops and names them, so that people decide which
one stands (an audit whose plan is sent back at its approval is cancelled and no longer counts).
"""

import sqlalchemy as sa
from alembic import op

from i18n import _
from store.db import DatabaseError

revision = "0013"
down_revision = "0012"
branch_labels = None
depends_on = None

LIVE_FULL_AUDIT = "\"full\" AND status <> 'cancelled'"  # as store/domain.py: "full" is reserved in PostgreSQL


def upgrade() -> None:
    _refuse_twins()
    with op.batch_alter_table("audit", schema=None) as batch_op:
        batch_op.create_index("uq_audit_full_year", ["year"], unique=True, sqlite_where=sa.text(LIVE_FULL_AUDIT),
                              postgresql_where=sa.text(LIVE_FULL_AUDIT))
    with op.batch_alter_table("quality_plan", schema=None) as batch_op:
        batch_op.create_index("uq_quality_plan_period", ["period"], unique=True)


def downgrade() -> None:
    with op.batch_alter_table("quality_plan", schema=None) as batch_op:
        batch_op.drop_index("uq_quality_plan_period")
    with op.batch_alter_table("audit", schema=None) as batch_op:
        batch_op.drop_index("uq_audit_full_year")


def _refuse_twins() -> None:
    connection = op.get_bind()
    audits = connection.execute(sa.text(
        f"SELECT year, code FROM audit WHERE {LIVE_FULL_AUDIT} ORDER BY year, code")).all()
    plans = connection.execute(sa.text("SELECT period, id, instance_id FROM quality_plan ORDER BY period, id")).all()
    twins = []
    for year, codes in _grouped((row[0], row[1]) for row in audits):
        twins.append(_("full internal audits of {year}: {codes}").format(year=year, codes=", ".join(codes)))
    for period, ids in _grouped((row[0], _("plan {id} (instance {instance})").format(id=row[1], instance=row[2]))
                                for row in plans):
        twins.append(_("issued quality plans of {year}: {plans}").format(year=period, plans=", ".join(ids)))
    if twins:
        raise DatabaseError(_(
            "a year has one full internal audit and one issued quality plan, and this database holds more: "
            "{twins}; keep one of each (an audit whose plan is sent back at its approval is cancelled and no longer "
            "counts), then run `opsqa db upgrade` again").format(twins="; ".join(twins)))


def _grouped(pairs):
    groups: dict = {}
    for key, value in pairs:
        groups.setdefault(key, []).append(str(value))
    return [(key, values) for key, values in groups.items() if len(values) > 1]
