"""The workflow runtime: the one place that loads, steps and saves an instance.

Every public method is one short transaction: load the instance, act, step the engine
(running service-task handlers inside it), save with an optimistic-lock check, bring the
task read model up to date and append the history. Nothing else writes an instance.
"""

from __future__ import annotations

import json
from collections import Counter
from contextlib import contextmanager
from dataclasses import dataclass, replace
from datetime import datetime, timedelta
from typing import Any
from uuid import UUID

from SpiffWorkflow.bpmn import BpmnWorkflow
from SpiffWorkflow.bpmn.specs.defaults import ServiceTask
from SpiffWorkflow.exceptions import WorkflowException
from SpiffWorkflow.util.task import TaskState
from sqlalchemy import select, update
from sqlalchemy.orm import Session
from sqlalchemy.orm.exc import StaleDataError

from i18n import _, use_language
from store import (
    Database,
    Definition,
    Instance,
    InstanceMigration,
    Job,
    Task,
    TaskSigner,
    User,
    append_event,
    failpoints,
    rows,
)
from store.rows import InstanceRow, TaskRow

from . import expressions, forms, jobs, notices, outbox, policy, settings, timers
from .clock import Clock, SystemClock, local_time
from .errors import (
    DuplicateBusinessKey,
    InstanceChanged,
    InstanceNotFound,
    InstanceNotRunning,
    InvalidExpression,
    NotPermitted,
    OpsqaError,
    ProcessNotFound,
    RunawayStep,
    TaskAlreadyCompleted,
    TaskNotReady,
)
from .lookup import find_task, user_task_spec
from .registry import HandlerContext, Registry
from .state import LIBRARY_VERSION, WorkflowSerializer
from .users import Actor

# SpiffWorkflow stops seeing tasks deeper than 1000 levels and then reports the workflow
# complete; each pass of a gateway loop adds two or three levels. Refuse well before that.
MAX_DEPTH = 900
MAX_SERVICE_ROUNDS = 1000
MAX_ENGINE_STEPS = 10_000  # gateways, events and other engine tasks run in one step
MAX_TASKS = 50_000  # task nodes in one workflow (its state grows by some 400 bytes each)


@dataclass
class _Loaded:
    row: InstanceRow
    workflow: BpmnWorkflow
    model: dict[str, Any]


class Runtime:
    """Instances and tasks. Built by `Engine`; uses its database, clock and handlers."""

    def __init__(self, database: Database, *, clock: Clock | None = None, handlers: Registry | None = None):
        self.database = database
        self.clock = clock or SystemClock()
        self.handlers = handlers or Registry()
        self.serializer = WorkflowSerializer()
        self.script_engine = expressions.script_engine()
        self.max_depth = MAX_DEPTH
        self._specs: dict[int, tuple[Any, dict]] = {}
        self._models: dict[int, dict[str, Any]] = {}

    # -- definitions, cached per version (a version never changes once stored)

    def model(self, session: Session, definition_id: int) -> dict[str, Any]:
        if definition_id not in self._models:
            text = session.scalar(select(Definition.model_json).where(Definition.id == definition_id))
            self._models[definition_id] = json.loads(text)
        return self._models[definition_id]

    def _spec(self, session: Session, definition_id: int):
        if definition_id not in self._specs:
            text = session.scalar(select(Definition.spec_json).where(Definition.id == definition_id))
            self._specs[definition_id] = self.serializer.load_spec(text)
        return self._specs[definition_id]

    # -- instances

    def start(
        self, process_id: str, *, actor: Actor, business_key: str | None = None, variables: dict | None = None
    ) -> int:
        now = self.clock.now()
        try:
            with self.database.transaction() as session:
                return self.start_in(session, process_id, now=now, actor=actor, business_key=business_key,
                                     variables=variables)
        except RunawayStep as exc:
            raise RunawayStep(_("{error}; nothing was started").format(error=exc)) from None

    def start_in(self, session: Session, process_id: str, *, now: datetime, actor: Actor,
                 business_key: str | None = None, variables: dict | None = None, payload: dict | None = None) -> int:
        """Start an instance inside the caller's transaction (the scheduler records its fire with it)."""
        timers.use_clock(self.clock)
        definition = rows.latest_definition(session, process_id)
        if definition is None:
            raise ProcessNotFound(_("no process {process_id!r} is deployed; see `opsqa processes`").format(
                                      process_id=process_id))
        if business_key is not None:
            _check_key(business_key)
            clash = session.execute(select(Instance.id, Instance.status).where(
                Instance.process_id == process_id, Instance.business_key == business_key)).first()
            if clash is not None:
                raise DuplicateBusinessKey(
                    _("process {process_id} already has an instance with key {business_key!r} (#{id}, "
                      "{status})").format(process_id=process_id, business_key=business_key, id=clash.id,
                                          status=clash.status)
                )
        guard = self.handlers.start_guard(process_id)
        if guard is not None:  # the record this instance makes may exist already, under another key or process
            guard(session, business_key=business_key, variables=dict(variables or {}))
        definition_id, version = definition
        spec, subprocess_specs = self._spec(session, definition_id)
        workflow = BpmnWorkflow(spec, subprocess_specs, script_engine=self.script_engine)
        workflow.task_tree.data.update(variables or {})
        row = InstanceRow(
            id=None, definition_id=definition_id, process_id=process_id,
            business_key=business_key or f"pending-{now.timestamp()}", status="running", state_json="{}",
            serializer_version=self.serializer.version, library_version=LIBRARY_VERSION, lock_version=0,
            next_due_at=None, incident=None, incident_task=None, started_at=now, started_by=actor.name,
            updated_at=now, ended_at=None,
        )
        if not rows.insert_instance(session, row):
            raise DuplicateBusinessKey(_("process {process_id} already has an instance with that key").format(
                                           process_id=process_id))
        if business_key is None:
            row.business_key = str(row.id)
        self._event(session, now, actor, "instance.started", row.id, payload={
            "process": process_id, "version": version, "business_key": row.business_key,
            "variables": variables or {}, **(payload or {}),
        })
        loaded = _Loaded(row, workflow, self.model(session, definition_id))
        self._advance(session, loaded, now, actor)
        self._save(session, loaded, now, actor)
        return row.id

    def fire_timers(self, instance_id: int, *, now: datetime, actor: Actor, claim=None) -> list[dict]:
        """Fire the instance's timers that are due at `now`; returns what fired. Under a `claim` (a
        worker's lease on the instance's timer job) the step is refused if the lease was lost."""
        with _one_writer(instance_id), self.database.transaction() as session:
            job = jobs.hold(session, claim) if claim is not None else None
            loaded = self._load(session, instance_id)
            session.info["timer_job"] = job  # _sync_job updates it without looking it up again
            if loaded.row.status != "running":
                self._sync_job(session, loaded.row, now)
                return []
            fired, seen = [], set()
            for _round in range(MAX_SERVICE_ROUNDS):
                due = [(task, when) for task, when in timers.waiting_timers(loaded.workflow) if when <= now]
                if not due or {(task.id, when) for task, when in due} <= seen:
                    break  # nothing due, or only timers that would not fire: never spin on them
                seen |= {(task.id, when) for task, when in due}
                for task, when in due:
                    fired.append(self._timer_fired(session, loaded, task, when, now, actor))
                self._run_engine(lambda: timers.refresh_due(loaded.workflow), loaded.row.process_id)
                self._advance(session, loaded, now, actor)
                if loaded.row.status != "running":
                    break
            self._save(session, loaded, now, actor)
            return fired

    def rearm_in(self, session: Session, instance_id: int, variables: dict, *, now: datetime, actor: Actor,
                 reason: str) -> list[dict]:
        """Change variables a waiting instance's deadlines are computed from, and re-arm its date timers.

        A timer's due time is computed once, when the timer is reached; a changed deadline (a finding's
        extended due date) must re-arm it. Every unfinished task gets the new values, every armed
        date timer is evaluated again, and the ready tasks' deadlines and variables follow. Runs in the caller's
        transaction; returns the timers as now armed.
        """
        from SpiffWorkflow.bpmn.specs.event_definitions.timer import TimeDateEventDefinition

        loaded = self._load(session, instance_id)
        if loaded.row.status != "running":
            raise OpsqaError(_("instance {instance_id} is {status}; only a running one has deadlines").format(
                                 instance_id=instance_id, status=loaded.row.status))
        workflow = loaded.workflow
        for task in workflow.get_tasks(state=TaskState.NOT_FINISHED_MASK):
            task.data.update(variables)
        before = {str(t.id): when for t, when in timers.waiting_timers(workflow)}
        for task, _when in timers.waiting_timers(workflow):
            definition = task.task_spec.event_definition
            if isinstance(definition, TimeDateEventDefinition):
                task.parent.data.update(variables)  # a waiting event re-inherits its parent's data
                value = self.script_engine.evaluate(task, definition.expression)
                task._set_internal_data(event_value=value)
        self._run_engine(lambda: timers.refresh_due(workflow), loaded.row.process_id)
        self._advance(session, loaded, now, actor)
        for task in rows.open_tasks(session, instance_id):
            spiff_task = workflow.get_task_from_id(UUID(task.id))
            spec = loaded.model["user_tasks"].get(f"{spiff_task.workflow.spec.name}:{task.bpmn_id}", {})
            rows.update_task(session, task, due_at=_due_at(spiff_task, spec), variables=_to_json(spiff_task.data))
        armed = []
        for task, when in timers.waiting_timers(workflow):
            was = before.get(str(task.id))
            armed.append({**_timer_view(task, when), "was": was.isoformat() if was else None})
        self._event(session, now, actor, "instance.rearmed", instance_id,
                    payload={"reason": reason, "variables": json.loads(_to_json(variables)), "timers": armed})
        self._save(session, loaded, now, actor)
        return armed

    def variables(self, session: Session, instance_id: int) -> dict[str, Any]:
        """The instance's process variables as they stand: those its open tasks hold, else those its last
        step left (JSON-safe: dates as text)."""
        from SpiffWorkflow.util.task import TaskState as State

        workflow = self._load(session, instance_id).workflow
        data: dict[str, Any] = {}
        ready = workflow.get_tasks(state=State.READY | State.WAITING | State.STARTED)
        for task in ready or ([workflow.last_task] if workflow.last_task is not None else []):
            data.update(task.data)
        return json.loads(_to_json(data or workflow.data))

    def element_states(self, session: Session, instance_id: int) -> dict[str, str]:
        """The instance's top-level diagram elements as a diagram paints them: completed, ready (a user task
        waiting for someone, or a call activity or subprocess in progress) and waiting (a timer)."""
        loaded = self._load(session, instance_id)
        top = loaded.workflow
        states: dict[str, str] = {}
        for task in list(top.tasks.values()):  # the top process only: called processes have their own
            bpmn_id = getattr(task.task_spec, "bpmn_id", None)
            if bpmn_id is None:
                continue
            if task.has_state(TaskState.COMPLETED):
                states.setdefault(bpmn_id, "completed")
            elif task.has_state(TaskState.READY | TaskState.STARTED):
                states[bpmn_id] = "ready"
        for task, _when in timers.waiting_timers(top):
            if task.workflow is top:
                states[task.task_spec.bpmn_id] = "waiting"
        return states

    def waiting(self, session: Session, instance_id: int) -> list[dict]:
        """The instance's armed timers, soonest first (loads its state: for showing one instance)."""
        loaded = self._load(session, instance_id)
        return sorted((_timer_view(task, when) for task, when in timers.waiting_timers(loaded.workflow)),
                      key=lambda t: t["due"])

    def _timer_fired(self, session, loaded: _Loaded, task, when: datetime, now: datetime, actor: Actor) -> dict:
        fired = _timer_view(task, when)
        self._event(session, now, actor, "timer.fired", loaded.row.id, str(task.id), fired)
        return fired

    def incident(self, instance_id: int, message: str, *, now: datetime, actor: Actor) -> None:
        """Stop an instance whose timer step keeps failing, or whose step would not come to rest: a person
        looks at it, then retries."""
        with _one_writer(instance_id), self.database.transaction() as session:
            row = rows.read_instance(session, instance_id)
            if row is None or row.status != "running":
                return
            row.status, row.incident, row.incident_task = "error", message, None
            row.updated_at = now
            self._event(session, now, actor, "instance.incident", instance_id, payload={"error": message})
            notices.incident(session, row, message, now)
            self._sync_job(session, row, now)
            rows.save_instance(session, row)

    def retry(self, instance_id: int, *, actor: Actor, reason: str | None = None) -> None:
        """Re-run the service task whose handler failed."""
        now = self.clock.now()
        with _one_writer(instance_id), self.database.transaction() as session:
            loaded = self._load(session, instance_id)
            if loaded.row.status != "error":
                raise InstanceNotRunning(_("instance {instance_id} has no incident to retry (it is {status})").format(
                                             instance_id=instance_id, status=loaded.row.status))
            self._event(session, now, actor, "instance.retried", instance_id,
                        payload={"incident": loaded.row.incident, "reason": reason})
            loaded.row.status, loaded.row.incident, loaded.row.incident_task = "running", None, None
            self._advance(session, loaded, now, actor)
            self._save(session, loaded, now, actor)

    def cancel(self, instance_id: int, *, actor: Actor, reason: str | None = None) -> None:
        now = self.clock.now()
        with _one_writer(instance_id), self.database.transaction() as session:
            row = rows.read_instance(session, instance_id)
            if row is None:
                raise InstanceNotFound(_("no instance {instance_id}").format(instance_id=instance_id))
            if row.status in ("completed", "cancelled"):
                raise InstanceNotRunning(_("instance {instance_id} is already {status}").format(
                                             instance_id=instance_id, status=row.status))
            row.status, row.ended_at, row.updated_at, row.next_due_at = "cancelled", now, now, None
            self._sync_job(session, row, now)
            for task in rows.open_tasks(session, instance_id):
                rows.update_task(session, task, state="cancelled", completed_at=now)
            self._event(session, now, actor, "instance.cancelled", instance_id, payload={"reason": reason})
            hook = self.handlers.cancel_hook(row.process_id)
            if hook is not None:  # its domain record closes with it, for the same reason
                hook(session, instance_id, now=now, actor=actor, reason=reason)
            rows.save_instance(session, row)

    # -- versions

    def migrate(self, instance_id: int, definition_id: int, *, actor: Actor, dry_run: bool = False,
                reason: str | None = None) -> dict:
        """Move a running instance onto another version of its process, in one transaction, if nothing it
        has reached was changed or removed (engine/migration.py). Returns the outcome and what blocked it."""
        from . import migration

        now = self.clock.now()
        with _one_writer(instance_id), self.database.transaction() as session:
            loaded = self._load(session, instance_id)
            row = loaded.row
            outcome = self._outcome(session, row, definition_id)
            if row.status not in ("running", "error"):
                raise InstanceNotRunning(_("instance {instance_id} is {status}; only a running one can move").format(
                                             instance_id=instance_id, status=row.status))
            spec, subprocess_specs = self._spec(session, definition_id)
            model = self.model(session, definition_id)
            planned = migration.plan(self.serializer.registry, loaded.workflow, spec, subprocess_specs,
                                     loaded.model, model)
            outcome["obstacles"] = list(planned.obstacles)
            if not planned.clear or dry_run:
                outcome["outcome"] = "left" if not planned.clear else "would move"
                return outcome
            before = row.state_json
            migration.apply(loaded.workflow, spec, subprocess_specs, planned)
            moved = self._move(session, loaded, definition_id, now, actor)
            record = InstanceMigration(
                instance_id=row.id, from_definition_id=outcome["from_definition"], to_definition_id=definition_id,
                state_before=before, lock_version_after=row.lock_version, migrated_at=now, migrated_by=actor.name)
            session.add(record)
            session.flush()
            self._event(session, now, actor, "instance.migrated", row.id, payload={
                "process": row.process_id, "from_version": outcome["from_version"],
                "to_version": outcome["to_version"], "migration": record.id, "waiting": moved, "reason": reason})
            return {**outcome, "outcome": "moved", "migration": record.id}

    def revert_migration(self, instance_id: int, *, actor: Actor, dry_run: bool = False,
                         reason: str | None = None) -> dict:
        """Undo the instance's latest migration: the state it left, exactly, if nothing ran since; else
        a migration back by the same rules."""
        from . import migration

        now = self.clock.now()
        with _one_writer(instance_id), self.database.transaction() as session:
            loaded = self._load(session, instance_id)
            row = loaded.row
            record = session.scalar(select(InstanceMigration).where(
                InstanceMigration.instance_id == instance_id, InstanceMigration.reverted_at.is_(None))
                .order_by(InstanceMigration.id.desc()).limit(1))
            if record is None or record.to_definition_id != row.definition_id:
                raise OpsqaError(_("instance {instance_id} has no migration to revert").format(instance_id=instance_id))
            outcome = self._outcome(session, row, record.from_definition_id)
            spec, subprocess_specs = self._spec(session, record.from_definition_id)
            model = self.model(session, record.from_definition_id)
            exact = row.lock_version == record.lock_version_after
            if exact:
                outcome["obstacles"] = []
            else:
                planned = migration.plan(self.serializer.registry, loaded.workflow, spec, subprocess_specs,
                                         loaded.model, model)
                outcome["obstacles"] = list(planned.obstacles)
                if not planned.clear:
                    outcome["outcome"] = "left"
                    return outcome
            if dry_run:
                outcome["outcome"] = "would revert"
                return outcome
            if exact:
                loaded = _Loaded(row, self.serializer.load(record.state_before, spec, subprocess_specs), model)
                loaded.workflow.script_engine = self.script_engine
            else:
                migration.apply(loaded.workflow, spec, subprocess_specs, planned)
            moved = self._move(session, loaded, record.from_definition_id, now, actor)
            record.reverted_at, record.reverted_by = now, actor.name
            self._event(session, now, actor, "instance.migration_reverted", row.id, payload={
                "process": row.process_id, "from_version": outcome["from_version"],
                "to_version": outcome["to_version"], "migration": record.id, "exact": exact, "waiting": moved,
                "reason": reason})
            return {**outcome, "outcome": "reverted", "migration": record.id, "exact": exact}

    def _outcome(self, session: Session, row: InstanceRow, definition_id: int) -> dict:
        versions = dict(session.execute(select(Definition.id, Definition.version).where(
            Definition.id.in_((row.definition_id, definition_id)))).all())
        return {"instance": row.id, "process": row.process_id, "business_key": row.business_key,
                "from_definition": row.definition_id, "from_version": versions[row.definition_id],
                "to_version": versions[definition_id]}

    def _move(self, session: Session, loaded: _Loaded, definition_id: int, now: datetime, actor: Actor) -> list:
        """Save a moved workflow on its new definition: the state must load there, the open tasks take
        the new version's names, the timers keep their due times."""
        row, workflow = loaded.row, loaded.workflow
        row.definition_id = definition_id
        loaded.model = self.model(session, definition_id)
        for task in rows.open_tasks(session, row.id):
            spiff_task = workflow.get_task_from_id(UUID(task.id))
            spec_of = loaded.model["user_tasks"].get(f"{spiff_task.workflow.spec.name}:{task.bpmn_id}", {})
            rows.update_task(session, task, name=spec_of.get("name") or spiff_task.task_spec.bpmn_name or task.bpmn_id)
        try:
            self._save(session, loaded, now, actor)
            self.serializer.load(row.state_json, *self._spec(session, definition_id))
        except OpsqaError:
            raise
        except Exception as exc:  # refuse (the transaction rolls back) rather than store a state that would not load
            raise OpsqaError(_("instance {id} cannot be saved on the new version: {exc}").format(
                                 id=row.id, exc=_first_line(exc))) from None
        return [_timer_view(task, when) for task, when in timers.waiting_timers(workflow)]

    # -- tasks

    def claim(self, task_id: str, *, actor: Actor, release: bool = False) -> None:
        now = self.clock.now()
        with self.database.transaction() as session:
            task = self._ready_task(session, task_id)
            stood_in = None
            if release:
                if task.claimed_by is None:
                    raise OpsqaError(_("task {task_id} is not claimed").format(task_id=task_id))
                policy.require(actor, "task.unclaim", claimer=task.claimed_by)
                rows.update_task(session, task, claimed_by=None)
                kind = "task.unclaimed"
            else:
                self._check_may_act(session, task, actor, "task.claim")
                if task.claimed_by == actor.name:
                    raise OpsqaError(_("task {task_id} is already claimed by you").format(task_id=task_id))
                stood_in = policy.standing_in_for(actor, task)
                rows.update_task(session, task, claimed_by=actor.name)
                kind = "task.claimed"
            payload = {"task": task.bpmn_id}
            if stood_in is not None:
                payload["for"] = stood_in
            self._event(session, now, actor, kind, task.instance_id, task.id, payload)

    def transfer(self, task_id: str, to: str, *, actor: Actor, reason: str) -> dict[str, Any]:
        """转办: the task becomes `to`'s (assigned to them, no longer claimed), by whoever holds it or by qmd and
        admins. `to` must be an active user who may do it: holding its lane's role, when it has one."""

        now = self.clock.now()
        with self.database.transaction() as session:
            task = self._ready_task(session, task_id)
            _refuse_delegated(task, "transfer")
            holder = task.assignee or task.claimed_by
            policy.require(actor, "task.transfer", holder=holder)
            roles = self._active_user(session, to)
            if to == holder:
                raise OpsqaError(_("task {task_id} is already {name}'s").format(task_id=task.id[:8], name=to))
            if task.role is not None and task.role not in roles:
                raise OpsqaError(_("task {task_id} ({name}) needs role {role}, which {user} does not hold; it can "
                                   "be transferred only to someone who may do it").format(
                                     task_id=task.id[:8], name=task.name, role=task.role, user=to))
            rows.update_task(session, task, assignee=to, claimed_by=None, owner=None)
            payload = {"task": task.bpmn_id, "from": holder, "to": to, "reason": reason}
            self._event(session, now, actor, "task.transferred", task.instance_id, task.id, payload)
            instance = rows.read_instance(session, task.instance_id)
            with use_language(MESSAGES_LANGUAGE):  # to people: Chinese, whoever acts
                self._tell(session, instance, task, [to], now, key=f"task.transferred:{task.id}:{to}",
                           subject=_("[opsqa] task passed to you: {name}"),
                           line=_("Passed to you by {by}: {reason}").format(by=actor.label, reason=reason))
            return {"task": task.id, "name": task.name, "from": holder, "to": to}

    def delegate(self, task_id: str, to: str, *, actor: Actor) -> dict[str, Any]:
        """委派: whoever holds the task has `to` do the work; `to` hands it back (`resolve`) and the holder, its
        owner, completes it. Both names stay on the task and in the history."""
        now = self.clock.now()
        with self.database.transaction() as session:
            task = self._ready_task(session, task_id)
            _refuse_delegated(task, "delegate")
            holder = task.assignee or task.claimed_by
            if holder is None:
                raise OpsqaError(_("task {task_id} ({name}) is held by nobody; claim it before delegating it").format(
                                     task_id=task.id[:8], name=task.name))
            policy.require(actor, "task.delegate", holder=holder)
            self._active_user(session, to)
            if to == holder:
                raise OpsqaError(_("task {task_id} is already {name}'s").format(task_id=task.id[:8], name=to))
            rows.update_task(session, task, owner=holder, assignee=to, claimed_by=None)
            self._event(session, now, actor, "task.delegated", task.instance_id, task.id,
                        {"task": task.bpmn_id, "owner": holder, "to": to})
            instance = rows.read_instance(session, task.instance_id)
            with use_language(MESSAGES_LANGUAGE):  # to people: Chinese, whoever acts
                self._tell(session, instance, task, [to], now, key=f"task.delegated:{task.id}:{to}",
                           subject=_("[opsqa] task delegated to you: {name}"),
                           line=_("{owner} asks you to do this task and hand it back (opsqa task resolve)").format(
                               owner=holder))
            return {"task": task.id, "name": task.name, "owner": holder, "to": to}

    def resolve(self, task_id: str, *, actor: Actor, note: str | None = None) -> dict[str, Any]:
        """The delegated work handed back: the task is its owner's again, to complete."""
        now = self.clock.now()
        with self.database.transaction() as session:
            task = self._ready_task(session, task_id)
            if task.owner is None or task.assignee == task.owner:
                raise OpsqaError(_("task {task_id} ({name}) is not delegated").format(task_id=task.id[:8],
                                                                                     name=task.name))
            policy.require(actor, "task.resolve", delegate=task.assignee)
            worker = task.assignee
            rows.update_task(session, task, assignee=task.owner)
            self._event(session, now, actor, "task.resolved", task.instance_id, task.id,
                        {"task": task.bpmn_id, "owner": task.owner, "by": worker, "note": note})
            instance = rows.read_instance(session, task.instance_id)
            with use_language(MESSAGES_LANGUAGE):  # to people: Chinese, whoever acts
                self._tell(session, instance, task, [task.owner], now, key=f"task.resolved:{task.id}:{now.isoformat()}",
                           subject=_("[opsqa] delegated task handed back: {name}"),
                           line=_("{worker} has done the delegated work").format(worker=worker)
                           + (f": {note}" if note else ""))
            return {"task": task.id, "name": task.name, "owner": task.owner, "by": worker}

    def copy(self, task_id: str, to: list[str], *, actor: Actor) -> dict[str, Any]:
        """抄送: users who should know see the task and its instance read-only (抄送我的), and are told."""
        from store import TaskCopy

        now = self.clock.now()
        with self.database.transaction() as session:
            task = self._ready_task(session, task_id)
            instance = rows.read_instance(session, task.instance_id)
            policy.require(actor, "task.cc", holder=task.assignee or task.claimed_by, starter=instance.started_by)
            names = list(dict.fromkeys(name.strip() for name in to if name.strip()))
            if not names:
                raise OpsqaError(_("name the users to copy the task to"))
            for name in names:
                self._active_user(session, name)
            already = set(session.scalars(select(TaskCopy.user_name).where(TaskCopy.task_id == task.id,
                                                                            TaskCopy.user_name.in_(names))))
            added = [name for name in names if name not in already]
            for name in added:
                session.add(TaskCopy(task_id=task.id, user_name=name, copied_by=actor.name, copied_at=now))
            if added:
                self._event(session, now, actor, "task.copied", task.instance_id, task.id,
                            {"task": task.bpmn_id, "to": added})
                with use_language(MESSAGES_LANGUAGE):  # to people: Chinese, whoever acts
                    self._tell(session, instance, task, added, now, key=f"task.copied:{task.id}",
                               subject=_("[opsqa] for your information: {name}"),
                               line=_("{by} copies you on this task").format(by=actor.label))
            return {"task": task.id, "name": task.name, "to": added, "already": sorted(already)}

    def add_signers(self, task_id: str, to: list[str], *, actor: Actor, reason: str) -> dict[str, Any]:
        """加签: users who must approve a task before it can be completed, by whoever may complete it or by qmd
        and admins. A signer who already decided is asked again (their decision cleared); at most 10 per task."""
        now = self.clock.now()
        with self.database.transaction() as session:
            task = self._ready_task(session, task_id)
            _refuse_delegated(task, "add_signer")
            holder = task.assignee or task.claimed_by
            policy.require(actor, "task.add_signer", task=task)
            names = list(dict.fromkeys(name.strip() for name in to if name.strip()))
            if not names:
                raise OpsqaError(_("name the users who are to sign the task"))
            for name in names:
                self._active_user(session, name)
                if name in (holder, actor.name):
                    raise OpsqaError(_("{name} holds task {task_id} or asks for the signature; a signer is someone "
                                       "else").format(name=name, task_id=task.id[:8]))
            signers = {row.user_name: row for row in session.scalars(
                select(TaskSigner).where(TaskSigner.task_id == task.id))}
            waiting = [name for name in names if name in signers and signers[name].decision is None]
            if waiting:
                raise OpsqaError(_("{names} already asked to sign task {task_id} and not yet decided").format(
                                     names=", ".join(waiting), task_id=task.id[:8]))
            if len(set(signers) | set(names)) > MAX_SIGNERS:
                raise OpsqaError(_("task {task_id} may have at most {limit} signers").format(
                                     task_id=task.id[:8], limit=MAX_SIGNERS))
            for name in names:
                row = signers.get(name)
                if row is None:
                    session.add(TaskSigner(task_id=task.id, user_name=name, asked_by=actor.name, asked_at=now,
                                           reason=reason))
                else:  # asked again after deciding: the earlier decision stays in the history
                    row.asked_by, row.asked_at, row.reason = actor.name, now, reason
                    row.decision = row.decided_at = row.note = None
            self._event(session, now, actor, "task.signers_added", task.instance_id, task.id,
                        {"task": task.bpmn_id, "to": names, "reason": reason})
            instance = rows.read_instance(session, task.instance_id)
            with use_language(MESSAGES_LANGUAGE):  # to people: Chinese, whoever acts
                self._tell(session, instance, task, names, now, key=f"task.signers_added:{task.id}:{now.isoformat()}",
                           subject=_("[opsqa] your signature is asked: {name}"),
                           line=_("{by} asks you to sign this task before it is done (opsqa task sign): {reason}")
                           .format(by=actor.label, reason=reason))
            return {"task": task.id, "name": task.name, "to": names}

    def sign(self, task_id: str, *, actor: Actor, approve: bool, note: str | None = None) -> dict[str, Any]:
        """A signer's decision on a task they were asked to sign: approved, or rejected with a note (the task
        cannot be completed until they are asked again and approve)."""
        now = self.clock.now()
        with self.database.transaction() as session:
            task = self._ready_task(session, task_id)
            waiting = {row.user_name: row for row in session.scalars(
                select(TaskSigner).where(TaskSigner.task_id == task.id, TaskSigner.decision.is_(None)))}
            policy.require(actor, "task.sign", signer=list(waiting))
            if not approve and not note:
                raise OpsqaError(_("a rejection needs a note saying why (kept in the history)"))
            row = waiting[actor.name]
            row.decision, row.decided_at, row.note = ("approved" if approve else "rejected"), now, note
            self._event(session, now, actor, "task.signed", task.instance_id, task.id,
                        {"task": task.bpmn_id, "decision": row.decision, "note": note})
            holder = task.assignee or task.claimed_by or row.asked_by
            instance = rows.read_instance(session, task.instance_id)
            line = (_("{by} approved").format(by=actor.label) if approve
                    else _("{by} rejected").format(by=actor.label)) + (f": {note}" if note else "")
            with use_language(MESSAGES_LANGUAGE):  # to people: Chinese, whoever acts
                self._tell(session, instance, task, [holder], now,
                           key=f"task.signed:{task.id}:{actor.name}:{now.isoformat()}",
                           subject=_("[opsqa] signature given: {name}"), line=line)
            return {"task": task.id, "name": task.name, "decision": row.decision, "holder": holder}

    def send_back(self, task_id: str, step: str, *, actor: Actor, reason: str) -> dict[str, Any]:
        """退回: the instance returns to `step`, an earlier user task of the same process that it passed on its
        way to this task; the work since is recorded as sent back (its events stay), the step is ready again
        with the values it was completed with, its timers re-armed. By whoever may complete this task."""
        now = self.clock.now()
        with _task_writer(task_id), self.database.transaction() as session:
            task = self._ready_task(session, task_id)
            _refuse_delegated(task, "send_back")
            self._check_may_act(session, task, actor, "task.send_back")
            loaded = self._load(session, task.instance_id)
            current = loaded.workflow.get_task_from_id(UUID(task.id))
            if current is None or current.state != TaskState.READY:
                raise TaskNotReady(_("task {task_id} is not ready in its instance").format(task_id=task.id[:8]))
            target = current.parent
            while target is not None and target.task_spec.bpmn_id != step:
                target = target.parent
            if target is None or not _user_task(loaded, target) or target.state != TaskState.COMPLETED:
                steps = {t.task_spec.bpmn_id for t in _ancestors(current)
                         if _user_task(loaded, t) and t.state == TaskState.COMPLETED}
                raise OpsqaError(_("{process} [{step}]: not a step this instance passed on its way to {bpmn_id} in "
                                   "the same process (it can be sent back to: {steps})").format(
                                     process=current.workflow.spec.name, step=step, bpmn_id=task.bpmn_id,
                                     steps=", ".join(sorted(steps)) or "-"))
            undone = self._reset(session, loaded, target, now, actor, "send_back")
            self._event(session, now, actor, "task.sent_back", task.instance_id, task.id,
                        {"task": task.bpmn_id, "to": step, "to_task": str(target.id), "reason": reason,
                         "undone": undone})
            self._advance(session, loaded, now, actor)
            self._save(session, loaded, now, actor)
            return {"task": task.id, "name": task.name, "to": step, "to_task": str(target.id), "undone": undone}

    def withdraw(self, task_id: str, *, actor: Actor, reason: str | None = None) -> dict[str, Any]:
        """撤回: whoever completed a task takes it back, while the steps after it are neither claimed nor done
        and no service task, called process or timer has run since; the task is theirs again, as they left it."""
        now = self.clock.now()
        with _task_writer(task_id), self.database.transaction() as session:
            task = find_task(session, task_id, for_update=True)
            if task.state != "completed":
                raise OpsqaError(_("task {task_id} ({name}) is {state}: only a completed task can be withdrawn").format(
                                     task_id=task.id[:8], name=task.name, state=task.state))
            policy.require(actor, "task.withdraw", completer=task.completed_by)
            loaded = self._load(session, task.instance_id)
            if loaded.row.status != "running":
                raise InstanceNotRunning(_("instance {instance_id} is {status}: its tasks cannot be withdrawn").format(
                                             instance_id=task.instance_id, status=loaded.row.status))
            target = loaded.workflow.get_task_from_id(UUID(task.id))
            if target is None or target.state != TaskState.COMPLETED:
                raise OpsqaError(_("task {task_id} ({name}) can no longer be withdrawn: the instance has moved past "
                                   "it").format(task_id=task.id[:8], name=task.name))
            after = {str(t.id) for t in target if t is not target}
            moved = [row for row in rows.open_tasks(session, task.instance_id) if row.id in after and row.claimed_by]
            done = session.execute(select(Task.bpmn_id).where(Task.instance_id == task.instance_id,
                                                              Task.id.in_(after), Task.state == "completed")).first()
            if moved or done:
                if moved:
                    message = _("task {task_id} ({name}) can no longer be withdrawn: the next step {step} has been "
                                "claimed")
                else:
                    message = _("task {task_id} ({name}) can no longer be withdrawn: the next step {step} has been "
                                "completed")
                raise OpsqaError(message.format(task_id=task.id[:8], name=task.name,
                                                step=moved[0].bpmn_id if moved else done[0]))
            undone = self._reset(session, loaded, target, now, actor, "withdraw")
            rows.update_task(session, task, assignee=task.assignee or actor.name)
            self._event(session, now, actor, "task.withdrawn", task.instance_id, task.id,
                        {"task": task.bpmn_id, "reason": reason, "undone": undone})
            self._advance(session, loaded, now, actor)
            self._save(session, loaded, now, actor)
            return {"task": task.id, "name": task.name}

    def _reset(self, session: Session, loaded: _Loaded, target, now: datetime, actor: Actor, action: str) -> list:
        """The instance back at `target` (a completed user task), if nothing since can have left records that a
        reset would not undo: no service task done, no called process or subprocess started, no timer fired.
        The target's read-model row is ready again (its values kept as the task's variables, to prefill);
        returns the user tasks completed since (undone, their events kept)."""
        from SpiffWorkflow.bpmn.specs.event_definitions.timer import TimerEventDefinition
        from SpiffWorkflow.bpmn.specs.mixins.subworkflow_task import SubWorkflowTask

        since = [t for t in target if t is not target]
        for task in since:
            spec, where = task.task_spec, {"process": task.workflow.spec.name, "bpmn_id": task.task_spec.bpmn_id,
                                           "step": target.task_spec.bpmn_id, "action": action}
            if isinstance(spec, ServiceTask) and task.state == TaskState.COMPLETED:
                raise OpsqaError(_("{process} [{bpmn_id}]: this service task ran after {step}: what it recorded cannot "
                                   "be undone by going back ({action})").format(**where))
            if isinstance(spec, SubWorkflowTask) and task.state >= TaskState.STARTED:
                raise OpsqaError(_("{process} [{bpmn_id}]: a called process started after {step}; it cannot be undone "
                                   "by going back ({action})").format(**where))
            if isinstance(getattr(spec, "event_definition", None), TimerEventDefinition) \
                    and task.state == TaskState.COMPLETED:
                raise OpsqaError(_("{process} [{bpmn_id}]: a timer fired after {step}; what it started cannot be "
                                   "undone by going back ({action})").format(**where))
        undone = sorted({t.task_spec.bpmn_id for t in since
                         if _user_task(loaded, t) and t.state == TaskState.COMPLETED})
        data = dict(target.data)  # what the person entered: the step comes back prefilled with it
        loaded.workflow.reset_from_task_id(target.id, data=data)
        row = find_task(session, str(target.id))
        spec = loaded.model["user_tasks"].get(f"{target.workflow.spec.name}:{target.task_spec.bpmn_id}", {})
        rows.update_task(session, row, state="ready", completed_by=None, completed_at=None, claimed_by=None,
                         overdue_notified_at=None, variables=_to_json(data), due_at=_due_at(target, spec))
        session.execute(update(TaskSigner).where(TaskSigner.task_id == row.id)  # the step is done again: signed again
                        .values(decision=None, decided_at=None, note=None))
        return undone

    def _active_user(self, session: Session, name: str) -> frozenset[str]:
        from .users import roles_of

        roles = roles_of(session, name)
        if roles is None:
            raise OpsqaError(_("no opsqa user named {name!r}").format(name=name))
        if session.get(User, name).disabled_at is not None:
            raise OpsqaError(_("{name} is disabled and can take no task").format(name=name))
        return roles

    def remind(self, task_id: str, *, actor: Actor, note: str | None = None) -> dict[str, Any]:
        """催办: remind whoever holds the task (its assignee, whoever claimed it, else its lane's members), at
        most once a day per task."""
        from store import Event

        now = self.clock.now()
        with self.database.transaction() as session:
            task = self._ready_task(session, task_id)
            instance = rows.read_instance(session, task.instance_id)
            policy.require(actor, "task.remind", starter=instance.started_by)
            last = session.scalar(select(Event.at).where(Event.task_id == task.id, Event.kind == "task.reminded")
                                  .order_by(Event.id.desc()).limit(1))
            if last is not None and now - last < timedelta(days=1):
                raise OpsqaError(_("task {task_id} was reminded at {at}; a task is reminded at most once a day").format(
                                     task_id=task.id[:8], at=local_time(last, settings.zone(session))))
            holder = task.assignee or task.claimed_by
            recipients = [holder] if holder else outbox.role_members(session, task.role) if task.role else []
            self._event(session, now, actor, "task.reminded", task.instance_id, task.id,
                        {"task": task.bpmn_id, "to": recipients, "note": note})
            with use_language(MESSAGES_LANGUAGE):  # to people: Chinese, whoever acts
                self._tell(session, instance, task, recipients, now, key=f"task.reminded:{task.id}:{now.date()}",
                           subject=_("[opsqa] reminder: {name}"),
                           line=_("{by} reminds you of this task: {note}").format(by=actor.label, note=note) if note
                           else _("{by} reminds you of this task").format(by=actor.label))
            return {"task": task.id, "name": task.name, "to": recipients}

    def _tell(self, session: Session, instance: InstanceRow, task: TaskRow, recipients: list[str], now: datetime, *,
              key: str, subject: str, line: str) -> None:
        """A message about a task to these users, via the outbox (when anyone can be reached). A group sees the
        task's name, business key and due date; the line (a reason, a note) goes only where one person reads."""
        if not recipients or not outbox.anyone_reachable(session):
            return
        kind = key.split(":", 1)[0]
        for user in recipients:
            outbox.tell(session, key=key, to=user, now=now, kind=kind,
                        title=subject.format(name=task.name).removeprefix("[opsqa] "),
                        lines=notices.task_lines(session, instance, task.due_at),
                        detail=[line, *notices.task_detail(instance, task.id)], path=f"/tasks/{task.id}")

    def form(self, session: Session, task: TaskRow, instance: InstanceRow) -> list[dict[str, Any]]:
        spec = user_task_spec(self.model(session, instance.definition_id), task.process_id, task.bpmn_id)
        return spec["form"] if spec else []

    def complete(self, task_id: str, values: dict[str, Any], *, actor: Actor) -> None:
        """Complete a user task with form values; exactly one of two racing completions wins."""
        now = self.clock.now()
        try:
            with self.database.transaction() as session:
                task = self._ready_task(session, task_id)
                task_id = task.id
                _refuse_delegated(task, "complete")
                self._check_may_act(session, task, actor)
                signed_by = _signatures(session, task)
                loaded = self._load(session, task.instance_id)
                spec = user_task_spec(self.model(session, loaded.row.definition_id), task.process_id,
                                      task.bpmn_id) or {}
                if spec.get("prefill"):  # what the task was given counts for the fields left out
                    values = forms.prefilled(spec.get("form", []), json.loads(task.variables or "{}"), values)
                typed = forms.validate(task.bpmn_id, spec.get("form", []), values,
                                       max_text=int(settings.get(session, "max_text_length")))
                if loaded.row.status != "running":
                    raise InstanceNotRunning(_("instance {instance_id} is {status}; see `opsqa instance show`").format(
                                                 instance_id=task.instance_id, status=loaded.row.status))
                spiff_task = loaded.workflow.get_task_from_id(UUID(task_id))
                if spiff_task is None or spiff_task.state != TaskState.READY:
                    raise TaskNotReady(_("task {task_id} is not ready in its instance").format(task_id=task_id))
                stood_in = policy.standing_in_for(actor, task)
                # 代理: the step's own checks see the substitute with the roles of whom they stand in for, and
                # under their own name, so a rule that bars them (the finding's owner verifying it) still does
                self._run_check(session, loaded, spiff_task, typed, now, _with_roles_of(actor, stood_in))
                spiff_task.data.update(typed)
                self._run_engine(lambda: spiff_task.run(), task.bpmn_id)
                rows.update_task(session, task, state="completed", completed_by=actor.name, completed_at=now)
                payload = {"task": task.bpmn_id, "name": task.name, "values": typed}
                if stood_in is not None:  # 代理: recorded as "USER for NAME"
                    payload["for"] = stood_in
                if signed_by:
                    payload["signed_by"] = signed_by
                self._event(session, now, actor, "task.completed", task.instance_id, task.id, payload)
                self._advance(session, loaded, now, actor)
                self._save(session, loaded, now, actor)
        except RunawayStep as exc:  # the completion is not kept; the instance waits for its process owner
            self.incident(task.instance_id, str(exc), now=now, actor=actor)
            raise RunawayStep(_("{error}; nothing was saved and the instance has an incident").format(
                                  error=exc)) from None
        except StaleDataError:
            with self.database.reading() as session:
                task = find_task(session, task_id)
                if task.state == "completed":
                    raise TaskAlreadyCompleted(task_id, task.completed_by, task.completed_at,
                                               zone=settings.zone(session)) from None
            raise OpsqaError(_("the instance of task {task_id} changed while completing it; try again").format(
                                 task_id=task_id)) from None

    def _ready_task(self, session: Session, task_id: str) -> TaskRow:
        task = find_task(session, task_id, for_update=True)
        if task.state == "completed":
            raise TaskAlreadyCompleted(task_id, task.completed_by, task.completed_at, zone=settings.zone(session))
        if task.state != "ready":
            raise TaskNotReady(_("task {task_id} is {state}, not ready").format(task_id=task_id, state=task.state))
        return task

    def _check_may_act(self, session: Session, task: TaskRow, actor: Actor, action: str = "task.complete") -> None:
        policy.require(actor, action, task=task)

    # -- loading, stepping, saving

    def _load(self, session: Session, instance_id: int) -> _Loaded:
        row = rows.read_instance(session, instance_id)
        if row is None:
            raise InstanceNotFound(_("no instance {instance_id}; see `opsqa instances`").format(
                                       instance_id=instance_id))
        if row.library_version != LIBRARY_VERSION:
            raise OpsqaError(_("instance {instance_id} was saved by SpiffWorkflow {library_version}; this opsqa "
                               "runs {ours} and does not convert state").format(
                                 instance_id=instance_id, library_version=row.library_version, ours=LIBRARY_VERSION))
        timers.use_clock(self.clock)
        spec, subprocess_specs = self._spec(session, row.definition_id)
        workflow = self.serializer.load(row.state_json, spec, subprocess_specs)
        workflow.script_engine = self.script_engine
        return _Loaded(row, workflow, self.model(session, row.definition_id))

    def _run_engine(self, step, where: str) -> None:
        try:
            step()
        except WorkflowException as exc:
            raise OpsqaError(_("the process failed at {where}: {exc}").format(
                                 where=where, exc=_first_line(exc))) from None
        except InvalidExpression as exc:
            raise OpsqaError(_("the process failed at {where}: {exc}").format(where=where, exc=exc)) from None

    def _advance(self, session: Session, loaded: _Loaded, now: datetime, actor: Actor) -> None:
        """Run engine steps and service-task handlers until only people or time can go on."""
        workflow = loaded.workflow
        bound = _StepBound(self.max_depth)
        for _round in range(MAX_SERVICE_ROUNDS):
            self._run_engine(lambda: workflow.do_engine_steps(will_complete_task=bound), loaded.row.process_id)
            pending = [t for t in workflow.get_tasks(state=TaskState.STARTED) if isinstance(t.task_spec, ServiceTask)]
            if not pending:
                return
            for spiff_task in pending:
                if not self._run_handler(session, loaded, spiff_task, now, actor):
                    return
        raise RunawayStep(_("{process}: the step ran {max_service_rounds} rounds of service tasks without waiting "
                            "for a person, a timer or a message").format(
                              process=loaded.row.process_id, max_service_rounds=MAX_SERVICE_ROUNDS))

    def _context(self, session: Session, loaded: _Loaded, spiff_task, now: datetime, actor: Actor,
                 variables: dict[str, Any]) -> HandlerContext:
        row = loaded.row

        def start_instance(process_id: str, business_key: str, initial: dict[str, Any]) -> int:
            return self.start_in(session, process_id, now=now, actor=actor, business_key=business_key,
                                 variables=initial, payload={"started_by_instance": row.id})

        def notify(to: str, subject: str, body: str, path: str | None = None) -> bool:
            key = f"{row.id}:{spiff_task.task_spec.bpmn_id}:{spiff_task.id}"
            return outbox.notify(session, key=key, to=to, subject=subject, body=body, path=path, now=now)

        def rearm_instance(instance_id: int, changed: dict[str, Any], reason: str) -> list[dict]:
            if instance_id == row.id:  # this step holds its own instance loaded: it would be saved twice
                raise OpsqaError(_("a step cannot re-arm its own instance {instance_id}").format(
                                     instance_id=instance_id))
            return self.rearm_in(session, instance_id, changed, now=now, actor=actor, reason=reason)

        return HandlerContext(
            session=session, now=now, actor=actor.name, instance_id=row.id, business_key=row.business_key,
            process_id=row.process_id, task=spiff_task.task_spec.bpmn_id, variables=variables,
            start_instance=start_instance, notify=notify, person=actor, rearm_instance=rearm_instance,
        )

    def _run_check(self, session: Session, loaded: _Loaded, spiff_task, typed: dict, now: datetime,
                   actor: Actor) -> None:
        """A user task's completion check (camunda:property check=NAME): its refusal changes nothing."""
        bpmn_id = spiff_task.task_spec.bpmn_id
        spec = loaded.model["user_tasks"].get(f"{spiff_task.workflow.spec.name}:{bpmn_id}", {})
        if not spec.get("check"):
            return
        check = self.handlers.get_check(spec["check"])
        if check is None:
            raise OpsqaError(_("task {bpmn_id}: no completion check {check!r} is registered").format(
                                 bpmn_id=bpmn_id, check=spec['check']))
        context = self._context(session, loaded, spiff_task, now, actor, {**spiff_task.data, **typed})
        try:
            with session.begin_nested():
                check(context)
        except NotPermitted:
            raise  # the policy's own line, recorded as a security event by the use case
        except (ValueError, OpsqaError) as exc:
            raise OpsqaError(_("task {bpmn_id}: {exc}").format(bpmn_id=bpmn_id, exc=exc)) from None

    def _run_handler(self, session: Session, loaded: _Loaded, spiff_task, now: datetime, actor: Actor) -> bool:
        row = loaded.row
        bpmn_id = spiff_task.task_spec.bpmn_id
        topic = loaded.model["service_tasks"].get(f"{spiff_task.workflow.spec.name}:{bpmn_id}")
        handler = self.handlers.get(topic) if topic else None
        context = self._context(session, loaded, spiff_task, now, actor, dict(spiff_task.data))
        try:
            if handler is None:
                raise LookupError(_("no handler is registered for topic {topic!r}").format(topic=topic))
            with session.begin_nested():
                failpoints.point("handler.before")
                result = handler(context) or {}
                failpoints.point("handler.after")
        except Exception as exc:  # a handler's failure becomes an incident, never a lost step
            row.status, row.incident_task = "error", bpmn_id
            row.incident = f"{bpmn_id} ({topic}): {type(exc).__name__}: {_first_line(exc)}"
            self._event(session, now, actor, "instance.incident", row.id,
                        payload={"task": bpmn_id, "topic": topic, "error": row.incident})
            notices.incident(session, row, row.incident, now)
            return False
        spiff_task.data.update(result)
        self._run_engine(spiff_task.complete, bpmn_id)
        self._event(session, now, actor, "service.completed", row.id, str(spiff_task.id),
                    {"task": bpmn_id, "topic": topic, "result": result})
        return True

    def _save(self, session: Session, loaded: _Loaded, now: datetime, actor: Actor) -> None:
        row, workflow = loaded.row, loaded.workflow
        self._sync_tasks(session, loaded, now, actor)
        if row.status == "running" and workflow.is_completed():
            row.status, row.ended_at = "completed", now
            self._event(session, now, actor, "instance.completed", row.id)
        had_due = row.next_due_at is not None
        row.next_due_at = timers.next_due(workflow) if row.status == "running" else None
        row.state_json = self.serializer.dump(workflow)
        row.updated_at = now
        if had_due or row.next_due_at is not None:  # else it had no timer job and needs none
            self._sync_job(session, row, now)
        rows.save_instance(session, row)

    def _sync_job(self, session: Session, row: InstanceRow, now: datetime) -> None:
        """One timer job per waiting instance, due when its earliest timer is."""
        key = f"timer:{row.id}"
        job = session.info.get("timer_job")
        if job is None or job.key != key:
            job = session.scalar(select(Job).where(Job.key == key))
        if row.next_due_at is None or row.status != "running":
            if job is not None:
                session.delete(job)
            return
        if job is None:
            session.add(Job(key=key, kind="timer", instance_id=row.id, run_after=row.next_due_at, attempts=0,
                            fence=0, created_at=now))
        else:
            job.run_after, job.attempts, job.last_error = row.next_due_at, 0, None
            job.lease_owner, job.lease_until = None, None  # the step is done: the next due time is anyone's

    def _sync_tasks(self, session: Session, loaded: _Loaded, now: datetime, actor: Actor) -> None:
        """Bring the human-task read model in line with the workflow's ready user tasks."""
        row, workflow = loaded.row, loaded.workflow
        if not loaded.model["user_tasks"]:
            return  # a process without user tasks has no read-model rows to keep in line
        ready = {str(t.id): t for t in workflow.get_tasks(state=TaskState.READY, manual=True)}
        for spiff_task in ready.values():
            if _depth(spiff_task) > self.max_depth:
                raise _loop(spiff_task)
        open_rows = {t.id: t for t in rows.open_tasks(session, row.id)}
        for task_id, task in open_rows.items():
            if task_id not in ready:  # closed without an answer (e.g. escalated)
                rows.update_task(session, task, state="cancelled", completed_at=now)
                self._event(session, now, actor, "task.cancelled", row.id, task_id, {"task": task.bpmn_id})
        new = [task_id for task_id in ready if task_id not in open_rows]
        known = rows.known_task_ids(session, new)
        for task_id in new:
            if task_id in known:
                continue
            spiff_task = ready[task_id]
            bpmn_id = spiff_task.task_spec.bpmn_id
            spec = loaded.model["user_tasks"].get(f"{spiff_task.workflow.spec.name}:{bpmn_id}", {})
            assignee = None
            if spec.get("assignee"):
                value = expressions.evaluate(spec["assignee"], dict(spiff_task.data))
                assignee = str(value) if value not in (None, "") else None
            role = self._role(loaded, spiff_task, spec)
            rows.insert_task(session, TaskRow(
                id=task_id, instance_id=row.id, process_id=spec.get("process") or spiff_task.workflow.spec.name,
                bpmn_id=bpmn_id, name=spec.get("name") or spiff_task.task_spec.bpmn_name or bpmn_id,
                role=role, state="ready", assignee=assignee, claimed_by=None, due_at=_due_at(spiff_task, spec),
                overdue_notified_at=None, variables=_to_json(spiff_task.data), created_at=now, completed_by=None,
                completed_at=None,
            ))
            self._event(session, now, actor, "task.ready", row.id, task_id,
                        {"task": bpmn_id, "role": spec.get("role"), "assignee": assignee})
            if outbox.anyone_reachable(session):
                name = spec.get("name") or spiff_task.task_spec.bpmn_name or bpmn_id
                outbox.tell_holders(session, assignee=assignee, role=role, key=f"task.ready:{task_id}",
                                    kind="task.ready", title=f"待办：{name}", now=now,
                                    lines=notices.task_lines(session, row, _due_at(spiff_task, spec)),
                                    detail=notices.task_detail(row, task_id), path=f"/tasks/{task_id}")

    def _role(self, loaded: _Loaded, spiff_task, spec: dict) -> str | None:
        """The task's lane; a task of a called process without lanes takes the calling activity's lane."""
        if spec.get("role"):
            return spec["role"]
        workflow = spiff_task.workflow
        while workflow is not workflow.top_workflow:
            caller = workflow.top_workflow.get_task_from_id(workflow.parent_task_id)
            node = loaded.model["nodes"].get(caller.workflow.spec.name, {}).get(caller.task_spec.bpmn_id, {})
            if node.get("role"):
                return node["role"]
            workflow = caller.workflow
        return None

    def _event(self, session, now, actor: Actor, kind, instance_id=None, task_id=None, payload=None) -> None:
        if actor.real:  # the handlers' events of this step, recorded under the acted-as name, keep the admin's
            session.info["acting_as"] = (actor.name, actor.real)
        append_event(session, at=now, kind=kind, actor=actor.name, real_actor=actor.real,
                     instance_id=instance_id, task_id=task_id, payload=payload)


def _due_at(spiff_task, spec: dict) -> datetime | None:
    """A user task's deadline: its camunda:dueDate, else its earliest interrupting boundary timer."""
    if spec.get("due_date"):
        value = expressions.evaluate(spec["due_date"], dict(spiff_task.data))
        when = timers.parse_when(value)
        if when is None:
            raise OpsqaError(_("task {bpmn_id}: due date {value!r} is not a date and time with a time-zone "
                               "offset").format(bpmn_id=spiff_task.task_spec.bpmn_id, value=value))
        return when
    parent = spiff_task.parent
    if parent is None:
        return None
    times = [when for task, when in timers.waiting_timers(spiff_task.workflow)
             if task.parent is parent and getattr(task.task_spec, "cancel_activity", False)]
    return min(times) if times else None


def _to_json(data: dict) -> str:
    clean = {k: v for k, v in data.items() if not callable(v)}
    return json.dumps(clean, ensure_ascii=False, sort_keys=True, default=str)


@contextmanager
def _one_writer(instance_id: int):
    """The optimistic lock, lost: another writer changed the instance between our load and save."""
    try:
        yield
    except StaleDataError:
        raise InstanceChanged(_("instance {instance_id} was changed by someone else meanwhile; try again").format(
                                  instance_id=instance_id)) from None


# SpiffWorkflow would go on past these without a word: past 1000 levels it stops seeing the ready task and
# calls the instance completed; a loop with no wait state never returns, holding the write lock.
def _user_task(loaded: _Loaded, task) -> bool:
    return f"{task.workflow.spec.name}:{task.task_spec.bpmn_id}" in loaded.model["user_tasks"]


def _ancestors(task):
    """The tasks before `task` in its own workflow (its process, not the processes calling it)."""
    task = task.parent
    while task is not None:
        yield task
        task = task.parent


@contextmanager
def _task_writer(task_id: str):
    """The optimistic lock lost while acting on a task's instance: one line, try again."""
    try:
        yield
    except StaleDataError:
        raise InstanceChanged(_("the instance of task {task_id} was changed by someone else meanwhile; try "
                                "again").format(task_id=task_id[:8])) from None


MAX_SIGNERS = 10
MESSAGES_LANGUAGE = "zh_CN"  # what people are told in, as the seed is written


def _with_roles_of(actor: Actor, away: str | None) -> Actor:
    """`actor`, holding also the roles of `away`, whom they stand in for (代理); `actor` itself otherwise."""
    if away is None:
        return actor
    roles = next(roles for name, roles, _processes in actor.stands_in if name == away)
    return replace(actor, roles=actor.roles | roles)


def _signatures(session: Session, task: TaskRow) -> list[str]:
    """加签: the signers who approved `task`; refused while any has not decided or rejected it."""
    signers = session.execute(select(TaskSigner.user_name, TaskSigner.decision, TaskSigner.note)
                              .where(TaskSigner.task_id == task.id).order_by(TaskSigner.id)).all()
    rejected = [(name, note) for name, decision, note in signers if decision == "rejected"]
    if rejected:
        raise OpsqaError(_("task {task_id} ({name}) was rejected by {signer} ({note}); ask them to sign again, or "
                           "send it back").format(task_id=task.id[:8], name=task.name, signer=rejected[0][0],
                                                  note=rejected[0][1]))
    waiting = [name for name, decision, _note in signers if decision is None]
    if waiting:
        raise OpsqaError(_("task {task_id} ({name}) waits for the signature of {signers} (加签); it can be completed "
                           "once they approve").format(task_id=task.id[:8], name=task.name, signers=", ".join(waiting)))
    return [name for name, _decision, _note in signers]


def _refuse_delegated(task: TaskRow, action: str) -> None:
    """A delegated task waits for its assignee to hand it back; only then may its owner complete it."""
    if task.owner is not None and task.assignee != task.owner:
        raise OpsqaError(_("{action}: task {task_id} ({name}) is delegated to {worker} by {owner}: {worker} hands it "
                           "back with `opsqa task resolve`, then {owner} acts on it").format(
                             task_id=task.id[:8], name=task.name, worker=task.assignee, owner=task.owner,
                             action=f"task.{action}"))


def _loop(task) -> OpsqaError:
    """A loop through a user task, taken once more than SpiffWorkflow can follow: refused, so that the person
    can answer differently (it is not the diagram that is wrong, but this many passes)."""
    return OpsqaError(_("{process} [{bpmn_id}]: a loop has run too many times; SpiffWorkflow would lose track of "
                        "its tasks").format(process=task.workflow.spec.name, bpmn_id=task.task_spec.bpmn_id))


class _StepBound:
    """Called before each engine task of a step runs: stops a step that would not come to rest."""

    def __init__(self, max_depth: int):
        self.max_depth, self.steps, self.runs = max_depth, 0, Counter()

    def __call__(self, task) -> None:
        self.steps += 1
        self.runs[task.task_spec.name] += 1
        where = {"process": task.workflow.spec.name, "bpmn_id": task.task_spec.bpmn_id}
        if self.steps > MAX_ENGINE_STEPS:
            raise RunawayStep(_("{process} [{bpmn_id}]: the step ran {steps} engine tasks without waiting for a "
                                "person, a timer or a message").format(steps=MAX_ENGINE_STEPS, **where))
        if len(task.workflow.tasks) > MAX_TASKS:
            raise RunawayStep(_("{process} [{bpmn_id}]: the step built more than {max_tasks} tasks").format(
                                  max_tasks=MAX_TASKS, **where))
        # Round and round within this one step, deep enough that SpiffWorkflow would soon lose its tasks (a
        # loop through a user task is refused when the task comes up too deep, in _sync_tasks).
        if self.runs[task.task_spec.name] > 1 and _depth(task) > self.max_depth:
            raise RunawayStep(_("{process} [{bpmn_id}]: a loop with no user task, timer or message in it has "
                                "run {runs} times in one step").format(runs=self.runs[task.task_spec.name], **where))


def _depth(task) -> int:
    depth = 0
    while task.parent is not None:
        task, depth = task.parent, depth + 1
    return depth


def _timer_view(task, when: datetime) -> dict:
    spec = task.task_spec
    attached = None
    if getattr(spec, "cancel_activity", None) is not None:  # a boundary event: name the task it watches
        main = [t for t in task.parent.children if t is not task and not hasattr(t.task_spec, "cancel_activity")]
        attached = main[0].task_spec.bpmn_id if main else None
    return {
        "timer": spec.bpmn_id, "name": spec.bpmn_name, "due": when.isoformat(), "attached_to": attached,
        "interrupting": bool(getattr(spec, "cancel_activity", False)),
        "boundary": getattr(spec, "cancel_activity", None) is not None,
    }


def _first_line(exc: BaseException) -> str:
    text = str(exc).strip() or type(exc).__name__
    return text.splitlines()[0]


def _check_key(key: str) -> None:
    if not key.strip() or len(key) > 200 or any(ch.isspace() for ch in key):
        raise OpsqaError(_("business key {key!r} must be 1-200 characters without spaces").format(key=key))
