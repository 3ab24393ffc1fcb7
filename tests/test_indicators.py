"""Indicators (6.1.2 e): definitions, imported values, the monthly collection and its flagged misses."""

from __future__ import annotations

from datetime import date, datetime
from zoneinfo import ZoneInfo

import pytest
from helpers import ADMIN, make_engine

import usecases
from engine import OpsqaError, SimulatedClock
from engine.errors import Denied
from handlers.indicators import define, due_periods, parse_values, record_values, yearly
from handlers.tabular import from_csv

SHANGHAI = ZoneInfo("Asia/Shanghai")


def local(*args: int) -> datetime:
    return datetime(*args, tzinfo=SHANGHAI)


@pytest.fixture
def org(engine, db_path):
    org = make_engine(db_path, SimulatedClock(local(2026, 12, 20, 9)))
    org.deploy(["processes/kpi_collection.bpmn"], actor=org.actor(ADMIN))
    qmd = org.actor("qmd1")
    with org.database.transaction() as session:
        define(session, code="K1", name="事件按时解决率", unit="%", direction="higher_better", target=95,
               cycle="monthly", now=org.clock.now(), actor=qmd)
        define(session, code="K2", name="平均修复时间", unit="h", direction="lower_better", target=4.0,
               cycle="quarterly", now=org.clock.now(), actor=qmd)
    return org


def load(org, text: str, user: str = "qmd1") -> dict:
    with org.database.transaction() as session:
        return record_values(session, parse_values(from_csv(text, "kpi.csv")), now=org.clock.now(),
                             actor=org.actor(user))


def test_the_monthly_collection_flags_a_miss(org):
    org.clock.set(local(2027, 4, 1, 1, 1))
    org.tick()
    collections = {i["business_key"]: i for i in org.instances(process_id="kpi_collection")}
    assert {k: c["status"] for k, c in collections.items()} == {  # K1 from January on; nothing of 2026
        "2027-01": "completed", "2027-02": "running", "2027-03": "running", "2027-04": "running"}
    collection = collections["2027-04"]
    [enter] = org.tasks(instance_id=collection["id"])
    with pytest.raises(OpsqaError, match=r"no organisation-wide value yet for K1@2027-03, K2@2027-Q1"):
        org.complete(enter["id"], {}, actor=org.actor("qmd1"))
    assert load(org, "indicator,period,value\nK1,2027-03,96.1\nK2,2027-Q1,4.6\n") == {
        "added": 2, "updated": 0, "unchanged": 0}
    org.complete(enter["id"], {"collection_note": "ITSM导出"}, actor=org.actor("qmd1"))
    [analyse] = org.tasks(instance_id=collection["id"])
    assert analyse["task"] == "analyse_misses"
    missed = [e["payload"] for e in org.history() if e["kind"] == "kpi.missed"]
    assert missed == [{"indicator": "K2", "period": "2027-Q1", "value": 4.6}]


def test_values_are_all_or_nothing_and_idempotent(org):
    with pytest.raises(OpsqaError, match=r"kpi.csv:3: value 'n/a' is not a number"):
        load(org, "indicator,period,value\nK1,2027-01,97\nK1,2027-02,n/a\n")
    with pytest.raises(OpsqaError, match=r"kpi.csv:2: period '2027-13' is not a month"):
        load(org, "indicator,period,value\nK1,2027-13,97\n")
    with pytest.raises(OpsqaError, match=r"kpi.csv:3: unknown indicator 'K9'"):
        load(org, "indicator,period,value\nK1,2027-01,97\nK9,2027-01,1\n")
    with org.database.reading() as session:
        assert yearly(session, 2027)[0]["attainment"] == "not_measured"  # nothing was kept
    text = "indicator,period,value\nK1,2027-01,97\nK1,2027-02,91\n"
    assert load(org, text) == {"added": 2, "updated": 0, "unchanged": 0}
    assert load(org, text) == {"added": 0, "updated": 0, "unchanged": 2}
    assert load(org, "indicator,period,value\nK1,2027-02,93\n") == {"added": 0, "updated": 1, "unchanged": 0}
    with org.database.reading() as session:
        k1, k2 = yearly(session, 2027)
    assert (k1["actual"], k1["attainment"], k1["basis"]) == (95.0, "met", "mean of 2 values")
    assert k2["attainment"] == "not_measured"
    with pytest.raises(Denied, match="^indicator.record needs role qmd or ops or pm or admin; gm1 holds gm$"):
        usecases.review.set_value(org, usecases.Caller("gm1"), "K1", "2027-02", 50)
    with org.database.reading() as session:
        assert yearly(session, 2027)[0]["actual"] == 95.0  # the refused value was not kept


def test_due_periods():
    assert [(c, p) for c, p, _ in due_periods("2028-01")] == [
        ("monthly", "2027-12"), ("quarterly", "2027-Q4"), ("yearly", "2027")]
    assert due_periods("2027-05") == [("monthly", "2027-04", date(2027, 4, 1))]


def test_indicators_from_the_command_line(run, tmp_path):
    assert run("init").exit_code == 0
    assert run("indicators", "add", "K1", "--name", "事件按时解决率", "--target", "95").stdout == "K1: added\n"
    assert run("indicators", "add", "K1", "--name", "事件按时解决率", "--target", "95").stdout == "K1: unchanged\n"
    values = tmp_path / "kpi.csv"
    values.write_text("indicator,period,value\nK1,2027,92.5\n", encoding="utf-8")
    assert run("indicators", "import", str(values)).stdout == f"{values}: 1 added, 0 updated, 0 unchanged\n"
    [row] = run.json("indicators", "year", "2027")
    assert (row["actual"], row["attainment"]) == (92.5, "unmet")
    assert run("indicators", "set", "K1", "--period", "2027", "--value", "95.5").stdout == "K1 2027: updated\n"
    assert run.json("indicators", "year", "2027")[0]["attainment"] == "met"
    bad = run("indicators", "set", "K1", "--period", "2027-13", "--value", "1")
    assert bad.exit_code == 1 and "period '2027-13' is not a month" in bad.stderr
    for value in ("nan", "inf", "-inf"):  # what float() takes but no attainment can be judged on
        refused = run("indicators", "set", "K1", "--period", "2027-03", "--value", value)
        message = f"opsqa: K1 2027-03: value '{float(value)}' is not a number\n"
        assert (refused.exit_code, refused.stderr) == (1, message)
    not_a_number = tmp_path / "nan.csv"
    not_a_number.write_text("indicator,period,value\nK1,2027-02,96\nK1,2027-03,NaN\n", encoding="utf-8")
    refused = run("indicators", "import", str(not_a_number))
    assert refused.stderr == f"opsqa: {not_a_number}:3: value 'nan' is not a number\n"
    assert [v["period"] for v in run.json("indicators", "values")] == ["2027"]  # 2027-02 not kept either
    refused = run("indicators", "add", "K2", "--name", "平均修复时间", "--target", "inf")
    assert (refused.exit_code, refused.stderr) == (1, "opsqa: target 'inf' is not a number\n")
    bad = tmp_path / "bad.csv"
    bad.write_text("indicator,value\nK1,1\n", encoding="utf-8")
    result = run("indicators", "import", str(bad))
    assert result.exit_code == 1 and "the header lacks period" in result.stderr


@pytest.mark.parametrize(("login", "args", "line"), [
    ("ops1", ["indicators", "add", "K9", "--name", "x", "--target", "1"],
     "indicator.define needs role qmd or admin; ops1 holds ops"),
    ("gm1", ["indicators", "set", "K1", "--period", "2027", "--value", "1"],
     "indicator.record needs role qmd or ops or pm or admin; gm1 holds gm"),
    ("pm1", ["review", "start", "--year", "2027", "--date", "2027-11-20", "--attendees", "x"],
     "review.start needs role mr or admin; pm1 holds pm"),
    ("pm1", ["improvement", "set", "IMP-2027-01", "--cause", "x"],
     "improvement.set needs role ops or qmd or admin; pm1 holds pm"),
])
def test_a_refusal_is_the_policy_line_changes_nothing_and_is_recorded(run, login, args, line):
    assert run("init").exit_code == 0
    for user, role in (("ops1", "ops"), ("gm1", "gm"), ("pm1", "pm")):
        assert run("users", "add", user, "--role", role).exit_code == 0
    assert run("indicators", "add", "K1", "--name", "事件按时解决率", "--target", "95").exit_code == 0
    before = run.json("history")
    result = run(*args, login=login)
    assert (result.exit_code, result.stderr) == (1, f"opsqa: {line}\n")
    *after, denial = run.json("history")
    assert after == before and run.json("indicators", "values") == [] and run.json("instances") == []
    assert (denial["kind"], denial["actor"]) == ("security.denied", login)
    assert denial["payload"] == {"action": line.split()[0], "result": "denied", "message": line, "source": "cli"}
