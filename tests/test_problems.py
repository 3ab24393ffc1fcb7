"""Every problem of a diagram at once (`Engine.problems`), each on its element, for a process owner editing a
draft: the first is the one deploy refuses with, the others follow, and a hostile file gives a bounded list."""

from __future__ import annotations

import pytest
from helpers import PROCESSES, flow, linear, process, service_task, user_task
from test_hostile_diagrams import HOSTILE

from engine.errors import InvalidProcess

SCRIPT = ('<bpmn:scriptTask id="{tid}" scriptFormat="python">'
          "<bpmn:script>import os</bpmn:script></bpmn:scriptTask>")


def three_problems() -> str:
    """A service task on an unknown topic, a user task in no lane and a script task, in that order."""
    nodes = ["start", "issue", "lost", "run_code", "end"]
    body = ('<bpmn:startEvent id="start" />' + service_task("issue", "plan.isue") + user_task("lost")
            + SCRIPT.format(tid="run_code") + '<bpmn:endEvent id="end" />'
            + "".join(flow(f"f{i}", a, b) for i, (a, b) in enumerate(zip(nodes, nodes[1:], strict=False))))
    return process("drafty", body, {"ops": ["start", "issue", "run_code", "end"]})


def test_each_problem_of_a_diagram_on_its_element(engine):
    found = engine.problems([("drafty.bpmn", three_problems().encode())])
    assert [p.element for p in found] == ["issue", "lost", "run_code"]
    assert all(p.file == "drafty.bpmn" and p.line for p in found)
    assert "unknown handler topic 'plan.isue'; did you mean plan.issue?" in str(found[0])
    assert "the user task is in no lane" in str(found[1])
    assert "script tasks are refused" in str(found[2])  # once: its <bpmn:script> is not a second problem


def test_the_shipped_quality_plan_has_none(engine):
    assert engine.problems([("quality_plan.bpmn", (PROCESSES / "quality_plan.bpmn").read_bytes())]) == []


def test_a_file_that_does_not_parse_is_one_problem_and_the_others_are_still_checked(engine):
    found = engine.problems([("broken.bpmn", b'<bpmn:definitions xmlns:bpmn="x"><oops'),
                             ("drafty.bpmn", three_problems().encode())])
    assert [(p.file, p.element) for p in found] == [("broken.bpmn", None), ("drafty.bpmn", "issue"),
                                                    ("drafty.bpmn", "lost"), ("drafty.bpmn", "run_code")]
    assert "malformed XML" in str(found[0])
    [alone] = engine.problems([("broken.bpmn", b"<bpmn:definitions")])
    assert alone.file == "broken.bpmn"


def test_a_flood_of_problems_is_bounded(engine):
    tasks = [(f"s{i}", SCRIPT.format(tid=f"s{i}")) for i in range(500)]
    flood = linear("flood", *tasks).encode()
    found = engine.problems([("flood.bpmn", flood)])
    assert len(found) == 50 and [p.element for p in found] == [f"s{i}" for i in range(50)]
    assert len(engine.problems([("flood.bpmn", flood)], limit=7)) == 7
    assert len(engine.problems([("flood.bpmn", flood)], limit=1000)) == 500  # one each, not one per <script>
    broken = [(f"b{i}.bpmn", b"<nope") for i in range(80)]
    assert len(engine.problems(broken, limit=5)) == 5


def test_the_first_problem_is_the_one_deploy_refuses_with(engine, admin, tmp_path):
    path = tmp_path / "drafty.bpmn"
    path.write_text(three_problems(), encoding="utf-8")
    with pytest.raises(InvalidProcess) as refused:
        engine.deploy([str(path)], actor=admin)
    first = engine.problems([(str(path), path.read_bytes())])[0]
    assert str(first) == str(refused.value)
    assert (first.file, first.element, first.line) == (refused.value.file, refused.value.element, refused.value.line)
    with pytest.raises(InvalidProcess) as texts:
        engine.validate_texts([(str(path), path.read_bytes())])
    assert str(texts.value) == str(refused.value)


@pytest.mark.parametrize("name", [name for name in HOSTILE if name != "call cycle through a deployed process"])
def test_the_first_problem_of_each_hostile_diagram_is_validates_refusal(name, engine, tmp_path):
    files, element, words = HOSTILE[name]
    paths = []
    for file_name, text in files.items():
        (tmp_path / file_name).write_text(text, encoding="utf-8")
        paths.append(tmp_path / file_name)
    with pytest.raises(InvalidProcess) as refused:
        engine.validate([str(path) for path in paths])
    found = engine.problems([(str(path), path.read_bytes()) for path in paths])
    assert str(found[0]) == str(refused.value)
    assert found[0].element == element and words in str(found[0])


def test_a_call_to_an_undeployed_process_is_a_problem_on_the_call_activity(engine, admin, tmp_path):
    caller = linear("caller", ("call_audit", '<bpmn:callActivity id="call_audit" calledElement="audit" />'))
    [problem] = engine.problems([("caller.bpmn", caller.encode())])
    assert problem.element == "call_audit" and problem.line == 3
    assert "calls process 'audit', which is not deployed or given" in str(problem)
    callee = tmp_path / "audit.bpmn"
    callee.write_text(linear("audit", ("work", user_task("work"))), encoding="utf-8")
    engine.deploy([str(callee)], actor=admin)
    assert engine.problems([("caller.bpmn", caller.encode())]) == []  # resolved against what is deployed


def test_problems_across_files_and_calls(engine):
    """A process defined twice and two call cycles: each reported; a call naming no process once, not twice."""
    def call(pid: str, callee: str) -> str:
        return linear(pid, ("sub", f'<bpmn:callActivity id="sub" name="sub" calledElement="{callee}" />'))

    files = [("a.bpmn", call("a", "a")), ("b.bpmn", call("b", "c")), ("c.bpmn", call("c", "b")),
             ("a2.bpmn", call("a", "b")), ("d.bpmn", call("d", ""))]
    found = engine.problems([(name, text.encode()) for name, text in files])
    assert [(p.file, p.element) for p in found] == [("a2.bpmn", "a"), ("d.bpmn", "sub"), ("a.bpmn", "sub"),
                                                    ("b.bpmn", "sub")]
    assert [str(p).split(": ", 1)[1] for p in found] == [
        "process 'a' is also defined in a.bpmn",
        "the call activity names no process (calledElement)",
        "the call activity makes process 'a' call itself (a -> a)",
        "the call activity makes process 'b' call itself (b -> c -> b)",
    ]


def test_spiffworkflows_refusal_is_the_one_problem_when_the_rules_pass(engine):
    text = linear("forked", ("work", user_task("work"))).replace(
        '<bpmn:endEvent id="end" />', '<bpmn:endEvent id="end" />' + flow("f9", "work", "nowhere"))
    [problem] = engine.problems([("forked.bpmn", text.encode())])
    assert problem.file == "forked.bpmn" and problem.element == "work"


def test_validate_texts_builds_as_validate_does(engine):
    path = PROCESSES / "quality_plan.bpmn"
    [from_path] = engine.validate([str(path)])
    [from_text] = engine.validate_texts([(str(path), path.read_bytes())])
    assert from_text == from_path
    [named] = engine.validate_texts([("quality_plan.bpmn", path.read_bytes())])
    assert named.source_file == "quality_plan.bpmn" and named.sha256 == from_path.sha256
