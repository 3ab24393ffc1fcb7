"""A scenario's `run:` entries act only on the simulation's own database and folders (issue 17): a hostile
entry is refused in one line when the scenario is loaded, under `opsqa processes test` and `opsqa simulate`
alike, and nothing is made outside; a simulated database never sends mail."""

from __future__ import annotations

import json
import shutil
import sqlite3

import click
import pytest
from helpers import PROCESSES, ROOT

from cli import cli
from engine.simulate import RUN_COMMANDS, RUN_REFUSED, _takes

SHIPPED = (PROCESSES / "quality_plan.scenario.yaml").read_text(encoding="utf-8")
AT = "2027-01-05T10:00:00+08:00"


@pytest.fixture
def place(tmp_path, monkeypatch):
    """A processes folder with the quality plan and its shipped scenario, an `elsewhere` folder holding a
    secret, a link from the processes folder to it, and a working folder of our own (relative paths)."""
    folder = tmp_path / "processes"
    folder.mkdir()
    shutil.copy(PROCESSES / "quality_plan.bpmn", folder)
    elsewhere = tmp_path / "elsewhere"
    elsewhere.mkdir()
    (elsewhere / "secret.csv").write_text("code,name\nK9,leak\n", encoding="utf-8")
    (folder / "link").symlink_to(elsewhere, target_is_directory=True)
    (folder / "evidence.txt").write_text("抽查记录\n", encoding="utf-8")
    cwd = tmp_path / "cwd"
    cwd.mkdir()
    monkeypatch.chdir(cwd)
    return tmp_path


def scenario(place, *commands: str | list[str] | dict) -> str:
    """The shipped quality-plan scenario with these `run:` entries, as the folder's only scenario."""
    entries = "".join(f"  - {{at: \"{AT}\", as: sim-admin, command: {json.dumps(c, ensure_ascii=False)}}}\n"
                      for c in commands)
    path = place / "processes" / "quality_plan.scenario.yaml"
    path.write_text(SHIPPED + ("run:\n" + entries if commands else ""), encoding="utf-8")
    return str(path)


def under_processes_test(run, place):
    return run("processes", "test", str(place / "processes"))


def under_simulate(run, place):
    out = place / "sim" / "sim.db"
    out.parent.mkdir(exist_ok=True)
    return run("simulate", "--from", "2027-01-02", "--to", "2027-02-01", "--scenario",
               str(place / "processes" / "quality_plan.scenario.yaml"), "--out", str(out),
               "--processes", str(place / "processes"))


FACES = pytest.mark.parametrize("face", [under_processes_test, under_simulate], ids=["processes-test", "simulate"])

# (command, with {out} the outside folder; what the refusal says; what must not exist after, in {out} or ./)
HOSTILE = [
    ("--db {out}/x.db users add eve --role qmd", "--db is refused: a scenario's commands act only on the "
                                                 "simulation's own database", "{out}/x.db"),
    ("users add eve --role qmd --db {out}/x.db", "--db is refused", "{out}/x.db"),
    ("--lang zh_CN users list", "--lang is refused: a scenario's command takes no global options", None),
    ("users add eve --role admin --as sim-admin", "--as is refused: the entry's as: says who acts", None),
    ("init", "init is refused: it creates a database; a scenario acts only on the simulation's own", "opsqa.db"),
    ("db copy --to sqlite:///{out}/copy.db", "db copy is refused: it acts on whole databases", "{out}/copy.db"),
    ("db backup {out}/backup.db", "db backup is refused: it acts on whole databases", "{out}/backup.db"),
    ("db check", "db check is refused", None),
    ("serve --port 0", "serve is refused: it runs until stopped", None),
    ("scheduler run", "scheduler run is refused: it runs until stopped", None),
    ("tick --now 2027-03-01T00:00:00+08:00", "tick is refused: the simulation moves its clock", None),
    ("simulate --from 2027-01-01 --to 2027-02-01 --out {out}/sim.db", "simulate is refused", "{out}/sim.db"),
    ("processes test {out}", "processes test is refused: it creates other databases", None),
    ("validate {here}", "validate is refused", None),
    ("users passwd sim-admin", "users passwd is refused", None),
    ("history keygen --key {out}/signing.key", "history keygen is refused", "{out}/signing.key"),
    ("history checkpoint --out {out}/x.checkpoint", "history checkpoint is refused", "{out}/x.checkpoint"),
    ("history --json verify", "history: unexpected argument 'verify'", None),
    ("users totp sim-admin", "users totp is refused", None),
    ("channels test wx", "channels test is refused", None),
    ({"db": "copy"}, "command: give a command line or a list of its words", None),
    ("", "the command is empty", None),
    ("frobnicate --now", "'frobnicate' is not a command a scenario may run", None),
    ("users --help", "'users' is not a command a scenario may run", None),
    ("report audit --year 2027 --out {out}/elsewhere", "report audit: --out {out}/elsewhere is outside the run's "
                                                       "folder", "{out}/elsewhere"),
    ("report audit --year 2027", "report audit: give --out {work}/...: a scenario writes files only into the run's "
                                 "folder", "reports"),
    ("tasks --xlsx tasks.xlsx", "tasks: --xlsx tasks.xlsx is outside the run's folder", "tasks.xlsx"),
    ("tasks --xlsx={here}/../escape.xlsx", "is outside the run's folder", "{out}/../escape.xlsx"),
    ("tasks --xlsx {here}/t.xlsx", "is outside the run's folder", "{here}/t.xlsx"),
    ("tasks --xlsx {work}/t.xlsx --force", "tasks: --force is refused: a scenario's commands write only new files",
     None),
    ("tasks --xlsx /tmp/opsqa-hostile-scenario.xlsx", "is outside the run's folder",
     "/tmp/opsqa-hostile-scenario.xlsx"),
    ("indicators import {out}/secret.csv", "indicators import: {out}/secret.csv is outside the scenario's folder "
                                           "and the run's folder", None),
    ("indicators import {here}/../elsewhere/secret.csv", "is outside the scenario's folder", None),
    ("indicators import {here}/link/secret.csv", "{here}/link/secret.csv is outside the scenario's folder", None),
    ("deploy {here} --reason again", "deploy: {here}/link is outside the scenario's folder", None),
    ("deploy --reason default", "deploy: name the files to read, in the scenario's folder", None),
    ("task complete 1 --data /etc/passwd", "task complete: /etc/passwd is outside", None),
    ("finding add --owner sim-pm --description /etc/passwd", "finding add: /etc/passwd is outside", None),
]


def _expand(text: str, place) -> str:
    return text.replace("{out}", str(place / "elsewhere")).replace("{here}", str(place / "processes"))


@FACES
@pytest.mark.parametrize("command,message,absent", HOSTILE, ids=[str(h[0]) for h in HOSTILE])
def test_a_hostile_run_entry_is_refused_in_one_line_before_anything_runs(run, place, face, command, message,
                                                                          absent):
    path = scenario(place, _expand(command, place) if isinstance(command, str) else command)
    before = sorted(p.name for p in (place / "elsewhere").iterdir())
    result = face(run, place)
    assert result.exit_code == 1, result.output
    [line] = result.stderr.splitlines()
    assert line.startswith(f"opsqa: {path}: run[0]: "), line
    assert _expand(message, place) in line, line
    assert "PASS" not in result.stdout
    assert sorted(p.name for p in (place / "elsewhere").iterdir()) == before
    if absent:
        assert not (place / "cwd" / _expand(absent, place)).exists()
    assert not (place / "cwd" / "opsqa.db").exists() and not (place / "cwd" / "reports").exists()
    assert not (place / "sim" / "sim.db").exists()  # simulate: a refused scenario leaves no --out file


def test_a_symbolic_link_in_the_run_folder_leads_nowhere(run, place):
    """For `simulate` the run's folder is --out's; a link there pointing outside is refused too."""
    (place / "sim").mkdir()
    (place / "sim" / "away").symlink_to(place / "elsewhere", target_is_directory=True)
    scenario(place, "tasks --xlsx {work}/away/t.xlsx")
    result = under_simulate(run, place)
    assert result.exit_code == 1 and "--xlsx" in result.stderr and "is outside the run's folder" in result.stderr
    assert not (place / "elsewhere" / "t.xlsx").exists()


@FACES
def test_the_second_entry_refused_means_the_first_never_ran(run, place, face):
    scenario(place, "users add eve --role qmd", "db backup {work}/backup.db")
    result = face(run, place)
    assert result.exit_code == 1 and "run[1]: db backup is refused" in result.stderr


@FACES
def test_entries_on_the_simulation_and_its_folders_still_pass(run, place, face):
    shutil.copy(PROCESSES / "nc_followup.bpmn", place / "processes")  # for the finding
    scenario(place, "users add eve --role qmd --name 伊娃", ["tasks", "--all", "--xlsx", "{work}/tasks.xlsx"],
             "findings --summary", "indicators add K1 --name 及时率 --target 95",
             "finding add --owner eve --description CPU/内存告警未处理 --unit P-01",
             "finding attach NC-2027-001 {here}/evidence.txt",
             "finding evidence NC-2027-001 1 --out {work}/copy.txt",
             "report audit --year 2027 --out {work}/reports")
    result = face(run, place)
    assert result.exit_code == 0, result.output
    if face is under_simulate:  # the run's folder is --out's: the files are kept beside the database
        assert (place / "sim" / "tasks.xlsx").is_file() and (place / "sim" / "copy.txt").read_text() == "抽查记录\n"
        assert any((place / "sim" / "reports" / "2027").iterdir())
    else:
        assert result.stdout == "PASS  quality_plan.scenario.yaml\n"
    assert sorted(p.name for p in (place / "elsewhere").iterdir()) == ["secret.csv"]
    assert list((place / "cwd").iterdir()) == []


def test_the_demo_year_still_runs_its_commands(run, tmp_path):
    out = tmp_path / "demo.db"
    result = run("simulate", "--from", "2026-12-20", "--to", "2027-02-01", "--scenario",
                 str(ROOT / "demo" / "year.yaml"), "--out", str(out), "--json")
    assert result.exit_code == 0, result.output
    assert json.loads(result.stdout)["tasks_done"] > 0


# -- the allow-list agrees with the click tree


def _command(path: str) -> click.Command:
    command = cli
    for word in path.split():
        command = command.commands[word]
    return command


@pytest.mark.parametrize("name", sorted(RUN_COMMANDS))
def test_each_allowed_command_is_described_as_click_has_it(name):
    """Every option of an allowed command is known (a new one must be classified here: a file it reads or
    writes, a number, text), and every click.Path is a file read or written."""
    command, takes = _command(name), _takes(RUN_COMMANDS[name])
    options = {opt: param for param in command.params if isinstance(param, click.Option)
               for opt in (*param.opts, *param.secondary_opts)}
    assert set(takes.options) == set(options) - {"--as", "--force", "--help", "-h"}
    for opt, kind in takes.options.items():
        param = options[opt]
        assert (kind == "flag") == param.is_flag, opt
        assert (kind in ("in", "out", "out!")) == isinstance(param.type, click.Path), opt
        assert (kind == "number") == isinstance(param.type, click.types._NumberParamTypeBase), opt
        if param.required:
            assert kind != "out", f"{opt}: mark a required output OUT!"
    arguments = [param for param in command.params if isinstance(param, click.Argument)]
    assert len(arguments) == len(takes.arguments)
    for param, kind in zip(arguments, takes.arguments, strict=True):
        assert (kind == "in+") == (param.nargs == -1), param.name
        assert (kind == "number") == isinstance(param.type, click.types._NumberParamTypeBase), param.name
        if isinstance(param.type, click.Path):
            assert kind == "in", param.name
    for param in command.params:
        assert param.envvar is None, param.name


def test_the_refused_commands_exist():
    for name in RUN_REFUSED:
        assert _command(name) is not None
    assert not set(RUN_REFUSED) & set(RUN_COMMANDS)


# -- a simulated database sends no mail


def _smtp_host(db) -> str | None:
    with sqlite3.connect(db) as connection:
        row = connection.execute("SELECT host FROM channel WHERE name = 'email'").fetchone()
    return row[0] if row else None


def test_a_copy_of_a_mailing_database_sends_nothing_and_forgets_its_mail_server(run, db_path, tmp_path, smtp):
    assert run("init").exit_code == 0
    result = run("deploy", "--reason", "set-up", str(PROCESSES / "quality_plan.bpmn"))
    assert result.exit_code == 0, result.output
    for user, role in (("qmd1", "qmd"), ("gm1", "gm")):
        assert run("users", "add", user, "--role", role, "--email", f"{user}@example.com").exit_code == 0
    assert run("channels", "add", "email", "--kind", "email", "--host", "127.0.0.1", "--port", str(smtp.port),
               "--from", "opsqa@example.com").exit_code == 0
    path = tmp_path / "s.yaml"
    path.write_text(SHIPPED, encoding="utf-8")
    out = tmp_path / "sim.db"
    result = run("simulate", "--from", "2027-01-02", "--to", "2027-03-01", "--scenario", str(path),
                 "--out", str(out), "--json")
    assert result.exit_code == 0, result.output
    assert json.loads(result.stdout)["messages"]["email"] > 0  # queued for qmd1 and gm1 ...
    assert smtp.messages == []  # ... never sent
    assert _smtp_host(out) == "" and _smtp_host(db_path) == "127.0.0.1"
    # set again on the copy, it still sends nothing: the simulated stamp stops delivery
    assert run("--db", str(out), "channels", "add", "email", "--kind", "email", "--host", "127.0.0.1", "--port",
               str(smtp.port), "--from", "opsqa@example.com", "--replace").exit_code == 0
    result = run("--db", str(out), "tick", "--json")
    assert result.exit_code == 0, result.output
    assert json.loads(result.stdout)["notifications_sent"] == 0 and smtp.messages == []
