"""What changed between two versions of a process, in words a process owner reads: elements added,
removed, renamed or moved to another lane; forms' fields added, removed or changed; timers; the
handlers service tasks call; the schedule of a timer start event. Built from the two versions' stored
models and BPMN, never from a text diff of the XML (a moved shape is not a change of the process).
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from lxml import etree

from i18n import N_, _

BPMN = "{http://www.omg.org/spec/BPMN/20100524/MODEL}"
TIMER_KINDS = ("timeDate", "timeDuration", "timeCycle")
SEPARATOR = N_(", ")  # between the parts of a sentence said by parts (a Chinese run says "，")


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


@dataclass(frozen=True)
class Change:
    """One change, as a sentence template (English, marked for translation) and its values: `str()` gives
    the English sentence (what --json shows), `translated()` the operator's language. A template given as
    parts is said part by part, joined by commas (a form field's description)."""

    template: str | tuple[str, ...]
    values: dict[str, Any]

    def __str__(self) -> str:
        return self._say(lambda text: text, str)

    def translated(self) -> str:
        return self._say(_, lambda value: value.translated())

    def _say(self, translate, say) -> str:
        values = {k: say(v) if isinstance(v, Change) else v for k, v in self.values.items()}
        if isinstance(self.template, tuple):
            return translate(SEPARATOR).join(translate(part).format(**values) for part in self.template)
        return translate(self.template).format(**values)


def _label(node_id: str, node: dict[str, Any]) -> str:
    name = node.get("name")
    return f"{node['type']} {node_id}" + (f" ({name})" if name and name != node_id else "")


def _field(field: dict[str, Any]) -> Change:
    parts, values = ["{type}", N_("required") if field.get("required") else N_("optional")], {"type": field["type"]}
    if field.get("required_if"):
        parts.append(N_("required if {condition}"))
        values["condition"] = field["required_if"]
    if field.get("options"):
        parts.append(N_("values {options}"))
        values["options"] = ", ".join(option["id"] for option in field["options"])
    return Change(tuple(parts), values)


def describe(old_model: dict[str, Any], old_xml: bytes, new_model: dict[str, Any], new_xml: bytes) -> list[Change]:
    """The changes from the old version to the new, one sentence each; empty when the process is the same."""
    changes: list[Change] = []
    old_nodes, new_nodes = _nodes(old_model), _nodes(new_model)
    for node_id in sorted(new_nodes.keys() - old_nodes.keys()):
        node = new_nodes[node_id]
        if node.get("role"):
            changes.append(Change(N_("added {element} in lane {lane}"),
                                  {"element": _label(node_id, node), "lane": node["role"]}))
        else:
            changes.append(Change(N_("added {element}"), {"element": _label(node_id, node)}))
    for node_id in sorted(old_nodes.keys() - new_nodes.keys()):
        changes.append(Change(N_("removed {element}"), {"element": _label(node_id, old_nodes[node_id])}))
    for node_id in sorted(old_nodes.keys() & new_nodes.keys()):
        old, new = old_nodes[node_id], new_nodes[node_id]
        if old["type"] != new["type"]:
            changes.append(Change(N_("{element} changed from {old} to {new}"),
                                  {"element": node_id, "old": old["type"], "new": new["type"]}))
        if old.get("name") != new.get("name"):
            changes.append(Change(N_("{element} renamed from {old!r} to {new!r}"),
                                  {"element": node_id, "old": old.get("name"), "new": new.get("name")}))
        if old.get("role") != new.get("role"):
            changes.append(Change(N_("{element} moved from lane {old} to lane {new}"),
                                  {"element": node_id, "old": old.get("role"), "new": new.get("role")}))

    old_forms, new_forms = _forms(old_model), _forms(new_model)
    for task in sorted(old_forms.keys() & new_forms.keys()):
        before, after = old_forms[task], new_forms[task]
        for field_id in sorted(after.keys() - before.keys()):
            changes.append(Change(N_("form of {task}: added field {field} ({description})"),
                                  {"task": task, "field": field_id, "description": _field(after[field_id])}))
        for field_id in sorted(before.keys() - after.keys()):
            changes.append(Change(N_("form of {task}: removed field {field}"), {"task": task, "field": field_id}))
        for field_id in sorted(before.keys() & after.keys()):
            was, now = _field(before[field_id]), _field(after[field_id])
            if str(was) != str(now):
                changes.append(Change(N_("form of {task}: field {field} was {old}, is {new}"),
                                      {"task": task, "field": field_id, "old": was, "new": now}))
            elif before[field_id].get("label") != after[field_id].get("label"):
                changes.append(Change(N_("form of {task}: field {field} relabelled {label!r}"),
                                      {"task": task, "field": field_id, "label": after[field_id].get("label")}))

    old_topics, new_topics = _topics(old_model), _topics(new_model)
    for task in sorted(old_topics.keys() & new_topics.keys()):
        if old_topics[task] != new_topics[task]:
            changes.append(Change(N_("{task} calls handler {new} instead of {old}"),
                                  {"task": task, "new": new_topics[task], "old": old_topics[task]}))

    old_timers, new_timers = _timers(old_xml), _timers(new_xml)
    for event in sorted(old_timers.keys() & new_timers.keys()):
        if old_timers[event] != new_timers[event]:
            changes.append(Change(N_("timer {event}: {old} -> {new}"),
                                  {"event": event, "old": old_timers[event], "new": new_timers[event]}))
    old_start = (old_model.get("start_timer") or {}).get("expression")
    new_start = (new_model.get("start_timer") or {}).get("expression")
    if old_start != new_start:
        changes.append(Change(N_("the schedule (timer start) changed: {old} -> {new}"),
                              {"old": old_start, "new": new_start}))
    return changes
