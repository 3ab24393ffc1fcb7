"""One record per thing: a year's quality plan, its full internal audit and its annual cycle are each made
once, whichever path tries (the cycle's steps, `opsqa audit plan`, the engine's own start that scenarios,
handlers and tests use, a second cycle); a second attempt is refused with one line naming the record that
exists and how it changes. A partial audit may be planned again for other units or other dates."""

from __future__ import annotations

import json
from datetime import date, datetime
from zoneinfo import ZoneInfo

import pytest
from helpers import ADMIN, PLAN_VALUES, make_engine
from sqlalchemy import func, select
from sqlalchemy.exc import IntegrityError

from engine import OpsqaError, SimulatedClock
from engine.errors import DuplicateBusinessKey
from handlers.audits import add_auditor, create_audit
from handlers.projects import ProjectInput, save_project
from store import Audit, Instance, QualityPlan

SHANGHAI = ZoneInfo("Asia/Shanghai")
FORM = {"audit_full": True, "audit_team": "qmd2=P-01; ops_aud=P-02,P-03", "lead_auditor": "qmd2",
        "planned_start": "2027-06-01", "planned_end": "2027-06-10"}


def local(*args: int) -> datetime:
    return datetime(*args, tzinfo=SHANGHAI)


@pytest.fixture
def org(engine, db_path):
    """A company with projects and auditors, every process deployed on 2026-12-20."""
    org = make_engine(db_path, SimulatedClock(local(2026, 12, 20, 9)))
    admin = org.actor(ADMIN)
    for user, role, dept in (("qmd2", "qmd", "qmd"), ("ops_aud", "ops", "ops"), ("pm1", "pm", "ops"),
                             ("pm2", "pm", "ops"), ("oms1", "oms", "ops"), ("mr1", "mr", "mr")):
        org.add_user(user, [role], department=dept, actor=admin)
    org.deploy(["processes"], actor=admin)
    now, qmd = org.clock.now(), org.actor("qmd1")
    with org.database.transaction() as session:
        for code, pm, members in (("P-01", "pm1", ["ops_aud"]), ("P-02", "pm2", []), ("P-03", "pm1", [])):
            save_project(session, ProjectInput(code, f"项目{code}", "公安局", pm, "oms1", "safe_city", members=members),
                         now=now, actor=qmd)
        for auditor in ("qmd2", "ops_aud"):
            add_auditor(session, auditor, certificate_no=None, valid_until=None, now=now, actor=qmd)
    return org


def at(org, when: datetime) -> None:
    org.clock.set(when)
    report = org.tick()
    assert not report.failed, report.failed


def ready(org, bpmn_id: str) -> dict:
    found = [t for t in org.tasks() if t["task"] == bpmn_id]
    assert len(found) == 1, org.tasks()
    return found[0]


def issue_2027(org) -> None:
    """The 2027 cycle starts with the year and its plan is issued."""
    at(org, local(2027, 1, 1, 0, 6))
    org.complete(ready(org, "draft_plan")["id"], PLAN_VALUES, actor=org.actor("qmd1"))
    org.complete(ready(org, "approve_plan")["id"], {"decision": "approved"}, actor=org.actor("gm1"))


def count(org, model, *where) -> int:
    with org.database.reading() as session:
        return session.scalar(select(func.count()).select_from(model).where(*where))


def audits(run) -> list[tuple[str, bool, list[str], str]]:
    return [(a["code"], a["full"], a["scope"], a["status"]) for a in run.json("audits")]


def test_the_years_full_audit_is_planned_once(org, run):
    issue_2027(org)
    at(org, local(2027, 6, 1, 9))
    org.complete(ready(org, "plan_audit")["id"], FORM, actor=org.actor("qmd1"))  # the cycle's audit step
    approval = ready(org, "approve_audit_plan")["id"]
    before = (audits(run), len(run.json("history")), len(run.json("instances")))

    by_hand = ("audit", "plan", "--year", "2027", "--lead", "qmd2", "--team", "qmd2=P-02", "--from", "2027-06-01",
               "--to", "2027-06-10")
    refused = run(*by_hand, login="qmd1")
    assert (refused.exit_code, refused.stderr) == (1, (
        "opsqa: the 2027 full internal audit already exists: IA-2027-01 (planned by qmd1, 2027-06-01 – 2027-06-10, "
        f"planned); change its plan by sending it back: `opsqa task complete {approval[:8]} --set "
        "plan_decision=audit_plan_rejected --set plan_comment=...` (the management representative), then plan it "
        "again\n"))
    assert (audits(run), len(run.json("history")), len(run.json("instances"))) == before  # nothing changed

    # A partial audit is another thing: several may be planned, for other units or at other dates.
    assert run(*by_hand, "--partial", login="qmd1").exit_code == 0
    twice = run(*by_hand[:-4], "--from", "2027-06-05", "--to", "2027-06-20", "--partial", login="qmd1")
    assert (twice.exit_code, twice.stderr.split(";")[0]) == (1, (
        "opsqa: a partial internal audit of P-02 at these dates already exists: IA-2027-02 (planned by qmd1, "
        "2027-06-01 – 2027-06-10, planned)"))
    assert run(*by_hand[:-4], "--from", "2027-11-01", "--to", "2027-11-05", "--partial", login="qmd1").exit_code == 0
    assert run("audit", "plan", "--year", "2027", "--lead", "qmd2", "--team", "qmd2=P-03", "--from", "2027-06-01",
               "--to", "2027-06-10", "--partial", login="qmd1").exit_code == 0
    assert [(code, full) for code, full, _scope, _status in audits(run)] == [
        ("IA-2027-01", True), ("IA-2027-02", False), ("IA-2027-03", False), ("IA-2027-04", False)]

    # Sent back, the cycle's audit is cancelled: the year's full audit may be planned again, here by hand ...
    org.complete(approval, {"plan_decision": "audit_plan_rejected", "plan_comment": "改为人工编制"},
                 actor=org.actor("mr1"))
    assert run(*by_hand, login="qmd1").stdout.startswith("IA-2027-05 planned")
    # ... and then the cycle's audit step, asking for its own full audit, is refused before anything is made.
    [hand] = [i["id"] for i in run.json("instances") if i["business_key"] == "IA-2027-05"]
    with pytest.raises(OpsqaError, match=r"^task plan_audit: the 2027 full internal audit already exists: "
                                         r"IA-2027-05 \(planned by qmd1, 2027-06-01 – 2027-06-10, planned\); "
                                         r"change its plan by sending it back: `opsqa task complete "):
        org.complete(ready(org, "plan_audit")["id"], FORM, actor=org.actor("qmd1"))
    assert count(org, Audit) == 5

    # The hand-planned audit's process cancelled: its audit is cancelled with it, and the cycle plans its own.
    assert run("instance", "cancel", str(hand), "--reason", "由年度周期编制", login="qmd1").exit_code == 0
    assert [a[3] for a in audits(run) if a[0] == "IA-2027-05"] == ["cancelled"]
    org.complete(ready(org, "plan_audit")["id"], FORM, actor=org.actor("qmd1"))
    assert count(org, Audit, Audit.full.is_(True), Audit.status != "cancelled") == 1

    # Under way, the audit's plan no longer changes, and the refusal says so.
    [cycle_approval] = [t["id"] for t in org.tasks(instance_id=1) if t["task"] == "approve_audit_plan"]
    org.complete(cycle_approval, {"plan_decision": "audit_plan_approved"}, actor=org.actor("mr1"))
    refused = run(*by_hand, login="qmd1")
    assert refused.stderr == ("opsqa: the 2027 full internal audit already exists: IA-2027-06 (planned by qmd1, "
                              "2027-06-01 – 2027-06-10, in_progress); it is under way or done, and its plan no longer "
                              "changes\n")


def test_the_database_holds_one_live_full_audit_a_year(org):
    now, qmd = org.clock.now(), org.actor("qmd1")
    with org.database.transaction() as session:
        create_audit(session, year=2027, full=True, team={"qmd2": ["P-02"]}, lead_auditor="qmd2",
                     planned_start=date(2027, 6, 1), planned_end=date(2027, 6, 10), now=now, actor=qmd)
    with pytest.raises(IntegrityError), org.database.transaction() as session:  # past the refusal, as a race would
        session.add(Audit(code="IA-2027-09", year=2027, full=True, scope='["P-03"]', team='{"qmd2": ["P-03"]}',
                          lead_auditor="qmd2", status="planned", planned_start=date(2027, 7, 1),
                          planned_end=date(2027, 7, 2), created_at=now, created_by="qmd1"))
    with org.database.transaction() as session:  # a cancelled one, or another year's, is not in the way
        session.get(Audit, 1).status = "cancelled"
        for code, year in (("IA-2027-09", 2027), ("IA-2028-01", 2028)):
            session.add(Audit(code=code, year=year, full=True, scope='["P-03"]', team='{"qmd2": ["P-03"]}',
                              lead_auditor="qmd2", status="planned", planned_start=date(year, 7, 1),
                              planned_end=date(year, 7, 2), created_at=now, created_by="qmd1"))
    assert count(org, Audit) == 3


def test_the_years_plan_is_made_once_whichever_way_it_is_started(org, run):
    at(org, local(2027, 1, 1, 0, 6))
    [cycle] = [i["id"] for i in org.instances(process_id="annual_cycle")]
    drafting = (f"the 2027 quality plan is being drafted in instance {cycle} (annual_cycle, running); a new draft is "
                "a new version of that plan, made when the general manager sends it back "
                f"(`opsqa instance show {cycle}`)")
    admin = org.actor(ADMIN)
    for key, variables in (("2027", {"year": 2027}), (None, {"year": 2027}), ("2027", {})):  # a scenario's start
        with pytest.raises(DuplicateBusinessKey) as refused:
            org.start("quality_plan", actor=admin, business_key=key, variables=variables)
        assert str(refused.value) == drafting
    with pytest.raises(OpsqaError, match=r"^an annual cycle's business key is its year: 2027, not '2027-b'$"):
        org.start("annual_cycle", actor=admin, business_key="2027-b", variables={"year": 2027})  # a second cycle
    second = run("cycle", "start", "--year", "2027", login="qmd1")
    assert (second.exit_code, second.stderr) == (1, f"opsqa: the 2027 annual cycle already exists (instance {cycle}, "
                                                    "running)\n")

    # The general manager sends the first draft back: the second is a new version of the same plan.
    org.complete(ready(org, "draft_plan")["id"], PLAN_VALUES, actor=org.actor("qmd1"))
    org.complete(ready(org, "approve_plan")["id"], {"decision": "rejected", "comment": "目标需量化"},
                 actor=org.actor("gm1"))
    org.complete(ready(org, "draft_plan")["id"], PLAN_VALUES, actor=org.actor("qmd1"))
    org.complete(ready(org, "approve_plan")["id"], {"decision": "approved"}, actor=org.actor("gm1"))
    shown = run.json("plan", "show", "2027")
    assert (shown["instance"], len(shown["versions"]), shown["issued_version"]) == (cycle, 2, 2)
    with pytest.raises(DuplicateBusinessKey, match=(
            r"^the 2027 quality plan is already issued: version 2, approved by gm1, issued 2027-01-01 by gm1 in "
            rf"instance {cycle} \(annual_cycle\); its versions and approvals: `opsqa plan show 2027`; to revise it: "
            r"`opsqa plan revise 2027 --reason \.\.\.`$")):
        org.start("quality_plan", actor=admin, business_key="2027", variables={"year": 2027})
    assert count(org, QualityPlan) == 1 and count(org, Instance, Instance.process_id == "quality_plan") == 0


def test_a_plan_made_without_the_cycle_keeps_the_cycle_from_drafting_another(org, run):
    admin = org.actor(ADMIN)
    alone = org.start("quality_plan", actor=admin, business_key="2027", variables={"year": 2027})
    org.complete(ready(org, "draft_plan")["id"], PLAN_VALUES, actor=org.actor("qmd1"))
    org.complete(ready(org, "approve_plan")["id"], {"decision": "approved"}, actor=org.actor("gm1"))
    issued = (f"the 2027 quality plan is already issued: version 1, approved by gm1, issued 2026-12-20 by gm1 in "
              f"instance {alone} (quality_plan); its versions and approvals: `opsqa plan show 2027`; to revise it: "
              "`opsqa plan revise 2027 --reason ...`; the 2027 annual cycle would draft a second one")
    refused = run("cycle", "start", "--year", "2027", login="qmd1")
    assert (refused.exit_code, refused.stderr) == (1, f"opsqa: {issued}\n")
    # The year's timer fires: recorded, with the reason, and nothing started.
    at(org, local(2027, 1, 1, 0, 6))
    assert org.instances(process_id="annual_cycle") == []
    [fired] = [e for e in run.json("history") if e["kind"] == "schedule.fired"
               and e["payload"]["process"] == "annual_cycle"]
    assert (fired["instance"], fired["payload"]["already_started"], fired["payload"]["refused"]) == (None, True, issued)

    # Two plans started without a year key for the same year get past the start; the second cannot issue.
    first = org.start("quality_plan", actor=admin, variables={"year": 2028})
    second = org.start("quality_plan", actor=admin, variables={"year": 2028})
    for instance in (first, second):
        org.complete(org.tasks(instance_id=instance)[0]["id"], PLAN_VALUES, actor=org.actor("qmd1"))
        org.complete(org.tasks(instance_id=instance)[0]["id"], {"decision": "approved"}, actor=org.actor("gm1"))
    failed = org.instance(second)
    assert failed["status"] == "error" and failed["incident"].startswith(
        "issue_plan (plan.issue): OpsqaError: the 2028 quality plan is already issued: version 1, approved by gm1, "
        f"issued 2027-01-01 by gm1 in instance {first} (quality_plan)")
    assert count(org, QualityPlan, QualityPlan.period == "2028") == 1


def test_a_scenario_cannot_start_a_second_plan_beside_the_cycle(run, tmp_path):
    assert run("init").exit_code == 0
    assert run("deploy", "--reason", "set-up", "processes").exit_code == 0
    scenario = tmp_path / "year.yaml"
    scenario.write_text(json.dumps({
        "start": [{"process": "quality_plan", "at": "2027-01-04T09:00:00+08:00", "key": "2027",
                   "variables": {"year": 2027}}],
        "answers": {"quality_plan.draft_plan": {"after": "P5D", "values": PLAN_VALUES}}}), encoding="utf-8")
    result = run("simulate", "--from", "2026-12-31", "--to", "2027-02-01", "--scenario", str(scenario),
                 "--out", str(tmp_path / "sim.db"))
    assert result.exit_code == 1
    assert result.stderr.startswith("opsqa: the 2027 quality plan is being drafted in instance 1 (annual_cycle, "
                                    "running)"), result.output


def test_an_upgrade_names_the_twins_an_older_database_holds(org, db_path):
    from alembic import command

    from store import open_database, upgrade_database
    from store.db import DatabaseError, current_revision
    from store.migrate import _config

    now, qmd = org.clock.now(), org.actor("qmd1")
    with org.database.transaction() as session:
        create_audit(session, year=2027, full=True, team={"qmd2": ["P-02"]}, lead_auditor="qmd2",
                     planned_start=date(2027, 6, 1), planned_end=date(2027, 6, 10), now=now, actor=qmd)
    org.database.dispose()
    old = open_database(str(db_path), check_schema=False)
    command.downgrade(_config(old), "0012")  # before the constraint: nothing refused a second full audit
    with old.engine.begin() as connection:
        connection.exec_driver_sql(
            "INSERT INTO audit (code, year, full, scope, team, lead_auditor, status, planned_start, planned_end, "
            "created_at, created_by) SELECT 'IA-2027-02', year, full, scope, team, lead_auditor, status, "
            "planned_start, planned_end, created_at, created_by FROM audit WHERE code = 'IA-2027-01'")
    old.dispose()
    with pytest.raises(DatabaseError, match=(
            r"^a year has one full internal audit and one issued quality plan, and this database holds more: full "
            r"internal audits of 2027: IA-2027-01, IA-2027-02; keep one of each \(an audit whose plan is sent back at "
            r"its approval is cancelled and no longer counts\), then run `opsqa db upgrade` again$")):
        upgrade_database(str(db_path))
    old = open_database(str(db_path), check_schema=False)
    assert current_revision(old) == "0012"  # left as it was
    with old.engine.begin() as connection:
        connection.exec_driver_sql("UPDATE audit SET status = 'cancelled' WHERE code = 'IA-2027-02'")
    old.dispose()
    assert upgrade_database(str(db_path))[0] == "0012"
