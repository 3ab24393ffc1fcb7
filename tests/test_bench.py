"""The benchmark suite still runs (tiny sizes: the figures themselves come from `python -m bench`)."""

from __future__ import annotations

from bench import suite


def test_the_suite_runs_small(tmp_path):
    for name in ("a", "b", "c", "d"):
        (tmp_path / name).mkdir()
    tasks = suite.tasks_by_role(tmp_path / "a", runs=1, instances=30)
    assert (tasks["matching"], tasks["instances"]) == (30, 31)
    timers = suite.due_timer_pass(tmp_path / "b", waiting=50, due_count=5)
    assert (timers["fired"], timers["instances_loaded"]) == (5, 5)  # only the due ones are loaded
    complete = suite.task_complete(tmp_path / "c", runs=1, instances=5)
    assert complete["median_ms"] > 0
    year = suite.simulated_year(tmp_path / "d", projects=6)
    assert year["annual_cycle_states"]["2027"]["status"] == "completed"
