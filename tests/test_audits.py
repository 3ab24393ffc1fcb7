"""Auditor independence (DOMAIN.md S4)."""

from __future__ import annotations

from datetime import date

import pytest

import usecases
from engine import OpsqaError
from engine.errors import Denied
from handlers.audits import add_auditor, independence
from handlers.projects import ProjectInput, save_project


@pytest.fixture
def register(engine, admin):
    for user, role, dept in (("ops_aud", "ops", "ops"), ("qmd2", "qmd", "qmd"), ("pm1", "pm", "ops"),
                             ("pm2", "pm", "ops"), ("oms1", "oms", "ops"), ("newbie", "ops", "ops")):
        engine.add_user(user, [role], department=dept, actor=admin)
    now = engine.clock.now()
    qmd = engine.actor("qmd1")
    with engine.database.transaction() as session:
        save_project(session, ProjectInput("P-01", "平安城市一期", "市公安局", "pm1", "oms1", "safe_city",
                                           members=["ops_aud"]), now=now, actor=qmd)
        save_project(session, ProjectInput("P-02", "智慧城市", "市大数据局", "pm2", "oms1", "smart_city"), now=now,
                     actor=qmd)
        add_auditor(session, "ops_aud", certificate_no="IA-001", valid_until=date(2029, 12, 31), now=now, actor=qmd)
        add_auditor(session, "qmd2", certificate_no="IA-002", valid_until=None, now=now, actor=qmd)
    return engine


def conflicts(engine, *assignments):
    with engine.database.reading() as session:
        return [str(c) for c in independence(session, list(assignments), on=date(2028, 6, 1))]


def test_a_project_member_may_not_audit_the_project(register):
    assert conflicts(register, ("ops_aud", "P-01")) == [
        "auditor ops_aud is not independent of P-01 (member of the project team)"]
    assert conflicts(register, ("ops_aud", "P-02"), ("qmd2", "P-01")) == []


def test_own_department_and_unqualified_auditors_are_refused(register):
    assert conflicts(register, ("qmd2", "qmd")) == ["auditor qmd2 is not independent of qmd (own department)"]
    assert conflicts(register, ("newbie", "P-02")) == [
        "auditor newbie is not independent of P-02 (not a registered auditor)"]
    with pytest.raises(OpsqaError, match="unit 'P-99' is neither a project of the register nor a department"):
        conflicts(register, ("qmd2", "P-99"))


def test_only_qmd_registers_auditors(register):
    with pytest.raises(Denied, match="^auditor.add needs role qmd or admin; pm1 holds pm$"):
        usecases.audits.add_auditor(register, usecases.Caller("pm1"), "newbie")
    assert [a["user"] for a in usecases.audits.auditors(register)] == ["ops_aud", "qmd2"]


def test_auditors_from_the_command_line(run):
    assert run("init").exit_code == 0
    assert run("users", "add", "ops_aud", "--role", "ops", "--department", "ops").exit_code == 0
    result = run("auditors", "add", "ops_aud", "--certificate", "IA-001", "--valid-until", "2029-12-31")
    assert result.exit_code == 0, result.output
    assert run("auditors", "add", "ops_aud").stderr == "opsqa: ops_aud is already a registered auditor\n"
    assert run.json("auditors", "list") == [{"user": "ops_aud", "name": None, "department": "ops",
                                             "certificate_no": "IA-001", "valid_until": "2029-12-31"}]


def test_a_random_inspection_sample_is_reproducible_from_its_seed(register):
    from handlers.inspections import draw_sample
    from handlers.projects import ProjectInput, save_project

    with register.database.transaction() as session:
        save_project(session, ProjectInput("P-03", "视频专网", "区公安分局", "pm1", "oms1", "safe_city"),
                     now=register.clock.now(), actor=register.actor("qmd1"))
    with register.database.reading() as session:
        assert draw_sample(session, seed=42) == ["P-03"]  # DOMAIN.md S7
        assert draw_sample(session, seed=42) == draw_sample(session, seed=42)
        assert sorted(draw_sample(session, seed=7, size=3)) == ["P-01", "P-02", "P-03"]
        with pytest.raises(OpsqaError, match="sample size 4 must be between 1 and the 3 active projects"):
            draw_sample(session, seed=42, size=4)


def test_an_audit_checklist_covers_every_item_at_every_unit(register):
    from handlers.audits import checklist_status, create_audit, record_result
    from handlers.checklist import AUDIT_ITEMS
    from handlers.projects import ProjectInput, save_project

    engine, now = register, register.clock.now()
    qmd1, qmd2, ops_aud = engine.actor("qmd1"), engine.actor("qmd2"), engine.actor("ops_aud")
    with engine.database.transaction() as session:
        save_project(session, ProjectInput("P-03", "视频专网", "区公安分局", "pm1", "oms1", "safe_city"), now=now,
                     actor=qmd1)
        with pytest.raises(OpsqaError, match=r"auditor ops_aud is not independent of P-01 \(member of the project"):
            create_audit(session, year=2027, full=True, team={"qmd2": ["P-01"], "ops_aud": ["P-01", "P-02"]},
                         lead_auditor="qmd2", planned_start=date(2027, 6, 1), planned_end=date(2027, 6, 10), now=now,
                         actor=qmd1)
        audit = create_audit(session, year=2027, full=True, team={"qmd2": ["P-01"], "ops_aud": ["P-02", "P-03"]},
                             lead_auditor="qmd2", planned_start=date(2027, 6, 1), planned_end=date(2027, 6, 10),
                             now=now, actor=qmd1)
        code = audit.code
    assert code == "IA-2027-01"

    nonconform = {("PRC-c", "P-01"), ("PRC-e", "P-02"), ("RES-d", "P-03")}  # S1's three findings
    with engine.database.transaction() as session:
        status = checklist_status(session, code)
        assert len(status["missing"]) == 69 and not status["complete"]
        for item in AUDIT_ITEMS:
            for unit in ("P-01", "P-02", "P-03"):
                auditor = qmd2 if unit == "P-01" else ops_aud
                result = "nonconform" if (item.code, unit) in nonconform else "conform"
                record_result(session, code, item=item.code, unit=unit, result=result, evidence="抽查记录",
                              na_reason=None, now=now, actor=auditor)
        status = checklist_status(session, code)
    assert status["complete"] and status["missing"] == []
    assert status["nonconformities"] == ["PRC-c@P-01", "PRC-e@P-02", "RES-d@P-03"]
    assert {a["area"]: a["status"] for a in status["areas"]} == {
        "CAP": "conform", "PPL": "no items configured", "RES": "nonconform", "TEC": "conform", "PRC": "nonconform"}


@pytest.mark.parametrize(
    ("fields", "message"),
    [
        ({"item": "PRC-z"}, "item 'PRC-z' is not on the checklist"),
        ({"unit": "P-03"}, "unit 'P-03' is not in the scope of IA-2028-01"),
        ({"unit": "P-01"}, "^audit.record needs the unit's auditor on the audit team; ops_aud holds ops$"),
        ({"result": "not_applicable"}, "PRC-a at P-02: not_applicable needs a reason"),
        ({"result": "nonconform", "evidence": ""}, "PRC-a at P-02: a nonconform result needs its evidence"),
        ({"result": "maybe"}, "result 'maybe' is not one of conform, nonconform, observation, not_applicable"),
    ],
)
def test_bad_checklist_rows_are_refused(register, fields, message):
    from handlers.audits import create_audit, record_result

    engine, now = register, register.clock.now()
    with engine.database.transaction() as session:
        create_audit(session, year=2028, full=True, team={"qmd2": ["P-01"], "ops_aud": ["P-02"]}, lead_auditor="qmd2",
                     planned_start=date(2028, 6, 1), planned_end=date(2028, 6, 10), now=now,
                     actor=engine.actor("qmd1"))
    row = {"item": "PRC-a", "unit": "P-02", "result": "conform", "evidence": "记录", "na_reason": None, **fields}
    before = engine.history()
    with engine.database.transaction() as session, pytest.raises(OpsqaError, match=message):
        record_result(session, "IA-2028-01", now=now, actor=engine.actor("ops_aud"), **row)
    assert engine.history() == before
