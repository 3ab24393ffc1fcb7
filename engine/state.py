"""SpiffWorkflow state <-> JSON, with the spec stored by reference.

The library embeds the whole spec in every saved workflow (three quarters of a small
state). Here the spec is serialized once per definition version and the saved instance
keeps only its tasks and data; loading takes the spec from the definition.
"""

from __future__ import annotations

import json
from datetime import date
from decimal import Decimal
from typing import Any
from uuid import UUID

from SpiffWorkflow.bpmn import BpmnWorkflow
from SpiffWorkflow.bpmn.serializer import BpmnWorkflowSerializer
from SpiffWorkflow.bpmn.serializer.default.task_spec import BpmnTaskSpecConverter
from SpiffWorkflow.bpmn.serializer.default.workflow import BpmnWorkflowConverter, WorkflowConverter
from SpiffWorkflow.bpmn.specs.defaults import ServiceTask
from SpiffWorkflow.camunda.serializer.config import CAMUNDA_CONFIG
from SpiffWorkflow.version import __version__ as LIBRARY_VERSION

__all__ = ["LIBRARY_VERSION", "WorkflowSerializer"]


class _SpecByReference(BpmnWorkflowConverter):
    """Leaves the spec out of the saved state; restores it from `registry.specs`."""

    def to_dict(self, workflow):
        dct = WorkflowConverter.to_dict(self, workflow)
        dct["subprocesses"] = self.mapping_to_dict(workflow.subprocesses)
        dct["bpmn_events"] = self.registry.convert(workflow.bpmn_events)
        return dct

    def from_dict(self, dct):
        spec, subprocess_specs = self.registry.specs
        workflow = self.target_class(spec, subprocess_specs, deserializing=True)
        workflow.tasks = self.mapping_from_dict(dct["tasks"], UUID, workflow=workflow)
        workflow.task_tree = workflow.tasks.get(UUID(dct["root"]))
        self.set_default_attributes(workflow, dct)
        self.subprocesses_from_dict(dct["subprocesses"], workflow)
        workflow.bpmn_events = self.registry.restore(dct.pop("bpmn_events", []))
        return workflow


class WorkflowSerializer:
    """Specs and workflow states as JSON text."""

    def __init__(self):
        config = dict(CAMUNDA_CONFIG)
        config[ServiceTask] = BpmnTaskSpecConverter
        registry = BpmnWorkflowSerializer.configure(config)
        registry.register(date, lambda v: {"value": v.isoformat()}, lambda v: date.fromisoformat(v["value"]))
        registry.register(Decimal, lambda v: {"value": str(v)}, lambda v: Decimal(v["value"]))
        _SpecByReference(BpmnWorkflow, registry)
        registry.specs = None
        self.registry = registry
        self._serializer = BpmnWorkflowSerializer(registry)
        self.version = self._serializer.VERSION

    def dump_spec(self, spec, subprocess_specs: dict[str, Any]) -> str:
        convert = self.registry.convert
        body = {"spec": convert(spec), "subprocess_specs": {k: convert(v) for k, v in subprocess_specs.items()}}
        return json.dumps(body, sort_keys=True, ensure_ascii=False)

    def load_spec(self, text: str):
        body = json.loads(text)
        restore = self.registry.restore
        return restore(body["spec"]), {k: restore(v) for k, v in body["subprocess_specs"].items()}

    def dump(self, workflow: BpmnWorkflow) -> str:
        return self._serializer.serialize_json(workflow)

    def load(self, text: str, spec, subprocess_specs) -> BpmnWorkflow:
        self.registry.specs = (spec, subprocess_specs)
        try:
            return self._serializer.deserialize_json(text)
        finally:
            self.registry.specs = None
