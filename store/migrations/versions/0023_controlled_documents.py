"""The register of controlled documents: each issued version with its status, issuer and SHA-256

Revision ID: 0023
Revises: 0022
Create Date: 2026-12-05

`opsqa documents issue` registers a version (文件编号 + 版本 A0, A1 …) when the records behind a document
changed since the last one, and marks the earlier version obsolete (作废); the issued copy is kept.
"""

import sqlalchemy as sa
from alembic import op

revision = "0023"
down_revision = "0022"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table(
        "controlled_document",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("doc_no", sa.String(length=100), nullable=False),
        sa.Column("version", sa.Integer(), nullable=False),
        sa.Column("kind", sa.String(length=40), nullable=False),
        sa.Column("name", sa.String(length=200), nullable=False),
        sa.Column("title", sa.Text(), nullable=False),
        sa.Column("year", sa.Integer(), nullable=False),
        sa.Column("status", sa.String(length=20), nullable=False),
        sa.Column("content_sha256", sa.String(length=64), nullable=False),
        sa.Column("sha256", sa.String(length=64), nullable=False),
        sa.Column("html", sa.Text(), nullable=False),
        sa.Column("issued_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("issued_by", sa.String(length=200), nullable=False),
        sa.Column("obsoleted_at", sa.DateTime(timezone=True), nullable=True),
        sa.PrimaryKeyConstraint("id"),
        sa.UniqueConstraint("doc_no", "version", name="uq_controlled_document_version"),
    )
    op.create_index("ix_controlled_document_doc_no", "controlled_document", ["doc_no"], unique=False)
    op.create_index("ix_controlled_document_year", "controlled_document", ["year"], unique=False)


def downgrade() -> None:
    op.drop_index("ix_controlled_document_year", table_name="controlled_document")
    op.drop_index("ix_controlled_document_doc_no", table_name="controlled_document")
    op.drop_table("controlled_document")
