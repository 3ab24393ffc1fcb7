"""Test helpers: small BPMN documents (no diagram: the engine does not need one) and shortcuts."""

from __future__ import annotations

from pathlib import Path

from engine import Engine, Registry, SimulatedClock
from handlers import registry as domain_registry

ADMIN = "admin1"
ROOT = Path(__file__).resolve().parent.parent
PROCESSES = ROOT / "processes"
PASSWORD = "correct horse battery"  # the web tests' users' password

HEAD = (
    '<?xml version="1.0" encoding="UTF-8"?>\n'
    '<bpmn:definitions xmlns:bpmn="http://www.omg.org/spec/BPMN/20100524/MODEL" '
    'xmlns:camunda="http://camunda.org/schema/1.0/bpmn" id="defs_{pid}" targetNamespace="http://opsqa.test">\n'
)


def process(pid: str, body: str, lanes: dict[str, list[str]] | None = None, name: str | None = None) -> str:
    """A process with the given flow elements; lanes maps lane id -> flow node ids."""
    lane_xml = ""
    if lanes:
        lane_xml = f'<bpmn:laneSet id="ls_{pid}">'
        for lane, nodes in lanes.items():
            refs = "".join(f"<bpmn:flowNodeRef>{n}</bpmn:flowNodeRef>" for n in nodes)
            lane_xml += f'<bpmn:lane id="{lane}" name="{lane}">{refs}</bpmn:lane>'
        lane_xml += "</bpmn:laneSet>"
    return (
        HEAD.format(pid=pid)
        + f'<bpmn:process id="{pid}" name="{name or pid}" isExecutable="true">{lane_xml}{body}</bpmn:process>\n'
        + "</bpmn:definitions>\n"
    )


def flow(fid: str, source: str, target: str, condition: str | None = None) -> str:
    cond = f"<bpmn:conditionExpression>{condition}</bpmn:conditionExpression>" if condition else ""
    return f'<bpmn:sequenceFlow id="{fid}" sourceRef="{source}" targetRef="{target}">{cond}</bpmn:sequenceFlow>'


def user_task(tid: str, fields: str = "", assignee: str | None = None) -> str:
    extra = f' camunda:assignee="{assignee}"' if assignee else ""
    form = f"<bpmn:extensionElements><camunda:formData>{fields}</camunda:formData></bpmn:extensionElements>"
    return f'<bpmn:userTask id="{tid}" name="{tid}"{extra}>{form if fields else ""}</bpmn:userTask>'


def service_task(tid: str, topic: str) -> str:
    return f'<bpmn:serviceTask id="{tid}" name="{tid}" camunda:type="external" camunda:topic="{topic}" />'


def linear(pid: str, *nodes: str, lane: str = "ops") -> str:
    """start -> nodes... -> end, all in one lane. Nodes are (id, xml) pairs."""
    ids = ["start", *[n[0] for n in nodes], "end"]
    body = '<bpmn:startEvent id="start" />' + "".join(n[1] for n in nodes) + '<bpmn:endEvent id="end" />'
    body += "".join(flow(f"f{i}", a, b) for i, (a, b) in enumerate(zip(ids, ids[1:], strict=False)))
    return process(pid, body, {lane: ids})


def start_instance(db: str, process_id: str, *, key: str | None = None, login: str = ADMIN, **variables) -> int:
    """Start an instance through the engine itself, on the system clock as the CLI runs."""
    from usecases import open_engine

    engine = open_engine(db)
    try:
        return engine.start(process_id, actor=engine.actor(login), business_key=key, variables=variables)
    finally:
        engine.database.dispose()


def tick_in_process(db: str, now, env: dict | None = None, timeout: float = 300):
    """One scheduler pass at `now` in a process of its own (so that a crash point can kill it): the
    engine's own tick on an injected simulated clock, as tests move time (`opsqa tick --now` refuses a
    time ahead of the real clock on a real database)."""
    import subprocess
    import sys

    code = ("import sys; from datetime import datetime; from engine import SimulatedClock; "
            "from usecases import open_engine; "
            "open_engine(sys.argv[1], clock=SimulatedClock(datetime.fromisoformat(sys.argv[2]))).tick()")
    return subprocess.run([sys.executable, "-c", code, db, now.isoformat()], cwd=ROOT, env=env, capture_output=True,
                          text=True, timeout=timeout)


def stamp_simulated(db: str, at) -> None:
    """Mark a test's database as one `opsqa simulate` made, its clock at `at`."""
    from engine.settings import stamp_simulated as stamp
    from store import open_database

    database = open_database(db)
    try:
        with database.transaction() as session:
            stamp(session, at, by="test")
    finally:
        database.dispose()


def make_engine(db_path: Path, clock: SimulatedClock, handlers: Registry | None = None) -> Engine:
    from store import open_database

    return Engine(open_database(str(db_path)), clock=clock, handlers=handlers or domain_registry)


PLAN_VALUES = {
    "objectives": "客户满意度不低于90%",
    "verification": "内审与现场抽查",
    "resources": "质量专员2名，培训每季度一次",
    "audit_schedule": "每年6月内审，12月管理评审",
    "audit_start": "2027-06-01",
    "survey_start": "2027-09-01",
    "indicator_cycle": "monthly",
    "spot_check_plan": "每季度每个项目抽查一次",
    "spot_check_frequency": "spot_quarterly",
    "spot_check_sample": 1,
}


def ready_task(engine: Engine, instance_id: int, bpmn_id: str | None = None) -> dict:
    tasks = engine.tasks(instance_id=instance_id)
    if bpmn_id is not None:
        tasks = [t for t in tasks if t["task"] == bpmn_id]
    assert len(tasks) == 1, tasks
    return tasks[0]


def start_chore(engine, due: str, key: str) -> int:
    return engine.start("chore", actor=engine.actor(ADMIN), business_key=key, variables={"due": due})
