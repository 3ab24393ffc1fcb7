"""Moving house: a database with a simulated year, copied from SQLite to a real PostgreSQL server,
verifies and goes on running there; a backup while the scheduler runs; bad targets are refused."""

from __future__ import annotations

import signal
import subprocess
import sys

from helpers import ROOT
from test_daemon import Log

pytest_plugins = ["postgres"]


def year_db(run, tmp_path):
    db = tmp_path / "year.db"
    result = run("--db", str(db), "simulate", "--from", "2026-12-20", "--to", "2027-11-20T10:00:00+08:00", "--scenario",
                 str(ROOT / "demo" / "year.yaml"), "--out", str(db))
    assert result.exit_code == 0, result.output
    return db


def test_a_simulated_year_moves_to_postgresql_and_goes_on(run, tmp_path, pg_url):
    db = year_db(run, tmp_path)
    before = {row["code"]: row["status"] for row in run.json("--db", str(db), "findings")}
    result = run("--db", str(db), "db", "copy", "--to", pg_url, login="sim-admin")  # the simulation's admin
    assert result.exit_code == 0, result.output
    assert "history verified" in result.stdout
    assert run("--db", pg_url, "history", "verify").exit_code == 0
    assert {row["code"]: row["status"] for row in run.json("--db", pg_url, "findings")} == before
    assert run.json("--db", pg_url, "review", "show", "--year", "2027")["status"] == "initiated"

    # It goes on there: the review is held, the improvement plan proposed, a new event chained on.
    [hold] = [t for t in run.json("--db", pg_url, "tasks") if t["task"] == "hold_review"]
    done = run("--db", pg_url, "task", "complete", hold["id"], "--set", "minutes=会议纪要", "--set",
               "decisions=持续改进", login="mr")
    assert done.exit_code == 0, done.output
    assert run.json("--db", pg_url, "review", "show", "--year", "2027")["status"] == "reported"
    assert [i["source"] for i in run.json("--db", pg_url, "improvement", "list", "--year", "2027")]
    assert run("--db", pg_url, "history", "verify").exit_code == 0

    again = run("--db", str(db), "db", "copy", "--to", pg_url, login="sim-admin")
    assert again.exit_code == 1 and "is not empty" in again.stderr and "opsqa copies into an empty" in again.stderr


def test_unreachable_targets_and_backups(run, tmp_path):
    db = year_db(run, tmp_path)
    refused = run("--db", str(db), "db", "backup", str(tmp_path / "no.db"))  # admin1 is no user of the simulation
    assert refused.stderr.startswith("opsqa: you (admin1) are not an opsqa user")
    result = run("--db", str(db), "db", "copy", "--to", "postgresql+psycopg://nobody@127.0.0.1:1/none",
                 login="sim-admin")
    assert result.exit_code == 1 and result.stderr.startswith("opsqa: cannot reach ")
    backup = tmp_path / "backup.db"
    scheduler = subprocess.Popen([sys.executable, "-c", "import cli; cli.main()", "--db", str(db), "scheduler",
                                  "run", "--interval", "0.1"], cwd=ROOT, stderr=subprocess.PIPE)
    log = Log(scheduler.stderr)
    try:  # the backup is taken while the scheduler runs its passes
        log.until("started on")
        assert run("--db", str(db), "db", "backup", str(backup), login="sim-admin").exit_code == 0
    finally:
        scheduler.send_signal(signal.SIGTERM)
        assert scheduler.wait(timeout=30) == 0
        scheduler.stderr.close()
    assert run.json("--db", str(backup), "findings") == run.json("--db", str(db), "findings")
    assert run("--db", str(backup), "history", "verify").exit_code == 0
    refused = run("--db", str(db), "db", "backup", str(backup), login="sim-admin")
    assert refused.exit_code == 1 and "exists; use --force to replace it" in refused.stderr
