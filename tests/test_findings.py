"""Findings followed up to verified closure (DOMAIN.md S3), day by day on a simulated clock."""

from __future__ import annotations

import hashlib
import json
from datetime import UTC, date, datetime, timedelta
from zoneinfo import ZoneInfo

import pytest
from helpers import ADMIN, make_engine

import usecases
from engine import OpsqaError, SimulatedClock
from engine.errors import Denied
from handlers.findings import attach, get_finding, list_findings, on_time_closure, raise_finding
from handlers.reports import review_documents
from handlers.reviews import gather

SHANGHAI = ZoneInfo("Asia/Shanghai")


def day(text: str, hour: int = 10) -> datetime:
    return datetime.fromisoformat(text).replace(hour=hour, tzinfo=SHANGHAI)


@pytest.fixture
def nc(engine, db_path):
    nc = make_engine(db_path, SimulatedClock(day("2027-01-04", 9)))
    admin = nc.actor(ADMIN)
    for user, role in (("pm1", "pm"), ("qmd2", "qmd"), ("mr1", "mr")):
        nc.add_user(user, [role], actor=admin)
    nc.deploy(["processes"], actor=admin)
    return nc


def raise_nc(engine, **fields) -> str:
    now, actor = engine.clock.now(), engine.actor("qmd1")
    with engine.database.transaction() as session:
        return raise_finding(session, now=now, actor="qmd1", start_instance=engine.starter(session, actor),
                             **fields).code


def task_of(engine, code: str, bpmn_id: str) -> dict:
    instance = next(i for i in engine.instances(process_id="nc_followup") if i["business_key"] == code)
    [task] = [t for t in engine.tasks(instance_id=instance["id"]) if t["task"] == bpmn_id]
    return task


def finding(engine, code: str) -> dict:
    return next(f for f in list_findings_now(engine) if f["code"] == code)


def list_findings_now(engine, **filters) -> list[dict]:
    with engine.database.reading() as session:
        return list_findings(session, engine.clock.now(), **filters)


def go_to(engine, when: datetime) -> None:
    """Run the clock forward a day at a time, a scheduler pass each morning, as the daemon would."""
    now = engine.clock.now().astimezone(SHANGHAI)
    while True:
        now = datetime.combine(now.date() + timedelta(days=1), datetime.min.time(), SHANGHAI) + timedelta(hours=9)
        if now >= when:
            break
        engine.clock.set(now)
        engine.tick()
    engine.clock.set(when)
    engine.tick()


def attach_file(engine, tmp_path, code: str, name: str, user: str = "pm1") -> None:
    path = tmp_path / name
    path.write_text(f"evidence {name}", encoding="utf-8")
    with engine.database.transaction() as session:
        attach(session, code, str(path), note=None, now=engine.clock.now(), actor=engine.actor(user))


def test_missed_deadline_reminder_failed_verification_and_closure(nc, tmp_path):
    nc.clock.set(day("2028-03-01", 9))
    code = raise_nc(nc, source="audit", description="事件未按约解决", owner="pm1", unit="P-01", item_code="PRC-c",
                    due=date(2028, 3, 31))
    assert code == "NC-2028-001"
    pm1, qmd1, qmd2 = nc.actor("pm1"), nc.actor("qmd1"), nc.actor("qmd2")

    go_to(nc, day("2028-03-05"))
    plan = {"root_cause": "回访流程缺失", "corrective_action": "增加回访步骤", "similar_elsewhere": False}
    nc.complete(task_of(nc, code, "plan_action")["id"], plan, actor=pm1)
    assert finding(nc, code)["status"] == "plan_submitted"
    go_to(nc, day("2028-03-06"))
    nc.complete(task_of(nc, code, "review_plan")["id"], {"plan_decision": "plan_accepted"}, actor=qmd1)
    assert finding(nc, code)["status"] == "in_progress"

    # A reminder to pm1 on 03-28; overdue from 04-01 00:00.
    go_to(nc, day("2028-03-31", 23))
    reminded = [e for e in nc.history() if e["kind"] == "finding.reminded"]
    assert [(e["at"].astimezone(SHANGHAI).date(), e["payload"]["to"]) for e in reminded] == [(date(2028, 3, 28), "pm1")]
    assert finding(nc, code)["overdue"] is False
    go_to(nc, day("2028-04-01", 0) + timedelta(minutes=1))
    assert finding(nc, code)["overdue"] is True and finding(nc, code)["days_overdue"] == 1
    assert [f["code"] for f in list_findings_now(nc, overdue_only=True)] == [code]

    # Evidence first, then the submission; waiting for verification is not overdue.
    go_to(nc, day("2028-04-02"))
    implement = task_of(nc, code, "implement")
    with pytest.raises(OpsqaError, match="task implement: NC-2028-001 has no evidence attached"):
        nc.complete(implement["id"], {"implementation": "已增加回访"}, actor=pm1)
    attach_file(nc, tmp_path, code, "回访记录.pdf")
    nc.complete(implement["id"], {"implementation": "已增加回访"}, actor=pm1)
    assert finding(nc, code)["status"] == "pending_verification" and finding(nc, code)["overdue"] is False

    go_to(nc, day("2028-04-03"))
    verify = task_of(nc, code, "verify")
    with pytest.raises(OpsqaError, match="NotYourTask|needs role qmd"):
        nc.complete(verify["id"], {"verification": "verified_effective", "verification_comment": "ok"}, actor=pm1)
    nc.add_user("pm1", ["qmd"], actor=nc.actor(ADMIN))  # even holding the role, the owner may not verify
    with pytest.raises(OpsqaError, match="finding.verify: the finding's owner may never do it, and pm1 is"):
        nc.complete(verify["id"], {"verification": "verified_effective", "verification_comment": "ok"},
                    actor=nc.actor("pm1"))
    nc.complete(verify["id"], {"verification": "verified_not_effective", "verification_comment": "回访未覆盖夜班",
                               "new_due_date": "2028-04-20"}, actor=qmd1)
    reopened = finding(nc, code)
    assert (reopened["status"], reopened["reopen_count"], reopened["due"]) == ("in_progress", 1, date(2028, 4, 20))
    assert [h["date"] for h in reopened["due_history"]] == ["2028-03-31", "2028-04-20"]
    assert reopened["original_due"] == date(2028, 3, 31) and reopened["overdue"] is False

    go_to(nc, day("2028-04-18"))
    nc.complete(task_of(nc, code, "plan_action")["id"], plan, actor=nc.actor("pm1"))
    nc.complete(task_of(nc, code, "review_plan")["id"], {"plan_decision": "plan_accepted"}, actor=qmd1)
    implement = task_of(nc, code, "implement")
    with pytest.raises(OpsqaError, match="no evidence attached since the failed verification"):
        nc.complete(implement["id"], {"implementation": "夜班已覆盖"}, actor=nc.actor("pm1"))
    attach_file(nc, tmp_path, code, "夜班回访记录.pdf")
    nc.complete(implement["id"], {"implementation": "夜班已覆盖"}, actor=nc.actor("pm1"))
    go_to(nc, day("2028-04-19"))
    nc.complete(task_of(nc, code, "verify")["id"], {"verification": "verified_effective",
                                                    "verification_comment": "有效"}, actor=qmd2)
    closed = finding(nc, code)
    assert (closed["status"], closed["verified_by"]) == ("closed", "qmd2")
    # Evidence came before 04-07: no escalation to the management representative.
    assert not [e for e in nc.history() if e["kind"] == "finding.escalated"]
    assert nc.tasks(role="mr") == []
    instance = next(i for i in nc.instances(process_id="nc_followup"))
    assert instance["status"] == "completed" and instance["next_due_at"] is None


def test_an_unanswered_finding_escalates_to_the_management_representative(nc):
    nc.clock.set(day("2027-06-10"))
    code = raise_nc(nc, source="audit", description="备件不可用", owner="pm1", unit="P-03", item_code="RES-d",
                    due=date(2027, 8, 15))
    go_to(nc, day("2027-11-20"))
    item = finding(nc, code)
    assert (item["status"], item["overdue"], item["days_overdue"]) == ("open", True, 97)
    escalated = [e for e in nc.history() if e["kind"] == "finding.escalated"]
    assert [e["at"].astimezone(SHANGHAI).date() for e in escalated] == [date(2027, 8, 22)]
    assert [t["task"] for t in nc.tasks(role="mr")] == ["mr_instruction"]


def test_an_extended_due_date_moves_the_reminder_and_the_escalation(nc):
    nc.clock.set(day("2027-06-10"))
    code = raise_nc(nc, source="audit", description="备件不可用", owner="pm1", unit="P-03", item_code="RES-d",
                    due=date(2027, 8, 15))
    go_to(nc, day("2027-08-01"))

    def extend(to: str, reason: str, user: str = "qmd1"):
        usecases.audits.extend_finding(nc, usecases.Caller(user), code, to=date.fromisoformat(to), reason=reason)

    with pytest.raises(Denied, match="^finding.extend needs role qmd or admin; pm1 holds pm$"):
        extend("2027-09-15", "备件到货延迟", user="pm1")
    with pytest.raises(OpsqaError, match=r"^finding.extend needs a reason \(why, kept in the history\)$"):
        extend("2027-09-15", " ")
    with pytest.raises(OpsqaError, match=r"new due date 2027-08-10 is not after the current one \(2027-08-15\)"):
        extend("2027-08-10", "x")
    history_before = len(nc.history())
    assert finding(nc, code)["due"] == date(2027, 8, 15) and len(nc.history()) == history_before
    extend("2027-09-15", "备件到货延迟")
    item = finding(nc, code)
    assert (item["due"], item["original_due"]) == (date(2027, 9, 15), date(2027, 8, 15))
    assert [(h["date"], h["reason"]) for h in item["due_history"]] == [("2027-08-15", "raised"),
                                                                       ("2027-09-15", "备件到货延迟")]
    [rearmed] = [e for e in nc.history() if e["kind"] == "instance.rearmed"]
    assert {t["timer"]: (t["was"][:10], t["due"][:10]) for t in rearmed["payload"]["timers"]} == {
        "remind_timer": ("2027-08-12", "2027-09-12"), "overdue_timer": ("2027-08-15", "2027-09-15"),
        "escalate_timer": ("2027-08-22", "2027-09-22")}

    # No reminder, overdue or escalation at the old dates; all of them at the new ones.
    go_to(nc, day("2027-08-30"))
    assert finding(nc, code)["overdue"] is False
    assert not [e for e in nc.history() if e["kind"] in ("finding.reminded", "finding.escalated")]
    go_to(nc, day("2027-09-23"))
    reminded = [e["at"].astimezone(SHANGHAI).date() for e in nc.history() if e["kind"] == "finding.reminded"]
    escalated = [e["at"].astimezone(SHANGHAI).date() for e in nc.history() if e["kind"] == "finding.escalated"]
    assert (reminded, escalated) == ([date(2027, 9, 12)], [date(2027, 9, 22)])
    assert finding(nc, code)["days_overdue"] == 8


def test_bad_findings_are_refused(nc, tmp_path):
    nc.clock.set(day("2028-03-01", 9))
    with pytest.raises(OpsqaError, match="owner 'nobody' is not an opsqa user"):
        raise_nc(nc, source="audit", description="x", owner="nobody")
    with pytest.raises(OpsqaError, match="due date 2028-02-01 is before the finding is raised"):
        raise_nc(nc, source="audit", description="x", owner="pm1", due=date(2028, 2, 1))
    assert list_findings_now(nc) == [] and nc.instances(process_id="nc_followup") == []
    code = raise_nc(nc, source="manual", description="x", owner="pm1")
    assert finding(nc, code)["due"] == date(2028, 3, 31)  # raised + 30 days (the default)
    attach_file(nc, tmp_path, code, "a.txt")
    with pytest.raises(OpsqaError, match="already attached to NC-2028-001 as evidence 1"):
        attach_file(nc, tmp_path, code, "a.txt")
    with nc.database.reading() as session:
        assert get_finding(session, "nc-2028-001").code == code


def test_findings_from_the_command_line(run, tmp_path):
    assert run("init").exit_code == 0
    for user, role in (("qmd1", "qmd"), ("pm1", "pm")):
        assert run("users", "add", user, "--role", role).exit_code == 0
    assert run("deploy", "--reason", "set-up", "processes").exit_code == 0
    result = run("finding", "add", "--owner", "pm1", "--unit", "P-01", "--item", "PRC-c", "--description",
                 "事件未按约解决", "--due", "2099-12-31", login="qmd1")
    assert result.exit_code == 0, result.output
    code = result.stdout.split()[0]
    assert result.stdout == f"{code} raised, due 2099-12-31, owner pm1\n"
    refused = run("finding", "add", "--owner", "pm1", "--description", "x", login="pm1")
    assert (refused.exit_code, refused.stderr) == (1, "opsqa: finding.raise needs role qmd or admin; pm1 holds pm\n")

    evidence = tmp_path / "整改记录.txt"
    evidence.write_bytes("回访记录\n".encode())
    assert run("finding", "attach", code, str(evidence), login="pm1").exit_code == 0
    shown = run.json("finding", "show", code)
    assert (shown["status"], shown["owner"], shown["evidence"][0]["file"]) == ("open", "pm1", "整改记录.txt")
    out = tmp_path / "copy.txt"
    assert run("finding", "evidence", code, "1", "--out", str(out)).exit_code == 0
    assert out.read_bytes() == evidence.read_bytes()
    again = run("finding", "evidence", code, "1", "--out", str(out))
    assert again.exit_code == 1 and "exists; use --force to replace it" in again.stderr
    result = run("finding", "extend", code, "--to", "2100-01-31", "--reason", "备件延迟", login="qmd1")
    assert result.stdout == f"{code} is now due 2100-01-31 (originally 2099-12-31)\n", result.output
    refused = run("finding", "extend", code, "--to", "2100-03-01", "--reason", "再延", login="pm1")
    assert (refused.exit_code, refused.stderr) == (1, "opsqa: finding.extend needs role qmd or admin; pm1 holds pm\n")
    assert [f["code"] for f in run.json("findings", "--open")] == [code]
    assert run.json("findings", "--overdue") == []
    assert run("finding", "show", "NC-1999-001").stderr == "opsqa: no finding NC-1999-001; see `opsqa findings`\n"
    added = [e for e in run.json("history") if e["kind"] == "finding.evidence_added"][0]["payload"]
    assert added["sha256"] == hashlib.sha256(evidence.read_bytes()).hexdigest()


@pytest.mark.parametrize(("login", "args", "line"), [
    ("pm1", ["finding", "add", "--owner", "pm1", "--description", "x"],
     "finding.raise needs role qmd or admin; pm1 holds pm"),
    ("pm2", ["finding", "attach", "{code}", "{file}"],
     "finding.attach needs the finding's owner, or role qmd or admin; pm2 holds pm"),
    ("pm1", ["finding", "extend", "{code}", "--to", "2100-01-31", "--reason", "备件延迟"],
     "finding.extend needs role qmd or admin; pm1 holds pm"),
])
def test_a_refusal_is_the_policy_line_changes_nothing_and_is_recorded(run, tmp_path, login, args, line):
    assert run("init").exit_code == 0
    for user, role in (("qmd1", "qmd"), ("pm1", "pm"), ("pm2", "pm")):
        assert run("users", "add", user, "--role", role).exit_code == 0
    assert run("deploy", "--reason", "set-up", "processes").exit_code == 0
    raised = run("finding", "add", "--owner", "pm1", "--description", "事件未按约解决", "--due", "2099-12-31",
                 login="qmd1")
    code = raised.stdout.split()[0]
    evidence = tmp_path / "整改记录.txt"
    evidence.write_text("回访记录\n", encoding="utf-8")
    before = (run.json("history"), run.json("findings"), run.json("instances"))
    result = run(*[arg.format(code=code, file=evidence) for arg in args], login=login)
    assert (result.exit_code, result.stderr) == (1, f"opsqa: {line}\n")
    *history, denial = run.json("history")
    assert (history, run.json("findings"), run.json("instances")) == before
    assert run.json("finding", "show", code)["evidence"] == []
    assert (denial["kind"], denial["actor"]) == ("security.denied", login)
    assert denial["payload"] == {"action": line.split()[0], "result": "denied", "message": line, "source": "cli"}


def close_by(engine, closures: dict[str, datetime], tmp_path) -> None:
    """Run findings' follow-ups from plan to evidence now, then verify each effective at its time (in order)."""
    pm1, qmd1 = engine.actor("pm1"), engine.actor("qmd1")
    for code in closures:
        engine.complete(task_of(engine, code, "plan_action")["id"], {"root_cause": "原因", "corrective_action": "措施"},
                        actor=pm1)
        engine.complete(task_of(engine, code, "review_plan")["id"], {"plan_decision": "plan_accepted"}, actor=qmd1)
        attach_file(engine, tmp_path, code, f"{code}.txt")
        engine.complete(task_of(engine, code, "implement")["id"], {"implementation": "已整改"}, actor=pm1)
    for code, when in closures.items():
        engine.clock.set(when)
        engine.complete(task_of(engine, code, "verify")["id"], {"verification": "verified_effective",
                                                                "verification_comment": "有效"},
                        actor=engine.actor("qmd2"))


def test_a_finding_closed_after_its_due_date_is_closed_late(nc, tmp_path, run):
    """Three findings due 2027-07-10, closed 07-10 23:30, 07-11 00:30 (still 07-10 in UTC) and 07-14 10:00
    Shanghai time: on time, 1 day late, 4 days late; the year's on-time closure rate is 1 of 3."""
    nc.clock.set(day("2027-07-01", 9))
    codes = [raise_nc(nc, source="audit", description=f"问题{n}", owner="pm1", due=date(2027, 7, 10))
             for n in range(4)]
    nc.clock.set(day("2027-07-02"))
    close_by(nc, dict(zip(codes, (day("2027-07-10", 23) + timedelta(minutes=30),
                                  day("2027-07-11", 0) + timedelta(minutes=30), day("2027-07-14")), strict=False)),
             tmp_path)
    rows = {f["code"]: f for f in list_findings_now(nc)}
    assert [(rows[c]["status"], rows[c]["closed_late"], rows[c]["days_late"]) for c in codes] == [
        ("closed", False, 0), ("closed", True, 1), ("closed", True, 4), ("open", False, 0)]
    assert rows[codes[1]]["closed_on"] == date(2027, 7, 11) and rows[codes[1]]["closed_at"].day == 10  # UTC
    with nc.database.reading() as session:
        rate = on_time_closure(session, 2027, nc.clock.now())
    assert (rate["closed"], rate["closed_on_time"], rate["closed_late"], rate["on_time_rate"]) == (3, 1, 2, 0.3333)
    assert [(f["code"], f["closed_on"], f["days_late"]) for f in rate["late_findings"]] == [
        (codes[1], "2027-07-11", 1), (codes[2], "2027-07-14", 4)]
    with nc.database.reading() as session:
        assert on_time_closure(session, 2027, day("2027-07-11", 9))["closed"] == 2  # as of a time: closed by then

    # The command line: the list, its summary line, --summary, --json, --xlsx and `finding show`.
    listing = run("findings", "--year", "2027", "--as-of", "2027-07-20 09:00")
    lines = listing.stdout.splitlines()
    assert "closed 1 d late" in lines[2] and "closed 4 d late" in lines[3] and "  -  " in lines[1]
    assert lines[-1] == "on-time closure 2027: 1 of 3 closed findings closed by their due date (33.3%), 2 late"
    [summary] = run.json("findings", "--summary", "--as-of", "2027-07-20 09:00")
    assert (summary["year"], summary["closed"], summary["closed_on_time"], summary["on_time_rate"]) == (
        2027, 3, 1, 0.3333)
    assert [(f["closed_late"], f["days_late"]) for f in run.json("findings")] == [(False, 0), (True, 1), (True, 4),
                                                                                  (False, 0)]
    shown = run("finding", "show", codes[2])
    assert shown.stdout.startswith(f"{codes[2]}  closed, 4 days late  owner pm1  due 2027-07-10\n")
    assert run.json("finding", "show", codes[1])["closed_on"] == "2027-07-11"
    import openpyxl

    assert run("findings", "--xlsx", str(tmp_path / "f.xlsx")).exit_code == 0
    sheet = [list(r) for r in openpyxl.load_workbook(tmp_path / "f.xlsx").worksheets[0].iter_rows(values_only=True)]
    late, days = sheet[0].index("closed_late"), sheet[0].index("days_late")
    assert [(row[late], row[days]) for row in sheet[1:]] == [(False, 0), (True, 1), (True, 4), (False, 0)]


def test_the_review_report_gives_the_on_time_closure_rate(nc, tmp_path):
    nc.clock.set(day("2027-07-01", 9))
    codes = [raise_nc(nc, source="audit", description=f"问题{n}", owner="pm1", due=date(2027, 7, 10))
             for n in range(2)]
    nc.clock.set(day("2027-07-02"))
    close_by(nc, dict(zip(codes, (day("2027-07-09"), day("2027-08-02", 11)), strict=True)), tmp_path)
    from store import ManagementReview

    now = day("2027-11-20", 9)
    with nc.database.transaction() as session:
        inputs = gather(session, 2027, now)
        session.add(ManagementReview(year=2027, status="reported", precondition_snapshot="{}",
                                     inputs=json.dumps(inputs, ensure_ascii=False), decisions="[]",
                                     initiated_by="mr1", created_at=now, reported_at=now))
    assert (inputs["on_time_closure"]["closed"], inputs["on_time_closure"]["on_time_rate"]) == (2, 0.5)
    with nc.database.reading() as session:
        [report] = review_documents(session, 2027)
    text = report.markdown()
    assert "本年度不符合项按期整改率：1/2（50.0%），逾期关闭 1 项。" in text
    assert "## 逾期关闭的不符合项（1 项）" in text
    assert f"| {codes[1]} | 内审 | — | pm1 | 2027-07-10 | 2027-08-02 | 23 天 |" in text


def test_tasks_overdue_and_findings_overdue_agree(nc, tmp_path):
    """On one database at one time: a finding is overdue exactly when its open follow-up task is past its due
    date (the finding's due date, to its end in Shanghai time)."""
    nc.clock.set(day("2027-07-01", 9))
    due = date(2027, 7, 10)
    opened, submitted, doing, delivered, early, extended = (
        raise_nc(nc, source="audit", description=name, owner="pm1", due=due if name != "early" else date(2027, 8, 1))
        for name in ("opened", "submitted", "doing", "delivered", "early", "extended"))
    plan = {"root_cause": "原因", "corrective_action": "措施"}
    pm1, qmd1 = nc.actor("pm1"), nc.actor("qmd1")
    for code in (submitted, doing, delivered, early, extended):
        nc.complete(task_of(nc, code, "plan_action")["id"], plan, actor=pm1)
    for code in (doing, delivered, early, extended):
        nc.complete(task_of(nc, code, "review_plan")["id"], {"plan_decision": "plan_accepted"}, actor=qmd1)
    attach_file(nc, tmp_path, delivered, "证据.txt")
    nc.complete(task_of(nc, delivered, "implement")["id"], {"implementation": "已整改"}, actor=pm1)
    usecases.audits.extend_finding(nc, usecases.Caller("qmd1"), extended, to=date(2027, 7, 20), reason="备件延迟")
    assert task_of(nc, opened, "plan_action")["due_at"] == datetime(2027, 7, 10, 16, tzinfo=UTC)
    assert task_of(nc, extended, "implement")["due_at"] == datetime(2027, 7, 20, 16, tzinfo=UTC)  # moved with it

    def overdue() -> tuple[set, set]:
        findings = {f["code"] for f in usecases.audits.findings(nc, overdue=True)}
        tasks = usecases.tasks.tasks(None, lambda: nc, quick=False, overdue=True)
        keys = {t["business_key"] for t in tasks if t["process"] == "nc_followup"}
        return findings, keys

    go_to(nc, day("2027-07-10", 23))
    assert overdue() == (set(), set())
    go_to(nc, day("2027-07-12"))
    assert overdue() == ({opened, submitted, doing}, {opened, submitted, doing})
    assert {t["task"] for t in nc.tasks(overdue=True)} == {"plan_action", "review_plan", "implement"}
    go_to(nc, day("2027-07-21"))
    findings, keys = overdue()
    assert findings == keys == {opened, submitted, doing, extended}
    assert delivered not in findings and early not in findings  # waiting for verification; not yet due
