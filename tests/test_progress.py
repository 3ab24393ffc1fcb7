"""Progress on long work: the engine and the handlers report (done, total) to a callback; the CLI draws a bar
from it on stderr, only at a terminal and never with --json, so piped and JSON output stay clean."""

from __future__ import annotations

import io
import json
import sys
from datetime import datetime, timedelta
from zoneinfo import ZoneInfo

from helpers import PLAN_VALUES, PROCESSES
from lxml import etree

from cli.base import Progress
from engine.simulate import Answer, Scenario, simulate
from handlers.indicators import define, parse_values, record_values
from handlers.tabular import from_csv

SHANGHAI = ZoneInfo("Asia/Shanghai")
BPMN = "{http://www.omg.org/spec/BPMN/20100524/MODEL}process"


def test_deploy_reports_each_file_and_each_process(engine, admin):
    files = sorted(PROCESSES.glob("*.bpmn"))
    processes = sum(len(etree.parse(str(path)).getroot().findall(BPMN)) for path in files)
    calls: list[tuple[int, int]] = []
    engine.deploy([str(PROCESSES)], actor=admin, progress=lambda done, total: calls.append((done, total)))
    total = len(files) + processes
    assert calls == [(done, total) for done in range(1, total + 1)]


def test_an_import_reports_each_row(engine, admin):
    with engine.database.transaction() as session:
        define(session, code="K1", name="事件按时解决率", unit="%", direction="higher_better", target=95,
               cycle="monthly", now=engine.clock.now(), actor=admin)
    rows = parse_values(from_csv("indicator,period,value\n" + "".join(f"K1,2027-{m:02d},9{m % 10}\n"
                                                                      for m in range(1, 13)), "kpi.csv"))
    calls: list[tuple[int, int]] = []
    with engine.database.transaction() as session:
        counts = record_values(session, rows, now=engine.clock.now(), actor=admin,
                               progress=lambda done, total: calls.append((done, total)))
    assert counts["added"] == 12 and calls == [(done, 12) for done in range(1, 13)]


def test_a_simulation_reports_each_step(engine, admin):
    engine.deploy([str(PROCESSES / "quality_plan.bpmn")], actor=admin)
    start = datetime(2027, 1, 1, tzinfo=SHANGHAI)
    seen: list[datetime] = []
    scenario = Scenario(starts=[{"process": "quality_plan", "at": start, "key": "2027", "variables": {"year": 2027}}],
                        answers={"quality_plan.draft_plan": [Answer(timedelta(days=3), PLAN_VALUES)],
                                 "quality_plan.approve_plan": [Answer(timedelta(days=2), {"decision": "approved"})]})
    summary = simulate(engine, scenario, start=start, end=datetime(2027, 3, 1, tzinfo=SHANGHAI), progress=seen.append)
    assert len(seen) == summary.steps > 1 and seen == sorted(seen)


def test_no_bar_when_stderr_is_no_terminal(run, tmp_path):
    assert run("init").exit_code == 0
    deployed = run("deploy", "--reason", "set-up", "processes")
    assert deployed.exit_code == 0 and deployed.stderr == ""
    values = tmp_path / "kpi.csv"
    values.write_text("indicator,period,value\n", encoding="utf-8")
    assert run("indicators", "import", str(values)).stderr == ""
    for extra in ([], ["--json"]):
        result = run("simulate", "--from", "2027-01-01", "--to", "2027-06-01", *extra)
        assert result.exit_code == 0, result.output
        assert "simulating" not in result.stderr and "%" not in result.stderr and "[#" not in result.stderr
    json.loads(result.stdout)  # --json: stdout is the JSON, nothing else


class Terminal(io.StringIO):
    def isatty(self) -> bool:
        return True


def test_at_a_terminal_a_bar_is_drawn_on_stderr_but_never_with_json(monkeypatch):
    monkeypatch.setattr(sys, "stderr", Terminal())
    monkeypatch.setattr(Progress, "DELAY", 0)
    with Progress("importing") as progress:
        for done in range(1, 101):
            progress(done, 100)
    drawn = sys.stderr.getvalue()
    assert "importing" in drawn and "100%" in drawn
    with Progress("importing", as_json=True) as progress:
        assert progress is None
    monkeypatch.setattr(sys, "stderr", io.StringIO())
    with Progress("importing") as progress:
        assert progress is None


def test_quick_work_draws_nothing(monkeypatch):
    monkeypatch.setattr(sys, "stderr", Terminal())
    with Progress("deploying") as progress:
        progress(1, 2)
        progress(2, 2)
    assert sys.stderr.getvalue() == ""
