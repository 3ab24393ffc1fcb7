"""`opsqa processes test`: a process owner's scenarios beside the diagrams, pass or fail with reasons."""

from __future__ import annotations

import shutil

from helpers import PROCESSES


def folder_with(tmp_path, scenario: str | None = None):
    folder = tmp_path / "processes"
    folder.mkdir()
    shutil.copy(PROCESSES / "quality_plan.bpmn", folder)
    text = (PROCESSES / "quality_plan.scenario.yaml").read_text(encoding="utf-8")
    (folder / "quality_plan.scenario.yaml").write_text(text, encoding="utf-8")
    if scenario is not None:
        (folder / "never_approved.scenario.yaml").write_text(scenario, encoding="utf-8")
    return folder


def test_the_shipped_scenario_passes(run, tmp_path):
    result = run("processes", "test", str(folder_with(tmp_path)))
    assert result.exit_code == 0, result.output
    assert result.stdout == "PASS  quality_plan.scenario.yaml\n"


def test_a_scenario_that_does_not_end_as_expected_fails_with_its_reasons(run, tmp_path):
    text = (PROCESSES / "quality_plan.scenario.yaml").read_text(encoding="utf-8")
    never = text.replace("{decision: approved}", "{decision: rejected, comment: 仍需修改}")
    result = run("processes", "test", str(folder_with(tmp_path, never)))
    assert result.exit_code == 1
    assert result.stdout.splitlines() == [
        "FAIL  never_approved.scenario.yaml",
        "      completed quality_plan: expected 1, got 0",
        "      records quality_plan: expected 1, got 0",
        "      end events of quality_plan: end_plan_issued not reached (reached: none)",
        "PASS  quality_plan.scenario.yaml",
    ]


def test_bad_scenarios_are_refused(run, tmp_path):
    folder = folder_with(tmp_path, "from: 2027-01-02\nto: 2027-02-01\n")
    result = run("processes", "test", str(folder))
    assert result.exit_code == 1 and "a process test needs from, to and expect" in result.stderr
    empty = tmp_path / "empty"
    empty.mkdir()
    result = run("processes", "test", str(empty))
    assert result.exit_code == 1 and "no *.scenario.yaml files in" in result.stderr
