"""`opsqa simulate`: the deployed processes run on a simulated clock, in a copy of the database.

The clock jumps from one due time to the next (a schedule's fire, a timer, a simulated
operator's answer), so a year takes seconds. A scenario (YAML) says how simulated operators
answer each kind of user task: with which values, how long after the task appeared, and
whether the n-th time in an instance differs (the general manager rejects the first draft). This is how a
process owner checks a changed diagram before deploying it.

    start:                          # instances to start, besides those the schedules start
      - {process: quality_plan, at: "2027-01-04T09:00:00+08:00", key: "2027", variables: {year: 2027}}
    answers:
      quality_plan.approve_plan:    # process.task
        - {after: P2D, values: {decision: rejected, comment: 目标不够具体}}
        - {after: P1D, values: {decision: approved}}     # the last entry repeats
      quality_plan.draft_plan: {after: P3D, values: {objectives: ...}}
      complaint.handle: {never: true}                    # left unanswered: its timers will tell
    defaults: {after: P1D}
    from: 2027-01-01                # for `opsqa processes test`: the period and what it must end with
    to: 2027-03-01
    expect: {completed: {quality_plan: 1}, end_events: {quality_plan: [end_plan_issued]}, records: {quality_plan: 1}}
    run:                            # opsqa commands, run as a user at a simulated time ({here}: the
      - {at: "2027-06-10T16:00:00+08:00", as: qmd2,   # scenario's folder)
         command: "audit record IA-2027-01 --unit P-01 --rest --result conform"}
"""

from __future__ import annotations

import json
import shlex
from collections import Counter
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from pathlib import Path
from typing import Any

from sqlalchemy import func, select

from i18n import _
from store import Definition, Event, Instance, Job, Task

from . import settings
from .clock import SimulatedClock, local_time
from .errors import OpsqaError
from .files import read_text_bounded
from .scheduler import next_wake
from .timers import parse_when
from .users import Actor

_TOP_KEYS = {"start", "answers", "defaults", "run", "from", "to", "expect"}  # the last three: `processes test`
_RUN_KEYS = {"at", "as", "command"}
_ANSWER_KEYS = {"after", "values", "never", "as"}
_START_KEYS = {"process", "at", "key", "variables"}


class ScenarioError(OpsqaError):
    """The scenario file cannot be used."""


@dataclass
class Answer:
    after: timedelta
    values: dict[str, Any]
    never: bool = False
    user: str | None = None


@dataclass
class Scenario:
    starts: list[dict[str, Any]] = field(default_factory=list)
    runs: list[dict[str, Any]] = field(default_factory=list)  # {at, as, args, where}
    answers: dict[str, list[Answer]] = field(default_factory=dict)
    default_after: timedelta = timedelta(days=1)
    source: str = "(no scenario)"

    def answer(self, key: str, occurrence: int) -> Answer | None:
        entries = self.answers.get(key)
        if not entries:
            return None
        return entries[min(occurrence, len(entries) - 1)]


def _duration(text: Any, where: str) -> timedelta:
    from SpiffWorkflow.bpmn.specs.event_definitions.timer import TimerEventDefinition as T

    try:
        parsed = T.parse_iso_duration(str(text))
        return T.get_timedelta_from_start(parsed, datetime(2027, 1, 1))
    except Exception:
        raise ScenarioError(_("{where}: {text!r} is not an ISO 8601 duration such as P2D or PT4H").format(
                                where=where, text=text)) from None


def load_scenario(path: str | None, models: dict[str, dict]) -> Scenario:
    """Read and check a scenario against the deployed processes (`models`: process id -> model)."""
    if path is None:
        return Scenario()
    import yaml

    try:
        data = yaml.safe_load(read_text_bounded(path)) or {}
    except OpsqaError as exc:
        raise ScenarioError(str(exc)) from None
    except (OSError, ValueError) as exc:
        raise ScenarioError(_("cannot read {path!r}: {exc}").format(
                                path=path, exc=getattr(exc, 'strerror', None) or exc)) from None
    except yaml.YAMLError as exc:
        raise ScenarioError(_("{path} is not valid YAML: {exc}").format(
                                path=path, exc=str(exc).splitlines()[0])) from None
    if not isinstance(data, dict):
        raise ScenarioError(_("{path}: the scenario must be a mapping with start, answers, defaults").format(path=path))
    unknown = set(data) - _TOP_KEYS
    if unknown:
        raise ScenarioError(_("{path}: unknown key {unknown!r} (known: {top_keys})").format(
                                path=path, unknown=sorted(unknown)[0], top_keys=', '.join(sorted(_TOP_KEYS))))
    scenario = Scenario(source=path)
    defaults = data.get("defaults") or {}
    if "after" in defaults:
        scenario.default_after = _duration(defaults["after"], f"{path}: defaults.after")
    for index, start in enumerate(data.get("start") or []):
        where = f"{path}: start[{index}]"
        if not isinstance(start, dict) or set(start) - _START_KEYS or "process" not in start or "at" not in start:
            raise ScenarioError(_("{where}: give process, at, and optionally key and variables").format(where=where))
        if start["process"] not in models:
            raise ScenarioError(_("{where}: process {process!r} is not deployed").format(
                                    where=where, process=start['process']))
        when = parse_when(str(start["at"]))
        if when is None:
            raise ScenarioError(_("{where}: at {at!r} is not a date and time with a time-zone offset").format(
                                    where=where, at=start['at']))
        scenario.starts.append({**start, "at": when})
    here = str(Path(path).resolve().parent)
    for index, entry in enumerate(data.get("run") or []):
        where = f"{path}: run[{index}]"
        if not isinstance(entry, dict) or set(entry) - _RUN_KEYS or not {"at", "as", "command"} <= set(entry):
            raise ScenarioError(_("{where}: give at, as and command").format(where=where))
        when = parse_when(str(entry["at"]))
        if when is None:
            raise ScenarioError(_("{where}: at {at!r} is not a date and time with a time-zone offset").format(
                                    where=where, at=entry['at']))
        command = entry["command"]
        try:
            args = shlex.split(command) if isinstance(command, str) else [str(a) for a in command]
        except ValueError as exc:
            raise ScenarioError(_("{where}: command: {exc}").format(where=where, exc=exc)) from None
        scenario.runs.append({"at": when, "as": str(entry["as"]), "where": where,
                              "args": [a.replace("{here}", here) for a in args]})
    for key, entries in (data.get("answers") or {}).items():
        where = f"{path}: answers.{key}"
        process_id, _dot, task_id = str(key).partition(".")
        if process_id not in models:
            raise ScenarioError(_("{where}: process {process_id!r} is not deployed").format(
                                    where=where, process_id=process_id))
        tasks = {spec["bpmn_id"] for spec in models[process_id]["user_tasks"].values()}
        if task_id not in tasks:
            raise ScenarioError(_("{where}: process {process_id} has no user task {task_id!r} (it has "
                                  "{tasks})").format(where=where, process_id=process_id, task_id=task_id,
                                                     tasks=", ".join(sorted(tasks))))
        if isinstance(entries, dict):
            entries = [entries]
        answers = []
        for n, entry in enumerate(entries or []):
            if not isinstance(entry, dict) or set(entry) - _ANSWER_KEYS:
                raise ScenarioError(_("{where}[{n}]: an answer has after, values, never, as").format(where=where, n=n))
            after = _duration(entry["after"], f"{where}[{n}].after") if "after" in entry else scenario.default_after
            answers.append(Answer(after, dict(entry.get("values") or {}), bool(entry.get("never")), entry.get("as")))
        scenario.answers[key] = answers
    return scenario


@dataclass
class Summary:
    start: datetime
    end: datetime
    started: Counter = field(default_factory=Counter)  # process -> instances started
    finished: Counter = field(default_factory=Counter)
    tasks_done: int = 0
    tasks_open: int = 0
    overdue: int = 0  # closed after their due date (answered late, or escalated), or still open past it
    escalations: int = 0  # interrupting boundary timers that fired
    reminders: int = 0  # non-interrupting boundary timers that fired
    unanswered: Counter = field(default_factory=Counter)  # process.task with no scenario answer, still open
    messages: Counter = field(default_factory=Counter)  # channel -> messages queued, none of them sent
    steps: int = 0


def simulate(engine, scenario: Scenario, *, start: datetime, end: datetime,
             progress: Callable[[datetime], None] | None = None,
             run_command: Callable[[list[str], str], None] | None = None) -> Summary:
    """Run from `start` to `end` on the engine's database; the engine's clock is replaced by a simulated one.
    `run_command(args, login)` runs a scenario's command (the CLI lends it)."""
    if scenario.runs and run_command is None:
        raise ScenarioError(_("{source}: this simulation cannot run commands").format(source=scenario.source))
    runs = sorted(scenario.runs, key=lambda r: r["at"])
    with engine.database.transaction() as session:  # stamped first: nothing it queues reaches real people
        stamped = settings.simulated_time(session)
        if stamped is not None and start < stamped:
            local = settings.zone(session)
            raise ScenarioError(_("the database's simulated clock stands at {stamped}; a simulation of it starts "
                                  "there or later, not at {start}").format(stamped=local_time(stamped, local),
                                                                          start=local_time(start, local)))
        settings.stamp_simulated(session, start, by="opsqa simulate")
    clock = SimulatedClock(start)
    engine.clock = clock
    users = _simulated_users(engine)
    occurrences: Counter = Counter()
    planned: dict[str, tuple[datetime, Answer | None]] = {}  # task id -> when it is answered, and how
    starts = sorted(scenario.starts, key=lambda s: s["at"])
    first_event = _last_event_id(engine)
    summary = Summary(start, end)
    while True:
        now = clock.now()
        while starts and starts[0]["at"] <= now:
            item = starts.pop(0)
            engine.start(item["process"], actor=users["admin"], business_key=item.get("key"),
                         variables=item.get("variables") or {})
        engine.tick(now)
        while runs and runs[0]["at"] <= now:
            item = runs.pop(0)
            try:
                run_command(item["args"], item["as"])
            except OpsqaError as exc:
                raise ScenarioError(f"{item['where']} ({' '.join(item['args'])}): {exc}") from None
        answered = True
        while answered:  # an answer can make the next task ready at once (after: P0D)
            answered = False
            for task in engine.tasks():
                key = f"{task['process']}.{task['task']}"
                if task["id"] not in planned:  # the n-th time this task comes up in its instance
                    answer = scenario.answer(key, occurrences[task["instance"], key])
                    occurrences[task["instance"], key] += 1
                    never = answer is None or answer.never
                    planned[task["id"]] = (None if never else task["created_at"] + answer.after, answer)
                when, answer = planned[task["id"]]
                if when is None or when > now:
                    continue
                actor = _user(engine, users, answer.user or task["assignee"]) or users.get(f"role:{task['role']}")
                try:
                    engine.complete(task["id"], answer.values, actor=actor or users["admin"])
                except OpsqaError as exc:
                    raise ScenarioError(_("{source}: answers.{key}: {exc}").format(
                                            source=scenario.source, key=key, exc=exc)) from None
                planned[task["id"]] = (None, answer)
                answered = True
        summary.steps += 1
        if progress:
            progress(now)
        upcoming = [when for when, _ in planned.values() if when is not None and when > now]
        wake = next_wake(engine, now)
        if wake is not None and wake > now:
            upcoming.append(wake)
        if starts:
            upcoming.append(starts[0]["at"])
        if runs:
            upcoming.append(runs[0]["at"])
        if not upcoming or min(upcoming) > end:
            break
        clock.set(min(upcoming))
    clock.set(max(end, clock.now()))
    with engine.database.transaction() as session:
        settings.stamp_simulated(session, clock.now(), by="opsqa simulate")
    _count(engine, summary, first_event, end)
    return summary


def _user(engine, users: dict[str, Actor], name: str | None) -> Actor | None:
    """A named user: one the simulation knows, or one the scenario's commands added since."""
    if not name:
        return None
    if name not in users:
        try:
            users[name] = engine.actor(name)
        except OpsqaError:
            return None
    return users[name]


def _last_event_id(engine) -> int:
    with engine.database.reading() as session:
        return session.scalar(select(Event.id).order_by(Event.id.desc()).limit(1)) or 0


def _simulated_users(engine) -> dict[str, Actor]:
    """One simulated user per role found in the deployed processes (sim-qmd, sim-gm, ...), and an admin."""
    with engine.database.reading() as session:
        models = [json.loads(text) for text in session.scalars(select(Definition.model_json))]
    roles = {node.get("role") for model in models for nodes in model["nodes"].values() for node in nodes.values()}
    roles.discard(None)
    engine.add_user("sim-admin", ["admin"])
    admin = engine.actor("sim-admin")
    users = {"admin": admin}
    for role in sorted(roles):
        engine.add_user(f"sim-{role}", [role], actor=admin)
        users[f"role:{role}"] = engine.actor(f"sim-{role}")
    for user in engine.users():  # scenario `as:` and assignees name real users
        users.setdefault(user["name"], Actor(user["name"], frozenset(user["roles"])))
    return users


def _count(engine, summary: Summary, first_event: int, end: datetime) -> None:
    with engine.database.reading() as session:
        events = session.scalars(select(Event).where(Event.id > first_event)).all()
        processes = dict(session.execute(select(Instance.id, Instance.process_id)).all())
        for event in events:
            payload = json.loads(event.payload)
            if event.kind == "instance.started":
                summary.started[payload["process"]] += 1
            elif event.kind == "instance.completed":
                summary.finished[processes[event.instance_id]] += 1
            elif event.kind == "task.completed":
                summary.tasks_done += 1
            elif event.kind == "timer.fired" and payload.get("boundary"):
                if payload.get("interrupting"):
                    summary.escalations += 1
                else:
                    summary.reminders += 1
        for task in session.scalars(select(Task).where(Task.due_at.is_not(None), Task.created_at >= summary.start)):
            late_done = task.state == "completed" and task.completed_at > task.due_at
            late_done = late_done or (task.state == "cancelled" and task.completed_at >= task.due_at)
            late_open = task.state == "ready" and task.due_at < end
            summary.overdue += late_done or late_open
        for channel, count in session.execute(select(Job.kind, func.count()).where(
                Job.kind == "email", Job.created_at >= summary.start).group_by(Job.kind)):
            summary.messages[channel] += count
        for task in session.scalars(select(Task).where(Task.state == "ready")):
            summary.tasks_open += 1
            summary.unanswered[f"{task.process_id}.{task.bpmn_id}"] += 1
