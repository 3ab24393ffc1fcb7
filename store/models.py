"""The engine's tables (the domain's are in store/domain.py). Times are aware UTC datetimes in Python,
whatever the database stores."""

from __future__ import annotations

from datetime import UTC, date, datetime

from sqlalchemy import (
    Boolean,
    Date,
    DateTime,
    ForeignKey,
    Index,
    Integer,
    String,
    Text,
    TypeDecorator,
    UniqueConstraint,
    text,
)
from sqlalchemy.orm import DeclarativeBase, Mapped, mapped_column


class UtcDateTime(TypeDecorator):
    """Aware UTC datetimes in, aware UTC datetimes out (SQLite keeps no zone of its own)."""

    impl = DateTime(timezone=True)
    cache_ok = True

    def process_bind_param(self, value, dialect):
        if value is None:
            return None
        if value.tzinfo is None:
            raise ValueError(f"naive datetime {value!r} given where an aware one is required")
        value = value.astimezone(UTC)
        return value.replace(tzinfo=None) if dialect.name == "sqlite" else value

    def process_result_value(self, value, dialect):
        if value is None:
            return None
        return value.replace(tzinfo=UTC) if value.tzinfo is None else value.astimezone(UTC)


class Base(DeclarativeBase):
    pass


class Definition(Base):
    """One deployed version of one BPMN process."""

    __tablename__ = "definition"
    __table_args__ = (UniqueConstraint("process_id", "version", name="uq_definition_version"),)

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    process_id: Mapped[str] = mapped_column(String(200), index=True)
    version: Mapped[int] = mapped_column(Integer)
    name: Mapped[str] = mapped_column(String(500))
    sha256: Mapped[str] = mapped_column(String(64))
    source_file: Mapped[str] = mapped_column(String(1000))
    xml: Mapped[str] = mapped_column(Text)
    # SpiffWorkflow's serialized spec (with the specs of the processes it calls), stored once
    # here and referenced from every instance's state.
    spec_json: Mapped[str] = mapped_column(Text)
    # What opsqa needs without SpiffWorkflow: user tasks (name, role, form), service topics.
    model_json: Mapped[str] = mapped_column(Text)
    deployed_at: Mapped[datetime] = mapped_column(UtcDateTime)
    deployed_by: Mapped[str] = mapped_column(String(200))


class Instance(Base):
    __tablename__ = "instance"
    __table_args__ = (UniqueConstraint("process_id", "business_key", name="uq_instance_business_key"),
                      Index("ix_instance_started_by", "started_by", "started_at"))

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    definition_id: Mapped[int] = mapped_column(ForeignKey("definition.id"), index=True)
    process_id: Mapped[str] = mapped_column(String(200))
    business_key: Mapped[str] = mapped_column(String(200))
    # running | completed | error | cancelled
    status: Mapped[str] = mapped_column(String(20), index=True)
    state_json: Mapped[str] = mapped_column(Text)
    serializer_version: Mapped[str] = mapped_column(String(20))
    library_version: Mapped[str] = mapped_column(String(20))
    lock_version: Mapped[int] = mapped_column(Integer)
    next_due_at: Mapped[datetime | None] = mapped_column(UtcDateTime, index=True)
    incident: Mapped[str | None] = mapped_column(Text)
    incident_task: Mapped[str | None] = mapped_column(String(200))
    started_at: Mapped[datetime] = mapped_column(UtcDateTime)
    started_by: Mapped[str] = mapped_column(String(200))
    updated_at: Mapped[datetime] = mapped_column(UtcDateTime)
    ended_at: Mapped[datetime | None] = mapped_column(UtcDateTime)

    __mapper_args__ = {"version_id_col": lock_version}


class Task(Base):
    """The human-task read model: listing tasks never loads a workflow."""

    __tablename__ = "task"
    # The inbox reads each part of a person's open tasks from an index covering it (migration 0017).
    __table_args__ = (
        Index("ix_task_inbox_role", "state", "role", "assignee", "claimed_by", "due_at", "created_at", "process_id",
              "id"),
        Index("ix_task_inbox_assignee", "assignee", "state", "due_at", "created_at", "process_id", "id"),
        Index("ix_task_inbox_claimed", "claimed_by", "state", "due_at", "created_at", "process_id", "id", "assignee"),
        Index("ix_task_done", "completed_by", "completed_at"),
        Index("ix_task_state_due", "state", "due_at"),
    )

    id: Mapped[str] = mapped_column(String(36), primary_key=True)  # SpiffWorkflow's task id
    instance_id: Mapped[int] = mapped_column(ForeignKey("instance.id"), index=True)
    process_id: Mapped[str] = mapped_column(String(200))  # the process the task is drawn in
    bpmn_id: Mapped[str] = mapped_column(String(200))
    name: Mapped[str] = mapped_column(String(500))
    role: Mapped[str | None] = mapped_column(String(100))
    # ready | completed | cancelled
    state: Mapped[str] = mapped_column(String(20))
    assignee: Mapped[str | None] = mapped_column(String(200))
    claimed_by: Mapped[str | None] = mapped_column(String(200))
    due_at: Mapped[datetime | None] = mapped_column(UtcDateTime)
    overdue_notified_at: Mapped[datetime | None] = mapped_column(UtcDateTime)  # its assignee/role told once
    # The process variables as the task became ready (JSON): what the operator decides on,
    # e.g. the general manager's comment on a returned draft.
    variables: Mapped[str] = mapped_column(Text)
    created_at: Mapped[datetime] = mapped_column(UtcDateTime)
    completed_by: Mapped[str | None] = mapped_column(String(200))
    completed_at: Mapped[datetime | None] = mapped_column(UtcDateTime)  # or cancelled at
    # 委派: who delegated the task to its assignee; while they differ, the assignee works and hands it back
    # (`task resolve`), then the owner completes it (Camunda 7's owner and assignee)
    owner: Mapped[str | None] = mapped_column(String(200))


class Absence(Base):
    """代理: while `user_name` is away (starts_on to ends_on, local dates, both included), `substitute` may do
    their tasks, of the named processes (a JSON list) or of all; ended early by `users back`."""

    __tablename__ = "absence"

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    user_name: Mapped[str] = mapped_column(ForeignKey("user_account.name"), index=True)
    substitute: Mapped[str] = mapped_column(ForeignKey("user_account.name"), index=True)
    starts_on: Mapped[date] = mapped_column(Date)
    ends_on: Mapped[date] = mapped_column(Date)
    processes: Mapped[str | None] = mapped_column(Text)
    reason: Mapped[str | None] = mapped_column(Text)
    created_by: Mapped[str] = mapped_column(String(200))
    created_at: Mapped[datetime] = mapped_column(UtcDateTime)
    ended_at: Mapped[datetime | None] = mapped_column(UtcDateTime)


class TaskCopy(Base):
    """抄送: a user who sees a task and its instance read-only, and was told of it."""

    __tablename__ = "task_copy"
    __table_args__ = (UniqueConstraint("task_id", "user_name", name="uq_task_copy"),)

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    task_id: Mapped[str] = mapped_column(ForeignKey("task.id"), index=True)
    user_name: Mapped[str] = mapped_column(ForeignKey("user_account.name"), index=True)
    copied_by: Mapped[str] = mapped_column(String(200))
    copied_at: Mapped[datetime] = mapped_column(UtcDateTime)


class TaskSigner(Base):
    """加签: a user asked to sign a task before it counts as done. The task cannot be completed while any of its
    signers has not approved; a rejection stands until the signer is asked again."""

    __tablename__ = "task_signer"
    __table_args__ = (UniqueConstraint("task_id", "user_name", name="uq_task_signer"),)

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    task_id: Mapped[str] = mapped_column(ForeignKey("task.id"), index=True)
    user_name: Mapped[str] = mapped_column(ForeignKey("user_account.name"), index=True)
    asked_by: Mapped[str] = mapped_column(String(200))
    asked_at: Mapped[datetime] = mapped_column(UtcDateTime)
    reason: Mapped[str] = mapped_column(Text)
    decision: Mapped[str | None] = mapped_column(String(20))  # None (waiting), approved, rejected
    decided_at: Mapped[datetime | None] = mapped_column(UtcDateTime)
    note: Mapped[str | None] = mapped_column(Text)


class InstanceMigration(Base):
    """One move of an instance onto another version of its process, with the state it left (for a revert)."""

    __tablename__ = "instance_migration"

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    instance_id: Mapped[int] = mapped_column(ForeignKey("instance.id"), index=True)
    from_definition_id: Mapped[int] = mapped_column(ForeignKey("definition.id"))
    to_definition_id: Mapped[int] = mapped_column(ForeignKey("definition.id"))
    state_before: Mapped[str] = mapped_column(Text)
    # The instance's lock version right after the move: unchanged at a revert, nothing ran since.
    lock_version_after: Mapped[int] = mapped_column(Integer)
    migrated_at: Mapped[datetime] = mapped_column(UtcDateTime)
    migrated_by: Mapped[str] = mapped_column(String(200))
    reverted_at: Mapped[datetime | None] = mapped_column(UtcDateTime)
    reverted_by: Mapped[str | None] = mapped_column(String(200))


class Event(Base):
    """Append-only history, hash-chained: each row hashes the previous hash and itself."""

    __tablename__ = "event"
    __table_args__ = (
        UniqueConstraint("seq", name="uq_event_seq"),
        # what a commit links: the few events of transactions not yet committed
        Index("ix_event_unchained", "id", sqlite_where=text("seq IS NULL"), postgresql_where=text("seq IS NULL")),
    )

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    at: Mapped[datetime] = mapped_column(UtcDateTime)
    instance_id: Mapped[int | None] = mapped_column(ForeignKey("instance.id"), index=True)
    task_id: Mapped[str | None] = mapped_column(String(36))
    kind: Mapped[str] = mapped_column(String(50))
    actor: Mapped[str] = mapped_column(String(200))
    # Set when an admin acts as someone else (`--as`): the login that really acted.
    real_actor: Mapped[str | None] = mapped_column(String(200))
    payload: Mapped[str] = mapped_column(Text)
    prev_hash: Mapped[str] = mapped_column(String(64))
    hash: Mapped[str] = mapped_column(String(64))
    # The event's place in the chain (1, 2, ...), given when its transaction commits; the id is given when it
    # is appended, so that on PostgreSQL the ids of concurrent transactions interleave while the chain does not.
    seq: Mapped[int | None] = mapped_column(Integer)


class HistoryHead(Base):
    """The chain's head, kept apart so that deleting the newest events is detected too."""

    __tablename__ = "history_head"

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    last_hash: Mapped[str] = mapped_column(String(64))
    count: Mapped[int] = mapped_column(Integer)


class SigningKey(Base):
    """A public key whose private half signs the history's checkpoints (Ed25519; the private key is a file
    only the service account reads). Kept after it is retired: the checkpoints it signed still verify."""

    __tablename__ = "signing_key"

    key_id: Mapped[str] = mapped_column(String(16), primary_key=True)  # SHA-256 of the raw public key, 16 hex
    public_key: Mapped[str] = mapped_column(String(64))  # the raw 32 bytes, base64
    created_at: Mapped[datetime] = mapped_column(UtcDateTime)
    created_by: Mapped[str] = mapped_column(String(200))
    retired_at: Mapped[datetime | None] = mapped_column(UtcDateTime)


class HistoryCheckpoint(Base):
    """A signed statement that the history's first `seq` events end in `head_hash` (at `at`), for this
    database (`database_id`): what someone able to write the database cannot forge."""

    __tablename__ = "history_checkpoint"

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    seq: Mapped[int] = mapped_column(Integer, index=True)
    head_hash: Mapped[str] = mapped_column(String(64))
    at: Mapped[datetime] = mapped_column(UtcDateTime)
    database_id: Mapped[str] = mapped_column(String(64))  # the hash of its first event
    key_id: Mapped[str] = mapped_column(String(16))
    signature: Mapped[str] = mapped_column(String(100))  # base64 of the 64-byte Ed25519 signature
    reason: Mapped[str] = mapped_column(String(50))  # periodic, milestone kind, or on request


class User(Base):
    __tablename__ = "user_account"

    name: Mapped[str] = mapped_column(String(200), primary_key=True)
    display_name: Mapped[str | None] = mapped_column(String(200))
    department: Mapped[str | None] = mapped_column(String(100))  # a role code: qmd, ops, ... (audit independence)
    email: Mapped[str | None] = mapped_column(String(320))  # where notifications go (none: not notified)
    created_at: Mapped[datetime] = mapped_column(UtcDateTime)
    # set when an admin disables the user (never deleted: the history names them); a disabled user cannot act
    disabled_at: Mapped[datetime | None] = mapped_column(UtcDateTime)
    # the web face's sign-in: an argon2id hash (none until an admin sets a password), and the lockout
    password_hash: Mapped[str | None] = mapped_column(Text)
    password_set_at: Mapped[datetime | None] = mapped_column(UtcDateTime)
    failed_logins: Mapped[int] = mapped_column(Integer, default=0, server_default="0")
    locked_until: Mapped[datetime | None] = mapped_column(UtcDateTime)
    # an optional second factor: a TOTP secret (base32), and the last time step a code was used in
    totp_secret: Mapped[str | None] = mapped_column(String(64))
    totp_last_step: Mapped[int | None] = mapped_column(Integer)
    # where messages reach them: a channel (none: e-mail when they have an address) and the id it mentions
    # (a mobile number for DingTalk's @, a WeCom user id, a Feishu open_id)
    channel: Mapped[str | None] = mapped_column(String(64))
    mention: Mapped[str | None] = mapped_column(String(128))


class WebSession(Base):
    """A signed-in browser: found by the SHA-256 of its cookie (the cookie itself is never stored), with the
    token its forms must carry (CSRF). Ended by signing out, by the idle timeout, or by the user's disabling."""

    __tablename__ = "web_session"

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    token_sha256: Mapped[str] = mapped_column(String(64), unique=True)
    user_name: Mapped[str] = mapped_column(ForeignKey("user_account.name"), index=True)
    csrf_token: Mapped[str] = mapped_column(String(64))
    source: Mapped[str] = mapped_column(String(200))  # the client's address at sign-in
    created_at: Mapped[datetime] = mapped_column(UtcDateTime)
    last_seen_at: Mapped[datetime] = mapped_column(UtcDateTime)
    ended_at: Mapped[datetime | None] = mapped_column(UtcDateTime)
    end_reason: Mapped[str | None] = mapped_column(String(20))  # signed_out, idle, disabled


class UserRole(Base):
    __tablename__ = "user_role"

    user_name: Mapped[str] = mapped_column(ForeignKey("user_account.name"), primary_key=True)
    role: Mapped[str] = mapped_column(String(100), primary_key=True)


class Job(Base):
    """Due work claimed under a lease: the timers of waiting instances (one job per instance), and the
    outbox of messages leaving the system (kind 'message', key = msg:CHANNEL:the idempotency key)."""

    __tablename__ = "job"

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    key: Mapped[str] = mapped_column(String(200), unique=True)  # idempotency key, e.g. timer:42
    kind: Mapped[str] = mapped_column(String(20))
    instance_id: Mapped[int | None] = mapped_column(ForeignKey("instance.id"), index=True)
    run_after: Mapped[datetime] = mapped_column(UtcDateTime, index=True)
    attempts: Mapped[int] = mapped_column(Integer, default=0)
    lease_owner: Mapped[str | None] = mapped_column(String(200))
    lease_until: Mapped[datetime | None] = mapped_column(UtcDateTime)
    fence: Mapped[int] = mapped_column(Integer, default=0)
    payload: Mapped[str | None] = mapped_column(Text)  # JSON: what an outbox job delivers (kind 'email')
    last_error: Mapped[str | None] = mapped_column(Text)
    created_at: Mapped[datetime] = mapped_column(UtcDateTime)


class Schedule(Base):
    """A periodic trigger: a timer start event of a deployed diagram (source 'diagram')."""

    __tablename__ = "schedule"

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    process_id: Mapped[str] = mapped_column(String(200), unique=True)
    version: Mapped[int] = mapped_column(Integer)  # the definition version that set it
    timer_kind: Mapped[str] = mapped_column(String(20))  # timeCycle | timeDate
    expression: Mapped[str] = mapped_column(String(200))
    zone: Mapped[str] = mapped_column(String(64))
    policy: Mapped[str] = mapped_column(String(10))  # all | latest: what a catch-up fires
    source: Mapped[str] = mapped_column(String(100))
    enabled: Mapped[bool] = mapped_column(Boolean, default=True)
    created_at: Mapped[datetime] = mapped_column(UtcDateTime)
    updated_at: Mapped[datetime] = mapped_column(UtcDateTime)


class ScheduleFire(Base):
    """One fire of a schedule. (process, period) is unique: no period ever starts twice."""

    __tablename__ = "schedule_fire"
    __table_args__ = (UniqueConstraint("process_id", "period", name="uq_schedule_fire_period"),)

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    schedule_id: Mapped[int] = mapped_column(ForeignKey("schedule.id"), index=True)
    process_id: Mapped[str] = mapped_column(String(200))
    period: Mapped[str] = mapped_column(String(50))
    fire_time: Mapped[datetime] = mapped_column(UtcDateTime)
    fired_at: Mapped[datetime] = mapped_column(UtcDateTime)
    caught_up: Mapped[bool] = mapped_column(Boolean, default=False)
    instance_id: Mapped[int | None] = mapped_column(ForeignKey("instance.id"))


class Channel(Base):
    """Where messages go: a WeCom, DingTalk or Feishu group robot, or e-mail (the channel named `email`, which
    users with an address and no channel of their own get). Secrets are stored, never shown."""

    __tablename__ = "channel"

    name: Mapped[str] = mapped_column(String(64), primary_key=True)
    kind: Mapped[str] = mapped_column(String(20))
    url: Mapped[str] = mapped_column(Text, default="")
    secret: Mapped[str] = mapped_column(Text, default="")
    host: Mapped[str] = mapped_column(String(255), default="")
    port: Mapped[int] = mapped_column(Integer, default=25)
    sender: Mapped[str] = mapped_column(String(320), default="")
    login: Mapped[str] = mapped_column(String(320), default="")
    password: Mapped[str] = mapped_column(Text, default="")
    starttls: Mapped[bool] = mapped_column(Boolean, default=False)
    # the times of its latest sends (JSON), for the vendor's rate limit; kept under the row's lock so that
    # several workers share one limit
    recent: Mapped[str] = mapped_column(Text, default="[]")
    created_by: Mapped[str] = mapped_column(String(200))
    created_at: Mapped[datetime] = mapped_column(UtcDateTime)


class RoleChannel(Base):
    """A role's group channel: messages about the role's unheld tasks are posted there once, not to each member."""

    __tablename__ = "role_channel"

    role: Mapped[str] = mapped_column(String(100), primary_key=True)
    channel: Mapped[str] = mapped_column(String(64))


class ControlledDocument(Base):
    """One issued version of a controlled document (文件编号 + 版本): its status (effective, then obsolete when
    a later version is issued), who issued it and when, the SHA-256 of its canonical HTML (the draft's
    rendering, which decides whether the records changed) and the copy as issued, kept so that a version
    can be read again after the records moved on."""

    __tablename__ = "controlled_document"
    __table_args__ = (UniqueConstraint("doc_no", "version", name="uq_controlled_document_version"),)

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    doc_no: Mapped[str] = mapped_column(String(100), index=True)
    version: Mapped[int] = mapped_column(Integer)  # 0, 1, … shown as A0, A1, …
    kind: Mapped[str] = mapped_column(String(40))
    name: Mapped[str] = mapped_column(String(200))  # the file name without suffix
    title: Mapped[str] = mapped_column(Text)
    year: Mapped[int] = mapped_column(Integer, index=True)
    status: Mapped[str] = mapped_column(String(20))  # effective | obsolete
    content_sha256: Mapped[str] = mapped_column(String(64))
    sha256: Mapped[str] = mapped_column(String(64))  # of the issued HTML
    html: Mapped[str] = mapped_column(Text)
    issued_at: Mapped[datetime] = mapped_column(UtcDateTime)
    issued_by: Mapped[str] = mapped_column(String(200))
    obsoleted_at: Mapped[datetime | None] = mapped_column(UtcDateTime)


class ProcessDraft(Base):
    """A process as its owner edits it in the browser: stored, listed, checked, compared and tried, never run,
    until it is deployed (then it names the version it became) or discarded. `based_on`: the version opened;
    `file`: the file name its versions are exported to; `problems_json`: what the deploy checks said of this
    content, each problem with the element it is on."""

    __tablename__ = "process_draft"

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    process_id: Mapped[str] = mapped_column(String(200), index=True)
    based_on: Mapped[int | None] = mapped_column(Integer)
    file: Mapped[str] = mapped_column(String(200))
    xml: Mapped[str] = mapped_column(Text)
    sha256: Mapped[str] = mapped_column(String(64))
    problems_json: Mapped[str] = mapped_column(Text)
    status: Mapped[str] = mapped_column(String(20))  # open | deployed | discarded
    deployed_version: Mapped[int | None] = mapped_column(Integer)
    created_at: Mapped[datetime] = mapped_column(UtcDateTime)
    created_by: Mapped[str] = mapped_column(String(200))
    saved_at: Mapped[datetime] = mapped_column(UtcDateTime)
    saved_by: Mapped[str] = mapped_column(String(200))


class DraftTrial(Base):
    """A draft tried: the scenario tests and a simulated year run on the draft and on the deployed version, in
    processes of their own on this machine (`worker`), given until `deadline` (the real clock's)."""

    __tablename__ = "draft_trial"

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    draft_id: Mapped[int] = mapped_column(ForeignKey("process_draft.id"), index=True)
    sha256: Mapped[str] = mapped_column(String(64))  # the draft's content tried
    scenario: Mapped[str] = mapped_column(String(200))  # "demo", or the uploaded file's name
    status: Mapped[str] = mapped_column(String(20))  # running | done | failed
    started_at: Mapped[datetime] = mapped_column(UtcDateTime)
    started_by: Mapped[str] = mapped_column(String(200))
    worker: Mapped[str] = mapped_column(String(200))
    deadline: Mapped[datetime] = mapped_column(UtcDateTime)
    finished_at: Mapped[datetime | None] = mapped_column(UtcDateTime)
    result_json: Mapped[str | None] = mapped_column(Text)
    error: Mapped[str | None] = mapped_column(Text)


class NoticeMark(Base):
    """A notice that goes out once (a task due tomorrow, a day's digest, an alert), marked when it is queued;
    also where the scheduler's last pass is kept."""

    __tablename__ = "notice_mark"

    key: Mapped[str] = mapped_column(String(200), primary_key=True)
    at: Mapped[datetime] = mapped_column(UtcDateTime)


class Setting(Base):
    """The organisation's settings (time zone, ...); changes are recorded in the history."""

    __tablename__ = "setting"

    key: Mapped[str] = mapped_column(String(100), primary_key=True)
    value: Mapped[str] = mapped_column(Text)
    updated_at: Mapped[datetime] = mapped_column(UtcDateTime)
    updated_by: Mapped[str] = mapped_column(String(200))
