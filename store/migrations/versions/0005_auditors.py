"""auditors

Revision ID: 0005
Revises: 0004
Create Date: 2026-11-24
"""

import sqlalchemy as sa
from alembic import op

revision = "0005"
down_revision = "0004"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table(
        "auditor",
        sa.Column("user_name", sa.String(length=200), nullable=False),
        sa.Column("certificate_no", sa.String(length=100), nullable=True),
        sa.Column("valid_until", sa.Date(), nullable=True),
        sa.Column("added_by", sa.String(length=200), nullable=False),
        sa.Column("added_at", sa.DateTime(timezone=True), nullable=False),
        sa.ForeignKeyConstraint(
            ["user_name"],
            ["user_account.name"],
        ),
        sa.PrimaryKeyConstraint("user_name"),
    )


def downgrade() -> None:
    op.drop_table("auditor")
