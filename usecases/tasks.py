"""People's work: listing, showing, claiming and completing user tasks. Who may claim or complete a task
is the task's rule in engine/policy.py, asked by the engine inside the step's own transaction."""

from __future__ import annotations

from collections.abc import Callable
from datetime import UTC, datetime
from typing import Any

from i18n import _

from .caller import Caller

# The common listing (`opsqa tasks`) reads a SQLite file with the standard library alone: the engine, the
# policy and the domain are imported by the functions that use them, never at the top of this module.


def _base():
    from . import base

    return base


def tasks(db: str | None, engine: Callable[[], Any], *, caller: Caller | None = None, quick: bool = True,
          role: str | None = None, instance_id: int | None = None, overdue: bool = False, all_states: bool = False,
          limit: int | None = None) -> list[dict[str, Any]]:
    """Open tasks (all of them with `all_states`), oldest first; `caller` for only the caller's own.
    `engine` builds the engine when needed: the common listing reads a SQLite file with the standard
    library alone (store/quickread.py), which a terminal feels; `quick=False` when the engine is lent
    (a simulation's clock decides what is overdue)."""
    wanted = None if all_states else "ready"
    if caller is None and quick:
        from store import quickread

        path = quickread.sqlite_file(db)
        if path is not None:
            rows = quickread.tasks(path, role=role, state=wanted, instance_id=instance_id,
                                   due_before=datetime.now(UTC) if overdue else None, limit=limit)
            if rows is not None:
                return rows
    built = engine()
    mine = _base().who(built, caller) if caller is not None else None
    return built.tasks(role=role, mine=mine, instance_id=instance_id, state=wanted, overdue=overdue, limit=limit)


def task(engine, task_id: str) -> dict[str, Any]:
    """A task, its form and the variables it was given."""
    return engine.task(task_id)


def missing_required(engine, task_id: str, values: dict[str, Any]) -> list[dict[str, Any]]:
    """The form's required fields that `values` leaves empty (a terminal asks for them); a form that starts
    from its task's variables (a revision's draft) asks only for what they lack."""
    from engine.forms import missing_required as missing
    from engine.forms import prefilled

    view = engine.task(task_id)
    if view.get("prefill"):
        values = prefilled(view["form"], view["variables"], values)
    return missing(view["form"], values)


def task_page(engine, caller: Caller, task_id: str) -> dict[str, Any]:
    """A task as the web shows it: its form, the values to start from (what it was given when its form says
    prefill — a redraft, a revision — else the fields' defaults; never an earlier decision), the
    instructions from its BPMN documentation, and what the caller may do with it."""
    from engine.forms import shown

    from . import review

    actor = _base().who(engine, caller)
    view = engine.task_page(task_id, actor)
    view["evidence"] = _evidence(engine, actor, view)
    due = view["variables"].get("due") if view["process"] == "kpi_collection" else None
    view["indicators"] = (review.due_values(engine, caller, due) if isinstance(due, list) and view["state"] == "ready"
                          else None)
    view["values"] = {field["id"]: shown(field, view["variables"].get(field["id"]) if view["prefill"] or
                                         field["readonly"] else None) for field in view["form"]}
    view["document"] = _document(engine, view)
    return view


# A step that decides on a document shows it: the general manager approves the plan as its draft document
# (what was submitted, in the form's words), not as the variables it is kept in.
DECIDED_DOCUMENTS = {("quality_plan", "approve_plan"): "plan", ("improvement", "approve_improvement"): "improvement"}


def _document(engine, view: dict[str, Any]) -> dict[str, Any] | None:
    import re

    from engine import OpsqaError
    from handlers.plan_documents import quality_plan_documents

    from .base import reading
    from .documents import build, shown

    kind = DECIDED_DOCUMENTS.get((view["process"], view["task"]))
    year = view["variables"].get("year") or view.get("business_key") or ""
    match = re.match(r"(\d{4})", str(year))
    if kind is None or view["state"] != "ready" or match is None:
        return None
    with reading(engine) as session:
        try:
            documents = (quality_plan_documents(session, int(match.group(1)), drafting=True) if kind == "plan"
                         else build(session, kind, int(match.group(1))))
        except OpsqaError:  # nothing drafted to show (a step reached another way): the form alone
            return None
    return shown(documents[0])


def _evidence(engine, actor, view: dict[str, Any]) -> dict[str, Any] | None:
    """For a task that follows up a finding: the finding, its evidence files, and whether the person may add
    one (its owner, qmd, admin) while the task is open."""
    from engine import policy
    from handlers.findings import OPEN_STATES, evidence_of, finding_of_instance

    from .base import reading

    with reading(engine) as session:
        finding = finding_of_instance(session, view["instance"])
        if finding is None:
            return None
        files = [{"id": e.id, "file": e.file_name, "size": e.size, "sha256": e.sha256, "added_by": e.added_by,
                  "added_at": e.added_at} for e in evidence_of(session, finding.code)]
        may = (view["state"] == "ready" and finding.status in OPEN_STATES
               and policy.allows(actor, "finding.attach", owner=finding.owner))
        return {"finding": finding.code, "files": files, "may_attach": may}


def claim(engine, caller: Caller, task_id: str) -> None:
    """Make a role task the caller's until they release it."""
    base = _base()
    with base.guarded(engine, caller, "task.claim"):
        engine.claim(task_id, actor=base.who(engine, caller))


def unclaim(engine, caller: Caller, task_id: str) -> None:
    """Give a claimed task back to its role (whoever claimed it, or an admin)."""
    base = _base()
    with base.guarded(engine, caller, "task.unclaim"):
        engine.unclaim(task_id, actor=base.who(engine, caller))


def my_work(engine, caller: Caller, view: str, *, limit: int | None = None) -> list[dict[str, Any]]:
    """What the caller completed (`done`) or started (`started`), newest first, all of it or the first `limit`."""
    rows: list[dict[str, Any]] = []
    page = 1
    while True:
        result = inbox(engine, caller, view=view, page=page)
        rows += result["rows"]
        if (limit and len(rows) >= limit) or page >= result["pages"]:
            return rows[:limit] if limit else rows
        page += 1


def transfer(engine, caller: Caller, task_id: str, to: str, *, reason: str | None) -> dict[str, Any]:
    """转办: hand the task over to another user who may do it (its holder, qmd or an admin; with a reason)."""
    base = _base()
    with base.guarded(engine, caller, "task.transfer"):
        actor = base.who(engine, caller)
        reason = base.policy_module.require_reason("task.transfer", reason)
        return engine.transfer(task_id, to.strip(), actor=actor, reason=reason)


def delegate(engine, caller: Caller, task_id: str, to: str) -> dict[str, Any]:
    """委派: have another user do the work of a task you hold; they hand it back and you complete it."""
    base = _base()
    with base.guarded(engine, caller, "task.delegate"):
        return engine.delegate(task_id, to.strip(), actor=base.who(engine, caller))


def resolve(engine, caller: Caller, task_id: str, *, note: str | None = None) -> dict[str, Any]:
    """Hand a delegated task back to whoever delegated it."""
    base = _base()
    with base.guarded(engine, caller, "task.resolve"):
        return engine.resolve(task_id, actor=base.who(engine, caller), note=(note or "").strip()[:500] or None)


def copy(engine, caller: Caller, task_id: str, to: list[str]) -> dict[str, Any]:
    """抄送: let users who should know see the task and its instance (read-only), and tell them."""
    base = _base()
    with base.guarded(engine, caller, "task.cc"):
        return engine.copy(task_id, [name[:200] for name in to][:50], actor=base.who(engine, caller))


def add_signers(engine, caller: Caller, task_id: str, to: list[str], *, reason: str | None) -> dict[str, Any]:
    """加签: ask users to approve the task before it can be completed (whoever may complete it, qmd or an admin;
    with a reason)."""
    base = _base()
    with base.guarded(engine, caller, "task.add_signer"):
        actor = base.who(engine, caller)
        reason = base.policy_module.require_reason("task.add_signer", reason)
        return engine.add_signers(task_id, [name[:200] for name in to][:50], actor=actor, reason=reason)


def sign(engine, caller: Caller, task_id: str, *, approve: bool, note: str | None = None) -> dict[str, Any]:
    """A signer approves the task, or rejects it with a note."""
    base = _base()
    with base.guarded(engine, caller, "task.sign"):
        return engine.sign(task_id, actor=base.who(engine, caller), approve=approve,
                           note=(note or "").strip()[:500] or None)


def send_back(engine, caller: Caller, task_id: str, step: str, *, reason: str | None) -> dict[str, Any]:
    """退回: the instance back from this task to an earlier step it passed, with a reason."""
    base = _base()
    with base.guarded(engine, caller, "task.send_back"):
        actor = base.who(engine, caller)
        reason = base.policy_module.require_reason("task.send_back", reason)
        return engine.send_back(task_id, step.strip(), actor=actor, reason=reason)


def withdraw(engine, caller: Caller, task_id: str, *, reason: str | None = None) -> dict[str, Any]:
    """撤回: take back a task one completed, while the step after it has not moved."""
    base = _base()
    with base.guarded(engine, caller, "task.withdraw"):
        return engine.withdraw(task_id, actor=base.who(engine, caller), reason=(reason or "").strip()[:500] or None)


def remind(engine, caller: Caller, task_id: str, *, note: str | None = None) -> dict[str, Any]:
    """催办: remind whoever holds the task (qmd, an admin, or whoever started its instance), once a day."""
    base = _base()
    with base.guarded(engine, caller, "task.remind"):
        return engine.remind(task_id, actor=base.who(engine, caller), note=(note or "").strip()[:500] or None)


def complete(engine, caller: Caller, task_id: str, values: dict[str, Any]) -> None:
    """Complete a user task with its form values, checked against its form before anything is stored."""
    base = _base()
    with base.guarded(engine, caller, "task.complete"):
        engine.complete(task_id, values, actor=base.who(engine, caller))


def inbox(engine, caller: Caller, *, view: str = "todo", page: int = 1, process_id: str | None = None,
          overdue: bool = False) -> dict[str, Any]:
    """The caller's work a page (50) at a time: `todo` (我的待办: theirs and their roles' unheld tasks, the most
    urgent first), `done` (我的已办), `started` (我发起的: the instances they started), `cc` (抄送我的) or `sign`
    (待我加签: tasks waiting for their signature)."""
    from engine import OpsqaError

    if view not in ("todo", "done", "started", "cc", "sign"):
        raise OpsqaError(_("no task view {view!r}; the views are todo, done, started, cc and sign").format(view=view))
    return engine.inbox(_base().who(engine, caller), view=view, page=page, process_id=process_id, overdue=overdue)
