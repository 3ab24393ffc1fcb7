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


def test_the_throughput_run_times_every_variant_and_checks_their_instances(capsys):
    from bench.__main__ import main

    assert main(["--quick", "--no-suite"]) == 0
    out = capsys.readouterr().out
    for name in ("opsqa on SQLite", "raw SpiffWorkflow, in memory", "raw SpiffWorkflow + JSON round trip",
                 "raw SpiffWorkflow + JSON, spec embedded"):
        assert f"\n{name} " in out
    assert "with the library's serializer (spec embedded)" in out


def test_the_web_bench_runs_small(tmp_path):
    from bench import web

    figures = web.web_pages(tmp_path, requests=3, instances=20)
    assert figures["visible"] == 20 + 3 + 20  # the r3 tasks of the bulk, and the real plans' qmd tasks
    assert figures["inbox"]["p95_ms"] > 0 and figures["completion_post"]["p50_ms"] > 0
