"""The internal audit (6.2.1) end to end through the engine: S1 up to the audit results."""

from __future__ import annotations

import hashlib
from datetime import date, datetime
from zoneinfo import ZoneInfo

import pytest
from helpers import ADMIN, make_engine

from engine import OpsqaError, SimulatedClock
from handlers.audits import add_auditor, checklist_status, create_audit, get_audit, record_result
from handlers.checklist import AUDIT_ITEMS
from handlers.findings import list_findings
from handlers.projects import ProjectInput, save_project
from handlers.reports import audit_documents

SHANGHAI = ZoneInfo("Asia/Shanghai")
NONCONFORM = {("PRC-c", "P-01"), ("PRC-e", "P-02"), ("RES-d", "P-03")}


@pytest.fixture
def org(engine, db_path):
    org = make_engine(db_path, SimulatedClock(datetime(2027, 6, 1, 9, tzinfo=SHANGHAI)))
    admin = org.actor(ADMIN)
    for user, role, dept in (("qmd2", "qmd", "qmd"), ("ops_aud", "ops", "ops"), ("pm1", "pm", "ops"),
                             ("pm2", "pm", "ops"), ("oms1", "oms", "ops"), ("mr1", "mr", "mr")):
        org.add_user(user, [role], department=dept, actor=admin)
    org.add_user("qmd2", ["iat"], actor=admin)
    org.add_user("ops_aud", ["iat"], actor=admin)
    org.deploy(["processes"], actor=admin)
    now, qmd = org.clock.now(), org.actor("qmd1")
    with org.database.transaction() as session:
        for code, pm, members in (("P-01", "pm1", ["ops_aud"]), ("P-02", "pm2", []), ("P-03", "pm1", [])):
            save_project(session, ProjectInput(code, f"项目{code}", "公安局", pm, "oms1", "safe_city", members=members),
                         now=now, actor=qmd)
        for auditor in ("qmd2", "ops_aud"):
            add_auditor(session, auditor, certificate_no=None, valid_until=None, now=now, actor=qmd)
    return org


def plan(org) -> str:
    actor = org.actor("qmd1")
    with org.database.transaction() as session:
        audit = create_audit(session, year=2027, full=True, team={"qmd2": ["P-01"], "ops_aud": ["P-02", "P-03"]},
                             lead_auditor="qmd2", planned_start=date(2027, 6, 1), planned_end=date(2027, 6, 10),
                             now=org.clock.now(), actor=actor)
        audit.instance_id = org.starter(session, actor)("internal_audit", audit.code,
                                                        {"audit": audit.code, "lead_auditor": "qmd2", "year": 2027})
        return audit.code


def task(org, bpmn_id: str) -> dict:
    [found] = [t for t in org.tasks() if t["task"] == bpmn_id]
    return found


def status(org, code: str) -> str:
    with org.database.reading() as session:
        return get_audit(session, code).status


def test_an_audit_with_three_nonconformities(org):
    code = plan(org)
    org.complete(task(org, "approve_audit_plan")["id"], {"plan_decision": "audit_plan_approved"},
                 actor=org.actor("mr1"))
    assert status(org, code) == "in_progress"

    perform = task(org, "perform_audit")
    assert perform["assignee"] == "qmd2"
    with pytest.raises(OpsqaError, match=f"task perform_audit: the checklist of {code} has 69 unchecked rows"):
        org.complete(perform["id"], {}, actor=org.actor("qmd2"))
    with org.database.transaction() as session:
        for item in AUDIT_ITEMS:
            for unit in ("P-01", "P-02", "P-03"):
                result = "nonconform" if (item.code, unit) in NONCONFORM else "conform"
                record_result(session, code, item=item.code, unit=unit, result=result, evidence="现场抽查记录",
                              na_reason=None, now=org.clock.now(),
                              actor=org.actor("qmd2" if unit == "P-01" else "ops_aud"))
    org.complete(perform["id"], {"audit_notes": "全面内审"}, actor=org.actor("qmd2"))

    with org.database.reading() as session:
        findings = list_findings(session, org.clock.now())
        assert checklist_status(session, code)["complete"]
    assert [(f["code"], f["item"], f["unit"], f["owner"], f["status"]) for f in findings] == [
        ("NC-2027-001", "PRC-c", "P-01", "pm1", "open"),
        ("NC-2027-002", "PRC-e", "P-02", "pm2", "open"),
        ("NC-2027-003", "RES-d", "P-03", "pm1", "open"),
    ]
    follow_ups = org.instances(process_id="nc_followup")
    assert [i["business_key"] for i in follow_ups] == ["NC-2027-001", "NC-2027-002", "NC-2027-003"]

    org.complete(task(org, "write_report")["id"], {"report_summary": "覆盖23项检查", "report_conclusion": "基本符合"},
                 actor=org.actor("qmd2"))
    org.complete(task(org, "acknowledge_report")["id"], {}, actor=org.actor("mr1"))
    assert status(org, code) == "reported"
    audit = next(i for i in org.instances(process_id="internal_audit"))
    assert audit["status"] == "completed"  # the audit is done; its findings live on
    assert all(i["status"] == "running" for i in org.instances(process_id="nc_followup"))

    # 《运维过程内审报告》 and 《运维过程内审检查表》, the same bytes every time.
    with org.database.reading() as session:
        documents, warnings = audit_documents(session, 2027)
        again = [d.markdown() + d.html() for d in audit_documents(session, 2027)[0]]
    assert warnings == [] and [d.markdown() + d.html() for d in documents] == again
    report, checklist = documents
    text = report.markdown()
    assert "| 人员检查（PPL） | 0 | 0 | 0 | 0 | 0 | 未配置检查项（不视为符合） |" in text
    assert "| 过程检查（PRC） | 8 | 22 | 2 | 0 | 0 | 不符合 |" in text
    assert "## IA-2027-01 不符合项（3 项）" in text and "| 审核结论 | 基本符合 |" in text
    rows = [line for line in checklist.markdown().splitlines() if line.startswith("| ") and "-" in line[2:8]]
    assert len(rows) == 69 and not [r for r in rows if "未检查" in r]


def test_a_rejected_audit_plan_cancels_the_audit(org):
    code = plan(org)
    with pytest.raises(OpsqaError, match="plan_comment .*a value is required when"):
        org.complete(task(org, "approve_audit_plan")["id"], {"plan_decision": "audit_plan_rejected"},
                     actor=org.actor("mr1"))
    org.complete(task(org, "approve_audit_plan")["id"], {"plan_decision": "audit_plan_rejected",
                                                         "plan_comment": "范围缺少P-03"}, actor=org.actor("mr1"))
    assert status(org, code) == "cancelled"


def test_audits_from_the_command_line(run, tmp_path):
    assert run("init").exit_code == 0
    for user, role, dept in (("qmd1", "qmd", "qmd"), ("qmd2", "qmd", "qmd"), ("ops_aud", "ops", "ops"),
                             ("pm1", "pm", "ops"), ("oms1", "oms", "ops")):
        assert run("users", "add", user, "--role", role, "--department", dept).exit_code == 0
    assert run("deploy", "--reason", "set-up", "processes").exit_code == 0
    assert run("projects", "add", "P-01", "--name", "一期", "--customer", "公安局", "--pm", "pm1", "--oms", "oms1",
               "--member", "ops_aud", login="qmd1").exit_code == 0
    refused = run("auditors", "add", "qmd2", login="pm1")
    assert (refused.exit_code, refused.stderr) == (1, "opsqa: auditor.add needs role qmd or admin; pm1 holds pm\n")
    assert run.json("auditors", "list") == []
    for auditor in ("qmd2", "ops_aud"):
        assert run("auditors", "add", auditor, login="qmd1").exit_code == 0
    refused = run("audit", "plan", "--year", "2028", "--lead", "qmd2", "--team", "qmd2=P-01", "--from", "2028-06-01",
                  "--to", "2028-06-10", login="pm1")
    assert (refused.exit_code, refused.stderr) == (1, "opsqa: audit.plan needs role qmd or admin; pm1 holds pm\n")
    refused = run("audit", "plan", "--year", "2028", "--lead", "ops_aud", "--team", "ops_aud=P-01", "--from",
                  "2028-06-01", "--to", "2028-06-10", login="qmd1")
    assert refused.exit_code == 1
    assert refused.stderr == "opsqa: auditor ops_aud is not independent of P-01 (member of the project team)\n"
    assert run.json("audits") == []
    this_year = str(datetime.now(SHANGHAI).year)  # operator commands run on the real clock
    warning = f"warning: no full internal audit is planned for {this_year}; 6.2.1 asks for at least one a year"
    assert warning in run("schedules").stderr
    assert run("audit", "plan", "--year", this_year, "--lead", "qmd2", "--team", "qmd2=P-01", "--from",
               f"{this_year}-06-01", "--to", f"{this_year}-06-10", login="qmd1").exit_code == 0
    assert "warning" not in run("schedules").stderr
    result = run("audit", "plan", "--year", "2028", "--lead", "qmd2", "--team", "qmd2=P-01", "--from", "2028-06-01",
                 "--to", "2028-06-10", login="qmd1")
    assert result.exit_code == 0 and result.stdout.startswith("IA-2028-01 planned")
    result = run("audit", "record", "IA-2028-01", "--item", "PRC-c", "--unit", "P-01", "--result", "nonconform",
                 login="qmd2")
    assert result.exit_code == 1 and "PRC-c at P-01: a nonconform result needs its evidence" in result.stderr
    refused = run("audit", "record", "IA-2028-01", "--item", "PRC-c", "--unit", "P-01", "--result", "conform",
                  login="ops_aud")
    assert (refused.exit_code, refused.stderr) == (
        1, "opsqa: audit.record needs the unit's auditor on the audit team; ops_aud holds ops\n")
    assert [(e["actor"], e["payload"]["action"]) for e in run.json("history") if e["kind"] == "security.denied"] == [
        ("pm1", "auditor.add"), ("pm1", "audit.plan"), ("ops_aud", "audit.record")]
    assert run("audit", "record", "ia-2028-01", "--item", "PRC-c", "--unit", "P-01", "--result", "nonconform",
               "--evidence", "3起事件超时", login="qmd2").exit_code == 0
    shown = run("audit", "checklist", "IA-2028-01")
    assert "22 rows unchecked" in shown.stdout and "PPL   人员检查" in shown.stdout
    assert "no items configured" in shown.stdout and "nonconformities: PRC-c@P-01" in shown.stdout

    # Evidence files on a checklist row: kept with their SHA-256, retrievable, never attached twice.
    photo = tmp_path / "机房照片.jpg"
    photo.write_bytes(b"\xff\xd8 photo")
    assert run("audit", "record", "IA-2028-01", "--item", "PRC-d", "--unit", "P-01", "--result", "conform",
               "--attach", str(photo), login="qmd2").exit_code == 0
    again = run("audit", "record", "IA-2028-01", "--item", "PRC-d", "--unit", "P-01", "--result", "conform",
                "--attach", str(photo), login="qmd2")
    assert again.exit_code == 1 and "机房照片.jpg is already attached to PRC-d at P-01" in again.stderr
    out = tmp_path / "reports"
    first = run("report", "audit", "--year", "2028", "--out", str(out))
    assert first.exit_code == 0, first.output
    assert "warning" not in first.stderr
    files = sorted(p.name for p in (out / "2028").iterdir())
    assert files == ["internal-audit-checklist-IA-2028-01.html", "internal-audit-checklist-IA-2028-01.md",
                     "internal-audit-report-2028.html", "internal-audit-report-2028.md"]
    checklist_md = (out / "2028" / "internal-audit-checklist-IA-2028-01.md").read_text(encoding="utf-8")
    digest = hashlib.sha256(b"\xff\xd8 photo").hexdigest()
    assert f"#1 机房照片.jpg（SHA-256：{digest[:12]}）" in checklist_md
    before = {p.name: p.read_bytes() for p in (out / "2028").iterdir()}
    assert run("report", "audit", "--year", "2028", "--out", str(out)).exit_code == 0
    assert {p.name: p.read_bytes() for p in (out / "2028").iterdir()} == before
    assert run("audit", "evidence", "IA-2028-01", "1", "--out", str(tmp_path / "copy.jpg")).exit_code == 0
    assert (tmp_path / "copy.jpg").read_bytes() == b"\xff\xd8 photo"
    empty = run("report", "audit", "--year", "2025", "--out", str(out))
    assert empty.exit_code == 0 and "warning: 2025 年度没有完整的运维过程内审" in empty.stderr
    assert "2025 年度未实施运维过程内审。" in (out / "2025" / "internal-audit-report-2025.md").read_text("utf-8")
