"""A revision of an issued quality plan (组织级质量管理计划 修订): a new edition of the same plan, drafted by qmd
from the edition in force and approved again by the general manager. Its issue supersedes the edition before,
which stays as it was issued, and the year's annual cycle follows the revised dates for what has not happened
yet; a second plain plan for the year is still refused, with the way to revise it."""

from __future__ import annotations

from datetime import date, datetime
from zoneinfo import ZoneInfo

import pytest
from helpers import ADMIN, PLAN_VALUES, make_engine, stamp_simulated
from sqlalchemy import func, select

from engine import HandlerContext, OpsqaError, SimulatedClock
from engine.errors import DuplicateBusinessKey
from handlers.inspections import record_check
from handlers.plan import issue_plan
from handlers.projects import ProjectInput, save_project
from store import Inspection, QualityPlan

SHANGHAI = ZoneInfo("Asia/Shanghai")
REASON = "内审推迟至7月，抽查改为每月"


def local(*args: int) -> datetime:
    return datetime(*args, tzinfo=SHANGHAI)


@pytest.fixture
def org(engine, db_path):
    """A company with three projects, every process deployed on 2026-12-20."""
    org = make_engine(db_path, SimulatedClock(local(2026, 12, 20, 9)))
    admin = org.actor(ADMIN)
    for user, role in (("qmd2", "qmd"), ("pm1", "pm"), ("pm2", "pm"), ("oms1", "oms"), ("mr1", "mr")):
        org.add_user(user, [role], department="qmd" if role == "qmd" else "ops", actor=admin)
    org.deploy(["processes"], actor=admin)
    with org.database.transaction() as session:
        for code, pm in (("P-01", "pm1"), ("P-02", "pm2"), ("P-03", "pm1")):
            save_project(session, ProjectInput(code, f"项目{code}", "公安局", pm, "oms1", "safe_city"),
                         now=org.clock.now(), actor=org.actor("qmd1"))
    return org


@pytest.fixture
def cli(org, run, db_path):
    """The CLI on the organisation's clock (its database stamped as a simulated one, at the clock's time)."""

    def call(*args: str, login: str = "qmd1"):
        stamp_simulated(str(db_path), org.clock.now())
        return run(*args, login=login)

    call.json = lambda *args: (stamp_simulated(str(db_path), org.clock.now()), run.json(*args))[1]
    return call


def at(org, when: datetime) -> None:
    org.clock.set(when)
    report = org.tick()
    assert not report.failed, report.failed


def ready(org, bpmn_id: str, instance_id: int | None = None) -> dict:
    found = [t for t in org.tasks(instance_id=instance_id) if t["task"] == bpmn_id]
    assert len(found) == 1, org.tasks()
    return found[0]


def issue_2027(org) -> int:
    """The 2027 cycle starts with the year and its plan is issued (audit 06-01, survey 09-01, quarterly checks)."""
    at(org, local(2027, 1, 1, 0, 6))
    org.complete(ready(org, "draft_plan")["id"], PLAN_VALUES, actor=org.actor("qmd1"))
    org.complete(ready(org, "approve_plan")["id"], {"decision": "approved"}, actor=org.actor("gm1"))
    [cycle] = [i["id"] for i in org.instances(process_id="annual_cycle")]
    return cycle


def inspect(org) -> int:
    """The spot check due: every point of every drawn project recorded, the inspection closed; its sample size."""
    task = ready(org, "inspect")
    with org.database.transaction() as session:
        inspection = session.scalars(select(Inspection).order_by(Inspection.id.desc())).first()
        projects = inspection.projects.strip('[]"').split('", "')
        for project in projects:
            for item in ("SVC-a", "SVC-b", "SVC-c", "SVC-d", "SVC-e"):
                record_check(session, inspection.code, project=project, item=item, passed=True, evidence=None,
                             samples=None, now=org.clock.now(), actor=org.actor("oms1"))
    org.complete(task["id"], {}, actor=org.actor("oms1"))
    return len(projects)


def timers(org, instance_id: int) -> dict[str, datetime]:
    return {t["timer"]: datetime.fromisoformat(t["due"]) for t in org.instance(instance_id)["timers"]}


def count(org, model, *where) -> int:
    with org.database.reading() as session:
        return session.scalar(select(func.count()).select_from(model).where(*where))


def test_a_revision_is_a_new_edition_approved_again_and_the_cycle_follows_it(org, cli):
    cycle = issue_2027(org)
    at(org, local(2027, 1, 1, 9))
    assert inspect(org) == 1  # Q1's spot check; the next is Q2's, on 04-01
    assert timers(org, cycle) == {"wait_audit_window": local(2027, 6, 1, 9), "wait_survey_window": local(2027, 9, 1, 9),
                                  "wait_spot_check": local(2027, 4, 1, 9)}
    at(org, local(2027, 3, 10, 10))
    before = (cli.json("plans"), len(cli.json("instances")))

    # Refused: without a reason, for a pm, and for a year with no issued plan; nothing changes.
    missing = cli("plan", "revise", "2027")
    assert missing.exit_code == 2 and "Missing option '--reason'" in missing.stderr
    blank = cli("plan", "revise", "2027", "--reason", "  ")
    assert (blank.exit_code, blank.stderr) == (1, "opsqa: plan.revise needs a reason (why, kept in the history)\n")
    denied = cli("plan", "revise", "2027", "--reason", REASON, login="pm1")
    assert denied.exit_code == 1 and denied.stderr.startswith("opsqa: plan.revise needs ") and "pm1" in denied.stderr
    none = cli("plan", "revise", "2028", "--reason", REASON)
    assert (none.exit_code, none.stderr) == (1, (
        "opsqa: no issued 2028 quality plan to revise; a year's plan is drafted by its annual cycle (started by its "
        "yearly timer, or `opsqa cycle start --year 2028`) and issued once the general manager approves it\n"))
    assert (cli.json("plans"), len(cli.json("instances"))) == before

    started = cli("plan", "revise", "2027", "--reason", REASON)
    assert started.exit_code == 0, started.output
    [revision] = [i["id"] for i in cli.json("instances") if i["business_key"] == "2027-R2"]
    assert started.stdout == (f"revision of the 2027 quality plan started: edition 2 in instance {revision} "
                              "(2027-R2); qmd drafts it, the general manager approves it\n")
    [event] = org.history(kind="plan.revision_started")
    assert (event["instance"], event["actor"], event["payload"]) == (
        revision, "qmd1", {"year": 2027, "plan": 1, "edition": 2, "reason": REASON})

    # One revision at a time; a second plain plan is refused with the way to revise it.
    again = cli("plan", "revise", "2027", "--reason", "再改一次")
    assert (again.exit_code, again.stderr) == (1, (
        f"opsqa: a revision of the 2027 quality plan is already being drafted in instance {revision} (2027-R2, "
        f"running): finish it (`opsqa instance show {revision}`) or cancel it (`opsqa instance cancel {revision} "
        "--reason ...`) before starting another\n"))
    with pytest.raises(DuplicateBusinessKey, match=(
            r"^the 2027 quality plan is already issued: version 1, approved by gm1, issued 2027-01-01 by gm1 in "
            rf"instance {cycle} \(annual_cycle\); its versions and approvals: `opsqa plan show 2027`; to revise it: "
            r"`opsqa plan revise 2027 --reason \.\.\.`$")):
        org.start("quality_plan", actor=org.actor(ADMIN), business_key="2027", variables={"year": 2027})

    # The draft starts from the issued version (survey_start too): qmd gives only what changes.
    draft = org.task(ready(org, "draft_plan", revision)["id"])
    assert draft["prefill"] and draft["role"] == "qmd"
    assert {k: draft["variables"][k] for k in PLAN_VALUES} == {
        **PLAN_VALUES, "audit_start": "2027-06-01", "survey_start": "2027-09-01"}
    assert (draft["variables"]["revises"], draft["variables"]["revision_reason"]) == (1, REASON)
    org.complete(draft["id"], {"audit_start": "2027-07-01", "spot_check_frequency": "spot_monthly"},
                 actor=org.actor("qmd1"))
    org.complete(ready(org, "approve_plan", revision)["id"], {"decision": "rejected", "comment": "每次抽查两个项目"},
                 actor=org.actor("gm1"))
    assert count(org, QualityPlan) == 1
    with pytest.raises(OpsqaError, match=r"spot_check_plan .*: a value is required"):  # given empty: not kept
        org.complete(ready(org, "draft_plan", revision)["id"], {"spot_check_plan": ""}, actor=org.actor("qmd1"))
    org.complete(ready(org, "draft_plan", revision)["id"], {"spot_check_sample": "2"}, actor=org.actor("qmd1"))
    at(org, local(2027, 3, 11, 10))
    org.complete(ready(org, "approve_plan", revision)["id"], {"decision": "approved"}, actor=org.actor("gm1"))
    assert org.instance(revision)["status"] == "completed"

    # Edition 2 is in force; edition 1 stays as issued, superseded by it.
    plans = cli.json("plans")
    assert [(p["period"], p["edition"], p["status"], p["superseded_by"], p["superseded_by_edition"], p["instance_id"])
            for p in plans] == [("2027", 1, "superseded", 2, 2, cycle), ("2027", 2, "current", None, None, revision)]
    assert (plans[0]["audit_start"], plans[1]["audit_start"]) == ("2027-06-01", "2027-07-01")
    assert (plans[1]["spot_check_frequency"], plans[1]["spot_check_sample"], plans[1]["revisions"]) == (
        "spot_monthly", 2, 2)
    assert plans[1]["revision_reason"] == REASON
    assert datetime.fromisoformat(plans[0]["superseded_at"]) == local(2027, 3, 11, 10)
    listed = cli("plans")
    assert "superseded by edition 2" in listed.stdout and "current" in listed.stdout
    shown = cli.json("plan", "show", "2027")
    assert (shown["edition"], shown["instance"], len(shown["versions"]), shown["issued_version"]) == (
        2, revision, 2, 2)
    assert [(e["edition"], e["status"], e["instance"], e["business_key"], len(e["versions"]), e["issued_version"],
             e["superseded_by_edition"]) for e in shown["editions"]] == [
        (1, "superseded", cycle, "2027", 1, 1, 2), (2, "current", revision, "2027-R2", 2, 2, None)]
    assert shown["editions"][1]["versions"][1]["values"]["audit_start"] == "2027-07-01"  # kept from version 1
    assert [(a["version"], a["decision"]) for a in shown["editions"][1]["approvals"]] == [(1, "rejected"),
                                                                                           (2, "approved")]
    text = cli("plan", "show", "2027").stdout
    assert text.startswith("2027 plan: 2 edition(s), edition 2 in force\n")
    assert "edition 1 (superseded by edition 2 at 2027-03-11 10:00" in text
    assert f"edition 2 (in force), instance {revision} (2027-R2): 2 version(s), version 2 issued; reason: " in text

    [revised] = org.history(kind="plan.revised")
    assert revised["instance"] == revision
    payload = revised["payload"]
    assert {k: payload[k] for k in ("year", "plan", "edition", "supersedes", "reason", "cycle", "not_rearmed")} == {
        "year": 2027, "plan": 2, "edition": 2, "supersedes": 1, "reason": REASON, "cycle": cycle, "not_rearmed": []}
    assert payload["changed"] == {
        "audit_start": {"old": "2027-06-01", "new": "2027-07-01"},
        "spot_check_frequency": {"old": "spot_quarterly", "new": "spot_monthly"},
        "spot_check_sample": {"old": 1, "new": 2}}
    # the check already scheduled (04-01, Q2: slot 1 quarterly) stays, as April's (slot 3 monthly)
    assert payload["rearmed"] == {"audit_start": "2027-07-01", "audit_at": "2027-07-01T09:00:00+08:00",
                                  "spot_check_frequency": "spot_monthly", "spot_check_slot": 3,
                                  "spot_check_sample": 2}

    # The cycle waits for the revised audit day; the spot check of 04-01 stays, the ones after it are monthly.
    assert timers(org, cycle) == {"wait_audit_window": local(2027, 7, 1, 9), "wait_survey_window": local(2027, 9, 1, 9),
                                  "wait_spot_check": local(2027, 4, 1, 9)}
    [rearmed] = org.history(cycle, kind="instance.rearmed")
    assert rearmed["payload"]["reason"] == "the 2027 quality plan revised: edition 2 (plan 2)"
    at(org, local(2027, 4, 1, 9))
    assert inspect(org) == 2  # the revised sample
    assert timers(org, cycle)["wait_spot_check"] == local(2027, 5, 1, 9)
    at(org, local(2027, 6, 1, 9))
    assert not [t for t in org.tasks() if t["task"] == "plan_audit"]
    at(org, local(2027, 7, 1, 9))
    assert ready(org, "plan_audit")["instance"] == cycle

    # A second plain plan for the year is still refused, naming the edition in force and the way to revise it.
    with pytest.raises(DuplicateBusinessKey, match=(
            r"^the 2027 quality plan is already issued: edition 2, version 2, approved by gm1, issued 2027-03-11 by "
            rf"gm1 in instance {revision} \(quality_plan\); .* to revise it: `opsqa plan revise 2027 --reason")):
        org.start("quality_plan", actor=org.actor(ADMIN), business_key="2027", variables={"year": 2027})
    assert count(org, QualityPlan) == 2


def test_a_revision_after_the_audit_began_moves_only_what_is_ahead(org, cli):
    cycle = issue_2027(org)
    at(org, local(2027, 6, 2, 10))  # the audit's window opened on 06-01: qmd plans the audit
    planning = ready(org, "plan_audit")

    # A revised date outside the year is refused at its issue: the instance stops with the reason.
    assert cli("plan", "revise", "2027", "--reason", "内审改期").exit_code == 0
    [bad] = [i["id"] for i in cli.json("instances") if i["business_key"] == "2027-R2"]
    org.complete(ready(org, "draft_plan", bad)["id"], {"audit_start": "2028-01-05"}, actor=org.actor("qmd1"))
    org.complete(ready(org, "approve_plan", bad)["id"], {"decision": "approved"}, actor=org.actor("gm1"))
    failed = org.instance(bad)
    assert failed["status"] == "error" and failed["incident"] == (
        "issue_plan (plan.issue): OpsqaError: the revised plan's audit_start is not a date in 2027: "
        "datetime.date(2028, 1, 5)")
    assert count(org, QualityPlan) == 1
    refused = cli("plan", "revise", "2027", "--reason", "再改")
    assert refused.exit_code == 1 and f"being drafted in instance {bad} (2027-R2, error)" in refused.stderr
    assert cli("instance", "cancel", str(bad), "--reason", "日期写错").exit_code == 0

    # Tried again (its own key): the audit has begun and stays; the survey is still ahead and moves.
    assert cli("plan", "revise", "2027", "--reason", "内审与调查改期").exit_code == 0
    [revision] = [i["id"] for i in cli.json("instances") if i["business_key"] == "2027-R2.2"]
    org.complete(ready(org, "draft_plan", revision)["id"], {"audit_start": "2027-08-01", "survey_start": "2027-10-08"},
                 actor=org.actor("qmd1"))
    org.complete(ready(org, "approve_plan", revision)["id"], {"decision": "approved"}, actor=org.actor("gm1"))
    [revised] = org.history(kind="plan.revised")
    assert (revised["payload"]["not_rearmed"], revised["payload"]["rearmed"]) == (
        ["audit_at"], {"survey_start": "2027-10-08", "survey_at": "2027-10-08T09:00:00+08:00"})
    assert sorted(revised["payload"]["changed"]) == ["audit_start", "survey_start"]
    assert timers(org, cycle)["wait_survey_window"] == local(2027, 10, 8, 9)
    assert "wait_audit_window" not in timers(org, cycle)
    assert ready(org, "plan_audit")["id"] == planning["id"]  # the audit under way is left as it is
    assert [(e["edition"], e["business_key"]) for e in cli.json("plan", "show", "2027")["editions"]] == [
        (1, "2027"), (2, "2027-R2.2")]


def test_a_plan_made_without_the_cycle_is_revised_once_and_copies_whole(org, cli, db_path, tmp_path):
    alone = org.start("quality_plan", actor=org.actor(ADMIN), business_key="2027", variables={"year": 2027})
    org.complete(ready(org, "draft_plan")["id"], PLAN_VALUES, actor=org.actor("qmd1"))
    org.complete(ready(org, "approve_plan")["id"], {"decision": "approved"}, actor=org.actor("gm1"))
    org.clock.set(local(2027, 2, 1, 10))
    assert cli("plan", "revise", "2027", "--reason", "目标调整").exit_code == 0
    [revision] = [i["id"] for i in cli.json("instances") if i["business_key"] == "2027-R2"]
    org.complete(ready(org, "draft_plan", revision)["id"], {"objectives": "客户满意度不低于95%"},
                 actor=org.actor("qmd1"))
    org.complete(ready(org, "approve_plan", revision)["id"], {"decision": "approved"}, actor=org.actor("gm1"))
    [revised] = org.history(kind="plan.revised")
    assert (revised["payload"]["cycle"], revised["payload"]["changed"]) == (
        None, {"objectives": {"old": PLAN_VALUES["objectives"], "new": "客户满意度不低于95%"}})
    assert [(p["edition"], p["status"], p["instance_id"]) for p in cli.json("plans")] == [
        (1, "superseded", alone), (2, "current", revision)]

    # The issue step run again issues nothing more; a revision of a superseded edition is refused.
    variables = {**PLAN_VALUES, "objectives": "客户满意度不低于95%", "year": 2027, "revises": 1,
                 "revision_reason": "目标调整", "decision": "approved", "audit_start": date(2027, 6, 1),
                 "survey_start": date(2027, 9, 1)}
    with org.database.transaction() as session:
        context = HandlerContext(session=session, now=org.clock.now(), actor="gm1", instance_id=revision,
                                 business_key="2027-R2", process_id="quality_plan", task="issue_plan",
                                 variables=variables)
        assert issue_plan(context)["plan_id"] == 2
        another = HandlerContext(session=session, now=org.clock.now(), actor="gm1", instance_id=revision + 100,
                                 business_key="2027-R9", process_id="quality_plan", task="issue_plan",
                                 variables=variables)  # another revision of edition 1, issued after edition 2
        with pytest.raises(OpsqaError, match=(
                r"^edition 1 of the 2027 quality plan, which this revision revises, was superseded meanwhile by "
                rf"edition 2 \(instance {revision}\); cancel this instance and revise the plan in force")):
            issue_plan(another)
    assert count(org, QualityPlan) == 2

    # `db copy` inserts the editions in id order: edition 1 names edition 2 before it is there.
    from store import open_database
    from store.copy import copy_database

    org.database.dispose()
    copied = tmp_path / "copy.db"
    report = copy_database(str(db_path), str(copied))
    assert report.tables["quality_plan"] == 2
    target = open_database(str(copied))
    try:
        with target.reading() as session:
            assert [(p.edition, p.superseded_by) for p in session.scalars(select(QualityPlan).order_by(
                QualityPlan.id))] == [(1, 2), (2, None)]
    finally:
        target.dispose()


def test_an_upgrade_makes_every_plan_its_years_first_edition(org, db_path):
    from alembic import command

    from store import SCHEMA_REVISION, open_database, upgrade_database
    from store.db import DatabaseError
    from store.migrate import _config

    org.start("quality_plan", actor=org.actor(ADMIN), business_key="2027", variables={"year": 2027})
    org.complete(ready(org, "draft_plan")["id"], PLAN_VALUES, actor=org.actor("qmd1"))
    org.complete(ready(org, "approve_plan")["id"], {"decision": "approved"}, actor=org.actor("gm1"))
    other = org.start("quality_plan", actor=org.actor(ADMIN), business_key="2028", variables={"year": 2028})
    org.database.dispose()
    old = open_database(str(db_path), check_schema=False)
    command.downgrade(_config(old), "0014")
    old.dispose()
    assert upgrade_database(str(db_path)) == ("0014", SCHEMA_REVISION)
    upgraded = open_database(str(db_path))
    try:
        with upgraded.reading() as session:
            [plan] = session.scalars(select(QualityPlan)).all()
            assert (plan.edition, plan.superseded_at, plan.superseded_by, plan.revision_reason) == (1, None, None, None)
        # ... and a database holding a revision does not go back: the older schema has one plan a year
        with upgraded.transaction() as session:
            plan = session.scalars(select(QualityPlan)).one()
            plan.superseded_at = plan.issued_at
            session.flush()
            values = {c.key: getattr(plan, c.key) for c in QualityPlan.__table__.columns
                      if c.key not in ("id", "instance_id", "edition", "superseded_at", "superseded_by")}
            session.add(QualityPlan(**values, instance_id=other, edition=2))
    finally:
        upgraded.dispose()
    old = open_database(str(db_path), check_schema=False)
    try:
        with pytest.raises(DatabaseError, match=r"^the quality plans of 2027 were revised; the schema before "
                                                r"revision 0015 holds one plan a year"):
            command.downgrade(_config(old), "0014")
    finally:
        old.dispose()

