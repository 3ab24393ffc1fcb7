"""A draft against the deployed version, element by element, for colouring the two diagrams: which elements
the draft adds, which it changes and which it removes. The words of the change are engine/diff.py's; this
says only where to look. An element's content is what the engine runs: its tag, attributes, definitions
(forms, timers, conditions, topics) and lane; not its shape (a moved shape is not a change), not its
incoming and outgoing flows (a new flow is marked itself, not the two elements it joins), and not the
elements inside it that are marked on their own (a changed task inside a sub-process marks the task).
"""

from __future__ import annotations

import copy

from lxml import etree

from .definitions import BPMN_NS, FLOW_NODES

# What a process owner sees and may change on the diagram, each marked by itself.
MARKED = FLOW_NODES | {"sequenceFlow", "textAnnotation", "association", "dataObjectReference", "dataStoreReference"}
_WIRING = {"incoming", "outgoing"}


def _parse(xml: bytes):
    parser = etree.XMLParser(resolve_entities=False, no_network=True, huge_tree=False, remove_blank_text=True)
    return etree.fromstring(xml, parser)


def _local(node) -> str:
    return etree.QName(node).localname


def _lanes(root) -> dict[str, str]:
    """The lane each element is in, by element id."""
    lanes = {}
    for lane in root.iter(f"{{{BPMN_NS}}}lane"):
        for ref in lane.findall(f"{{{BPMN_NS}}}flowNodeRef"):
            lanes[(ref.text or "").strip()] = lane.get("id") or ""
    return lanes


def _content(node, lane: str) -> bytes:
    """The element as the engine reads it, without its shape, its wiring and the marked elements inside it."""
    mine = copy.deepcopy(node)
    for child in list(mine.iter()):
        if child is mine or not isinstance(child.tag, str):
            continue
        if etree.QName(child).namespace == BPMN_NS and (_local(child) in MARKED or _local(child) in _WIRING):
            parent = child.getparent()
            if parent is not None:
                parent.remove(child)
    mine.tail = None
    return lane.encode() + b"|" + etree.tostring(mine, method="c14n")


def _elements(root) -> dict[str, bytes]:
    lanes = _lanes(root)
    found = {}
    for process in root.iter(f"{{{BPMN_NS}}}process"):
        for node in process.iter():
            if not isinstance(node.tag, str) or etree.QName(node).namespace != BPMN_NS:
                continue
            if _local(node) in MARKED and node.get("id"):
                found[node.get("id")] = _content(node, lanes.get(node.get("id"), ""))
    return found


def element_marks(deployed_xml: bytes, draft_xml: bytes) -> dict[str, dict[str, str]]:
    """{"draft": {id: "added" | "changed"}, "deployed": {id: "removed" | "changed"}}: what to colour on each
    diagram."""
    old, new = _elements(_parse(deployed_xml)), _elements(_parse(draft_xml))
    draft = {element: "added" for element in new if element not in old}
    deployed = {element: "removed" for element in old if element not in new}
    for element in new.keys() & old.keys():
        if new[element] != old[element]:
            draft[element] = deployed[element] = "changed"
    return {"draft": draft, "deployed": deployed}
