"""The demo's year (demo/year.yaml) as `make demo` runs it: every step of the scenario still works,
and the year ends as the scenario says it should."""

from __future__ import annotations

import json

from helpers import ROOT


def test_the_demo_year(run, tmp_path):
    db = tmp_path / "year.db"
    result = run("--db", str(db), "simulate", "--from", "2026-12-20", "--to", "2028-01-02", "--scenario",
                 str(ROOT / "demo" / "year.yaml"), "--out", str(db), "--json")
    assert result.exit_code == 0, result.output
    summary = json.loads(result.stdout)
    assert summary["instances"]["annual_cycle"] == {"started": 2, "finished": 1}  # 2027 closed, 2028 begun

    def read(*args):
        return run.json("--db", str(db), *args)

    assert {k["code"]: k["attainment"] for k in read("indicators", "year", "2027")} == {
        "K1": "unmet", "K2": "met", "K3": "met", "K4": "unmet", "K5": "met"}
    [complaint] = read("complaints", "list")
    assert (complaint["severity"], complaint["status"], complaint["closed_by"]) == ("major", "closed", "ogm")
    survey = read("survey", "show", "--year", "2027")
    assert (survey["status"], survey["responded"], survey["collect_until"]) == ("reported", 12, "2027-10-20")
    history = read("history")
    escalated = sorted(e["payload"]["finding"] for e in history if e["kind"] == "finding.escalated")
    assert escalated == ["NC-2027-001", "NC-2027-002", "NC-2027-003", "NC-2027-004"]
    assert [e["payload"]["year"] for e in history if e["kind"] == "cycle.closed"] == [2027]
    items = read("improvement", "list", "--year", "2027")
    assert [i["source"] for i in items] == [
        "unmet_kpi:K1", "unmet_kpi:K4", "open_nc:NC-2027-004", "complaint:C-2027-001", "mr:MR-2027-2"]
    assert [i["description"] for i in items[:2]] == [  # the actual and the target both with their unit
        "指标K1 事件按时解决率未达标：实际94.2%，目标≥95.0%", "指标K4 客户满意度未达标：实际4.25 分，目标≥4.5 分"]
