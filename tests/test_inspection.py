"""The random service quality inspection (DOMAIN.md S7)."""

from __future__ import annotations

from datetime import date, datetime
from zoneinfo import ZoneInfo

import pytest
from helpers import ADMIN, make_engine

import usecases
from engine import OpsqaError, SimulatedClock
from engine.errors import Denied
from handlers.findings import list_findings
from handlers.inspections import list_inspections, record_check, start_inspection
from handlers.projects import ProjectInput, save_project
from handlers.reports import inspection_documents

SHANGHAI = ZoneInfo("Asia/Shanghai")


@pytest.fixture
def org(engine, db_path):
    org = make_engine(db_path, SimulatedClock(datetime(2028, 7, 3, 9, tzinfo=SHANGHAI)))
    admin = org.actor(ADMIN)
    for user, role in (("pm1", "pm"), ("pm2", "pm"), ("pm3", "pm"), ("oms1", "oms")):
        org.add_user(user, [role], department="ops", actor=admin)
    org.deploy(["processes"], actor=admin)
    with org.database.transaction() as session:
        for code, pm in (("P-01", "pm1"), ("P-02", "pm2"), ("P-03", "pm3")):
            save_project(session, ProjectInput(code, f"项目{code}", "公安局", pm, "oms1"), now=org.clock.now(),
                         actor=org.actor("qmd1"))
    return org


def start(org, user: str, **options):
    actor = org.actor(user)
    with org.database.transaction() as session:
        started = start_inspection(session, actor=actor, now=org.clock.now(),
                                   start_instance=org.starter(session, actor), **options)
        return started.code


def record(org, code: str, project: str, item: str, passed: bool, evidence: str | None = None, samples=None):
    with org.database.transaction() as session:
        record_check(session, code, project=project, item=item, passed=passed, evidence=evidence, samples=samples,
                     now=org.clock.now(), actor=org.actor("oms1"))


def test_a_random_inspection_with_two_failed_points(org):
    code = start(org, "oms1", seed=42)
    with org.database.reading() as session:
        [inspection] = list_inspections(session)
    assert (inspection["code"], inspection["projects"], inspection["seed"]) == (code, ["P-03"], 42)
    assert inspection["trigger_type"] == "random_oms"
    assert start(org, "oms1", seed=42) and list_inspections_projects(org)[-1] == ["P-03"]  # the same draw again

    instance = next(i for i in org.instances(process_id="service_inspection") if i["business_key"] == code)
    [inspect] = org.tasks(instance_id=instance["id"])
    record(org, code, "P-03", "SVC-a", True)
    with pytest.raises(OpsqaError, match=f"task inspect: {code} has 4 unchecked points: SVC-b@P-03, SVC-c@P-03"):
        org.complete(inspect["id"], {}, actor=org.actor("oms1"))
    record(org, code, "P-03", "SVC-b", False, "6份月报中2份迟交")
    record(org, code, "P-03", "SVC-c", True)
    record(org, code, "P-03", "SVC-d", True)
    record(org, code, "P-03", "SVC-e", False, "抽查10条事件记录，2条缺少关闭代码",
           {"record_type": "incident", "size": 10, "defects": 2})
    org.complete(inspect["id"], {"inspection_notes": "随机抽查"}, actor=org.actor("oms1"))

    with org.database.reading() as session:
        findings = list_findings(session, org.clock.now())
        assert list_inspections(session)[0]["status"] == "reported"
    assert [(f["source"], f["item"], f["unit"], f["owner"], f["due"]) for f in findings] == [
        ("inspection", "SVC-b", "P-03", "pm3", date(2028, 8, 2)),
        ("inspection", "SVC-e", "P-03", "pm3", date(2028, 8, 2)),
    ]

    # One inspection record and one inspection report, the same bytes every time they are made.
    with org.database.reading() as session:
        record_doc, report_doc = inspection_documents(session, code)
        again = [d.html() for d in inspection_documents(session, code)]
    assert (record_doc.title, report_doc.title) == ("运维服务质量检查记录", "运维服务质量检查报告")
    assert [record_doc.html(), report_doc.html()] == again
    text = report_doc.markdown()
    assert "| 触发方式 | 运维管理主管随机抽查 |" in text and "| 随机抽样 | 种子 42，样本量 1 |" in text
    assert "共检查 1 个项目、5 个检查点，不合格 2 个。" in text and "## 整改项（2 项）" in text
    assert "| SVC-e | 不合格 | 抽查10条事件记录，2条缺少关闭代码 |" in record_doc.markdown().replace(
        "| 对各过程的记录进行针对性检查和抽查，例如事件记录、问题记录、配置审核、变更记录、发布记录等。 ", "")


def list_inspections_projects(org) -> list[list[str]]:
    with org.database.reading() as session:
        return [i["projects"] for i in list_inspections(session)]


def test_who_starts_it_decides_the_trigger(org):
    start(org, "qmd1", projects=["P-01"])
    with org.database.reading() as session:
        assert [(i["trigger_type"], i["projects"], i["seed"]) for i in list_inspections(session)] == [
            ("qmd_as_needed", ["P-01"], None)]
    with pytest.raises(OpsqaError, match="unknown project code 'P-09'"):
        start(org, "qmd1", projects=["P-09"])
    with pytest.raises(Denied, match="^inspection.start needs role oms or qmd or admin; pm1 holds pm$"):
        usecases.audits.start_inspection(org, usecases.Caller("pm1"))
    with pytest.raises(Denied, match="^inspection.name needs role qmd or admin; oms1 holds oms$"):
        usecases.audits.start_inspection(org, usecases.Caller("oms1"), projects=["P-01"])
    assert list_inspections_projects(org) == [["P-01"]]


def test_inspections_from_the_command_line(run, tmp_path):
    assert run("init").exit_code == 0
    for user, role in (("qmd1", "qmd"), ("pm1", "pm"), ("oms1", "oms")):
        assert run("users", "add", user, "--role", role).exit_code == 0
    assert run("deploy", "--reason", "set-up", "processes").exit_code == 0
    assert run("projects", "add", "P-01", "--name", "一期", "--customer", "公安局", "--pm", "pm1", "--oms", "oms1",
               login="qmd1").exit_code == 0
    for login, args, line in (
        ("pm1", [], "inspection.start needs role oms or qmd or admin; pm1 holds pm"),
        ("oms1", ["--project", "P-01"], "inspection.name needs role qmd or admin; oms1 holds oms"),
    ):
        refused = run("inspection", "start", *args, login=login)
        assert (refused.exit_code, refused.stderr) == (1, f"opsqa: {line}\n")
    assert run.json("inspections") == [] and run.json("instances") == []
    started = run("inspection", "start", "--seed", "42", login="oms1")
    code = started.stdout.split(":")[0]
    assert started.stdout == f"{code}: inspecting P-01 (seed 42)\n", started.output

    refused = run("inspection", "record", code, "--rest", "--pass", login="pm1")
    assert (refused.exit_code, refused.stderr) == (
        1, "opsqa: inspection.record needs the inspection's inspector; pm1 holds pm\n")
    recorded = run("inspection", "record", code, "--item", "SVC-b", "--fail", "--evidence", "月报迟交", login="oms1")
    assert (recorded.exit_code, recorded.stderr) == (0, f"{code} SVC-b@P-01: fail\n")
    rest = run("inspection", "record", code, "--rest", "--pass", login="oms1")
    assert rest.stderr == f"{code} SVC-a, SVC-c, SVC-d, SVC-e@P-01: pass\n"
    [row] = run.json("inspections")
    assert (row["trigger_type"], row["seed"], row["projects"], row["inspector"]) == ("random_oms", 42, ["P-01"], "oms1")
    denials = [(e["actor"], e["payload"]["action"]) for e in run.json("history") if e["kind"] == "security.denied"]
    assert denials == [("pm1", "inspection.start"), ("oms1", "inspection.name"), ("pm1", "inspection.record")]

    out = tmp_path / "reports"
    made = run("report", "inspection", code, "--out", str(out))
    assert made.exit_code == 0, made.output
    assert sorted(made.stdout.split()) == sorted(str(path) for path in (out / code.split("-")[1]).iterdir())
    both = run("report", "inspection", code, "--year", "2028", "--out", str(out))
    assert (both.exit_code, both.stderr) == (1, "opsqa: name one inspection (CODE) or a year (--year), not both\n")
