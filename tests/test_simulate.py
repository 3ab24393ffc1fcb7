"""opsqa simulate: a year in seconds, on a copy of the database, driven by a scenario."""

from __future__ import annotations

import json

import pytest
from helpers import PLAN_VALUES, flow, process, user_task

SCENARIO = {
    "start": [{"process": "quality_plan", "at": "2027-01-04T09:00:00+08:00", "key": "2027",
               "variables": {"year": 2027}}],
    "answers": {
        "quality_plan.draft_plan": {"after": "P3D", "values": PLAN_VALUES},
        "quality_plan.approve_plan": [
            {"after": "P2D", "values": {"decision": "rejected", "comment": "需量化"}},
            {"after": "P1D", "values": {"decision": "approved"}},
        ],
    },
}


def _write(tmp_path, name: str, data) -> str:
    path = tmp_path / name
    path.write_text(json.dumps(data, ensure_ascii=False) if not isinstance(data, str) else data, encoding="utf-8")
    return str(path)


@pytest.fixture
def ready(run):
    assert run("init").exit_code == 0
    # on its own: no annual cycle
    assert run("deploy", "--reason", "set-up", "processes/quality_plan.bpmn").exit_code == 0
    return run


def test_a_year_of_the_quality_plan_in_a_copy(ready, tmp_path):
    before = ready("history", "--json").stdout
    scenario = _write(tmp_path, "year.yaml", SCENARIO)  # JSON is YAML
    out = tmp_path / "sim.db"
    result = ready("simulate", "--from", "2027-01-01", "--to", "2028-01-01", "--scenario", scenario,
                   "--out", str(out), "--json")
    assert result.exit_code == 0, result.output
    summary = json.loads(result.stdout)
    assert summary["instances"] == {"quality_plan": {"started": 1, "finished": 1}}
    assert (summary["tasks_done"], summary["tasks_open"], summary["overdue"]) == (4, 0, 0)
    # The simulated operators acted at the simulated times; the real database is untouched.
    assert ready("history", "--json").stdout == before
    events = json.loads(ready("--db", str(out), "history", "--instance", "1", "--json").stdout)
    completed = [(e["actor"], e["at"][:10]) for e in events if e["kind"] == "task.completed"]
    assert completed == [("sim-qmd", "2027-01-07"), ("sim-gm", "2027-01-09"), ("sim-qmd", "2027-01-12"),
                         ("sim-gm", "2027-01-13")]


def test_unanswered_tasks_escalate_in_simulation(run, tmp_path):
    body = (
        '<bpmn:startEvent id="start" />' + user_task("handle")
        + '<bpmn:boundaryEvent id="remind" attachedToRef="handle" cancelActivity="false"><bpmn:timerEventDefinition'
          ' id="remind_def"><bpmn:timeCycle>R3/P1D</bpmn:timeCycle></bpmn:timerEventDefinition></bpmn:boundaryEvent>'
        + '<bpmn:boundaryEvent id="late" attachedToRef="handle"><bpmn:timerEventDefinition id="late_def">'
          "<bpmn:timeDuration>P5D</bpmn:timeDuration></bpmn:timerEventDefinition></bpmn:boundaryEvent>"
        + user_task("escalate") + '<bpmn:endEvent id="e1" /><bpmn:endEvent id="e2" /><bpmn:endEvent id="e3" />'
        + flow("f1", "start", "handle") + flow("f2", "handle", "e1") + flow("f3", "remind", "e2")
        + flow("f4", "late", "escalate") + flow("f5", "escalate", "e3")
    )
    processes = tmp_path / "processes"
    processes.mkdir()
    (processes / "complaint.bpmn").write_text(process("complaint", body, {
        "pm": ["start", "handle", "remind", "late", "e1", "e2"], "ogm": ["escalate", "e3"]}), encoding="utf-8")
    scenario = _write(tmp_path, "s.yaml", {
        "start": [{"process": "complaint", "at": "2027-02-01T09:00:00+08:00"}],
        "answers": {"complaint.handle": {"never": True}, "complaint.escalate": {"after": "PT4H"}},
    })
    result = run("simulate", "--from", "2027-01-01", "--to", "2027-03-01", "--scenario", scenario,
                 "--processes", str(processes), "--json")
    assert result.exit_code == 0, result.output
    summary = json.loads(result.stdout)
    assert (summary["escalations"], summary["reminders"], summary["tasks_done"]) == (1, 3, 1)
    assert summary["overdue"] == 1 and summary["instances"]["complaint"] == {"started": 1, "finished": 1}
    assert not run.db_path.exists()  # a simulation with no database made its own, and kept nothing


def test_a_yearly_schedule_over_three_years(run, tmp_path):
    processes = tmp_path / "processes"
    processes.mkdir()
    body = ('<bpmn:startEvent id="start"><bpmn:timerEventDefinition id="t"><bpmn:timeCycle>'
            "R/2027-01-01T09:00:00+08:00/P1Y</bpmn:timeCycle></bpmn:timerEventDefinition></bpmn:startEvent>"
            + user_task("confirm") + '<bpmn:endEvent id="end" />'
            + flow("f1", "start", "confirm") + flow("f2", "confirm", "end"))
    (processes / "cycle.bpmn").write_text(process("cycle", body, {"mgmt": ["start", "confirm", "end"]}))
    scenario = _write(tmp_path, "s.yaml", "answers:\n  cycle.confirm: {after: P10D}\n")
    result = run("simulate", "--from", "2026-12-01", "--to", "2030-01-01", "--processes", str(processes),
                 "--scenario", scenario)
    assert result.exit_code == 0, result.output
    assert result.stdout.splitlines()[2].split() == ["cycle", "3", "3"]


@pytest.mark.parametrize(
    ("scenario", "message"),
    [
        ({"answer": {}}, "s.yaml: unknown key 'answer' (known: answers, defaults, expect, from, run, start, to)"),
        ({"answers": {"quality_plan.approve": {}}}, "s.yaml: answers.quality_plan.approve: process quality_plan "
                                                    "has no user task 'approve' (it has approve_plan, draft_plan)"),
        ({"answers": {"audit.plan": {}}}, "s.yaml: answers.audit.plan: process 'audit' is not deployed"),
        ({"answers": {"quality_plan.draft_plan": {"after": "3 days"}}}, "is not an ISO 8601 duration"),
        ({"start": [{"process": "quality_plan", "at": "2027-01-04"}]}, "with a time-zone offset"),
        ("answers: [unclosed", "s.yaml is not valid YAML"),
    ],
)
def test_bad_scenarios_are_refused(ready, tmp_path, scenario, message):
    path = _write(tmp_path, "s.yaml", scenario)
    result = ready("simulate", "--from", "2027-01-01", "--to", "2028-01-01", "--scenario", path)
    assert result.exit_code == 1 and "Traceback" not in result.output
    assert message in result.stderr, result.stderr


def test_a_scenario_value_the_form_refuses_names_the_task(ready, tmp_path):
    bad = {**SCENARIO, "answers": {"quality_plan.draft_plan": {"values": {**PLAN_VALUES, "indicator_cycle": "x"}}}}
    result = ready("simulate", "--from", "2027-01-01", "--to", "2028-01-01",
                   "--scenario", _write(tmp_path, "s.yaml", bad))
    assert result.exit_code == 1
    assert "answers.quality_plan.draft_plan: task draft_plan, field indicator_cycle (6.1.2 e) 质量指标收集分析周期): " \
        "'x' is not one of" in result.stderr


def test_keep_going_counts_the_refusals_and_the_year_goes_on(ready, tmp_path):
    # the form refuses the first draft's answer; a command names an audit that never was: each is listed, the
    # draft stays open, and the rest of the year is still counted
    bad = {**SCENARIO, "answers": {"quality_plan.draft_plan": {"values": {**PLAN_VALUES, "indicator_cycle": "x"}}},
           "run": [{"at": "2027-03-01T10:00:00+08:00", "as": "sim-admin", "command": "users add wang --role pm"},
                   {"at": "2027-03-02T10:00:00+08:00", "as": "sim-admin", "command": "auditors add nobody"}]}
    result = ready("simulate", "--from", "2027-01-01", "--to", "2028-01-01", "--scenario",
                   _write(tmp_path, "s.yaml", bad), "--keep-going", "--json")
    assert result.exit_code == 0, result.output
    summary = json.loads(result.stdout)
    assert summary["refused_count"] == 2 and len(summary["refused"]) == 2
    assert "answers.quality_plan.draft_plan: task draft_plan, field indicator_cycle" in summary["refused"][0]
    assert "run[1] (auditors add nobody)" in summary["refused"][1]
    assert summary["unanswered"] == {"quality_plan.draft_plan": 1} and summary["tasks_open"] == 1
    said = ready("simulate", "--from", "2027-01-01", "--to", "2028-01-01", "--scenario",
                 _write(tmp_path, "s.yaml", bad), "--keep-going")
    assert "2 commands or answers refused, the year went on:" in said.stdout
    stopped = ready("simulate", "--from", "2027-01-01", "--to", "2028-01-01", "--scenario",
                    _write(tmp_path, "s.yaml", bad))
    assert stopped.exit_code == 1 and "answers.quality_plan.draft_plan" in stopped.stderr  # without: the first stops


def test_the_nth_answer_counts_within_each_instance(ready, tmp_path):
    second = {"process": "quality_plan", "at": "2027-06-01T09:00:00+08:00", "key": "2027-H2"}
    scenario = _write(tmp_path, "two.yaml", {**SCENARIO, "start": [*SCENARIO["start"], second]})
    result = ready("simulate", "--from", "2027-01-01", "--to", "2028-01-01", "--scenario", scenario, "--json")
    assert result.exit_code == 0, result.output
    summary = json.loads(result.stdout)
    assert summary["instances"]["quality_plan"] == {"started": 2, "finished": 2}
    assert summary["tasks_done"] == 8  # each general manager's first answer is a rejection
