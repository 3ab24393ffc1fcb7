"""The permission table (engine/policy.py) tested row by row through the CLI, like Datasette's permission
matrix: for every action a refused user gets the one line naming the action and the rule, exit 1, nothing
changed and one security event; an allowed user then succeeds on the same database.

One organisation is built once (a simulated database, so that every command runs on its clock) and copied
for each row."""

from __future__ import annotations

import shutil
from datetime import date, datetime
from zoneinfo import ZoneInfo

import pytest
from click.testing import CliRunner
from helpers import ADMIN, PROCESSES, flow, make_engine, process, service_task, stamp_simulated, user_task

import usecases
from cli import cli
from engine import SimulatedClock, policy
from store import create_database
from usecases import Caller

SHANGHAI = ZoneInfo("Asia/Shanghai")
T0 = datetime(2027, 3, 1, 9, 0, tzinfo=SHANGHAI)
USERS = {"qmd1": ["qmd"], "qmd2": ["qmd"], "gm1": ["gm"], "pm1": ["pm"], "ops1": ["ops"], "oms1": ["oms"],
         "mr1": ["mr"], "ogm1": ["ogm"], "po1": ["po"], "aud1": ["qmd"]}


def _chore() -> str:
    body = ('<bpmn:startEvent id="start" />' + user_task("chore_task") + '<bpmn:endEvent id="end" />'
            + flow("f1", "start", "chore_task") + flow("f2", "chore_task", "end"))
    return process("chore", body, {"qmd": ["start", "chore_task", "end"]})


def _broken() -> str:  # its handler fails for want of the plan's variables: an incident to retry
    body = ('<bpmn:startEvent id="start" />' + service_task("issue", "plan.issue") + '<bpmn:endEvent id="end" />'
            + flow("f1", "start", "issue") + flow("f2", "issue", "end"))
    return process("broken", body, {"qmd": ["start", "issue", "end"]})


class World:
    """What the rows need, by name: instance ids, task ids, record codes."""

    def __init__(self, path):
        self.path = path
        self.ids: dict[str, str] = {}


@pytest.fixture(scope="module")
def world(tmp_path_factory) -> World:
    folder = tmp_path_factory.mktemp("matrix")
    (folder / "chore.bpmn").write_text(_chore(), encoding="utf-8")
    (folder / "broken.bpmn").write_text(_broken(), encoding="utf-8")
    (folder / "chore2.bpmn").write_text(_chore().replace('name="chore_task"', 'name="例行检查"'), encoding="utf-8")
    (folder / "invitations.csv").write_text("customer,project,channel\n甲方,P-01,phone\n", encoding="utf-8")
    world = World(folder / "template.db")
    create_database(str(world.path)).dispose()
    org = make_engine(world.path, SimulatedClock(T0))
    org.add_user(ADMIN, ["admin"])
    admin = org.actor(ADMIN)
    for name, roles in USERS.items():
        org.add_user(name, roles, department="qmd" if "qmd" in roles else "ops", actor=admin)
    org.deploy([str(PROCESSES), str(folder / "chore.bpmn"), str(folder / "broken.bpmn")], actor=admin)
    ids = world.ids
    ids["chore"] = str(org.start("chore", actor=admin))
    ids["chore_task"] = org.tasks(instance_id=int(ids["chore"]))[0]["id"]
    claimed = org.start("chore", actor=admin)
    ids["claimed_task"] = org.tasks(instance_id=claimed)[0]["id"]
    org.claim(ids["claimed_task"], actor=org.actor("qmd1"))
    delegated = org.start("chore", actor=admin)
    ids["delegated_task"] = org.tasks(instance_id=delegated)[0]["id"]
    org.claim(ids["delegated_task"], actor=org.actor("qmd1"))
    org.delegate(ids["delegated_task"], "qmd2", actor=org.actor("qmd1"))
    signed = org.start("chore", actor=admin)
    ids["signed_task"] = org.tasks(instance_id=signed)[0]["id"]
    org.add_signers(ids["signed_task"], ["mr1"], actor=org.actor("qmd1"), reason="涉及质量目标")
    # A quality plan drafted by qmd1, waiting for the GM: the GM may send it back, qmd1 may withdraw the draft.
    from helpers import PLAN_VALUES

    plan = org.start("quality_plan", actor=admin, business_key="2031")
    ids["draft_task"] = next(t["id"] for t in org.tasks(instance_id=plan) if t["task"] == "draft_plan")
    org.complete(ids["draft_task"], PLAN_VALUES, actor=org.actor("qmd1"))
    ids["approve_task"] = next(t["id"] for t in org.tasks(instance_id=plan) if t["task"] == "approve_plan")
    ids["broken"] = str(org.start("broken", actor=admin))

    def as_(name):
        return Caller(name)

    usecases.plans.add_project(org, as_("qmd1"), "P-01", name="机房运维", customer="甲方", pm="pm1", oms="oms1")
    usecases.audits.add_auditor(org, as_("qmd1"), "aud1")
    usecases.audits.add_auditor(org, as_("qmd1"), "qmd2")
    ids["audit"] = usecases.audits.plan_audit(org, as_("qmd1"), year=2027, team={"aud1": ["P-01"]}, lead_auditor="aud1",
                                              start=date(2027, 6, 1), end=date(2027, 6, 10),
                                              full=False)["code"]
    ids["inspection"] = usecases.audits.start_inspection(org, as_("oms1"), seed=7)["code"]
    ids["finding"] = usecases.audits.add_finding(org, as_("qmd1"), owner="pm1", description="记录不全")["code"]

    # A finding owned by a qmd, waiting for verification: its owner may never verify it.
    owned = usecases.audits.add_finding(org, as_("qmd1"), owner="qmd2", description="检查表未归档")["code"]
    org.complete(_task(org, owned, "plan_action"),
                 {"root_cause": "无归档规定", "corrective_action": "制定归档规定", "similar_elsewhere": False},
                 actor=org.actor("qmd2"))
    org.complete(_task(org, owned, "review_plan"), {"plan_decision": "plan_accepted"}, actor=org.actor("qmd1"))
    evidence = folder / "归档规定.pdf"
    evidence.write_bytes(b"%PDF rules")
    usecases.audits.attach_evidence(org, as_("qmd2"), owned, str(evidence))
    org.complete(_task(org, owned, "implement"), {"implementation": "已发布"}, actor=org.actor("qmd2"))
    ids["verify_task"] = _task(org, owned, "verify")

    # A major complaint, handled, waiting for the customer's callback.
    complaint = usecases.customers.add_complaint(org, as_("pm1"), project="P-01", description="平台中断6小时")["code"]
    org.complete(_complaint_task(org, complaint, "assess"), {"severity": "重大投诉", "severity_reason": "核心业务中断"},
                 actor=org.actor("pm1"))
    org.complete(_complaint_task(org, complaint, "organise_handling"),
                 {"handling_team": "pm1", "investigation": "交换机故障", "resolution": "更换", "systemic": False},
                 actor=org.actor("ogm1"))
    ids["complaint"] = complaint

    usecases.review.define_indicator(org, as_("qmd1"), "K1", name="事件按时解决率", target=95.0)
    usecases.customers.start_survey(org, as_("qmd1"), 2027)
    (folder / "evidence.txt").write_text("证据", encoding="utf-8")
    ids["file"] = str(folder / "evidence.txt")
    org.database.dispose()
    stamp_simulated(str(world.path), T0)
    return world


def _task(org, finding: str, bpmn_id: str) -> str:
    instance = usecases.audits.finding(org, finding)["instance"]
    return next(t["id"] for t in org.tasks(instance_id=instance) if t["task"] == bpmn_id)


def _complaint_task(org, code: str, bpmn_id: str) -> str:
    instance = next(i["id"] for i in org.instances(process_id="complaint") if i["business_key"] == code)
    return next(t["id"] for t in org.tasks(instance_id=instance) if t["task"] == bpmn_id)


# action: (command with {names} from the world, refused login or None for rules open to everyone, allowed login,
# how the allowed call ends: "ok", or a text its refusal by the domain (past the policy) contains)
ROWS = {
    "deploy": ("deploy {world}/chore2.bpmn --reason 增加复核", "pm1", "po1", "ok"),
    "drafts": ("drafts save chore {world}/chore2.bpmn", "pm1", "po1", "ok"),
    "instance.migrate": ("instance migrate --process chore --to-version 1 --reason 回到第一版", "pm1", "po1", "ok"),
    "instance.cancel": ("instance cancel {chore} --reason 误启动", "po1", "qmd1", "ok"),
    "instance.retry": ("instance retry {broken} --reason 已修复", "pm1", "qmd1", "ok"),
    "start": ("start chore", None, "pm1", "ok"),
    "tick.now": ("tick --now 2027-03-02T09:00:00+08:00", "ops1", ADMIN, "ok"),
    "users": ("users add newbie --role pm", "qmd1", ADMIN, "ok"),
    "users.grant": ("users add pm1 --role ops --reason 兼任运维", "qmd1", ADMIN, "ok"),
    "users.fix": ("users set pm1 --email pm1@example.com --reason 邮箱变更", "qmd1", ADMIN, "ok"),
    "users.revoke": ("users revoke gm1 --role gm --reason 调岗", "qmd1", ADMIN, "ok"),
    "users.disable": ("users disable po1 --reason 离职", "qmd1", ADMIN, "ok"),
    # the allowed call reads no password (stdin is empty here) and is refused by the password rule
    "users.passwd": ("users passwd pm1", "qmd1", "pm1", "a password has at least 10 characters"),
    "users.totp_off": ("users totp gm1 --off --reason 手机丢失", "qmd1", ADMIN, "ok"),
    "settings": ("settings finding_due_days 20 --reason 整改期限放宽", "qmd1", ADMIN, "ok"),
    "channels": ("channels add qa --kind wecom --url https://qyapi.weixin.qq.com/cgi-bin/webhook/send?key=k1",
                 "qmd1", ADMIN, "ok"),
    # a user sets their own route (to e-mail, the channel of those with an address); qmd may not set another's
    "users.channel": ("users set pm1 --channel email --mention pm1@example.com", "qmd1", "pm1", "ok"),
    "db": ("db backup {dir}/backup.db", "qmd1", ADMIN, "ok"),
    # the world's year has an audit planned: its report and checklist are issued as controlled copies
    "documents.issue": ("documents issue audit --year 2027 --out {dir}/issued", ADMIN, "qmd1", "ok"),
    "history.keygen": ("history keygen --key {dir}/signing.key", "qmd1", ADMIN, "ok"),
    # the quality department may ask for one, but the key is the service's (not readable here)
    "history.checkpoint": ("history checkpoint --key {dir}/none.key", "pm1", "qmd1", "no signing key at"),
    "task.complete": ("task complete {chore_task}", "gm1", "qmd1", "ok"),
    "task.claim": ("task claim {chore_task}", "gm1", "qmd1", "ok"),
    "task.unclaim": ("task unclaim {claimed_task}", "qmd2", "qmd1", "ok"),
    # the chore's task is in the qmd lane, claimed by qmd1: its holder (or qmd) may hand it to qmd2
    "task.transfer": ("task transfer {claimed_task} --to qmd2 --reason 出差", "pm1", "qmd1", "ok"),
    "task.remind": ("task remind {chore_task} --note 请尽快处理", "pm1", "qmd2", "ok"),
    "task.delegate": ("task delegate {claimed_task} --to qmd2", "qmd2", "qmd1", "ok"),
    "task.resolve": ("task resolve {delegated_task} --note 已核查", "qmd1", "qmd2", "ok"),
    "task.cc": ("task cc {claimed_task} --to gm1", "pm1", "qmd2", "ok"),
    # qmd1 holds the claimed task: they, qmd or an admin may ask for a signature; mr1 was asked to sign another
    "task.add_signer": ("task add-signer {claimed_task} --to mr1 --reason 涉及质量目标", "pm1", "qmd1", "ok"),
    "task.sign": ("task sign {signed_task} --approve --note 同意", "gm1", "mr1", "ok"),
    "task.send_back": ("task send-back {approve_task} --to draft_plan --reason 目标未量化", "qmd1", "gm1", "ok"),
    "task.withdraw": ("task withdraw {draft_task} --reason 附件传错", "qmd2", "qmd1", "ok"),
    "users.away": ("users away gm1 --substitute mr1 --from 2099-01-01 --to 2099-01-07 --reason 出差", "pm1", "gm1",
                   "ok"),
    "finding.raise": ("finding add --owner pm1 --description 未按期回访", "pm1", "qmd1", "ok"),
    "finding.attach": ("finding attach {finding} {file}", "gm1", "pm1", "ok"),
    "finding.extend": ("finding extend {finding} --to 2027-12-31 --reason 备件延迟", "pm1", "qmd1", "ok"),
    "finding.verify": ("task complete {verify_task} --set verification=verified_effective --set "
                       "verification_comment=有效", "qmd2", "qmd1", "ok"),
    "auditor.add": ("auditors add gm1", "pm1", "qmd1", "ok"),
    "auditor.renew": ("auditors set aud1 --certificate IA-9 --valid-until 2029-12-31 --reason 复审通过", "pm1", "qmd1",
                      "ok"),
    "audit.plan": ("audit plan --year 2027 --partial --lead qmd2 --team qmd2=P-01 --from 2027-07-01 --to "
                   "2027-07-05", "pm1", "qmd1", "ok"),
    "audit.record": ("audit record {audit} --item PRC-d --unit P-01 --result conform", "qmd1", "aud1", "ok"),
    "inspection.start": ("inspection start --seed 3", "pm1", "oms1", "ok"),
    "inspection.name": ("inspection start --project P-01", "oms1", "qmd1", "ok"),
    "inspection.record": ("inspection record {inspection} --rest --pass", "pm1", "oms1", "ok"),
    "project.edit": ("projects add P-02 --name 二期 --customer 乙方 --pm pm1 --oms oms1", "pm1", "ops1", "ok"),
    "project.fix": ("projects set P-01 --name 机房运维二期 --reason 合同变更", "pm1", "ops1", "ok"),
    "project.plan": ("projects plan P-01 --year 2027", "pm1", "ops1", "ok"),
    "cycle.start": ("cycle start --year 2027", "gm1", "qmd1", "ok"),
    # the world has no issued plan: past the policy, the revision is refused by the domain
    "plan.revise": ("plan revise 2027 --reason 内审推迟", "pm1", "qmd1", "no issued 2027 quality plan to revise"),
    "complaint.add": ("complaints add --project P-01 --description 响应慢", "gm1", "pm1", "ok"),
    "complaint.close_major": ("complaints close {complaint} --feedback satisfied", "pm1", "ogm1", "ok"),
    "survey.start": ("survey start --year 2028", "ops1", "qmd1", "ok"),
    "survey.responses": ("survey invite --year 2027 {world}/invitations.csv", "gm1", "ops1", "ok"),
    # Past the policy, these meet the domain's own conditions, which need a whole year of records.
    "review.start": ("review start --year 2027 --date 2027-12-20 --attendees 各部门负责人", "pm1", "mr1",
                     "the 2027 management review cannot start"),
    "indicator.define": ("indicators add K2 --name 客户满意度 --target 90", "ops1", "qmd1", "ok"),
    "indicator.record": ("indicators set K1 --period 2027-02 --value 96", "gm1", "pm1", "ok"),
    "improvement.set": ("improvement set IMP-2027-01 --cause 人手不足", "pm1", "ops1", "no improvement item"),
}


def test_every_action_of_the_table_has_a_row():
    assert sorted(ROWS) == sorted(policy.POLICY)


@pytest.mark.parametrize("action", sorted(ROWS))
def test_the_row(action, world, tmp_path):
    command, refused, allowed, outcome = ROWS[action]
    db = tmp_path / "org.db"
    shutil.copy(world.path, db)
    args = command.format(dir=tmp_path, world=world.path.parent, **world.ids).split()
    runner = CliRunner()

    def run(*extra: str, login: str):
        return runner.invoke(cli, ["--db", str(db), *extra], obj={"login": login})

    def history() -> list[dict]:
        import json

        result = run("history", "--json", login=ADMIN)
        assert result.exit_code == 0, result.output
        return json.loads(result.stdout)

    before = history()
    if refused is not None:
        result = run(*args, login=refused)
        assert result.exit_code == 1, result.output
        line = result.stderr.removeprefix("opsqa: ").rstrip("\n")
        assert line.startswith((f"{action} needs ", f"{action}: ")), line
        after = history()
        assert after[:len(before)] == before  # nothing changed ...
        [denial] = after[len(before):]  # ... but the refusal, recorded
        assert (denial["kind"], denial["actor"], denial["payload"]["action"], denial["payload"]["message"]) == (
            "security.denied", refused, action, line)
        before = after
    result = run(*args, login=allowed)
    if outcome == "ok":
        assert result.exit_code == 0, result.output
        quiet = ("instance.migrate", "tick.now")  # a dry run, and a pass with nothing due, record nothing
        assert len(history()) > len(before) or action in quiet, "an allowed action leaves a record"
    else:
        assert result.exit_code == 1 and outcome in result.stderr, result.output
    assert not [e for e in history()[len(before):] if e["kind"] == "security.denied"]
