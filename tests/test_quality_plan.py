"""6.1.2 end to end through the engine: draft -> reject -> redraft -> approve -> issue."""

from __future__ import annotations

import pytest
from helpers import PLAN_VALUES, make_engine, ready_task
from sqlalchemy import select

from engine.errors import InvalidFormValue, NotYourTask, TaskAlreadyCompleted
from store import QualityPlan


@pytest.fixture
def deployed(engine, admin):
    engine.deploy(["processes/quality_plan.bpmn"], actor=admin)
    return engine


def test_plan_is_issued_after_one_rejection(deployed, clock, db_path):
    engine = deployed
    qmd, gm = engine.actor("qmd1"), engine.actor("gm1")
    instance_id = engine.start("quality_plan", actor=engine.actor("admin1"), business_key="2027",
                               variables={"year": 2027})

    draft = ready_task(engine, instance_id, "draft_plan")
    assert (draft["role"], draft["name"]) == ("qmd", "编制组织级质量管理计划")
    engine.complete(draft["id"], PLAN_VALUES, actor=qmd)
    approval = ready_task(engine, instance_id, "approve_plan")
    assert approval["role"] == "gm"
    engine.complete(approval["id"], {"decision": "rejected", "comment": "目标不够具体"}, actor=gm)

    # The drafter sees why the plan came back; a second engine on the same file sees the same.
    redraft = make_engine(db_path, clock).task(ready_task(engine, instance_id, "draft_plan")["id"])
    assert redraft["variables"]["comment"] == "目标不够具体"
    engine.complete(redraft["id"], {**PLAN_VALUES, "objectives": "客户满意度不低于92%"}, actor=qmd)
    engine.complete(ready_task(engine, instance_id, "approve_plan")["id"], {"decision": "approved"}, actor=gm)

    view = engine.instance(instance_id)
    assert view["status"] == "completed"
    assert [t["task"] for t in view["tasks"]] == ["draft_plan", "approve_plan", "draft_plan", "approve_plan"]
    with engine.database.reading() as session:
        plans = session.scalars(select(QualityPlan)).all()
    assert len(plans) == 1
    plan = plans[0]
    assert (plan.period, plan.objectives, plan.revisions) == ("2027", "客户满意度不低于92%", 2)
    assert (plan.approved_by, plan.approval_comment, plan.issued_by) == ("gm1", None, "gm1")
    kinds = [e["kind"] for e in engine.history(instance_id)]
    assert kinds.count("task.completed") == 4
    assert kinds[-2:] == ["service.completed", "instance.completed"]
    assert engine.verify_history().intact


def test_only_the_lane_role_may_complete(deployed):
    engine = deployed
    instance_id = engine.start("quality_plan", actor=engine.actor("admin1"))
    draft = ready_task(engine, instance_id)
    with pytest.raises(NotYourTask, match="needs role qmd, which gm1 does not hold"):
        engine.complete(draft["id"], PLAN_VALUES, actor=engine.actor("gm1"))
    # Not even an admin signs for the department under their own name.
    with pytest.raises(NotYourTask, match="needs role qmd"):
        engine.complete(draft["id"], PLAN_VALUES, actor=engine.actor("admin1"))
    # ... but acting --as a holder of the role is recorded as both.
    engine.complete(draft["id"], PLAN_VALUES, actor=engine.actor("admin1", "qmd1"))
    event = [e for e in engine.history(instance_id) if e["kind"] == "task.completed"][0]
    assert (event["actor"], event["real_actor"]) == ("qmd1", "admin1")


@pytest.mark.parametrize(
    ("values", "message"),
    [
        ({**PLAN_VALUES, "indicator_cycle": "weekly"}, r"field indicator_cycle \(6.1.2 e\) .*\): 'weekly' is not"),
        ({k: v for k, v in PLAN_VALUES.items() if k != "resources"}, r"field resources \(6.1.2 c\) .*\): a value is"),
        ({**PLAN_VALUES, "budget": "1"}, "field budget: the form has no such field"),
        ({**PLAN_VALUES, "objectives": 12}, r"field objectives \(6.1.2 a\) .*\): expected text"),
    ],
)
def test_bad_form_values_change_nothing(deployed, values, message):
    engine = deployed
    instance_id = engine.start("quality_plan", actor=engine.actor("admin1"))
    draft = ready_task(engine, instance_id)
    before = engine.history()
    with pytest.raises(InvalidFormValue, match=message):
        engine.complete(draft["id"], values, actor=engine.actor("qmd1"))
    assert engine.history() == before
    assert ready_task(engine, instance_id)["id"] == draft["id"]


def test_enum_accepts_the_label_as_written_in_the_diagram(deployed):
    engine = deployed
    instance_id = engine.start("quality_plan", actor=engine.actor("admin1"))
    engine.complete(ready_task(engine, instance_id)["id"], {**PLAN_VALUES, "indicator_cycle": "每季度"},
                    actor=engine.actor("qmd1"))
    approval = engine.task(ready_task(engine, instance_id)["id"])
    assert approval["variables"]["indicator_cycle"] == "quarterly"


def test_completing_twice_names_who_won(deployed):
    engine = deployed
    instance_id = engine.start("quality_plan", actor=engine.actor("admin1"))
    draft = ready_task(engine, instance_id)
    engine.complete(draft["id"], PLAN_VALUES, actor=engine.actor("qmd1"))
    with pytest.raises(TaskAlreadyCompleted, match=r"already completed by qmd1 at 2027-01-01 09:00 \+08:00$"):
        engine.complete(draft["id"], PLAN_VALUES, actor=engine.actor("qmd1"))


def test_claimed_task_is_reserved(deployed, admin):
    engine = deployed
    engine.add_user("qmd2", ["qmd"], actor=admin)
    instance_id = engine.start("quality_plan", actor=admin)
    draft = ready_task(engine, instance_id)
    engine.claim(draft["id"][:8], actor=engine.actor("qmd1"))
    assert [t["id"] for t in engine.tasks(mine=engine.actor("qmd1"))] == [draft["id"]]
    assert engine.tasks(mine=engine.actor("qmd2")) == []
    with pytest.raises(NotYourTask, match="claimed by qmd1"):
        engine.complete(draft["id"], PLAN_VALUES, actor=engine.actor("qmd2"))
    engine.unclaim(draft["id"], actor=engine.actor("qmd1"))
    engine.complete(draft["id"], PLAN_VALUES, actor=engine.actor("qmd2"))


def test_a_rejection_needs_a_comment_and_only_the_general_manager_decides(deployed, admin):
    engine = deployed
    engine.add_user("mr1", ["mr"], actor=admin)
    instance_id = engine.start("quality_plan", actor=admin)
    engine.complete(ready_task(engine, instance_id)["id"], {**PLAN_VALUES}, actor=engine.actor("qmd1"))
    approval = ready_task(engine, instance_id)
    with pytest.raises(InvalidFormValue, match=r"field comment \(审批意见（退回时必填）\): a value is required when"):
        engine.complete(approval["id"], {"decision": "rejected"}, actor=engine.actor("gm1"))
    with pytest.raises(NotYourTask, match="needs role gm, which mr1 does not hold"):
        engine.complete(approval["id"], {"decision": "approved"}, actor=engine.actor("mr1"))
    engine.complete(approval["id"], {"decision": "rejected", "comment": "f) 缺少抽查计划"}, actor=engine.actor("gm1"))
    redraft = ready_task(engine, instance_id)
    empty_f = {**PLAN_VALUES, "spot_check_plan": ""}
    with pytest.raises(InvalidFormValue, match=r"field spot_check_plan \(6.1.2 f\) 现场抽查巡查计划\): a value is"):
        engine.complete(redraft["id"], empty_f, actor=engine.actor("qmd1"))
