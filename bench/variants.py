"""The three ways of running the benchmark process. Each runs one instance start to end and checks the results."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

from SpiffWorkflow.bpmn import BpmnWorkflow
from SpiffWorkflow.bpmn.serializer import BpmnWorkflowSerializer
from SpiffWorkflow.bpmn.serializer.default.task_spec import BpmnTaskSpecConverter
from SpiffWorkflow.bpmn.specs.defaults import ServiceTask
from SpiffWorkflow.camunda.parser import CamundaParser
from SpiffWorkflow.camunda.serializer.config import CAMUNDA_CONFIG
from SpiffWorkflow.util.task import TaskState
from sqlalchemy import select

from engine import Engine, Registry, expressions
from engine.state import WorkflowSerializer
from store import Definition, Instance, create_database

PROCESS_FILE = Path(__file__).resolve().parent / "processes" / "bench_ten_steps.bpmn"
PROCESS_ID = "bench_ten_steps"
TOPIC = "bench.step"
USER_TASKS = 5
SERVICE_TASKS = 4
END_EVENT = "end_ok"
OTHER_END = "end_negative"
MAX_SERVICE_ROUNDS = 100


class BenchFailure(Exception):
    """An instance did not run as the process says it must: the figures would mean nothing."""


def form_values(bpmn_id: str) -> dict[str, int]:
    """`ut_3` -> `{"value_3": 3}`: each user task fills its one required long field."""
    k = int(bpmn_id.rsplit("_", 1)[1])
    return {f"value_{k}": k}


def step(variables: dict[str, Any]) -> dict[str, int]:
    """The `bench.step` handler's work: count the service steps."""
    return {"steps": variables.get("steps", 0) + 1}


def check_workflow(workflow: BpmnWorkflow, label: str) -> None:
    """Completed, through the expected end event, with every form value and every service step."""
    if not workflow.is_completed():
        raise BenchFailure(f"{label}: the workflow is not completed")
    ends = workflow.get_tasks(spec_name=END_EVENT, state=TaskState.COMPLETED)
    if len(ends) != 1:
        raise BenchFailure(f"{label}: the workflow did not end at {END_EVENT}")
    if workflow.get_tasks(spec_name=OTHER_END, state=TaskState.COMPLETED):
        raise BenchFailure(f"{label}: the workflow ended at {OTHER_END}")
    data = ends[0].data
    expected = {f"value_{k}": k for k in range(1, USER_TASKS + 1)} | {"steps": SERVICE_TASKS}
    got = {key: data.get(key) for key in expected}
    if got != expected:
        raise BenchFailure(f"{label}: the end event's data is {got}, expected {expected}")


def parse_process():
    parser = CamundaParser()
    parser.add_bpmn_file(str(PROCESS_FILE))
    return parser.get_spec(PROCESS_ID), parser.get_subprocess_specs(PROCESS_ID)


def embedded_spec_serializer() -> BpmnWorkflowSerializer:
    """The library's default serializer (each state embeds the spec), configured for Camunda files."""
    config = dict(CAMUNDA_CONFIG)
    config[ServiceTask] = BpmnTaskSpecConverter
    return BpmnWorkflowSerializer(BpmnWorkflowSerializer.configure(config))


# -- opsqa


def registry() -> Registry:
    """The handlers the benchmark process needs: `bench.step`."""
    handlers = Registry()

    @handlers.handler(TOPIC)
    def bench_step(context):
        return step(context.variables)

    return handlers


def set_up(engine: Engine) -> None:
    """A new database: an admin, the user `bench` who does the tasks, the benchmark process deployed."""
    engine.add_user("admin", ["admin"])  # the bootstrap call: no actor yet
    admin = engine.actor("admin")
    engine.add_user("bench", ["ops"], actor=admin)
    engine.deploy([str(PROCESS_FILE)], actor=admin)


def run_instance(engine: Engine, actor) -> int:
    """Start one instance and do its five user tasks, each after reading the instance's task list."""
    instance_id = engine.start(PROCESS_ID, actor=actor)
    for _ in range(USER_TASKS):
        ready = engine.tasks(instance_id=instance_id)
        if len(ready) != 1:
            raise BenchFailure(f"opsqa instance {instance_id}: {len(ready)} ready tasks, expected one")
        engine.complete(ready[0]["id"], form_values(ready[0]["task"]), actor=actor)
    return instance_id


class Opsqa:
    name = "opsqa on SQLite"
    key = "opsqa_sqlite"

    def __init__(self, directory: Path | None = None, *, url: str | None = None):
        """A new SQLite file in `directory`, or a new opsqa database at `url` (an empty PostgreSQL database)."""
        self.path = directory / "bench.db" if directory is not None else None
        self.database = create_database(url or str(self.path))
        self.engine = Engine(self.database, handlers=registry())
        set_up(self.engine)
        self.actor = self.engine.actor("bench")
        self.serializer = WorkflowSerializer()
        with self.database.reading() as session:
            spec_json = session.scalar(select(Definition.spec_json).where(Definition.process_id == PROCESS_ID))
        self.spec_json_bytes = len(spec_json.encode())
        self.specs = self.serializer.load_spec(spec_json)

    def run_one(self) -> int:
        return run_instance(self.engine, self.actor)

    def check(self, instance_id: int) -> None:
        label = f"opsqa instance {instance_id}"
        view = self.engine.instance(instance_id)
        if view["status"] != "completed":
            raise BenchFailure(f"{label} is {view['status']} ({view['incident']}), not completed")
        done = [task["task"] for task in view["tasks"] if task["state"] == "completed"]
        if sorted(done) != [f"ut_{k}" for k in range(1, USER_TASKS + 1)]:
            raise BenchFailure(f"{label}: completed user tasks {done}")
        check_workflow(self.workflow(instance_id), label)

    def state_json(self, instance_id: int) -> str:
        with self.database.reading() as session:
            return session.scalar(select(Instance.state_json).where(Instance.id == instance_id))

    def workflow(self, instance_id: int) -> BpmnWorkflow:
        return self.serializer.load(self.state_json(instance_id), *self.specs)

    def settings(self) -> dict[str, Any]:
        """What SQLite really runs with, read back from a connection of the engine."""
        with self.database.engine.connect().execution_options(sqlite_begin="DEFERRED") as conn:
            journal = conn.exec_driver_sql("PRAGMA journal_mode").scalar()
            synchronous = conn.exec_driver_sql("PRAGMA synchronous").scalar()
        levels = {0: "OFF", 1: "NORMAL", 2: "FULL", 3: "EXTRA"}
        return {"journal_mode": journal, "synchronous": levels.get(synchronous, synchronous),
                "file": str(self.path)}

    def close(self) -> None:
        self.database.dispose()


# -- the bare library


def advance(workflow: BpmnWorkflow) -> None:
    """Engine steps, then the started service tasks' work, until only a person can go on (as opsqa does)."""
    for _ in range(MAX_SERVICE_ROUNDS):
        workflow.do_engine_steps()
        pending = [t for t in workflow.get_tasks(state=TaskState.STARTED) if isinstance(t.task_spec, ServiceTask)]
        if not pending:
            return
        for task in pending:
            task.data.update(step(task.data))
            task.complete()
    raise BenchFailure(f"{MAX_SERVICE_ROUNDS} service rounds without waiting")


def complete_user_task(workflow: BpmnWorkflow) -> None:
    ready = workflow.get_tasks(state=TaskState.READY, manual=True)
    if len(ready) != 1:
        raise BenchFailure(f"{len(ready)} ready user tasks, expected one")
    task = ready[0]
    task.data.update(form_values(task.task_spec.bpmn_id))
    task.run()
    advance(workflow)


class RawInMemory:
    name = "raw SpiffWorkflow, in memory"
    key = "raw_in_memory"

    def __init__(self):
        self.spec, self.subprocess_specs = parse_process()
        self.script_engine = expressions.script_engine()

    def new(self) -> BpmnWorkflow:
        workflow = BpmnWorkflow(self.spec, self.subprocess_specs, script_engine=self.script_engine)
        advance(workflow)
        return workflow

    def run_one(self) -> BpmnWorkflow:
        workflow = self.new()
        for _ in range(USER_TASKS):
            complete_user_task(workflow)
        return workflow

    def check(self, workflow: BpmnWorkflow) -> None:
        check_workflow(workflow, "raw in-memory workflow")

    def close(self) -> None:
        pass


class RawSerialized(RawInMemory):
    """Each user task on a workflow freshly loaded from JSON, saved back to JSON after it (no database)."""

    name = "raw SpiffWorkflow + JSON round trip"
    key = "raw_serialized"

    def __init__(self):
        super().__init__()
        self.serializer = WorkflowSerializer()

    def dump(self, workflow: BpmnWorkflow) -> str:
        return self.serializer.dump(workflow)

    def load(self, text: str) -> BpmnWorkflow:
        return self.serializer.load(text, self.spec, self.subprocess_specs)

    def run_one(self) -> str:
        text = self.dump(self.new())
        for _ in range(USER_TASKS):
            workflow = self.load(text)
            workflow.script_engine = self.script_engine
            complete_user_task(workflow)
            text = self.dump(workflow)
        return text

    def check(self, text: str) -> None:
        check_workflow(self.load(text), f"{self.name}: the workflow")


class RawSerializedLibrary(RawSerialized):
    """The same round trip with the library's own serializer, as SpiffWorkflow ships it: each state embeds
    the spec, so each load parses the spec again."""

    name = "raw SpiffWorkflow + JSON, spec embedded"
    key = "raw_serialized_library"

    def __init__(self):
        super().__init__()
        self.library_serializer = embedded_spec_serializer()

    def dump(self, workflow: BpmnWorkflow) -> str:
        return self.library_serializer.serialize_json(workflow)

    def load(self, text: str) -> BpmnWorkflow:
        return self.library_serializer.deserialize_json(text)


def state_sizes(opsqa: Opsqa, instance_id: int) -> dict[str, int]:
    """Bytes of one completed instance's state: opsqa's (spec by reference) and the library default's."""
    stored = opsqa.state_json(instance_id)
    embedded = embedded_spec_serializer().serialize_json(opsqa.workflow(instance_id))
    if "spec" not in json.loads(embedded):
        raise BenchFailure("the library's default serializer did not embed the spec")
    return {
        "opsqa_state_json": len(stored.encode()),
        "library_default_embedded_spec": len(embedded.encode()),
        "opsqa_spec_json_per_version": opsqa.spec_json_bytes,
    }
