"""Finding a task by its id or a unique prefix of it (task ids are long UUIDs)."""

from __future__ import annotations

from sqlalchemy import select
from sqlalchemy.orm import Session

from store import Task

from .errors import OpsqaError, TaskNotFound

MIN_PREFIX = 4


def find_task(session: Session, ref: str, *, for_update: bool = False) -> Task:
    """The task `ref` names; `for_update` locks its row (PostgreSQL) so that one writer acts on it at a time."""
    ref = ref.strip().lower()
    task = session.get(Task, ref, with_for_update=for_update, populate_existing=for_update)
    if task is not None:
        return task
    if len(ref) >= MIN_PREFIX:
        matches = session.scalars(select(Task).where(Task.id.startswith(ref, autoescape=True)).limit(2)).all()
        if len(matches) == 1:
            if not for_update:
                return matches[0]
            # The unlocked SELECT put the task in the session; read it again under the lock.
            return session.get(Task, matches[0].id, with_for_update=True, populate_existing=True)
        if len(matches) > 1:
            raise OpsqaError(f"task id {ref!r} is ambiguous; give more of it")
    raise TaskNotFound(f"no task {ref}; see `opsqa tasks`")
