"""Finding a task by its id or a unique prefix of it (task ids are long UUIDs), and its spec."""

from __future__ import annotations

from typing import Any

from sqlalchemy import select
from sqlalchemy.orm import Session

from i18n import _
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
            raise OpsqaError(_("task id {ref!r} is ambiguous; give more of it").format(ref=ref))
    raise TaskNotFound(_("no task {ref}; see `opsqa tasks`").format(ref=ref))


def user_task_spec(model: dict[str, Any], process_id: str, bpmn_id: str) -> dict[str, Any] | None:
    """A user task's spec from the task read model's (process, BPMN id)."""
    found = model["user_tasks"].get(f"{process_id}:{bpmn_id}")  # a task directly in its process
    if found is None:  # a task inside an embedded subprocess
        found = next((spec for spec in model["user_tasks"].values()
                      if spec["bpmn_id"] == bpmn_id and spec.get("process") == process_id), None)
    return found
