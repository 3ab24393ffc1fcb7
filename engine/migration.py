"""Moving a running instance onto another version of its process.

The two versions' task specs are aligned by BPMN id and compared as SpiffWorkflow serializes them (the
way its `SpecDiff` does). An instance may move when no task it has reached (completed, in progress,
ready, waiting or failed) was changed or removed by the new version; a task it is at (ready, or
waiting) may have new outgoing flows, since what lies ahead is predicted again, and a ready task new
incoming ones. What is behind the instance and what it is waiting on stay exactly as they are (ready
tasks keep their ids, armed timers their due times). A change that matters only to the eye (a name,
documentation) never blocks.

`plan` finds what stands in the way; `apply` moves a workflow whose plan is clear. Both act on
SpiffWorkflow objects only: loading, saving and recording belong to the runtime.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

from SpiffWorkflow.util.task import TaskState

from i18n import N_, _

# What a changed attribute means to a process owner (SpiffWorkflow's spec keys, then opsqa's model's).
WORDS = {
    "inputs": N_("incoming flows"), "outputs": N_("outgoing flows"), "typename": N_("element type"),
    "form": N_("form"), "lane": N_("lane"), "event_definition": N_("event"), "cond_task_specs": N_("conditions"),
    "default_task_spec": N_("default flow"), "script": N_("script"), "extensions": N_("extension properties"),
    "io_specification": N_("inputs/outputs"), "data_input_associations": N_("data inputs"),
    "data_output_associations": N_("data outputs"), "cancel_activity": N_("interrupting flag"),
    "spec": N_("called process"), "role": N_("role"), "check": N_("completion check"), "assignee": N_("assignee"),
    "due_date": N_("due date"), "topic": N_("handler"),
}
STATES = {"completed": N_("completed"), "started": N_("started"), "ready": N_("ready"), "waiting": N_("waiting"),
          "error": N_("error"), "cancelled": N_("cancelled"), "future": N_("future"), "running": N_("running")}
# Attributes that change how a task reads, not what it does.
COSMETIC = {"bpmn_name", "name", "documentation", "description", "lookahead"}
USER_TASK_KEYS = ("role", "check", "assignee", "due_date")
REACHED = TaskState.COMPLETED | TaskState.STARTED | TaskState.READY | TaskState.WAITING | TaskState.ERROR
AHEAD = TaskState.PREDICTED_MASK | TaskState.FUTURE


@dataclass(frozen=True)
class Obstacle:
    """A task the instance has reached that the new version changed or removed. `str()` says it in
    English (what --json shows), `translated()` in the operator's language."""

    process: str  # the (sub)process the task runs in
    task: str  # its BPMN id (or SpiffWorkflow's name for an implicit task)
    name: str
    state: str
    changes: tuple[str, ...]  # the changed attributes (WORDS' keys); none: the task was removed

    def __str__(self) -> str:
        return self._say(lambda text: text)

    def translated(self) -> str:
        return self._say(_)

    def _say(self, translate) -> str:
        label = self.task + (f" ({self.name})" if self.name and self.name != self.task else "")
        values = {"label": label, "process": self.process, "state": translate(STATES.get(self.state, self.state))}
        if not self.changes:
            return translate(N_("task {label} of {process} is {state} and was removed")).format(**values)
        change = translate(", ").join(translate(WORDS.get(key, key)) for key in self.changes)
        return translate(N_("task {label} of {process} is {state} and changed ({change})")).format(
            change=change, **values)


@dataclass
class Plan:
    """What moving one workflow onto a new version takes: the spec alignment of the top workflow and of
    each subprocess it has started, and what blocks the move (nothing, when it may go ahead)."""

    obstacles: list[Obstacle] = field(default_factory=list)
    parts: list[tuple[Any, Any, dict]] = field(default_factory=list)  # (workflow, its new spec, old spec -> new)

    @property
    def clear(self) -> bool:
        return not self.obstacles


def plan(registry, workflow, new_spec, new_subprocess_specs: dict, old_model: dict, new_model: dict) -> Plan:
    """What stands between `workflow` and the new version (spec, callees' specs and opsqa model)."""
    result = Plan()
    _plan_part(result, registry, workflow, new_spec, old_model, new_model)
    for subprocess in workflow.subprocesses.values():
        name = subprocess.spec.name
        if name not in new_subprocess_specs:
            result.obstacles.append(Obstacle(name, name, name, _state_name(subprocess), ()))
            continue
        _plan_part(result, registry, subprocess, new_subprocess_specs[name], old_model, new_model)
    return result


def apply(workflow, new_spec, new_subprocess_specs: dict, planned: Plan) -> None:
    """Move the workflow onto the new version (its plan must be clear), then predict what lies ahead."""
    if not planned.clear:
        raise ValueError("a blocked migration cannot be applied")
    workflow.subprocess_specs = new_subprocess_specs
    for part, spec, alignment in planned.parts:
        part.spec = spec
        for task in list(part.tasks.values()):
            if task.id not in part.tasks:
                continue  # dropped with an ancestor that lay ahead
            new = alignment.get(task.task_spec) or spec.task_specs.get(task.task_spec.name)
            if new is None:  # removed, and only predicted (plan let it through): drop it
                part._remove_task(task.id)
            else:
                task.task_spec = new
    for part, _spec, _alignment in planned.parts:
        _predict_again(part)
    if workflow.last_task is not None and workflow.last_task.id not in workflow.tasks:
        workflow.last_task = None


def _plan_part(result: Plan, registry, part, new_spec, old_model: dict, new_model: dict) -> None:
    scope = part.spec.name
    # Aligned by BPMN id only. SpiffWorkflow's SpecDiff also pairs a removed task with an added one in the
    # same place; to a process owner those are two different tasks, and an instance past the old one
    # must not be taken to have done the new one.
    alignment = {old: new_spec.task_specs.get(name) for name, old in part.spec.task_specs.items()}
    result.parts.append((part, new_spec, alignment))
    compared: dict[Any, list[str]] = {}
    for task in part.tasks.values():
        old = task.task_spec
        if not _reached(task):
            continue
        new = alignment.get(old)
        if new is None:
            result.obstacles.append(_obstacle(scope, task, ()))
            continue
        if old not in compared:
            compared[old] = _compare(registry, old, new) + _model_changes(
                scope, getattr(old, "bpmn_id", None), old_model, new_model)
        changes = compared[old]
        if task.has_state(TaskState.READY):  # the instance is at it: how it came and where it goes next
            changes = [key for key in changes if key not in ("inputs", "outputs")]
        elif task.has_state(TaskState.WAITING):  # a join still counts its incoming flows
            changes = [key for key in changes if key != "outputs"]
        if changes and not task.has_state(TaskState.CANCELLED):
            result.obstacles.append(_obstacle(scope, task, tuple(dict.fromkeys(changes))))


def _compare(registry, old, new) -> list[str]:
    """The attributes of a task spec that differ between the versions, cosmetic ones left out."""
    before, after = registry.convert(old), registry.convert(new)
    if before.get("typename") != after.get("typename"):
        return ["typename"]
    return [key for key, value in before.items() if key not in COSMETIC and after.get(key) != value]


def _reached(task) -> bool:
    """Whether the instance has come to the task: ahead-of-time predictions only are not (a task
    predicted under a finished one is definite: the instance has taken that way)."""
    if task.has_state(REACHED | TaskState.CANCELLED):
        return True
    return task.parent is not None and task.parent.has_state(TaskState.FINISHED_MASK) and task.has_state(
        TaskState.FUTURE)


def _model_changes(scope: str, bpmn_id: str | None, old_model: dict, new_model: dict) -> list[str]:
    """What opsqa reads from the BPMN beside SpiffWorkflow's spec: a user task's role, completion check,
    assignee and due date; a service task's handler; a call activity's lane (its callee's role)."""
    if bpmn_id is None:
        return []
    key = f"{scope}:{bpmn_id}"
    changes = []
    old_task, new_task = old_model["user_tasks"].get(key), new_model["user_tasks"].get(key)
    if old_task is not None and new_task is not None:
        changes += [k for k in USER_TASK_KEYS if old_task.get(k) != new_task.get(k)]
    if old_model["service_tasks"].get(key) != new_model["service_tasks"].get(key):
        changes.append("topic")
    old_node = old_model["nodes"].get(scope, {}).get(bpmn_id, {})
    new_node = new_model["nodes"].get(scope, {}).get(bpmn_id, {})
    if old_node.get("role") != new_node.get("role") and "role" not in changes:
        changes.append("lane")
    return changes


def _predict_again(part) -> None:
    """Drop the predictions below every task the instance is at and predict them from the new specs."""
    at = [task for task in part.tasks.values()
          if task.has_state(TaskState.READY | TaskState.WAITING | TaskState.STARTED)]
    for task in at:
        if task.id not in part.tasks:
            continue
        for child in list(task.children):
            if child.has_state(AHEAD):
                part._remove_task(child.id)
        task.task_spec._predict_hook(task)
        for child in task.children:
            if child.has_state(AHEAD):
                child.task_spec._predict(child, mask=AHEAD)


def _obstacle(scope: str, task, changes: tuple[str, ...]) -> Obstacle:
    spec = task.task_spec
    bpmn_id = getattr(spec, "bpmn_id", None) or spec.name
    return Obstacle(scope, bpmn_id, getattr(spec, "bpmn_name", None) or "", TaskState.get_name(task.state).lower(),
                    changes)


def _state_name(subprocess) -> str:
    return "completed" if subprocess.is_completed() else "running"
