"""Finding a task by its id or a unique prefix of it (task ids are long UUIDs), and its spec."""

from __future__ import annotations

from typing import Any

from sqlalchemy.orm import Session

from i18n import _
from store.rows import TaskRow, find_tasks

from .errors import OpsqaError, TaskNotFound

MIN_PREFIX = 4


def find_task(session: Session, ref: str, *, for_update: bool = False) -> TaskRow:
    """The task `ref` names; `for_update` locks its row (PostgreSQL) so that one writer acts on it at a time."""
    ref = ref.strip().lower()
    matches = find_tasks(session, ref, min_prefix=MIN_PREFIX, for_update=for_update)
    if len(matches) > 1:
        raise OpsqaError(_("task id {ref!r} is ambiguous; give more of it").format(ref=ref))
    if not matches:
        raise TaskNotFound(_("no task {ref}; see `opsqa tasks`").format(ref=ref))
    return matches[0]


def user_task_spec(model: dict[str, Any], process_id: str, bpmn_id: str) -> dict[str, Any] | None:
    """A user task's spec from the task read model's (process, BPMN id)."""
    found = model["user_tasks"].get(f"{process_id}:{bpmn_id}")  # a task directly in its process
    if found is None:  # a task inside an embedded subprocess
        found = next((spec for spec in model["user_tasks"].values()
                      if spec["bpmn_id"] == bpmn_id and spec.get("process") == process_id), None)
    return found
