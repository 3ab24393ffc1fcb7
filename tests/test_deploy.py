"""Deploying BPMN: every bad input is one clear line, exit 1, and nothing stored."""

from __future__ import annotations

import pytest
from helpers import PROCESSES, flow, linear, process, service_task, user_task

PLAN = (PROCESSES / "quality_plan.bpmn").read_text(encoding="utf-8")


@pytest.fixture
def ready(run):
    assert run("init").exit_code == 0
    return run


def _refused(run, tmp_path, files: dict[str, str], expected: str) -> str:
    paths = []
    for name, text in files.items():
        path = tmp_path / name
        path.write_text(text, encoding="utf-8")
        paths.append(str(path))
    before = run("history", "--json").stdout
    for command in (("validate",), ("deploy", "--reason", "新版本")):
        result = run(*command, *paths)
        assert result.exit_code == 1, result.output
        lines = result.stderr.strip().splitlines()
        assert len(lines) == 1 and "Traceback" not in result.output, result.output
        assert expected in lines[0], lines[0]
    assert run("processes", "--json").stdout.strip() == "[]"
    assert run("history", "--json").stdout == before
    return lines[0]


def test_malformed_xml_names_the_line(ready, tmp_path):
    broken = PLAN.replace('<bpmn:userTask id="approve_plan"', '<bpmn:userTask id="approve_plan" <', 1)
    line = PLAN[: PLAN.index('<bpmn:userTask id="approve_plan"')].count("\n") + 1
    _refused(ready, tmp_path, {"plan.bpmn": broken}, f"plan.bpmn:{line}: malformed XML")


@pytest.mark.parametrize(
    ("old", "new", "expected"),
    [
        ("gw_decision", "complexGateway", "[gw_decision]: complex gateways are not supported"),
        ("gw_decision", "frobnicate", "[gw_decision]: unsupported BPMN element <frobnicate>"),
        ('camunda:topic="plan.issue"', 'camunda:topic="plan.isue"',
         "[issue_plan]: unknown handler topic 'plan.isue'; did you mean plan.issue?"),
        ('${decision == "approved"}', '${decision == }', "[flow_approved]: condition: expression"),
        ('<camunda:formField id="comment"', '<camunda:formField id="draft_plan"',
         "id 'draft_plan' is also the id of a BPMN element"),
        ('<camunda:value id="monthly"', '<camunda:value id="gm"', "id 'gm' is also the id of a BPMN element"),
        ('<camunda:value id="quarterly"', '<camunda:value id="monthly"', "duplicate id 'monthly' in one form"),
        ('type="enum">', 'type="money">', "form field indicator_cycle has type 'money'"),
        ('camunda:type="external" ', 'camunda:class="org.example.Issue" ', "[issue_plan]: camunda:class is not"),
    ],
)
def test_bad_element_names_the_element(ready, tmp_path, old, new, expected):
    if "<" in old or "=" in old:
        assert old in PLAN
        text = PLAN.replace(old, new, 1)
    else:  # rename the element `old` to the tag `new`
        start = PLAN.index(f'<bpmn:exclusiveGateway id="{old}"')
        end = PLAN.index("</bpmn:exclusiveGateway>", start) + len("</bpmn:exclusiveGateway>")
        element = PLAN[start:end].replace("bpmn:exclusiveGateway", f"bpmn:{new}")
        text = PLAN[:start] + element + PLAN[end:]
    message = _refused(ready, tmp_path, {"plan.bpmn": text}, expected)
    assert message.startswith(f"opsqa: {tmp_path / 'plan.bpmn'}:")


def test_script_task_with_code_is_refused(ready, tmp_path):
    script = ('<bpmn:scriptTask id="run_code" scriptFormat="python">'
              "<bpmn:script>import os</bpmn:script></bpmn:scriptTask>")
    text = linear("scripted", ("run_code", script))
    _refused(ready, tmp_path, {"s.bpmn": text}, "[run_code]: script tasks are refused: code lives in handlers/")


def test_two_files_defining_one_process(ready, tmp_path):
    _refused(ready, tmp_path, {"a.bpmn": PLAN, "b.bpmn": PLAN}, "process 'quality_plan' is also defined in")


def test_call_to_a_missing_process(ready, tmp_path):
    call = '<bpmn:callActivity id="call_audit" calledElement="internal_audit" />'
    _refused(ready, tmp_path, {"c.bpmn": linear("caller", ("call_audit", call))},
             "[call_audit]: the call activity calls process 'internal_audit', which is not deployed")


def test_user_task_outside_every_lane(ready, tmp_path):
    body = ('<bpmn:startEvent id="start" />' + user_task("lost") + '<bpmn:endEvent id="end" />'
            + flow("f1", "start", "lost") + flow("f2", "lost", "end"))
    text = process("laned", body, {"ops": ["start", "end"]})
    _refused(ready, tmp_path, {"l.bpmn": text}, "[lost]: the user task is in no lane")


def test_not_bpmn_and_missing_files(ready, tmp_path):
    _refused(ready, tmp_path, {"x.bpmn": "<html/>"}, "not a BPMN 2.0 file")
    result = ready("deploy", "--reason", "set-up", str(tmp_path / "nope.bpmn"))
    assert result.exit_code == 1 and "nope.bpmn: no such file or folder" in result.stderr


def test_call_activity_resolves_against_deployed_processes(ready, tmp_path):
    callee = tmp_path / "callee.bpmn"
    callee.write_text(linear("callee", ("work", user_task("work"))), encoding="utf-8")
    caller = tmp_path / "caller.bpmn"
    caller.write_text(linear("caller", ("call", '<bpmn:callActivity id="call" calledElement="callee" />'),
                             ("after", service_task("after", "plan.issue"))), encoding="utf-8")
    assert ready("deploy", "--reason", "set-up", str(callee)).exit_code == 0
    result = ready("deploy", "--reason", "set-up", str(caller))
    assert result.exit_code == 0, result.output
    assert "caller (caller): version 1" in result.stdout
    # A changed callee makes a new caller version when deployed together.
    callee.write_text(linear("callee", ("work", user_task("work")), ("more", user_task("more"))), encoding="utf-8")
    result = ready("deploy", "--reason", "set-up", str(callee), str(caller))
    assert "callee (callee): version 2" in result.stdout and "caller (caller): version 2" in result.stdout


def test_a_changed_callee_deployed_alone_brings_its_callers_new_versions(ready, tmp_path):
    # a call activity binds what it calls when its caller's version is built, and instances start on the latest
    # version: without a new caller version, next year's cycle would still run last year's plan
    callee = tmp_path / "callee.bpmn"
    callee.write_text(linear("callee", ("work", user_task("work"))), encoding="utf-8")
    caller = tmp_path / "caller.bpmn"
    caller.write_text(linear("caller", ("call", '<bpmn:callActivity id="call" calledElement="callee" />')),
                      encoding="utf-8")
    assert ready("deploy", "--reason", "set-up", str(callee), str(caller)).exit_code == 0
    assert ready("start", "caller", "--key", "2027").exit_code == 0
    callee.write_text(linear("callee", ("work", user_task("work")), ("more", user_task("more"))), encoding="utf-8")
    result = ready("deploy", "--reason", "加复核", str(callee))
    assert result.exit_code == 0, result.output
    assert "callee (callee): version 2" in result.stdout and "caller (caller): version 2" in result.stdout
    assert "1 running instance of caller stay on older versions" in result.stderr
    key = ready.start("caller", key="2028")
    shown = ready.json("instance", "show", str(key))
    assert shown["version"] == 2
    again = ready("deploy", "--reason", "同一内容", str(callee))  # nothing changed: no new version of either
    assert "callee (callee): unchanged (version 2)" in again.stdout and "caller (caller): unchanged" in again.stdout


def test_validate_needs_no_database(run):
    result = run("validate", "processes")
    assert result.exit_code == 0, result.output
    assert "quality_plan (组织级质量管理计划): ok, 2 user tasks" in result.stdout
    assert not run.db_path.exists()


def test_a_process_shows_its_versions_and_draws_them(ready, tmp_path):
    callee = tmp_path / "callee.bpmn"
    callee.write_text(linear("callee", ("work", user_task("work"))), encoding="utf-8")
    assert ready("deploy", "--reason", "set-up", str(callee)).exit_code == 0
    callee.write_text(linear("callee", ("work", user_task("work")), ("more", user_task("more"))), encoding="utf-8")
    assert ready("deploy", "--reason", "set-up", str(callee)).exit_code == 0
    assert ready("start", "callee").exit_code == 0
    versions = ready.json("processes", "show", "callee")
    assert [(v["version"], v["running"]) for v in versions] == [(1, 0), (2, 1)]
    assert [p["process"] for p in ready.json("processes")] == ["callee"]  # the listing is unchanged
    drawn = ready("processes", "show", "quality_plan", "--diagram", str(tmp_path / "plan.svg"))
    assert drawn.exit_code == 1 and "no process 'quality_plan' is deployed" in drawn.stderr
    assert ready("deploy", "--reason", "set-up", "processes/quality_plan.bpmn").exit_code == 0
    drawn = ready("processes", "show", "quality_plan", "--diagram", str(tmp_path / "plan.svg"))
    assert drawn.exit_code == 0 and 'data-element-id="approve_plan"' in (tmp_path / "plan.svg").read_text("utf-8")
    bare = ready("processes", "show", "callee", "--diagram", str(tmp_path / "bare.svg"))  # built without BPMNDI
    assert bare.exit_code == 1 and bare.stderr.startswith("opsqa: the file has no diagram (BPMNDI)")


def test_the_difference_between_two_versions_in_words(ready, tmp_path):
    original = (PROCESSES / "quality_plan.bpmn").read_text(encoding="utf-8")
    changed = (original.replace('name="总经理审批质量计划"', 'name="总经理审批年度质量计划"')
               .replace('<camunda:formField id="objectives"', '<camunda:formField id="budget" label="预算" '
                        'type="long" />\n          <camunda:formField id="objectives"')
               .replace('camunda:topic="plan.issue"', 'camunda:topic="cycle.close"'))
    changed = changed[:changed.index('<camunda:formField id="comment"')] + changed[
        changed.index("</camunda:formField>", changed.index('<camunda:formField id="comment"')) + 21:]
    path = tmp_path / "quality_plan.bpmn"
    for text in (original, changed):
        path.write_text(text, encoding="utf-8")
        assert ready("deploy", "--reason", "set-up", str(path)).exit_code == 0
    result = ready("processes", "diff", "quality_plan", "1", "2")
    assert result.exit_code == 0, result.output
    assert result.stdout.splitlines() == [
        "- approve_plan renamed from '总经理审批质量计划' to '总经理审批年度质量计划'",
        "- form of approve_plan: removed field comment",
        "- form of draft_plan: added field budget (long, optional)",
        "- issue_plan calls handler cycle.close instead of plan.issue",
    ]
    assert ready("--lang", "zh_CN", "processes", "diff", "quality_plan", "1", "2").stdout.splitlines() == [
        "- approve_plan 由 '总经理审批质量计划' 更名为 '总经理审批年度质量计划'",
        "- approve_plan 的表单：删除字段 comment",
        "- draft_plan 的表单：新增字段 budget（long，选填）",
        "- issue_plan 改为调用处理程序 cycle.close（原为 plan.issue）",
    ]
    assert ready.json("processes", "diff", "quality_plan", "1", "2")[2] == (
        "form of draft_plan: added field budget (long, optional)")  # --json stays English
    assert ready("processes", "diff", "quality_plan", "2", "2").stdout == (
        "quality_plan v2 and v2 describe the same process\n")
    missing = ready("processes", "diff", "quality_plan", "1", "7")
    assert missing.exit_code == 1 and "process quality_plan has no version 7" in missing.stderr


def test_a_fresh_install_deploys_the_processes_shipped_inside_opsqa(tmp_path, monkeypatch, run):
    """Without a ./processes folder (no checkout of the repository), `opsqa deploy` takes the standard
    processes that ship inside the package; with one, a process owner's edited copy."""
    import processes

    monkeypatch.chdir(tmp_path)
    assert run("init").exit_code == 0
    deployed = run("deploy", "--reason", "首次部署")
    assert deployed.exit_code == 0, deployed.output
    assert str(processes.FOLDER) in deployed.stdout
    assert len(run.json("processes")) == len(list(processes.FOLDER.glob("*.bpmn")))
    (tmp_path / "processes").mkdir()
    (tmp_path / "processes" / "quality_plan.bpmn").write_bytes((processes.FOLDER / "quality_plan.bpmn").read_bytes())
    assert processes.default_folder() == "processes"


def test_a_file_equal_to_an_older_version_is_refused_unless_reverted(ready, tmp_path):
    """A file left behind (the browser deployed a change since) would silently undo it: refused, nothing stored."""
    path = tmp_path / "chore.bpmn"
    first = linear("chore", ("handle", user_task("handle")), lane="qmd")
    second = linear("chore", ("handle", user_task("handle")), ("check", user_task("check")), lane="qmd")
    for text, reason in ((first, "第一版"), (second, "增加复核")):
        path.write_text(text, encoding="utf-8")
        assert ready("deploy", str(path), "--reason", reason).exit_code == 0
    path.write_text(first, encoding="utf-8")
    before = ready("history", "--json").stdout
    refused = ready("deploy", str(path), "--reason", "误用旧文件")
    assert refused.exit_code == 1 and len(refused.stderr.strip().splitlines()) == 1
    assert "process chore is the same as its version 1" in refused.stderr and "undo version 2" in refused.stderr
    assert "--revert" in refused.stderr and ready("history", "--json").stdout == before
    reverted = ready("deploy", str(path), "--reason", "复核取消，回到第一版", "--revert")
    assert reverted.exit_code == 0 and "version 3" in reverted.stdout
    [event] = [e for e in ready.json("history", "--kind", "definition") if e["payload"].get("version") == 3]
    assert event["payload"]["reverts_to"] == 1


def test_export_writes_the_deployed_versions_back_to_their_files(ready, tmp_path):
    source = tmp_path / "src" / "chore.bpmn"
    source.parent.mkdir()
    source.write_text(linear("chore", ("handle", user_task("handle")), lane="qmd"), encoding="utf-8")
    assert ready("deploy", str(source), "--reason", "第一版").exit_code == 0
    out = tmp_path / "out"
    written = ready("processes", "export", str(out))
    assert written.exit_code == 0 and "written  (chore v1)" in written.stdout
    assert (out / "chore.bpmn").read_bytes() == source.read_bytes()
    assert "unchanged  (chore v1)" in ready("processes", "export", str(out)).stdout
    (out / "chore.bpmn").write_text("edited by hand", encoding="utf-8")
    refused = ready("processes", "export", str(out))
    assert refused.exit_code == 1 and "differs from the deployed chore v1; add --force" in refused.stderr
    assert (out / "chore.bpmn").read_text(encoding="utf-8") == "edited by hand"
    assert ready("processes", "export", str(out), "--force").exit_code == 0
    again = ready("deploy", str(out / "chore.bpmn"), "--reason", "导出后核对")
    assert again.exit_code == 0 and "unchanged (version 1)" in again.stdout
