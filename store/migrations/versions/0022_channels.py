"""channels: WeCom, DingTalk and Feishu robots beside e-mail; each user's channel and mention; notices once

Revision ID: 0022
Revises: 0021
Create Date: 2026-12-05

The smtp_* settings become the channel `email`; messages waiting in the outbox as e-mails become messages of
that channel, their keys and texts kept (a copy sent after the upgrade carries the same Message-ID).
"""

import json

import sqlalchemy as sa
from alembic import op

revision = "0022"
down_revision = "0021"
branch_labels = None
depends_on = None

SMTP = ("smtp_host", "smtp_port", "smtp_from")


def upgrade() -> None:
    channel = op.create_table(
        "channel",
        sa.Column("name", sa.String(length=64), nullable=False),
        sa.Column("kind", sa.String(length=20), nullable=False),
        sa.Column("url", sa.Text(), nullable=False),
        sa.Column("secret", sa.Text(), nullable=False),
        sa.Column("host", sa.String(length=255), nullable=False),
        sa.Column("port", sa.Integer(), nullable=False),
        sa.Column("sender", sa.String(length=320), nullable=False),
        sa.Column("login", sa.String(length=320), nullable=False),
        sa.Column("password", sa.Text(), nullable=False),
        sa.Column("starttls", sa.Boolean(), nullable=False),
        sa.Column("recent", sa.Text(), nullable=False),
        sa.Column("created_by", sa.String(length=200), nullable=False),
        sa.Column("created_at", sa.DateTime(timezone=True), nullable=False),
        sa.PrimaryKeyConstraint("name"),
    )
    op.create_table(
        "role_channel",
        sa.Column("role", sa.String(length=100), nullable=False),
        sa.Column("channel", sa.String(length=64), nullable=False),
        sa.PrimaryKeyConstraint("role"),
    )
    op.create_table(
        "notice_mark",
        sa.Column("key", sa.String(length=200), nullable=False),
        sa.Column("at", sa.DateTime(timezone=True), nullable=False),
        sa.PrimaryKeyConstraint("key"),
    )
    with op.batch_alter_table("user_account", schema=None) as batch_op:
        batch_op.add_column(sa.Column("channel", sa.String(length=64), nullable=True))
        batch_op.add_column(sa.Column("mention", sa.String(length=128), nullable=True))

    bind = op.get_bind()
    setting = sa.table("setting", sa.column("key", sa.String), sa.column("value", sa.Text),
                       sa.column("updated_at", sa.DateTime(timezone=True)), sa.column("updated_by", sa.String))
    rows = {key: (value, at, by) for key, value, at, by in bind.execute(
        sa.select(setting.c.key, setting.c.value, setting.c.updated_at, setting.c.updated_by)
        .where(setting.c.key.in_(SMTP)))}
    host = rows.get("smtp_host", ("",))[0].strip()
    if host:
        _value, at, by = rows["smtp_host"]
        bind.execute(channel.insert().values(
            name="email", kind="email", url="", secret="", host=host,
            port=int(rows.get("smtp_port", ("25",))[0] or 25), sender=rows.get("smtp_from", ("opsqa@localhost",))[0],
            login="", password="", starttls=False, recent="[]", created_by=by, created_at=at))
    bind.execute(setting.delete().where(setting.c.key.in_(SMTP)))

    job = sa.table("job", sa.column("id", sa.Integer), sa.column("key", sa.String), sa.column("kind", sa.String),
                   sa.column("payload", sa.Text))
    for job_id, key, payload in bind.execute(sa.select(job.c.id, job.c.key, job.c.payload)
                                             .where(job.c.kind == "email")).all():
        old = json.loads(payload or "{}")
        title = str(old.get("subject") or "").removeprefix("[opsqa] ")
        new = {"channel": "email", "user": old.get("user"), "mention": old.get("to"), "kind": "note", "title": title,
               "lines": [], "detail": str(old.get("body") or "").splitlines(), "path": None,
               "message_id_key": key}  # the Message-ID the e-mail would have carried
        bind.execute(job.update().where(job.c.id == job_id).values(
            kind="message", key=f"msg:email:{key.removeprefix('email:')}"[:200],
            payload=json.dumps(new, ensure_ascii=False)))


def downgrade() -> None:
    with op.batch_alter_table("user_account", schema=None) as batch_op:
        batch_op.drop_column("mention")
        batch_op.drop_column("channel")
    op.drop_table("notice_mark")
    op.drop_table("role_channel")
    op.drop_table("channel")
