"""What changed between two versions of a process, in words a process owner reads: elements added,
removed, renamed or moved to another lane; forms' fields added, removed or changed; timers; the
handlers service tasks call; the schedule of a timer start event. Built from the two versions' stored
models and BPMN, never from a text diff of the XML (a moved shape is not a change of the process).
"""

from __future__ import annotations

from typing import Any

from lxml import etree

BPMN = "{http://www.omg.org/spec/BPMN/20100524/MODEL}"
TIMER_KINDS = ("timeDate", "timeDuration", "timeCycle")


def _nodes(model: dict[str, Any]) -> dict[str, dict[str, Any]]:
    return {node_id: node for scope in model["nodes"].values() for node_id, node in scope.items()}


def _forms(model: dict[str, Any]) -> dict[str, dict[str, dict[str, Any]]]:
    return {spec["bpmn_id"]: {field["id"]: field for field in spec["form"]} for spec in model["user_tasks"].values()}


def _topics(model: dict[str, Any]) -> dict[str, str]:
    return {key.split(":", 1)[1]: topic for key, topic in model["service_tasks"].items()}


def _timers(xml: bytes) -> dict[str, str]:
    """Each timer event's expression, by event id."""
    root = etree.fromstring(xml)
    timers = {}
    for definition in root.iter(f"{BPMN}timerEventDefinition"):
        for kind in TIMER_KINDS:
            value = definition.find(f"{BPMN}{kind}")
            if value is not None:
                timers[definition.getparent().get("id")] = f"{kind} {(value.text or '').strip()}"
    return timers


def _label(node_id: str, node: dict[str, Any]) -> str:
    name = node.get("name")
    return f"{node['type']} {node_id}" + (f" ({name})" if name and name != node_id else "")


def _field(field: dict[str, Any]) -> str:
    parts = [field["type"], "required" if field.get("required") else "optional"]
    if field.get("required_if"):
        parts.append(f"required if {field['required_if']}")
    if field.get("options"):
        parts.append("values " + ", ".join(option["id"] for option in field["options"]))
    return ", ".join(parts)


def describe(old_model: dict[str, Any], old_xml: bytes, new_model: dict[str, Any], new_xml: bytes) -> list[str]:
    """The changes from the old version to the new, one sentence each; empty when the process is the same."""
    changes: list[str] = []
    old_nodes, new_nodes = _nodes(old_model), _nodes(new_model)
    for node_id in sorted(new_nodes.keys() - old_nodes.keys()):
        changes.append(f"added {_label(node_id, new_nodes[node_id])}"
                       + (f" in lane {new_nodes[node_id]['role']}" if new_nodes[node_id].get("role") else ""))
    for node_id in sorted(old_nodes.keys() - new_nodes.keys()):
        changes.append(f"removed {_label(node_id, old_nodes[node_id])}")
    for node_id in sorted(old_nodes.keys() & new_nodes.keys()):
        old, new = old_nodes[node_id], new_nodes[node_id]
        if old["type"] != new["type"]:
            changes.append(f"{node_id} changed from {old['type']} to {new['type']}")
        if old.get("name") != new.get("name"):
            changes.append(f"{node_id} renamed from {old.get('name')!r} to {new.get('name')!r}")
        if old.get("role") != new.get("role"):
            changes.append(f"{node_id} moved from lane {old.get('role')} to lane {new.get('role')}")

    old_forms, new_forms = _forms(old_model), _forms(new_model)
    for task in sorted(old_forms.keys() & new_forms.keys()):
        before, after = old_forms[task], new_forms[task]
        for field_id in sorted(after.keys() - before.keys()):
            changes.append(f"form of {task}: added field {field_id} ({_field(after[field_id])})")
        for field_id in sorted(before.keys() - after.keys()):
            changes.append(f"form of {task}: removed field {field_id}")
        for field_id in sorted(before.keys() & after.keys()):
            if _field(before[field_id]) != _field(after[field_id]):
                changes.append(f"form of {task}: field {field_id} was {_field(before[field_id])}, "
                               f"is {_field(after[field_id])}")
            elif before[field_id].get("label") != after[field_id].get("label"):
                changes.append(f"form of {task}: field {field_id} relabelled {after[field_id].get('label')!r}")

    old_topics, new_topics = _topics(old_model), _topics(new_model)
    for task in sorted(old_topics.keys() & new_topics.keys()):
        if old_topics[task] != new_topics[task]:
            changes.append(f"{task} calls handler {new_topics[task]} instead of {old_topics[task]}")

    old_timers, new_timers = _timers(old_xml), _timers(new_xml)
    for event in sorted(old_timers.keys() & new_timers.keys()):
        if old_timers[event] != new_timers[event]:
            changes.append(f"timer {event}: {old_timers[event]} -> {new_timers[event]}")
    if (old_model.get("start_timer") or {}).get("expression") != (new_model.get("start_timer") or {}).get(
            "expression"):
        changes.append("the schedule (timer start) changed: "
                       f"{(old_model.get('start_timer') or {}).get('expression')} -> "
                       f"{(new_model.get('start_timer') or {}).get('expression')}")
    return changes
