"""On a terminal, `task complete` asks for the required fields it was not given."""

from __future__ import annotations

import os
import pty
import pwd
import subprocess
import sys

from helpers import PLAN_VALUES


def test_missing_required_fields_are_prompted_for(run):
    login = pwd.getpwuid(os.getuid()).pw_name
    assert run("init", login=login).exit_code == 0
    assert run("users", "add", "qmd1", "--role", "qmd", login=login).exit_code == 0
    assert run("deploy", "--reason", "set-up", "processes", login=login).exit_code == 0
    run.start("quality_plan", login=login)
    task_id = run.json("tasks", login=login)[0]["id"]

    given = {k: v for k, v in PLAN_VALUES.items() if k not in ("resources", "spot_check_plan")}
    args = [sys.executable, "-c", "import cli; cli.main()", "--db", str(run.db_path), "--as", "qmd1",
            "task", "complete", task_id[:8], *sum((["--set", f"{k}={v}"] for k, v in given.items()), [])]
    controller, terminal = pty.openpty()
    answers = f"{PLAN_VALUES['resources']}\n{PLAN_VALUES['spot_check_plan']}\n".encode()
    os.write(controller, answers)
    result = subprocess.run(args, stdin=terminal, capture_output=True, timeout=60, cwd=os.getcwd())
    os.close(terminal)
    os.close(controller)
    assert result.returncode == 0, result.stderr.decode()
    assert "c) 所需资源" in result.stdout.decode() and "f) 现场抽查巡查计划" in result.stdout.decode()
    values = [e for e in run.json("history", login=login) if e["kind"] == "task.completed"][0]["payload"]["values"]
    assert values["resources"] == PLAN_VALUES["resources"]
    assert values["spot_check_plan"] == PLAN_VALUES["spot_check_plan"]


def test_colour_where_it_helps_and_never_with_no_color(run):
    from click.testing import CliRunner
    from helpers import ADMIN

    from cli import cli

    assert run("init").exit_code == 0
    assert run("deploy", "--reason", "set-up", "processes/quality_plan.bpmn").exit_code == 0
    assert run("users", "add", "qmd1", "--role", "qmd").exit_code == 0
    run.start("quality_plan")

    def listing(**env):
        result = CliRunner().invoke(cli, ["--db", str(run.db_path), "tasks"], obj={"login": ADMIN}, env=env,
                                    color=True)
        assert result.exit_code == 0, result.output
        return result.stdout

    coloured = listing(CLICOLOR_FORCE="1")
    assert "\x1b[33mready" in coloured and "\x1b[1mTASK" in coloured  # a state in yellow, the header bold
    assert "\x1b[" not in listing(CLICOLOR_FORCE="1", NO_COLOR="1")
    assert "\x1b[" not in listing()  # not a terminal
    assert "\x1b[" not in CliRunner().invoke(cli, ["--db", str(run.db_path), "tasks", "--json"],
                                             obj={"login": ADMIN}, env={"CLICOLOR_FORCE": "1"}, color=True).stdout


def test_shell_completion_of_processes_and_tasks(run):
    import os
    import subprocess
    import sys

    from helpers import ROOT

    assert run("init").exit_code == 0
    assert run("deploy", "--reason", "set-up", "processes/quality_plan.bpmn").exit_code == 0
    run.start("quality_plan")
    [task] = run.json("tasks")

    def complete(*words: str) -> list[str]:
        env = {**os.environ, "_OPSQA_COMPLETE": "bash_complete", "COMP_WORDS": " ".join(["opsqa", *words]),
               "COMP_CWORD": str(len(words))}
        done = subprocess.run([sys.executable, "-c", "import cli; cli.cli(prog_name='opsqa')"], cwd=ROOT, env=env,
                              capture_output=True, text=True)
        return [line.split(",", 1)[1] for line in done.stdout.splitlines() if "," in line]

    assert complete("--db", str(run.db_path), "start", "qual") == ["quality_plan"]
    assert complete("--db", str(run.db_path), "task", "show", task["id"][:3]) == [task["id"]]
    assert "tasks" in complete("ta")
