"""Drafts of processes edited in the browser, and their trials against a simulated year

Revision ID: 0024
Revises: 0023
Create Date: 2026-12-06

A process owner opens a deployed version in the modeler and saves a draft: stored, listed, checked with the
deploy checks, compared and tried, never run, until it is deployed as the process's next version. A trial
runs the scenario tests and a simulated year on the draft and on the deployed version, in processes of their
own; its row says how far it got and keeps both summaries.
"""

import sqlalchemy as sa
from alembic import op

revision = "0024"
down_revision = "0023"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table(
        "process_draft",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("process_id", sa.String(length=200), nullable=False),
        sa.Column("based_on", sa.Integer(), nullable=True),
        sa.Column("file", sa.String(length=200), nullable=False),
        sa.Column("xml", sa.Text(), nullable=False),
        sa.Column("sha256", sa.String(length=64), nullable=False),
        sa.Column("problems_json", sa.Text(), nullable=False),
        sa.Column("status", sa.String(length=20), nullable=False),
        sa.Column("deployed_version", sa.Integer(), nullable=True),
        sa.Column("created_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("created_by", sa.String(length=200), nullable=False),
        sa.Column("saved_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("saved_by", sa.String(length=200), nullable=False),
        sa.PrimaryKeyConstraint("id"),
    )
    op.create_index("ix_process_draft_process_id", "process_draft", ["process_id"], unique=False)
    op.create_table(
        "draft_trial",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("draft_id", sa.Integer(), nullable=False),
        sa.Column("sha256", sa.String(length=64), nullable=False),
        sa.Column("scenario", sa.String(length=200), nullable=False),
        sa.Column("status", sa.String(length=20), nullable=False),
        sa.Column("started_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("started_by", sa.String(length=200), nullable=False),
        sa.Column("worker", sa.String(length=200), nullable=False),
        sa.Column("deadline", sa.DateTime(timezone=True), nullable=False),
        sa.Column("finished_at", sa.DateTime(timezone=True), nullable=True),
        sa.Column("result_json", sa.Text(), nullable=True),
        sa.Column("error", sa.Text(), nullable=True),
        sa.ForeignKeyConstraint(["draft_id"], ["process_draft.id"]),
        sa.PrimaryKeyConstraint("id"),
    )
    op.create_index("ix_draft_trial_draft_id", "draft_trial", ["draft_id"], unique=False)


def downgrade() -> None:
    op.drop_index("ix_draft_trial_draft_id", table_name="draft_trial")
    op.drop_table("draft_trial")
    op.drop_index("ix_process_draft_process_id", table_name="process_draft")
    op.drop_table("process_draft")
