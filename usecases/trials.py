"""Trying a draft before it is deployed: the scenario tests (`opsqa processes test`) and a simulated year
(`opsqa simulate`, the demo's year or a scenario the process owner gives) run twice, on a throw-away copy of
what is deployed and on the same copy with the draft in place of its process, and their summaries are kept
side by side. Nothing on disk (processes/) and nothing of the real database is used or touched: the deployed
versions are written out to a folder of the trial's own, each run has a new database in it.

Each run is a process of its own, the `opsqa` command itself, bounded in CPU time, memory and wall time, so
that a draft that loops or grows without end stops its trial and nothing else; a thread of the process that
started the trial waits for them and records the outcome. Runs go two at a time (the draft's and the
deployed version's side by side). A trial whose process went away (the server stopped) is shown stopped once
its deadline passes, or at once by the server that started it."""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import sys
import tempfile
import threading
from concurrent.futures import ThreadPoolExecutor
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

from engine import Engine, OpsqaError
from i18n import N_, _

from .base import acting, authorized, reading
from .caller import Caller

TRIAL_SECONDS = 300  # wall time of a whole trial
RUN_CPU_SECONDS = 240  # CPU time of one run (one simulated year or one folder of scenario tests)
RUN_MEMORY = 2 << 30  # address space of one run, bytes (a year of the demo needs about 100 MB)
TRIALS_AT_ONCE = 2  # running on one machine: each takes two processes
SCENARIO_LIMIT = 1024 * 1024  # bytes of an uploaded scenario
OUTPUT_LIMIT = 1024 * 1024  # bytes read back from a run's output
DEMO = Path(__file__).resolve().parent.parent / "demo"
DEMO_SPAN = ("2026-12-20", "2028-01-02")  # as `make demo` runs it
SKIPPED = ("documents issue",)  # the year's work, not its documents (PDFs take most of a year's time)
SIDES = {"deployed": N_("deployed"), "draft": N_("draft")}
STATUS = {"running": N_("running"), "done": N_("done"), "failed": N_("failed"), "stopped": N_("stopped")}

# The run's own limits, set in the run before opsqa starts (a preexec_fn is not safe beside threads).
_BOOT = ("import resource, runpy, sys; "
         "resource.setrlimit(resource.RLIMIT_CPU, ({cpu}, {cpu})); "
         "resource.setrlimit(resource.RLIMIT_AS, ({memory}, {memory})); "
         "sys.argv[0] = 'opsqa'; runpy.run_module('cli', run_name='__main__')")

_running: dict[int, threading.Thread] = {}  # trial id -> the thread waiting for its runs, in this process
_lock = threading.Lock()


def demo_available() -> bool:
    """Whether the demo's year (demo/year.yaml beside opsqa's source) is here to try a draft against."""
    return (DEMO / "year.yaml").is_file()


def start(engine: Engine, caller: Caller, draft_id: int, *,
          scenario: tuple[str, bytes] | None = None) -> dict[str, Any]:
    """Try a draft without problems (those who may edit drafts): against the demo's year, or `scenario` given as
    (file name, YAML) with `from` and `to`. Refused in one line, nothing started, when the scenario cannot be
    used, the draft has problems or is being tried, or this machine runs its most trials already. Returns
    the trial (running); `wait` waits for it."""
    from store import DraftTrial, append_event

    from .drafts import _open_draft, draft

    authorized(engine, caller, "drafts")
    found = draft(engine, draft_id)
    if found["problems"]:
        raise OpsqaError(_("draft {draft} has {count} problem(s); correct them before trying it").format(
                             draft=draft_id, count=len(found["problems"])))
    name, text, span = _scenario(scenario)
    folder = Path(tempfile.mkdtemp(prefix="opsqa-trial-"))
    try:
        _materialize(engine, folder, found, name, text)
        with acting(engine, caller, "drafts") as act:
            row = _open_draft(act.session, draft_id, found["process"])
            if row.sha256 != found["sha256"]:
                raise OpsqaError(_("draft {draft} was saved again meanwhile; try it again").format(draft=draft_id))
            now = datetime.now(UTC)
            busy = [t for t in act.session.query(DraftTrial).filter_by(status="running") if not _stale(t, engine, now)]
            if any(t.draft_id == draft_id for t in busy):
                raise OpsqaError(_("draft {draft} is being tried already; wait for that trial").format(draft=draft_id))
            if sum(t.worker == engine.worker for t in busy) >= TRIALS_AT_ONCE:
                raise OpsqaError(_("{count} trials are running on this server; try again when one has finished").format(
                                     count=TRIALS_AT_ONCE))
            added = DraftTrial(draft_id=draft_id, sha256=row.sha256, scenario=name, status="running",
                               started_at=act.now, started_by=act.actor.name, worker=engine.worker,
                               deadline=now + timedelta(seconds=TRIAL_SECONDS))
            act.session.add(added)
            act.session.flush()
            append_event(act.session, at=act.now, kind="draft.tried", actor=act.actor.name, real_actor=act.actor.real,
                         payload={"process": found["process"], "draft": draft_id, "trial": added.id,
                                  "scenario": name, "sha256": row.sha256})
            trial_id = added.id
            thread = threading.Thread(target=_run, args=(engine, trial_id, folder, span, name),
                                      name=f"opsqa-trial-{trial_id}", daemon=True)
            with _lock:  # before the row is committed: nobody sees it running with nobody waiting for it
                _running[trial_id] = thread
    except BaseException:
        shutil.rmtree(folder, ignore_errors=True)
        if "trial_id" in locals():
            with _lock:
                _running.pop(trial_id, None)
        raise
    thread.start()
    return trial(engine, trial_id)


def trial(engine: Engine, trial_id: int) -> dict[str, Any]:
    """A trial: running, done (both sides ran; each side's summary or its one-line error), failed (it could not
    run: the line says why) or stopped (its process went away)."""
    from store import DraftTrial

    with reading(engine) as session:
        row = session.get(DraftTrial, trial_id)
        if row is None:
            raise OpsqaError(_("no trial {trial}").format(trial=trial_id))
        status = "stopped" if row.status == "running" and _stale(row, engine, datetime.now(UTC)) else row.status
        result = json.loads(row.result_json) if row.result_json else None
        if result is not None:  # the processes either side's year started or finished, for a row each
            years = [result[side]["simulation"]["output"] for side in SIDES if result[side]["simulation"]["ok"]]
            result["processes"] = sorted({process for year in years for process in year["instances"]})
            for year in years:  # a year simulated before --keep-going listed none
                year.setdefault("refused", [])
                year.setdefault("refused_count", 0)
        return {"id": row.id, "draft": row.draft_id, "scenario": row.scenario, "status": status,
                "started_at": row.started_at, "started_by": row.started_by, "finished_at": row.finished_at,
                "result": result, "error": row.error, "sha256": row.sha256}


def trials(engine: Engine, draft_id: int) -> list[dict[str, Any]]:
    """A draft's trials, newest first."""
    from sqlalchemy import select

    from store import DraftTrial

    with reading(engine) as session:
        ids = session.scalars(select(DraftTrial.id).where(DraftTrial.draft_id == draft_id)
                              .order_by(DraftTrial.id.desc())).all()
    return [trial(engine, each) for each in ids]


def wait(trial_id: int, timeout: float | None = None) -> None:
    """Wait for a trial this process started to finish (a command, a test)."""
    with _lock:
        thread = _running.get(trial_id)
    if thread is not None:
        thread.join(timeout)


# -- below the use cases


def _scenario(given: tuple[str, bytes] | None) -> tuple[str, str, tuple[str, str]]:
    """(name, YAML text without the skipped commands, (from, to)) of the scenario a trial runs."""
    import yaml

    if given is None:
        if not demo_available():
            raise OpsqaError(_("the demo's year is not installed here; give a scenario file"))
        name, text, span = "demo", (DEMO / "year.yaml").read_text(encoding="utf-8"), DEMO_SPAN
    else:
        name, content = Path(given[0] or "scenario.yaml").name[:200], given[1]
        if not name.endswith((".yaml", ".yml")):
            raise OpsqaError(_("{name}: a scenario is a .yaml file").format(name=name))
        if not content.strip():
            raise OpsqaError(_("{name}: the file is empty").format(name=name))
        if len(content) > SCENARIO_LIMIT:
            raise OpsqaError(_("{name}: larger than {limit} KB; a scenario is at most {limit} KB").format(
                                 name=name, limit=SCENARIO_LIMIT >> 10))
        try:
            text = content.decode("utf-8")
        except UnicodeDecodeError:
            raise OpsqaError(_("{name}: not UTF-8 text; save it as UTF-8").format(name=name)) from None
        span = None
    try:
        data = yaml.safe_load(text)
    except yaml.YAMLError as exc:
        raise OpsqaError(_("{name} is not valid YAML: {exc}").format(name=name, exc=str(exc).splitlines()[0])) from None
    if not isinstance(data, dict):
        raise OpsqaError(_("{name}: a scenario is a mapping with answers, run, from and to").format(name=name))
    if span is None:
        if "from" not in data or "to" not in data:
            raise OpsqaError(_("{name}: say the simulated period with from and to (from: 2027-01-01, to: "
                               "2028-01-01)").format(name=name))
        span = (str(data["from"]), str(data["to"]))
    runs = data.get("run") or []
    if isinstance(runs, list):
        data["run"] = [r for r in runs if not (isinstance(r, dict)
                                                 and " ".join(r.get("command") if isinstance(r.get("command"), list)
                                                              else [str(r.get("command", ""))]).startswith(SKIPPED))]
    return name, yaml.safe_dump(data, allow_unicode=True, sort_keys=False), span


def _materialize(engine: Engine, folder: Path, found: dict[str, Any], name: str, text: str) -> None:
    """The trial's folder: the deployed versions (deployed/processes), the same with the draft in place of its
    process (draft/processes), each with the scenario tests of the processes folder, and the scenario with
    the files beside it (the demo's data)."""
    from .processes import default_folder, export

    deployed = folder / "deployed" / "processes"
    export(engine, str(deployed))
    shutil.copytree(deployed, folder / "draft" / "processes")
    (folder / "draft" / "processes" / found["file"]).write_text(found["xml"], encoding="utf-8")
    tests = sorted(Path(default_folder()).glob("*.scenario.yaml"))
    for side in SIDES:
        for path in tests:
            shutil.copy(path, folder / side / "processes" / path.name)
    scenario = folder / "scenario"
    scenario.mkdir()
    if name == "demo":
        for path in DEMO.iterdir():
            if path.is_file() and path.name != "year.yaml":
                shutil.copy(path, scenario / path.name)
    (scenario / _file(name)).write_text(text, encoding="utf-8")


def _stale(row, engine: Engine, now: datetime) -> bool:
    """A running trial nobody waits for: past its deadline, or started here by a thread that is gone."""
    if now > row.deadline:
        return True
    if row.worker == engine.worker:
        with _lock:  # the thread leaves the list when it has recorded the outcome, whatever it was
            return row.id not in _running
    return False


def _run(engine: Engine, trial_id: int, folder: Path, span: tuple[str, str], scenario: str) -> None:
    """The trial's thread: the four runs, two at a time, then the outcome recorded."""
    import time

    started = time.monotonic()
    deadline = started + TRIAL_SECONDS
    try:
        jobs = {(side, kind): _command(folder, side, kind, span, scenario) for kind in ("simulation", "tests")
                for side in SIDES}  # the two years side by side first, the longest runs
        with ThreadPoolExecutor(max_workers=2) as pool:
            futures = {key: pool.submit(_execute, args, folder / key[0], key, deadline) for key, args in jobs.items()}
            outcomes = {key: future.result() for key, future in futures.items()}
        result: dict[str, Any] = {"scenario_span": list(span), "skipped": list(SKIPPED)}
        for side in SIDES:
            result[side] = {"simulation": outcomes[side, "simulation"], "tests": outcomes[side, "tests"]}
        _finish(engine, trial_id, "done", result=result, seconds=round(time.monotonic() - started, 1))
    except Exception as exc:  # the trial's own failure (a folder, the database): said in one line, never raised
        first = (str(exc).splitlines() or [""])[0][:300]
        _finish(engine, trial_id, "failed", error=f"{type(exc).__name__}: {first}")
    finally:
        shutil.rmtree(folder, ignore_errors=True)
        with _lock:
            _running.pop(trial_id, None)


def _file(scenario: str) -> str:
    """The scenario's file in the trial's folder, by the name people know it by (the demo's: year.yaml)."""
    return "year.yaml" if scenario == "demo" else scenario


def _command(folder: Path, side: str, kind: str, span: tuple[str, str], scenario: str) -> list[str]:
    processes = str(folder / side / "processes")
    if kind == "tests":
        return ["processes", "test", processes, "--json"]
    return ["--db", str(folder / side / "simulated.db"), "simulate", "--from", span[0], "--to", span[1],
            "--scenario", str(folder / "scenario" / _file(scenario)), "--processes", processes, "--keep-going",
            "--json"]


def _execute(args: list[str], where: Path, key: tuple[str, str], deadline: float) -> dict[str, Any]:
    """One run: {"ok": True, "output": its JSON} or {"ok": False, "error": one line}."""
    import signal
    import time

    boot = _BOOT.format(cpu=RUN_CPU_SECONDS, memory=RUN_MEMORY)
    name = f"{key[0]}-{key[1]}"
    env = {k: v for k, v in os.environ.items() if not k.startswith("OPSQA_")}
    with open(where / f"{name}.out", "w+b") as out, open(where / f"{name}.err", "w+b") as err:
        process = subprocess.Popen([sys.executable, "-c", boot, *args], cwd=where, stdout=out, stderr=err,
                                   stdin=subprocess.DEVNULL, env=env, start_new_session=True)
        try:
            code = process.wait(timeout=max(1.0, deadline - time.monotonic()))
        except subprocess.TimeoutExpired:
            os.killpg(process.pid, signal.SIGKILL)
            process.wait()
            return {"ok": False, "error": _("stopped after {seconds} seconds").format(seconds=TRIAL_SECONDS)}
        out.seek(0)
        err.seek(0)
        stdout, stderr = out.read(OUTPUT_LIMIT), err.read(OUTPUT_LIMIT).decode("utf-8", "replace")
    if code in (-signal.SIGXCPU, -signal.SIGKILL) or "MemoryError" in stderr:
        return {"ok": False, "error": _("stopped: it used more than {cpu} seconds of CPU or {memory} MB of "
                                        "memory").format(cpu=RUN_CPU_SECONDS, memory=RUN_MEMORY >> 20)}
    try:
        output = json.loads(stdout)
    except ValueError:
        lines = [line for line in stderr.splitlines() if line.strip()]
        line = lines[-1] if lines else _("exit status {code}").format(code=code)
        return {"ok": False, "error": _local(line.removeprefix("opsqa: "), where.parent)[:500]}
    if isinstance(output, dict) and isinstance(output.get("refused"), list):
        output["refused"] = [_local(str(line), where.parent)[:500] for line in output["refused"]]
    return {"ok": True, "output": output}


def _local(line: str, folder: Path) -> str:
    """A run's line without the trial's folder (the scenario by its own name, a process file by its folder)."""
    return line.replace(f"{folder}/scenario/", "").replace(f"{folder}/", "")


def _finish(engine: Engine, trial_id: int, status: str, *, result: dict | None = None, error: str | None = None,
            seconds: float | None = None) -> None:
    from store import DraftTrial, append_event

    with engine.database.transaction() as session:
        row = session.get(DraftTrial, trial_id)
        row.status, row.finished_at = status, engine.clock.now()
        if result is not None:
            result["seconds"] = seconds
            row.result_json = json.dumps(result, ensure_ascii=False, default=str)
        row.error = error
        append_event(session, at=row.finished_at, kind="draft.trial_finished", actor=row.started_by,
                     payload={"draft": row.draft_id, "trial": row.id, "status": status, "seconds": seconds,
                              "error": error})
