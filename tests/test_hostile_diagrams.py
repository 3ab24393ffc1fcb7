"""Hostile diagrams refused at deploy: each one that used to stall the scheduler, hang a step under the write
lock, block the outbox or give an internal error now gets one line naming the file and the element, from
`opsqa validate` and from `opsqa deploy`, and nothing is deployed."""

from __future__ import annotations

import pytest
from helpers import flow, linear, process, user_task


def timer_start(pid: str, kind: str, value: str) -> str:
    """A process started by a timer start event (`start`) with one user task."""
    body = (f'<bpmn:startEvent id="start"><bpmn:timerEventDefinition id="start_def"><bpmn:{kind}>{value}'
            f'</bpmn:{kind}></bpmn:timerEventDefinition></bpmn:startEvent>'
            + user_task("work") + '<bpmn:endEvent id="end" />'
            + flow("f1", "start", "work") + flow("f2", "work", "end"))
    return process(pid, body, {"ops": ["start", "work", "end"]})


def boundary_timer(pid: str, kind: str, value: str) -> str:
    """A user task with a non-interrupting boundary timer (`remind`) leading to a second task."""
    body = ('<bpmn:startEvent id="start" />' + user_task("work") + user_task("chase")
            + '<bpmn:boundaryEvent id="remind" attachedToRef="work" cancelActivity="false">'
            f'<bpmn:timerEventDefinition id="remind_def"><bpmn:{kind}>{value}</bpmn:{kind}>'
            '</bpmn:timerEventDefinition></bpmn:boundaryEvent>'
            '<bpmn:endEvent id="end" /><bpmn:endEvent id="end2" />'
            + flow("f1", "start", "work") + flow("f2", "work", "end") + flow("f3", "remind", "chase")
            + flow("f4", "chase", "end2"))
    return process(pid, body, {"ops": ["start", "work", "chase", "remind", "end", "end2"]})


def call(pid: str, callee: str) -> str:
    return linear(pid, ("sub", f'<bpmn:callActivity id="sub" name="sub" calledElement="{callee}" />'))


def multi(cardinality: str) -> str:
    task = user_task("each").replace(
        "</bpmn:userTask>",
        f'<bpmn:multiInstanceLoopCharacteristics><bpmn:loopCardinality>{cardinality}</bpmn:loopCardinality>'
        '</bpmn:multiInstanceLoopCharacteristics></bpmn:userTask>')
    return linear("hostile", ("each", task))


def gateway(condition: str) -> str:
    body = ('<bpmn:startEvent id="start" /><bpmn:exclusiveGateway id="choose" default="f_other" />'
            + user_task("yes") + user_task("no") + '<bpmn:endEvent id="end" />'
            + flow("f0", "start", "choose") + flow("f_yes", "choose", "yes", condition)
            + flow("f_other", "choose", "no") + flow("f1", "yes", "end") + flow("f2", "no", "end"))
    return process("hostile", body, {"ops": ["start", "choose", "yes", "no", "end"]})


FIELD = '<camunda:formField id="note" label="{label}" type="string" />'

# name -> (file contents by name, element named in the refusal, words of the refusal)
HOSTILE = {
    "start timer in year 1": (
        {"hostile.bpmn": timer_start("hostile", "timeDate", "0001-01-01T00:00:00+00:00")},
        "start_def", "outside the years 2000 to 2100"),
    "start timer in year 9999": (
        {"hostile.bpmn": timer_start("hostile", "timeDate", "9999-12-31T00:00:00+00:00")},
        "start_def", "outside the years 2000 to 2100"),
    "start cycle from year 1": (
        {"hostile.bpmn": timer_start("hostile", "timeCycle", "R/0001-01-01T00:00:00+00:00/P1Y")},
        "start_def", "outside the years 2000 to 2100"),
    "start cycle of P0D": (
        {"hostile.bpmn": timer_start("hostile", "timeCycle", "R/2027-01-01T00:00:00+08:00/P0D")},
        "start_def", "longer than zero"),
    "one-second start cycle from 2020": (
        {"hostile.bpmn": timer_start("hostile", "timeCycle", "R/2020-01-01T00:00:00+00:00/PT1S")},
        "start_def", "at least one hour"),
    "boundary duration PT0S": (
        {"hostile.bpmn": boundary_timer("hostile", "timeDuration", "PT0S")}, "remind_def", "longer than zero"),
    "boundary duration P99999999Y": (
        {"hostile.bpmn": boundary_timer("hostile", "timeDuration", "P99999999Y")}, "remind_def",
        "longer than 100 years"),
    "boundary cycle every second": (
        {"hostile.bpmn": boundary_timer("hostile", "timeCycle", "R3/PT1S")}, "remind_def", "at least one hour"),
    "boundary cycle repeated 10 million times": (
        {"hostile.bpmn": boundary_timer("hostile", "timeCycle", "R10000000/PT6H")}, "remind_def",
        "between 1 and 1000"),
    "boundary date in year 9999": (
        {"hostile.bpmn": boundary_timer("hostile", "timeDate", "9999-01-01T00:00:00+08:00")}, "remind_def",
        "outside the years"),
    "timer expression that does not parse": (
        {"hostile.bpmn": boundary_timer("hostile", "timeDate", "${due_at +}")}, "remind_def", "does not parse"),
    "call activity calling its own process": (
        {"hostile.bpmn": call("hostile", "hostile")}, "sub", "(hostile -> hostile)"),
    "call activities calling each other": (
        {"hostile.bpmn": call("hostile", "other"), "other.bpmn": call("other", "hostile")}, "sub",
        "(hostile -> other -> hostile)"),
    "call cycle through a deployed process": (
        {"hostile.bpmn": call("hostile", "base")}, "sub", "hostile -> base -> hostile"),
    "multi-instance of 100,000,000": ({"hostile.bpmn": multi("100000000")}, "each", "at most 1000 instances"),
    "multi-instance cardinality that does not parse": ({"hostile.bpmn": multi("${n *}")}, "each", "does not parse"),
    "condition that does not parse": ({"hostile.bpmn": gateway("${amount &gt;}")}, "f_yes", "does not parse"),
    "due date that does not parse": (
        {"hostile.bpmn": linear("hostile", ("work", user_task("work").replace(
            'name="work"', 'name="work" camunda:dueDate="${due_at + }"')))}, "work", "dueDate"),
    "assignee that does not parse": (
        {"hostile.bpmn": linear("hostile", ("work", user_task("work", assignee="${owner[}")))}, "work", "assignee"),
    "newline in a task name": (
        {"hostile.bpmn": linear("hostile", ("work", user_task("work").replace('name="work"', 'name="a&#10;Bcc: x"')))},
        "work", "control character"),
    "tab in a lane name": (
        {"hostile.bpmn": linear("hostile", ("work", user_task("work"))).replace('name="ops"', 'name="o&#9;ps"')},
        "ops", "control character"),
    "newline in a process name": (
        {"hostile.bpmn": process("hostile", '<bpmn:startEvent id="start" /><bpmn:endEvent id="end" />'
                                 + flow("f1", "start", "end"), name="q&#13;&#10;a")}, "hostile", "control character"),
    "newline in a form label": (
        {"hostile.bpmn": linear("hostile", ("work", user_task("work", FIELD.format(label="note&#10;more"))))},
        "note", "control character"),
    "DEL in an event name": (
        {"hostile.bpmn": linear("hostile", ("work", user_task("work"))).replace(
            '<bpmn:endEvent id="end" />', '<bpmn:endEvent id="end" name="done&#127;" />')}, "end", "control character"),
}


@pytest.fixture
def deployed(engine, run, tmp_path):
    """A database with one process deployed (`base`); the processes listed."""
    base = tmp_path / "base.bpmn"
    base.write_text(linear("base", ("work", user_task("work"))), encoding="utf-8")
    result = run("deploy", "--reason", "set-up", str(base))
    assert result.exit_code == 0, result.output
    return run.json("processes")


def refused(run, before, paths: list[str], element: str, words: str, *, file: str) -> None:
    for args in (("validate", *paths), ("deploy", "--reason", "x", *paths)):
        result = run(*args)
        assert result.exit_code == 1, (args, result.output)
        lines = result.output.strip().splitlines()
        assert len(lines) == 1, result.output
        assert file in lines[0] and f"[{element}]" in lines[0] and words in lines[0], lines[0]
        assert "Traceback" not in result.output
    assert run.json("processes") == before


@pytest.mark.parametrize("name", list(HOSTILE))
def test_hostile_diagram_is_refused_in_one_line(name, deployed, run, tmp_path):
    files, element, words = HOSTILE[name]
    paths = []
    for file_name, text in files.items():
        path = tmp_path / "given" / file_name
        path.parent.mkdir(exist_ok=True)
        path.write_text(text, encoding="utf-8")
        paths.append(str(path))
    if name == "call cycle through a deployed process":  # deployed: base calls hostile; given: hostile calls base
        (tmp_path / "hostile_v1.bpmn").write_text(linear("hostile", ("work", user_task("work"))), encoding="utf-8")
        (tmp_path / "base.bpmn").write_text(call("base", "hostile"), encoding="utf-8")
        result = run("deploy", "--reason", "set-up", str(tmp_path / "hostile_v1.bpmn"), str(tmp_path / "base.bpmn"))
        assert result.exit_code == 0, result.output
        deployed = run.json("processes")
    refused(run, deployed, paths, element, words, file="hostile.bpmn")


@pytest.mark.parametrize("encoding, declared", [("gbk", "GBK"), ("gb18030", "GB18030"), ("utf-16", "UTF-16"),
                                               ("utf-16", None), ("utf-8-sig", "UTF-8")])
def test_documents_in_gbk_or_utf16_deploy_by_their_declaration(encoding, declared, engine, run, tmp_path):
    """Declared GBK or UTF-16 (with its byte-order mark, declared or not): decoded, stored as UTF-8."""
    text = linear("coded", ("work", user_task("work").replace('name="work"', 'name="整改措施"')))
    if declared is None:
        text = text.split("\n", 1)[1]
    text = text.replace('encoding="UTF-8"', f'encoding="{declared}"')
    path = tmp_path / "coded.bpmn"
    path.write_bytes(text.encode(encoding))  # Python's utf-16 writes the byte-order mark
    assert run("validate", str(path)).exit_code == 0, run("validate", str(path)).output
    result = run("deploy", "--reason", "x", str(path))
    assert result.exit_code == 0, result.output
    assert [p["process"] for p in run.json("processes")] == ["coded"]
    xml = engine.definition_xml("coded", 1).decode("utf-8")
    assert "整改措施" in xml and not any(other in xml for other in ("GBK", "GB18030", "UTF-16", "\ufeff"))
    assert engine.model_of("coded")["user_tasks"]["coded:work"]["name"] == "整改措施"


@pytest.mark.parametrize("declared, encoding, words", [
    ("ASCII", "utf-8", "does not decode by its declared encoding"),
    ("GBK", "utf-8", "declared GBK but its text is UTF-8"),  # would decode, as nonsense: refused
    ("UTF-8", "gbk", "does not decode by its declared encoding"),
    ("X-NOPE", "utf-8", "Unsupported encoding"),
])
def test_document_that_does_not_decode_as_declared_is_refused_in_one_line(declared, encoding, words, engine, run,
                                                                          tmp_path):
    path = tmp_path / "liar.bpmn"
    text = linear("liar", ("work", user_task("work").replace('name="work"', 'name="整改"')))
    path.write_bytes(text.replace('encoding="UTF-8"', f'encoding="{declared}"').encode(encoding))
    for args in (("validate", str(path)), ("deploy", "--reason", "x", str(path))):
        result = run(*args)
        assert result.exit_code == 1, result.output
        lines = result.output.strip().splitlines()
        assert len(lines) == 1 and "liar.bpmn" in lines[0] and words in lines[0], result.output
    assert run.json("processes") == []


def test_hostile_diagrams_are_refused_within_bounds(tmp_path):
    """The whole corpus through `opsqa validate` in a process limited to 1 GB and 60 s of CPU: each refused
    in one line (before, a call cycle or a multi-instance of 100,000,000 ran unbounded once started)."""
    import resource
    import subprocess
    import sys

    from helpers import ROOT

    def limits():
        resource.setrlimit(resource.RLIMIT_AS, (1 << 30, 1 << 30))
        resource.setrlimit(resource.RLIMIT_CPU, (60, 60))

    for number, (name, (files, element, words)) in enumerate(HOSTILE.items()):
        if name == "call cycle through a deployed process":
            continue  # needs a database: covered above
        folder = tmp_path / str(number)
        folder.mkdir()
        for file_name, text in files.items():
            (folder / file_name).write_text(text, encoding="utf-8")
        command = [sys.executable, "-c", "from cli.base import main; main()", "--db", str(tmp_path / "none.db"),
                   "validate", str(folder)]
        result = subprocess.run(command, cwd=ROOT, capture_output=True, text=True, preexec_fn=limits, timeout=300)
        lines = (result.stdout + result.stderr).strip().splitlines()
        assert result.returncode == 1 and len(lines) == 1, (name, result.stdout, result.stderr)
        assert f"[{element}]" in lines[0] and words in lines[0], (name, lines)
