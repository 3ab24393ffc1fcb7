"""project register and departments

Revision ID: 0003
Revises: 0002
Create Date: 2026-11-24
"""

import sqlalchemy as sa
from alembic import op

revision = "0003"
down_revision = "0002"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table(
        "project",
        sa.Column("code", sa.String(length=50), nullable=False),
        sa.Column("name", sa.String(length=500), nullable=False),
        sa.Column("kind", sa.String(length=20), nullable=False),
        sa.Column("customer", sa.String(length=500), nullable=False),
        sa.Column("pm", sa.String(length=200), nullable=False),
        sa.Column("oms", sa.String(length=200), nullable=False),
        sa.Column("status", sa.String(length=20), nullable=False),
        sa.Column("contract_ref", sa.String(length=200), nullable=True),
        sa.Column("om_start", sa.Date(), nullable=True),
        sa.Column("om_end", sa.Date(), nullable=True),
        sa.Column("created_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("created_by", sa.String(length=200), nullable=False),
        sa.Column("updated_at", sa.DateTime(timezone=True), nullable=False),
        sa.ForeignKeyConstraint(
            ["oms"],
            ["user_account.name"],
        ),
        sa.ForeignKeyConstraint(
            ["pm"],
            ["user_account.name"],
        ),
        sa.PrimaryKeyConstraint("code"),
    )
    op.create_table(
        "project_member",
        sa.Column("project_code", sa.String(length=50), nullable=False),
        sa.Column("user_name", sa.String(length=200), nullable=False),
        sa.ForeignKeyConstraint(
            ["project_code"],
            ["project.code"],
        ),
        sa.ForeignKeyConstraint(
            ["user_name"],
            ["user_account.name"],
        ),
        sa.PrimaryKeyConstraint("project_code", "user_name"),
    )
    with op.batch_alter_table("user_account", schema=None) as batch_op:
        batch_op.add_column(sa.Column("department", sa.String(length=100), nullable=True))


def downgrade() -> None:
    with op.batch_alter_table("user_account", schema=None) as batch_op:
        batch_op.drop_column("department")

    op.drop_table("project_member")
    op.drop_table("project")
