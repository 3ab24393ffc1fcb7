"""The task list of a SQLite database, read with the standard library alone.

`opsqa tasks` is what operators run most. Through the ORM a run costs a third of a second in imports
alone (SQLAlchemy and the models); this reader answers the same query with `sqlite3` in a few
milliseconds. It answers only what it can answer exactly as the engine would — a SQLite file at this
opsqa's schema revision — and returns None otherwise, so that the caller asks the engine, which then
gives its usual refusals. tests/test_quickread.py checks that both give the same rows.
"""

from __future__ import annotations

import os
import sqlite3
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from .revision import SCHEMA_REVISION

_COLUMNS = ("task.id", "task.instance_id", "instance.business_key", "task.process_id", "task.bpmn_id", "task.name",
            "task.role", "task.state", "task.assignee", "task.claimed_by", "task.due_at", "task.created_at",
            "task.completed_by", "task.completed_at")


def sqlite_file(db: str | None) -> Path | None:
    """The SQLite file `--db` / OPSQA_DB names, if it names one that exists."""
    db = db or os.environ.get("OPSQA_DB") or "opsqa.db"
    if "://" in db:
        if not db.startswith("sqlite:///"):
            return None
        db = db.removeprefix("sqlite:///")
    path = Path(db).expanduser()
    return path if path.is_file() else None


def _time(value: str | None) -> datetime | None:
    return None if value is None else datetime.fromisoformat(value).replace(tzinfo=UTC)


def tasks(path: Path, *, role: str | None = None, state: str | None = "ready", instance_id: int | None = None,
          due_before: datetime | None = None, limit: int | None = None) -> list[dict[str, Any]] | None:
    """The engine's `tasks()` for these filters, or None when this reader cannot answer."""
    try:
        connection = sqlite3.connect(f"file:{path}?mode=ro", uri=True, timeout=30)
    except sqlite3.Error:
        return None
    try:
        try:
            revision = connection.execute("SELECT version_num FROM alembic_version").fetchone()
        except sqlite3.Error:
            return None
        if revision is None or revision[0] != SCHEMA_REVISION:
            return None
        if connection.execute("SELECT 1 FROM setting WHERE key = 'simulated_clock'").fetchone():
            return None  # a simulated database: the engine reads it on its simulated clock
        return read_tasks(connection, role=role, state=state, instance_id=instance_id, due_before=due_before,
                          limit=limit)
    finally:
        connection.close()


def stored_setting(path: Path, key: str) -> tuple[bool, str | None]:
    """(answered, value) of a setting read from a SQLite file: (True, None) when the database holds no value
    for it (its default applies), (False, None) when this reader cannot answer."""
    try:
        connection = sqlite3.connect(f"file:{path}?mode=ro", uri=True, timeout=30)
    except sqlite3.Error:
        return False, None
    try:
        revision = connection.execute("SELECT version_num FROM alembic_version").fetchone()
        if revision is None or revision[0] != SCHEMA_REVISION:
            return False, None
        row = connection.execute("SELECT value FROM setting WHERE key = ?", (key,)).fetchone()
        return True, row[0] if row else None
    except sqlite3.Error:
        return False, None
    finally:
        connection.close()


def read_tasks(connection, *, role: str | None = None, state: str | None = "ready", instance_id: int | None = None,
               due_before: datetime | None = None, person: str | None = None,
               limit: int | None = None) -> list[dict[str, Any]]:
    """The task rows on an open sqlite3 connection (the engine lends its own, inside its read transaction):
    a plain query and plain tuples, since building 10,000 rows through the ORM's result machinery costs
    more than the query."""
    where, args = [], []
    for column, value in (("state", state), ("role", role), ("instance_id", instance_id)):
        if value is not None:
            where.append(f"task.{column} = ?")
            args.append(value)
    if due_before is not None:
        where.append("task.state = 'ready' AND task.due_at < ?")
        args.append(due_before.astimezone(UTC).strftime("%Y-%m-%d %H:%M:%S.%f"))  # as SQLAlchemy stores it
    if person is not None:  # assigned to them, or claimed by them
        where.append("(task.assignee = ? OR task.claimed_by = ?)")
        args += [person, person]
    sql = f"SELECT {', '.join(_COLUMNS)} FROM task JOIN instance ON instance.id = task.instance_id"
    if where:
        sql += " WHERE " + " AND ".join(where)
    sql += " ORDER BY task.created_at, task.id"
    if limit:
        sql += f" LIMIT {int(limit)}"
    return [{"id": task_id, "instance": instance, "business_key": business_key, "process": process, "task": bpmn_id,
             "name": name, "role": role, "state": state, "assignee": assignee, "claimed_by": claimed_by,
             "due_at": _time(due_at), "created_at": _time(created_at), "completed_by": completed_by,
             "completed_at": _time(completed_at)}
            for (task_id, instance, business_key, process, bpmn_id, name, role, state, assignee, claimed_by, due_at,
                 created_at, completed_by, completed_at) in connection.execute(sql, args)]


def process_ids(path: Path) -> list[str]:
    """The deployed processes' ids (for shell completion); empty when the file cannot be read so."""
    try:
        connection = sqlite3.connect(f"file:{path}?mode=ro", uri=True, timeout=5)
        try:
            return [row[0] for row in connection.execute("SELECT DISTINCT process_id FROM definition ORDER BY 1")]
        finally:
            connection.close()
    except sqlite3.Error:
        return []
