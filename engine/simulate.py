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
      - {at: "2027-06-10T16:00:00+08:00", as: qmd2,   # scenario's folder; {work}: the run's folder)
         command: "audit record IA-2027-01 --unit P-01 --rest --result conform"}

A `run:` entry acts only on the simulation's own database and folders: its command must be one of
RUN_COMMANDS (the records of the cycle, never a whole database, never the clock, never a server), without
global options (`--db`; the entry's `as:` says who acts), reading files only from the scenario's folder or
the run's folder and writing only new files into the run's folder. Every entry is checked when the
scenario is loaded, so a refused one stops the scenario before anything runs.
"""

from __future__ import annotations

import json
import os
import shlex
from collections import Counter
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from pathlib import Path
from typing import Any

from sqlalchemy import select

from i18n import N_, _
from store import Channel, Definition, Event, Instance, Task

from . import outbox, settings
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


def load_scenario(path: str | None, models: dict[str, dict], *, workdir: str | os.PathLike | None = None) -> Scenario:
    """Read and check a scenario against the deployed processes (`models`: process id -> model). `workdir`:
    the run's throw-away folder, `{work}` in a command, the only place its commands write files."""
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
    work = str(Path(workdir).resolve()) if workdir is not None else None
    for index, entry in enumerate(data.get("run") or []):
        where = f"{path}: run[{index}]"
        if not isinstance(entry, dict) or set(entry) - _RUN_KEYS or not {"at", "as", "command"} <= set(entry):
            raise ScenarioError(_("{where}: give at, as and command").format(where=where))
        when = parse_when(str(entry["at"]))
        if when is None:
            raise ScenarioError(_("{where}: at {at!r} is not a date and time with a time-zone offset").format(
                                    where=where, at=entry['at']))
        command = entry["command"]
        if not isinstance(command, str | list):
            raise ScenarioError(_("{where}: command: give a command line or a list of its words").format(where=where))
        try:
            args = shlex.split(command) if isinstance(command, str) else [str(a) for a in command]
        except ValueError as exc:
            raise ScenarioError(_("{where}: command: {exc}").format(where=where, exc=exc)) from None
        args = [a.replace("{here}", here) for a in args]
        if work is not None:
            args = [a.replace("{work}", work) for a in args]
        check_run(args, where, here=Path(here), work=Path(work) if work is not None else None)
        scenario.runs.append({"at": when, "as": str(entry["as"]), "where": where, "args": args})
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


# -- what a `run:` entry may do: an allow-list, checked at load time

# Each command a `run:` entry may give, with what it takes. Arguments: TEXT, # (a number), IN (a file or
# folder read), IN+ (one or more). Options: --flag, --name= (text), --name=#, --name=IN, --name=OUT (a new
# file or folder written), --name=OUT! (an output that must be given: its default lies outside). `--as`,
# `--force` and `--help` are never allowed. tests/test_hostile_scenarios.py holds this table to the click tree.
RUN_COMMANDS: dict[str, str] = {
    "audit checklist": "TEXT --json",
    "audit evidence": "TEXT # --out=OUT!",
    "audit plan": "--year=# --team= --lead= --from= --to= --partial",
    "audit record": "TEXT --item= --rest --unit= --result= --evidence= --na-reason= --attach=IN",
    "auditors add": "TEXT --certificate= --certificate-no= --valid-until=",
    "auditors list": "--json",
    "auditors set": "TEXT --certificate= --certificate-no= --valid-until= --reason=",
    "auditors show": "TEXT --json",
    "audits": "--year=# --json",
    "complaints add": "--project= --description= --channel= --customer= --contact= --remedy= --received=",
    "complaints close": "TEXT --feedback= --note=",
    "complaints list": "--year=# --open --json --xlsx=OUT",
    "complaints show": "TEXT --json",
    "cycle start": "--year=#",
    "deploy": "IN+ --reason= --revert",
    "finding add": "--owner= --description= --unit= --item= --severity= --due=",
    "finding attach": "TEXT IN --note=",
    "finding evidence": "TEXT # --out=OUT!",
    "finding extend": "TEXT --to= --reason=",
    "finding show": "TEXT --json",
    "findings": "--open --overdue --year=# --as-of= --summary --json --xlsx=OUT",
    "history": "--instance=# --limit=# --kind= --json",
    "improvement list": "--year=# --json --xlsx=OUT",
    "improvement set": "TEXT --cause= --measure= --owner= --due= --expected=",
    "indicators add": "TEXT --name= --target=# --unit= --direction= --cycle= --yearly-rule= --from-survey",
    "indicators import": "IN",
    "indicators list": "--json",
    "indicators set": "TEXT --period= --value=# --project=",
    "indicators values": "--year=# --indicator= --json",
    "indicators year": "# --json",
    "inspection record": "TEXT --project= --item= --rest --pass --fail --evidence= --sample=",
    "inspection start": "--seed=# --size=# --project= --planned",
    "inspections": "--json",
    "instance cancel": "# --reason=",
    "instance migrate": "--process= --to-version=# --instance=# --dry-run --revert --reason= --json",
    "instance retry": "# --reason=",
    "instance show": "# --diagram=OUT --json",
    "instances": "--status= --process= --json",
    "outbox": "--json",
    "permissions": "--json",
    "plan revise": "# --reason=",
    "plan show": "# --json",
    "plans": "--json",
    "processes": "--json",
    "processes diff": "TEXT # # --json",
    "processes show": "TEXT --version=# --diagram=OUT --json",
    "projects add": "TEXT --name= --customer= --pm= --oms= --kind= --member= --contract= --om-start= --om-end=",
    "projects import": "IN",
    "projects list": "--all --json",
    "projects plan": "TEXT --year=#",
    "projects reports": "--project= --year=# --json",
    "projects set": "TEXT --name= --customer= --pm= --oms= --kind= --status= --contract= --om-start= --om-end= "
                    "--reason=",
    "projects show": "TEXT --json",
    "documents": "--year=# --json",
    "documents issue": "TEXT --year=# --format= --out=OUT! --json",
    "report audit": "--year=# --format= --out=OUT!",
    "report improvement": "--year=# --format= --out=OUT!",
    "report inspection": "TEXT --year=# --format= --out=OUT!",
    "report review": "--year=# --format= --out=OUT!",
    "report survey": "--year=# --format= --out=OUT!",
    "review show": "--year=# --json",
    "review start": "--year=# --date= --attendees=",
    "schedules": "--next=# --json",
    "settings": "TEXT TEXT --reason= --json",
    "start": "TEXT --key= --set= --json",
    "survey import": "--year=# IN",
    "survey invite": "--year=# IN",
    "survey respond": "--year=# --customer= --project= --channel= --overall=# --score= --respondent= --comments= "
                      "--issues=",
    "survey show": "--year=# --json",
    "survey start": "--year=#",
    "surveys": "--json",
    "task add-signer": "TEXT --to= --reason=",
    "task cc": "TEXT --to=",
    "task claim": "TEXT",
    "task complete": "TEXT --set= --data=IN",
    "task delegate": "TEXT --to=",
    "task remind": "TEXT --note=",
    "task resolve": "TEXT --note=",
    "task send-back": "TEXT --to= --reason=",
    "task show": "TEXT --json",
    "task sign": "TEXT --approve --reject --note=",
    "task transfer": "TEXT --to= --reason=",
    "task unclaim": "TEXT",
    "task withdraw": "TEXT --reason=",
    "tasks": "--role= --mine --instance=# --overdue --all --done --started --cc --sign --limit=# --json --xlsx=OUT",
    "users add": "TEXT --role= --name= --department= --email= --reason=",
    "users away": "TEXT --substitute= --from= --to= --process= --reason=",
    "users back": "TEXT",
    "users disable": "TEXT --reason=",
    "users enable": "TEXT --reason=",
    "users list": "--json",
    "users revoke": "TEXT --role= --reason=",
    "users set": "TEXT --name= --department= --email= --channel= --mention= --reason=",
    "channels add": "TEXT --kind= --url= --secret= --host= --port=# --from= --user= --password= --starttls --replace",
    "channels list": "--json",
    "channels remove": "TEXT",
    "channels role": "TEXT --channel= --none",
    "users show": "TEXT --json",
}

# Commands (or whole groups) a `run:` entry is told it may not give, and why; any other is refused as unknown.
RUN_REFUSED: dict[str, str] = {
    "init": N_("it creates a database; a scenario acts only on the simulation's own"),
    "db": N_("it acts on whole databases (copy, backup, check, upgrade)"),
    "serve": N_("it runs until stopped"),
    "scheduler": N_("it runs until stopped; the simulation runs the scheduler's passes itself"),
    "tick": N_("the simulation moves its clock and runs the scheduler's passes itself"),
    "simulate": N_("it opens and creates other databases"),
    "processes test": N_("it creates other databases"),
    "processes export": N_("it writes the process files a process owner edits; a scenario deploys, it edits no files"),
    "validate": N_("it opens the database --db names, not the simulation's"),
    "history verify": N_("it opens the database --db names and key files, not the simulation's records"),
    "history keygen": N_("it writes a signing key, outside the run's folder"),
    "history checkpoint": N_("it signs with the service's own key"),
    "users passwd": N_("it reads a password from the terminal; nobody signs in to a simulated year"),
    "channels test": N_("it sends a message to real people now; a simulated year sends nothing"),
    "drafts": N_("process owners' drafts are the processes' changes, not a year's work"),
    "users totp": N_("it makes a sign-in secret; nobody signs in to a simulated year"),
}


@dataclass(frozen=True)
class _Takes:
    arguments: tuple[str, ...]  # the kind of each positional: text, number, in; the last may repeat (in+)
    options: dict[str, str]  # option -> flag, text, number, in, out, out!


_KINDS = {"TEXT": "text", "#": "number", "IN": "in", "IN+": "in+", "=#": "number", "=IN": "in",
          "=OUT": "out", "=OUT!": "out!"}


def _takes(spec: str) -> _Takes:
    arguments, options = [], {}
    for token in spec.split():
        if token.startswith("--"):
            name, eq, kind = token.partition("=")
            options[name] = _KINDS["=" + kind] if eq and kind else ("text" if eq else "flag")
        else:
            arguments.append(_KINDS[token])
    return _Takes(tuple(arguments), options)


_TAKES = {name: _takes(spec) for name, spec in RUN_COMMANDS.items()}
_GROUPS = {"db", "scheduler"} | {name.split()[0] for name in (*RUN_COMMANDS, *RUN_REFUSED) if " " in name}


def check_run(args: list[str], where: str, *, here: Path, work: Path | None) -> None:
    """Refuse, in one line naming `where`, a `run:` entry's command that is not on the allow-list, gives a
    global option, reads a file outside `here` (the scenario's folder) and `work` (the run's folder), or
    writes anywhere but a new file in `work`."""
    if not args:
        raise ScenarioError(_("{where}: the command is empty").format(where=where))
    if args[0].startswith("-"):
        _refuse_option(args[0].partition("=")[0], where, None)
    if args[0] in _GROUPS and len(args) > 1 and not args[1].startswith("-"):
        name, rest = " ".join(args[:2]), args[2:]
    else:
        name, rest = args[0], args[1:]
    reason = RUN_REFUSED.get(name) or RUN_REFUSED.get(args[0])
    if reason is not None:
        raise ScenarioError(_("{where}: {command} is refused: {reason}").format(
                                where=where, command=name, reason=_(reason)))
    if name not in RUN_COMMANDS:
        raise ScenarioError(_("{where}: {command!r} is not a command a scenario may run").format(
                                where=where, command=name))
    takes = _TAKES[name]
    given: list[tuple[str, str | None, str]] = []  # (kind, option or None, value)
    positionals, i, only_arguments = 0, 0, False
    while i < len(rest):
        token, i = rest[i], i + 1
        if token == "--" and not only_arguments:
            only_arguments = True
        elif token.startswith("-") and token != "-" and not only_arguments:
            option, eq, value = token.partition("=")
            kind = takes.options.get(option)
            if kind is None:
                _refuse_option(option, where, name)
            if kind == "flag":
                if eq:
                    raise ScenarioError(_("{where}: {command}: {option} takes no value").format(
                                            where=where, command=name, option=option))
                continue
            if not eq:
                if i == len(rest):
                    raise ScenarioError(_("{where}: {command}: {option} needs a value").format(
                                            where=where, command=name, option=option))
                value, i = rest[i], i + 1
            given.append((kind, option, value))
        else:
            if positionals < len(takes.arguments):
                kind = takes.arguments[positionals]
            elif takes.arguments and takes.arguments[-1] == "in+":
                kind = "in+"
            else:
                raise ScenarioError(_("{where}: {command}: unexpected argument {value!r}").format(
                                        where=where, command=name, value=token))
            positionals += 1
            given.append((kind, None, token))
    if "in+" in takes.arguments[positionals:]:  # without them, deploy reads ./processes
        raise ScenarioError(_("{where}: {command}: name the files to read, in the scenario's folder "
                              "({{here}}/...)").format(where=where, command=name))
    for option, kind in takes.options.items():
        if kind == "out!" and option not in {o for _k, o, _v in given}:  # its default is ./reports, outside
            raise ScenarioError(_("{where}: {command}: give {option} {{work}}/...: a scenario writes files only "
                                  "into the run's folder").format(where=where, command=name, option=option))
    for kind, option, value in given:
        _check_value(kind, option, value, where, name, here, work)


def _refuse_option(option: str, where: str, command: str | None):
    if option == "--db":
        raise ScenarioError(_("{where}: --db is refused: a scenario's commands act only on the simulation's own "
                              "database").format(where=where))
    if option == "--as":
        raise ScenarioError(_("{where}: --as is refused: the entry's as: says who acts").format(where=where))
    if option == "--force":
        raise ScenarioError(_("{where}: {command}: --force is refused: a scenario's commands write only new "
                              "files").format(where=where, command=command))
    if command is None:
        raise ScenarioError(_("{where}: {option} is refused: a scenario's command takes no global options").format(
                                where=where, option=option))
    raise ScenarioError(_("{where}: {command}: {option} is not an option a scenario's command may give").format(
                            where=where, command=command, option=option))


def _check_value(kind: str, option: str | None, value: str, where: str, command: str, here: Path,
                 work: Path | None) -> None:
    named = f"{option} {value}" if option else value
    if kind in ("out", "out!"):
        if work is None or not _inside(value, (work,)):
            raise ScenarioError(_("{where}: {command}: {named} is outside the run's folder; a scenario writes files "
                                  "only there, as {{work}}/...").format(where=where, command=command, named=named))
        if os.path.lexists(value):
            raise ScenarioError(_("{where}: {command}: {named} exists; a scenario's commands write only new "
                                  "files").format(where=where, command=command, named=named))
        return
    folders = (here,) if work is None else (here, work)
    # A text value is never opened, but one that names an existing file is held to the same folders: it
    # would be a file argument this table does not know of.
    if kind in ("in", "in+") or (kind == "text" and _exists(value)):
        outside = None if _inside(value, folders) else value
        if outside is None and os.path.isdir(value):
            outside = next((str(Path(root) / entry) for root, folders_in, files in os.walk(value)
                            for entry in (*folders_in, *files) if not _inside(str(Path(root) / entry), folders)),
                           None)
        if outside is not None:
            raise ScenarioError(_("{where}: {command}: {outside} is outside the scenario's folder and the run's "
                                  "folder; a scenario reads only files beside it").format(
                                      where=where, command=command, outside=outside))


def _exists(value: str) -> bool:
    try:
        return os.path.lexists(value) or os.path.lexists(os.path.expanduser(value))
    except ValueError:  # a NUL in it: no file's name
        return False


def _inside(value: str, folders: tuple[Path, ...]) -> bool:
    """Whether `value`, as a command would open it (from the working folder, through every link; with or
    without `~` expanded), lies in one of `folders`."""
    try:
        targets = {Path(value).resolve(), Path(os.path.expanduser(value)).resolve()}
    except (OSError, ValueError, RuntimeError):  # a NUL, a loop of links: refused
        return False
    return all(any(target.is_relative_to(folder) for folder in folders) for target in targets)


REFUSED_KEPT = 20  # refusals a simulation that keeps going lists (it counts them all)


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
    refused: list[str] = field(default_factory=list)  # with keep_going: the first REFUSED_KEPT refusals
    refused_count: int = 0

    def refuse(self, line: str) -> None:
        self.refused_count += 1
        if len(self.refused) < REFUSED_KEPT:
            self.refused.append(line)


def simulate(engine, scenario: Scenario, *, start: datetime, end: datetime,
             progress: Callable[[datetime], None] | None = None,
             run_command: Callable[[list[str], str], None] | None = None, keep_going: bool = False) -> Summary:
    """Run from `start` to `end` on the engine's database; the engine's clock is replaced by a simulated one.
    `run_command(args, login)` runs a scenario's command (the CLI lends it). A command or an answer refused
    stops the simulation (ScenarioError), unless `keep_going`: then it is counted and listed, the task stays
    unanswered, and the year goes on (a changed diagram tried against a year shows where else it tells)."""
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
        for channel in session.scalars(select(Channel)):  # a copy of a real database forgets where its robots
            channel.url = channel.secret = channel.host = channel.login = channel.password = ""  # and mail are
            # (the names stay: messages are still routed and counted per channel, and never sent)
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
                line = f"{item['where']} ({' '.join(item['args'])}): {exc}"
                if not keep_going:
                    raise ScenarioError(line) from None
                summary.refuse(line)
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
                    line = _("{source}: answers.{key}: {exc}").format(source=scenario.source, key=key, exc=exc)
                    if not keep_going:
                        raise ScenarioError(line) from None
                    summary.refuse(line)  # the task stays open, unanswered
                    planned[task["id"]] = (None, answer)
                    continue
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
        summary.messages.update(outbox.counts(session, since=summary.start))
        for task in session.scalars(select(Task).where(Task.state == "ready")):
            summary.tasks_open += 1
            summary.unanswered[f"{task.process_id}.{task.bpmn_id}"] += 1
