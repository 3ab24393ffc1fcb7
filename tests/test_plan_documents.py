"""The plans as documents (6.1.2, 6.1.3): the quality plan in the words of its form, the general manager
approving the draft document, a revision compared with the edition before it, and each project's plan — all
registered like the other documents."""

from __future__ import annotations

import pytest
from helpers import ADMIN, PLAN_VALUES
from starlette.testclient import TestClient
from test_plan_revision import at, issue_2027, local, org, ready  # noqa: F401  (org: a fixture)
from test_web import sign_in

import usecases
import web
from engine import OpsqaError
from handlers.plan import PLAN_FIELDS
from handlers.plan_documents import QUALITY_PLAN_FIELDS, project_plan_documents, quality_plan_documents


def plan_document(engine, year: int = 2027, **options):
    with engine.database.reading() as session:
        [doc] = quality_plan_documents(session, year, **options)
    return doc


def cells(doc) -> dict[str, list]:
    """Each table's first column -> the rest of its row, over the whole document."""
    return {row[0]: row[1:] for block in doc.blocks if block[0] == "table" for row in block[2]}


def test_every_field_the_plan_keeps_has_its_place_in_the_document():
    assert set(PLAN_FIELDS) <= set(QUALITY_PLAN_FIELDS)


def test_the_plan_in_the_forms_words_with_its_approvals_and_sign_off(org):  # noqa: F811
    with pytest.raises(OpsqaError, match="no quality plan has been drafted for 2027"):
        plan_document(org)
    issue_2027(org)
    doc = plan_document(org)
    assert (doc.doc_no, doc.title) == ("QP-6.1.2-2027", "2027年度质量管理计划")
    rows = cells(doc)
    assert rows["6.1.2 e) 质量指标收集分析周期"] == ["每月"] and rows["6.1.2 f) 现场抽查频次"] == ["每季度"]
    assert rows["6.1.2 a) 质量目标、目的范围及与其它计划的关系"] == [PLAN_VALUES["objectives"]]
    assert rows["第 1 稿"][2:] == ["批准", "—"]
    text = doc.markdown()
    assert "spot_quarterly" not in text and "monthly" not in text and "修订对照" not in text
    assert [(s.step, s.name) for s in doc.signatures] == [("编制", "张三（qmd1）"), ("审核", ""),
                                                           ("批准", "李四（gm1）")]


def test_a_revision_is_compared_with_the_edition_before_and_issued_as_the_next_version(org, tmp_path):  # noqa: F811
    issue_2027(org)
    qmd = usecases.Caller("qmd1")
    first = usecases.documents.issue(org, qmd, "plan", 2027, formats="html", out_folder=str(tmp_path))
    assert [(d["doc_no"], d["version"]) for d in first["documents"]] == [("QP-6.1.2-2027", "A0")]

    at(org, local(2027, 3, 10, 10))
    revision = usecases.plans.revise(org, qmd, 2027, reason="抽查改为每月")["instance_id"]
    draft = ready(org, "draft_plan", revision)
    org.complete(draft["id"], {"spot_check_frequency": "spot_monthly", "audit_start": "2027-07-01"},
                 actor=org.actor("qmd1"))
    approving = plan_document(org, drafting=True)  # what the general manager reads before deciding
    assert cells(approving)["状态"] == ["编制中（未发布）"] and cells(approving)["版次"] == ["第 2 版（修订）"]
    assert cells(approving)["6.1.2 f) 现场抽查频次"] == ["每季度", "每月"]  # before, after
    assert cells(approving)["6.1.2 d) 年度内审开始日期"] == ["2027-06-01", "2027-07-01"]
    assert "二、修订对照（与第 1 版相比，2 项变化）" in approving.markdown()
    assert [(s.step, s.name) for s in approving.signatures] == [("编制", "张三（qmd1）"), ("审核", ""), ("批准", "")]
    unchanged = usecases.documents.issue(org, qmd, "plan", 2027, formats="html", out_folder=str(tmp_path))
    assert [d["version"] for d in unchanged["documents"]] == ["A0"]  # the edition in force did not change

    org.complete(ready(org, "approve_plan", revision)["id"], {"decision": "approved"}, actor=org.actor("gm1"))
    revised = usecases.documents.issue(org, qmd, "plan", 2027, formats="html", out_folder=str(tmp_path))
    assert [(d["version"], d["new"]) for d in revised["documents"]] == [("A1", True)]
    assert [(r["version"], r["status"]) for r in usecases.documents.register(org, 2027)] == [
        ("A0", "obsolete"), ("A1", "effective")]
    html = (tmp_path / "2027" / "quality-plan-2027.html").read_text(encoding="utf-8")
    assert "抽查改为每月" in html and "修订对照" in html and "<td>A1</td>" in html


def test_the_general_manager_approves_the_plan_as_its_draft_document(org):  # noqa: F811
    at(org, local(2027, 1, 1, 0, 6))
    org.complete(ready(org, "draft_plan")["id"], PLAN_VALUES, actor=org.actor("qmd1"))
    task = ready(org, "approve_plan")["id"]
    usecases.auth.set_password(org, usecases.Caller(ADMIN), "gm1", "a long enough password")
    with TestClient(web.create_app(org)) as client:
        sign_in(client, "gm1", "a long enough password")
        page = client.get(f"/tasks/{task}")
    assert page.status_code == 200
    assert "您要审批的文件：2027年度质量管理计划（草稿）" in page.text and "QP-6.1.2-2027" in page.text
    assert "<td>每季度</td>" in page.text and "spot_quarterly" not in page.text
    assert "编制中（未发布）" in page.text


def test_each_projects_plan_and_what_a_new_version_changed(org, tmp_path):  # noqa: F811
    with org.database.reading() as session, pytest.raises(OpsqaError, match="no project has its 2027 quality"):
        project_plan_documents(session, 2027)
    org.add_user("ops1", ["ops"], department="ops", actor=org.actor(ADMIN))
    items = {"org_structure": "项目经理1名，工程师3名", "kpi_control": "每日监控可用率", "spot_checks": "每月一次",
             "report_frequency": "report_monthly", "report_due_days": 5, "resource_plan": "备件与车辆",
             "service_desk_plan": "7x24 热线", "spare_parts_plan": "本地备件库", "emergency_plan": "两小时到场"}
    instance = usecases.plans.plan_project(org, usecases.Caller("ops1"), "P-01", year=2027)["instance_id"]
    org.complete(ready(org, "define_qa", instance)["id"], items, actor=org.actor("ops1"))
    with org.database.reading() as session:
        [doc] = project_plan_documents(session, 2027)
    assert (doc.doc_no, doc.title) == ("QP-6.1.3-P-01-2027", "P-01 项目2027年度运维质量控制计划")
    assert cells(doc)["6.1.3 d) 运维报告提交频次"] == ["每月"] and "report_monthly" not in doc.markdown()
    issued = usecases.documents.issue(org, usecases.Caller("qmd1"), "project-plan", 2027, formats="html",
                                      out_folder=str(tmp_path))
    assert [(d["doc_no"], d["version"]) for d in issued["documents"]] == [("QP-6.1.3-P-01-2027", "A0")]
