"""The rows a step writes, in plain SQL: an instance and its task read model (history.py: its events).

Every start, completion and timer step reads and writes the same few rows. Through the ORM's unit of
work a step spent more time in SQLAlchemy than in SpiffWorkflow; here the same statements run on the
DB-API connection of the session's own transaction, so they commit or roll back with everything else
the step wrote (a handler's ORM rows included). Pending ORM rows are flushed first, so the statements
reach the database in the order the code says.

models.py stays the schema and the way the rest of opsqa reads these tables, so what is written here is
what the ORM would write: times as SQLAlchemy stores them (naive UTC text on SQLite, aware on
PostgreSQL), and the lock version as its version counter counts it (1 at the insert, +1 at each save).
A save that finds another lock version raises the ORM's StaleDataError, as a flush would.

The rule that keeps the two consistent: a transaction that steps an instance changes these rows only
here (the overdue sweep marks tasks notified through the ORM, in a transaction of its own). A fresh ORM
query sees what was written here; an ORM object loaded before it, in the same session, would not.
"""

from __future__ import annotations

from dataclasses import dataclass, fields
from datetime import UTC, datetime
from functools import lru_cache

from sqlalchemy.orm import Session
from sqlalchemy.orm.exc import StaleDataError


@lru_cache(maxsize=256)
def _pyformat(sql: str) -> str:
    return sql.replace("?", "%s")


def session_sql(session: Session) -> Sql:
    """The session's transaction in plain SQL, its pending ORM rows flushed first: they may be what the
    statements refer to. Asking the session for its connection each time is what opens a savepoint the
    session has begun (SQLAlchemy emits SAVEPOINT lazily, when a connection is wanted): without it, rows
    written here inside `begin_nested()` would escape the savepoint's rollback."""
    session.flush()
    connection = session.connection()
    kept = session.info.get("sql")
    if kept is None or kept._connection is not connection:
        kept = session.info["sql"] = Sql(connection)
    return kept


class Sql:
    """The DB-API connection under a SQLAlchemy connection. Statements are written with `?` placeholders."""

    __slots__ = ("_connection", "_raw", "sqlite")

    def __init__(self, connection):
        self._connection = connection
        self._raw = connection.connection.driver_connection
        self.sqlite = connection.dialect.name == "sqlite"

    def __call__(self, sql: str, args: tuple | list = ()):
        return self._raw.execute(sql if self.sqlite else _pyformat(sql), args)

    @property
    def for_update(self) -> str:
        """Row locks where the database has them (SQLite's writer already holds the whole file)."""
        return "" if self.sqlite else " FOR UPDATE"

    def time(self, value: datetime | None):
        """A time as a parameter: what UtcDateTime binds."""
        if value is None:
            return None
        if value.tzinfo is None:
            raise ValueError(f"naive datetime {value!r} given where an aware one is required")
        value = value.astimezone(UTC)
        return value.replace(tzinfo=None).isoformat(" ", "microseconds") if self.sqlite else value

    @staticmethod
    def read_time(value) -> datetime | None:
        """A time as read: what UtcDateTime gives back."""
        if value is None:
            return None
        if isinstance(value, str):
            return datetime.fromisoformat(value).replace(tzinfo=UTC)
        return value.replace(tzinfo=UTC) if value.tzinfo is None else value.astimezone(UTC)


@dataclass(slots=True)
class InstanceRow:
    """One row of `instance` (store.models.Instance)."""

    id: int | None
    definition_id: int
    process_id: str
    business_key: str
    status: str
    state_json: str
    serializer_version: str
    library_version: str
    lock_version: int
    next_due_at: datetime | None
    incident: str | None
    incident_task: str | None
    started_at: datetime
    started_by: str
    updated_at: datetime
    ended_at: datetime | None


@dataclass(slots=True)
class TaskRow:
    """One row of `task`, the human-task read model (store.models.Task)."""

    id: str
    instance_id: int
    process_id: str
    bpmn_id: str
    name: str
    role: str | None
    state: str
    assignee: str | None
    claimed_by: str | None
    due_at: datetime | None
    overdue_notified_at: datetime | None
    variables: str
    created_at: datetime
    completed_by: str | None
    completed_at: datetime | None
    owner: str | None = None  # who delegated it (委派), while it is delegated and after it came back


def _columns(cls) -> tuple[str, ...]:
    return tuple(f.name for f in fields(cls))


_INSTANCE = _columns(InstanceRow)
_TASK = _columns(TaskRow)
_INSTANCE_TIMES = {"next_due_at", "started_at", "updated_at", "ended_at"}
_TASK_TIMES = {"due_at", "overdue_notified_at", "created_at", "completed_at"}
_INSTANCE_SAVED = ("definition_id", "business_key", "status", "state_json", "next_due_at", "incident", "incident_task",
                   "updated_at", "ended_at")
_SELECT_INSTANCE = f"SELECT {', '.join(_INSTANCE)} FROM instance WHERE id = ?"
_INSERT_INSTANCE = (f"INSERT INTO instance ({', '.join(_INSTANCE[1:])}) "
                    f"VALUES ({', '.join('?' * (len(_INSTANCE) - 1))}) ON CONFLICT DO NOTHING RETURNING id")
_SAVE_INSTANCE = (f"UPDATE instance SET {', '.join(f'{name} = ?' for name in _INSTANCE_SAVED)}, lock_version = ? "
                  "WHERE id = ? AND lock_version = ?")
_SELECT_TASKS = f"SELECT {', '.join(_TASK)} FROM task"
_INSERT_TASK = f"INSERT INTO task ({', '.join(_TASK)}) VALUES ({', '.join('?' * len(_TASK))})"


def _row(sql: Sql, cls, times: set[str], values):
    """A row as read, its times as UtcDateTime gives them back."""
    row = cls(*values)
    for name in times:
        setattr(row, name, sql.read_time(getattr(row, name)))
    return row


def _bind(sql: Sql, row, names, times) -> list:
    return [sql.time(getattr(row, name)) if name in times else getattr(row, name) for name in names]


# -- what a step looks up


def latest_definition(session: Session, process_id: str) -> tuple[int, int] | None:
    """The id and version of the process's newest deployed version."""
    return session_sql(session)("SELECT id, version FROM definition WHERE process_id = ? ORDER BY version DESC "
                                "LIMIT 1", (process_id,)).fetchone()


def anyone_reachable(session: Session) -> bool:
    """Whether any user has an e-mail address or a channel, or any role a group channel (most databases notify
    nobody)."""
    sql = session_sql(session)
    return (sql("SELECT 1 FROM user_account WHERE email IS NOT NULL OR channel IS NOT NULL LIMIT 1").fetchone()
            is not None or sql("SELECT 1 FROM role_channel LIMIT 1").fetchone() is not None)


# -- instances


def read_instance(session: Session, instance_id: int) -> InstanceRow | None:
    sql = session_sql(session)
    found = sql(_SELECT_INSTANCE, (instance_id,)).fetchone()
    return None if found is None else _row(sql, InstanceRow, _INSTANCE_TIMES, found)


def insert_instance(session: Session, row: InstanceRow) -> bool:
    """Insert a new instance, giving `row` its id and first lock version; False when its business key is taken."""
    sql = session_sql(session)
    row.lock_version = 1
    found = sql(_INSERT_INSTANCE, _bind(sql, row, _INSTANCE[1:], _INSTANCE_TIMES)).fetchone()
    if found is None:
        return False
    row.id = found[0]
    return True


def save_instance(session: Session, row: InstanceRow) -> None:
    """Write the instance's changing columns if nobody saved it since it was read (the optimistic lock)."""
    sql = session_sql(session)
    args = [*_bind(sql, row, _INSTANCE_SAVED, _INSTANCE_TIMES), row.lock_version + 1, row.id, row.lock_version]
    if sql(_SAVE_INSTANCE, args).rowcount != 1:
        raise StaleDataError(f"UPDATE of instance {row.id} at lock version {row.lock_version} matched no row")
    row.lock_version += 1


# -- tasks


def find_tasks(session: Session, ref: str, *, min_prefix: int, for_update: bool = False) -> list[TaskRow]:
    """The task whose id is `ref`; else up to two whose ids start with it (when it is `min_prefix` long).
    `for_update` locks the row found (PostgreSQL), so that one writer acts on a task at a time."""
    sql = session_sql(session)
    lock = sql.for_update if for_update else ""
    found = sql(f"{_SELECT_TASKS} WHERE id = ?{lock}", (ref,)).fetchone()
    if found is not None:
        return [_row(sql, TaskRow, _TASK_TIMES, found)]
    if len(ref) < min_prefix:
        return []
    pattern = ref.replace("/", "//").replace("%", "/%").replace("_", "/_") + "%"
    matches = sql(f"{_SELECT_TASKS} WHERE id LIKE ? ESCAPE '/' LIMIT 2", (pattern,)).fetchall()
    if len(matches) == 1 and for_update:  # read it again under the lock
        matches = [sql(f"{_SELECT_TASKS} WHERE id = ?{lock}", (matches[0][0],)).fetchone()]
    return [_row(sql, TaskRow, _TASK_TIMES, values) for values in matches]


def open_tasks(session: Session, instance_id: int) -> list[TaskRow]:
    """The instance's ready tasks, oldest first."""
    sql = session_sql(session)
    query = f"{_SELECT_TASKS} WHERE instance_id = ? AND state = 'ready' ORDER BY created_at, id"
    return [_row(sql, TaskRow, _TASK_TIMES, values) for values in sql(query, (instance_id,)).fetchall()]


def known_task_ids(session: Session, task_ids: list[str]) -> set[str]:
    """Which of these task ids have a row (in any state)."""
    if not task_ids:
        return set()
    sql = session_sql(session)
    marks = ", ".join("?" * len(task_ids))
    return {task_id for (task_id,) in sql(f"SELECT id FROM task WHERE id IN ({marks})", task_ids).fetchall()}


def insert_task(session: Session, row: TaskRow) -> None:
    sql = session_sql(session)
    sql(_INSERT_TASK, _bind(sql, row, _TASK, _TASK_TIMES))


def update_task(session: Session, row: TaskRow, **changes) -> None:
    """Set columns of a task row, in the database and on `row`."""
    sql = session_sql(session)
    names = list(changes)
    for name in names:
        if name not in _TASK or name == "id":
            raise ValueError(f"task has no column {name!r} to set")
        setattr(row, name, changes[name])
    sql(f"UPDATE task SET {', '.join(f'{name} = ?' for name in names)} WHERE id = ?",
        [*_bind(sql, row, names, _TASK_TIMES), row.id])
