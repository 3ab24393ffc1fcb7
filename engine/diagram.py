"""Drawing a BPMN file as a standalone SVG from the file's own diagram information (BPMNDI).

Process owners draw in Camunda Modeler, which saves every shape's bounds and every edge's waypoints in
the file. Drawing from those shows people the picture they drew: no layout of our own, no browser, lxml
only. `states` paints where an instance stands on that picture.

Text is measured by estimate, not with a font (about 7px per Latin character and 13px per CJK character
at 13px), so names wrap close to, not exactly, where a browser would wrap them.
"""

from __future__ import annotations

import math
import re
import unicodedata
from collections.abc import Callable
from dataclasses import dataclass
from itertools import groupby, pairwise

from lxml import etree

from i18n import _

from .errors import OpsqaError

BPMN_NS = "http://www.omg.org/spec/BPMN/20100524/MODEL"
BPMNDI_NS = "http://www.omg.org/spec/BPMN/20100524/DI"
DC_NS = "http://www.omg.org/spec/DD/20100524/DC"
DI_NS = "http://www.omg.org/spec/DD/20100524/DI"
SVG_NS = "http://www.w3.org/2000/svg"

NO_DIAGRAM = "the file has no diagram (BPMNDI); open it in Camunda Modeler and save it to add one"

FONT = "Arial, 'PingFang SC', 'Microsoft YaHei', 'Noto Sans CJK SC', sans-serif"
TEXT_SIZE = 13  # names inside shapes
LABEL_SIZE = 11  # names outside shapes, as small as Camunda Modeler's so they fit the label bounds it saved
LABEL_WIDTH = 90  # Camunda Modeler's label width: narrower saved bounds are widened to it so words don't break
BAND = 30  # the band of a pool or lane that holds its name
MARGIN = 20
INK = "#222222"
PAPER = "#ffffff"

TASKS = frozenset({"task", "userTask", "serviceTask", "manualTask", "scriptTask", "sendTask", "receiveTask",
                   "businessRuleTask"})
SUBPROCESSES = frozenset({"subProcess", "transaction", "adHocSubProcess"})
EVENTS = frozenset({"startEvent", "endEvent", "intermediateCatchEvent", "intermediateThrowEvent", "boundaryEvent"})
GATEWAYS = frozenset({"exclusiveGateway", "parallelGateway", "inclusiveGateway", "eventBasedGateway",
                      "complexGateway"})
DATA_OBJECTS = frozenset({"dataObjectReference", "dataObject", "dataInput", "dataOutput"})
DOTTED = "1.5 3"  # with round line caps


class DiagramError(OpsqaError, ValueError):
    """The file cannot be drawn: not BPMN, not well-formed, or a state the renderer does not know."""


class NoDiagram(DiagramError):
    """The file has no diagram to draw: laying one out is the modeler's job, so we say where to do it."""


@dataclass(frozen=True)
class Paint:
    """The colours of one state; `width` is a minimum, so shapes that are thick by nature stay thick."""

    fill: str
    stroke: str
    width: float = 0.0
    legend: str = ""

    def line(self, width: float) -> dict[str, str | float]:
        return {"stroke": self.stroke, "stroke_width": max(width, self.width)}

    def outline(self, width: float) -> dict[str, str | float]:
        return {"fill": self.fill, **self.line(width)}


PLAIN = Paint(PAPER, INK)
STATES = {
    "completed": Paint("#e6f4ea", "#2e7d32", 2, "completed"),
    "ready": Paint("#e3f0fd", "#1565c0", 3.5, "ready"),
    "waiting": Paint("#fff3d6", "#e08e00", 3, "waiting on a timer"),
    "error": Paint("#fdeaea", "#c62828", 3, "error"),
}


@dataclass(frozen=True)
class Box:
    x: float
    y: float
    w: float
    h: float

    @property
    def cx(self) -> float:
        return self.x + self.w / 2

    @property
    def cy(self) -> float:
        return self.y + self.h / 2

    @property
    def right(self) -> float:
        return self.x + self.w

    @property
    def bottom(self) -> float:
        return self.y + self.h

    def union(self, other: Box) -> Box:
        x, y = min(self.x, other.x), min(self.y, other.y)
        return Box(x, y, max(self.right, other.right) - x, max(self.bottom, other.bottom) - y)


@dataclass(frozen=True)
class Item:
    """One BPMNShape (with a box) or BPMNEdge (with points), and the model element it shows.

    `element` is None and `kind` empty when the reference dangles; such a shape is still drawn, plainly.
    """

    di: etree._Element
    ref: str
    element: etree._Element | None
    kind: str
    name: str
    label: Box | None
    box: Box | None = None
    points: tuple[tuple[float, float], ...] = ()


@dataclass(frozen=True)
class EdgeStyle:
    dash: str | None = None
    head: str | None = None  # "filled", "hollow" or "open"
    tail_circle: bool = False


EDGE_STYLES = {
    "sequenceFlow": EdgeStyle(head="filled"),
    "messageFlow": EdgeStyle(dash="6 4", head="hollow", tail_circle=True),
    "association": EdgeStyle(dash=DOTTED),
    "dataInputAssociation": EdgeStyle(dash=DOTTED, head="open"),
    "dataOutputAssociation": EdgeStyle(dash=DOTTED, head="open"),
}


def render_svg(xml: bytes, *, states: dict[str, str] | None = None, title: str | None = None) -> str:
    """The file's diagram as SVG text, with the elements in `states` painted and a legend for those states.

    Every element's group carries data-element-id (and data-state when painted). Raises NoDiagram when the
    file has no diagram, ValueError for malformed XML or a state that is not one of STATES.
    """
    root = _parse(xml)
    plane = _plane(root)
    states = states or {}
    for element_id, state in states.items():
        if state not in STATES:
            raise DiagramError(_("unknown state {state!r} for {element_id!r}; expected one of {states}").format(
                                   state=state, element_id=element_id, states=', '.join(STATES)))
    drawing = Drawing(states)
    for item in sorted(_items(plane, _index(root)), key=_layer):
        drawing.draw(item)
    drawing.legend()
    return drawing.finish(title)


# Reading the file


def _parse(xml: bytes) -> etree._Element:
    parser = etree.XMLParser(resolve_entities=False, no_network=True, remove_comments=True)
    try:
        root = etree.fromstring(xml, parser)
    except etree.XMLSyntaxError as exc:
        raise DiagramError("malformed XML: " + " ".join(str(exc.msg or exc).split())) from None
    if root.tag != f"{{{BPMN_NS}}}definitions":
        raise DiagramError(_("not a BPMN 2.0 file (the root element must be definitions)"))
    return root


def _plane(root: etree._Element) -> etree._Element:
    """The first plane with shapes: the main picture (later planes hold drilled-down collapsed subprocesses)."""
    for plane in root.iter(f"{{{BPMNDI_NS}}}BPMNPlane"):
        if next(plane.iter(f"{{{BPMNDI_NS}}}BPMNShape"), None) is not None:
            return plane
    raise NoDiagram(NO_DIAGRAM)


def _index(root: etree._Element) -> dict[str, etree._Element]:
    """Every model element with an id, anywhere: shapes may show any process or collaboration of the file."""
    return {node.get("id"): node for node in root.iter(f"{{{BPMN_NS}}}*") if node.get("id")}


def _resolve(model: dict[str, etree._Element], ref: str) -> etree._Element | None:
    """The element a reference names; some tools write references as QNames (tns:Task_1)."""
    return model.get(ref) if ref in model else model.get(ref.rpartition(":")[2])


def _items(plane: etree._Element, model: dict[str, etree._Element]) -> list[Item]:
    """The plane's shapes and edges that can be placed: a shape without bounds or an edge without two
    waypoints is skipped rather than guessed."""
    items = []
    for di in plane.iter(f"{{{BPMNDI_NS}}}BPMNShape", f"{{{BPMNDI_NS}}}BPMNEdge"):
        ref = di.get("bpmnElement", "")
        element = _resolve(model, ref)
        label = di.find(f"{{{BPMNDI_NS}}}BPMNLabel")
        common = {
            "di": di,
            "ref": ref,
            "element": element,
            "kind": etree.QName(element).localname if element is not None else "",
            "name": _name(element, model),
            "label": _bounds(label) if label is not None else None,
        }
        if etree.QName(di).localname == "BPMNShape":
            box = _bounds(di)
            if box is not None:
                items.append(Item(**common, box=box))
        else:
            points = _waypoints(di)
            if len(points) >= 2:
                items.append(Item(**common, points=points))
    return items


def _name(element: etree._Element | None, model: dict[str, etree._Element]) -> str:
    """What a person reads on the element: its name, an annotation's text, a group's category value."""
    if element is None:
        return ""
    kind = etree.QName(element).localname
    if kind == "textAnnotation":
        text = element.find(f"{{{BPMN_NS}}}text")
        return "".join(text.itertext()).strip() if text is not None else ""
    if kind == "group":
        value = _resolve(model, element.get("categoryValueRef", ""))
        return (value.get("value") or "").strip() if value is not None else ""
    return (element.get("name") or "").strip()


def _numbers(node: etree._Element, names: tuple[str, ...]) -> list[float] | None:
    try:
        values = [float(node.get(name, "")) for name in names]
    except ValueError:
        return None
    return values if all(math.isfinite(value) for value in values) else None


def _bounds(node: etree._Element) -> Box | None:
    bounds = node.find(f"{{{DC_NS}}}Bounds")
    values = _numbers(bounds, ("x", "y", "width", "height")) if bounds is not None else None
    if values is None or values[2] < 0 or values[3] < 0:
        return None
    return Box(*values)


def _waypoints(edge: etree._Element) -> tuple[tuple[float, float], ...]:
    points = (_numbers(point, ("x", "y")) for point in edge.iter(f"{{{DI_NS}}}waypoint"))
    return tuple((point[0], point[1]) for point in points if point is not None)


def _expanded(item: Item) -> bool:
    """isExpanded when the modeler wrote it; otherwise by size, since a collapsed subprocess is task-sized."""
    flag = item.di.get("isExpanded")
    if flag is not None:
        return flag == "true"
    return item.box.w > 120 or item.box.h > 100


def _is_container(item: Item) -> bool:
    return item.kind in ("participant", "lane") or (item.kind in SUBPROCESSES and _expanded(item))


def _layer(item: Item) -> tuple[int, float]:
    """Drawing order: containers first, largest first, so no pool, lane or subprocess hides what it holds;
    then other shapes, boundary events over the activity they sit on, and edges over everything."""
    if item.box is None:
        return (3, 0)
    if _is_container(item):
        return (0, -item.box.w * item.box.h)
    return (2, 0) if item.kind == "boundaryEvent" else (1, 0)


# Text


def _is_wide(char: str) -> bool:
    return unicodedata.east_asian_width(char) in ("W", "F")


def _text_width(text: str, size: float) -> float:
    """Estimated width: a wide (CJK) character is about the font size, a Latin one a little over half."""
    return sum(size if _is_wide(char) else size * 7 / 13 for char in text)


def _line_height(size: float) -> float:
    return size + 3


def _pieces(paragraph: str, max_width: float, size: float):
    """The unbreakable pieces of a paragraph, each with whether a space came before it: Latin words whole,
    CJK characters one by one, and a Latin word wider than a line character by character."""
    for match in re.finditer(r"(\s*)(\S+)", paragraph):
        spaced = bool(match.group(1))
        for wide, run in groupby(match.group(2), key=_is_wide):
            run = "".join(run)
            for piece in run if wide or _text_width(run, size) > max_width else [run]:
                yield piece, spaced
                spaced = False


def wrap(text: str, max_width: float, size: float) -> list[str]:
    """Lines no wider than max_width (estimated): Latin breaks between words, CJK between any characters.

    The lines are balanced: a name that needs two lines gets two of about equal length, not a full line and
    a last character on its own. Balancing narrows the width, but never below the widest word, which would
    then break.
    """
    lines = _wrap_greedy(text, max_width, size)
    if len(lines) < 2:
        return lines
    pieces = (piece for paragraph in text.splitlines() for piece, _ in _pieces(paragraph, max_width, size))
    low, high = max(_text_width(piece, size) for piece in pieces), max_width
    while high - low > 1:
        middle = (low + high) / 2
        if len(_wrap_greedy(text, middle, size)) > len(lines):
            low = middle
        else:
            high = middle
    return _wrap_greedy(text, high, size)


def _wrap_greedy(text: str, max_width: float, size: float) -> list[str]:
    """As many pieces on each line as fit."""
    lines = []
    for paragraph in text.splitlines():
        line, width = "", 0.0
        for piece, spaced in _pieces(paragraph, max_width, size):
            addition = f" {piece}" if spaced and line else piece
            added = _text_width(addition, size)
            if line and width + added > max_width:
                lines.append(line)
                line, width = piece, _text_width(piece, size)
            else:
                line, width = line + addition, width + added
        if line:
            lines.append(line)
    return lines


def _fit(lines: list[str], max_lines: int) -> list[str]:
    """Cut text that would spill out of its shape; the ellipsis says there is more (the file has it all)."""
    max_lines = max(1, max_lines)
    if len(lines) <= max_lines:
        return lines
    return lines[: max_lines - 1] + [lines[max_lines - 1][:-1] + "…"]


# SVG


def _num(value: float) -> str:
    """Numbers as short as they can be (100, not 100.0), two decimals at most, never -0."""
    text = f"{value:.2f}".rstrip("0").rstrip(".")
    return "0" if text == "-0" else text


def _points(points) -> str:
    return " ".join(f"{_num(x)},{_num(y)}" for x, y in points)


def _add(parent: etree._Element, tag: str, text: str | None = None, **attrs) -> etree._Element:
    """Append an SVG element. Attribute names use _ for - (stroke_width, class_); None values are left out."""
    node = etree.SubElement(parent, f"{{{SVG_NS}}}{tag}")
    for name, value in attrs.items():
        if value is not None:
            node.set(name.rstrip("_").replace("_", "-"), _num(value) if isinstance(value, int | float) else value)
    node.text = text
    return node


def _write(parent: etree._Element, lines: list[str], x: float, top: float, size: float, *,
           anchor: str = "middle", backdrop: bool = False) -> Box | None:
    """Lines of text downward from top; returns the box they take. A backdrop (white, behind the text) keeps
    a label readable where its edge runs through it."""
    if not lines:
        return None
    step = _line_height(size)
    text = _add(parent, "text", font_size=size, text_anchor=anchor, fill=INK)
    for index, line in enumerate(lines):
        # The baseline that centres a capital letter (about 0.7 of the size) in its line.
        _add(text, "tspan", line, x=x, y=top + index * step + (step + 0.7 * size) / 2)
    width = max(_text_width(line, size) for line in lines)
    box = Box(x - width / 2 if anchor == "middle" else x, top, width, step * len(lines))
    if backdrop:
        text.addprevious(_add(parent, "rect", x=box.x - 2, y=box.y, width=box.w + 4, height=box.h, fill=PAPER))
    return box


def _write_inside(parent: etree._Element, name: str, box: Box) -> None:
    """A name wrapped and centred inside a shape, cut to the lines that fit."""
    step = _line_height(TEXT_SIZE)
    lines = _fit(wrap(name, box.w - 10, TEXT_SIZE), int((box.h - 8) // step))
    _write(parent, lines, box.cx, box.cy - step * len(lines) / 2, TEXT_SIZE)


# Icons: each draws in a square of half-size `size` around (cx, cy); `filled` is the throwing variant.


def _clock(g, cx, cy, size, filled):
    _add(g, "circle", cx=cx, cy=cy, r=size, fill=PAPER, stroke=INK, stroke_width=1.5)
    hands = [(cx, cy - size * 0.7), (cx, cy), (cx + size * 0.5, cy)]
    _add(g, "polyline", points=_points(hands), fill="none", stroke=INK, stroke_width=1.5)


def _envelope(g, cx, cy, size, filled):
    w, h = size * 1.6, size * 1.1
    x, y = cx - w / 2, cy - h / 2
    _add(g, "rect", x=x, y=y, width=w, height=h, fill=INK if filled else PAPER, stroke=INK, stroke_width=1)
    flap = [(x, y), (cx, cy), (x + w, y)]
    _add(g, "polyline", points=_points(flap), fill="none", stroke=PAPER if filled else INK, stroke_width=1)


def _signal(g, cx, cy, size, filled):
    corners = [(cx, cy - size * 0.8), (cx + size * 0.75, cy + size * 0.55), (cx - size * 0.75, cy + size * 0.55)]
    _add(g, "polygon", points=_points(corners), fill=INK if filled else "none", stroke=INK, stroke_width=1.5)


def _error(g, cx, cy, size, filled):
    shape = [(-0.6, 0.7), (-0.2, -0.6), (0.15, 0.1), (0.6, -0.7), (0.2, 0.6), (-0.15, -0.1)]
    corners = [(cx + dx * size, cy + dy * size) for dx, dy in shape]
    _add(g, "polygon", points=_points(corners), fill=INK if filled else "none", stroke=INK, stroke_width=1.5)


def _terminate(g, cx, cy, size, filled):
    _add(g, "circle", cx=cx, cy=cy, r=size * 0.9, fill=INK)


def _person(g, cx, cy, size, filled):
    _add(g, "circle", cx=cx, cy=cy - size * 0.45, r=size * 0.35, fill="none", stroke=INK, stroke_width=1)
    left, right, base = cx - size * 0.8, cx + size * 0.8, cy + size * 0.9
    _add(g, "path", d=f"M{_num(left)},{_num(base)} Q{_num(cx)},{_num(cy - size * 0.3)} {_num(right)},{_num(base)} Z",
         fill="none", stroke=INK, stroke_width=1)


def _gear(g, cx, cy, size, filled):
    # A thick dashed circle reads as a cog at this size.
    _add(g, "circle", cx=cx, cy=cy, r=size * 0.65, fill="none", stroke=INK, stroke_width=size * 0.35,
         stroke_dasharray=f"{_num(size * 0.3)} {_num(size * 0.22)}")
    _add(g, "circle", cx=cx, cy=cy, r=size * 0.25, fill="none", stroke=INK, stroke_width=1)


Icon = Callable[[etree._Element, float, float, float, bool], None]
EVENT_ICONS: dict[str, Icon] = {
    "timerEventDefinition": _clock,
    "messageEventDefinition": _envelope,
    "signalEventDefinition": _signal,
    "errorEventDefinition": _error,
    "terminateEventDefinition": _terminate,
}
TASK_ICONS: dict[str, tuple[Icon, bool]] = {
    "userTask": (_person, False),
    "serviceTask": (_gear, False),
    "sendTask": (_envelope, True),
    "receiveTask": (_envelope, False),
}


def _event_definition(element: etree._Element) -> str:
    """The local name of the event's first definition (timerEventDefinition...), '' for a plain event."""
    for child in element.iterchildren(f"{{{BPMN_NS}}}*"):
        kind = etree.QName(child).localname
        if kind.endswith("EventDefinition"):
            return kind
    return ""


def _cross(g, cx, cy, s, width=3.5):
    for dx, dy in ((1, 1), (1, -1)):
        ends = [(cx - dx * s, cy - dy * s), (cx + dx * s, cy + dy * s)]
        _add(g, "polyline", points=_points(ends), stroke=INK, stroke_width=width, stroke_linecap="round")


def _plus(g, cx, cy, s, width=3.5):
    for ends in ([(cx - s, cy), (cx + s, cy)], [(cx, cy - s), (cx, cy + s)]):
        _add(g, "polyline", points=_points(ends), stroke=INK, stroke_width=width, stroke_linecap="round")


def _gateway_marker(g, kind: str, cx: float, cy: float, half: float) -> None:
    """The symbol inside a gateway's diamond; `half` is half its diagonal."""
    if kind == "exclusiveGateway":
        _cross(g, cx, cy, half * 0.3)
    elif kind == "parallelGateway":
        _plus(g, cx, cy, half * 0.42)
    elif kind == "complexGateway":
        _cross(g, cx, cy, half * 0.28, width=3)
        _plus(g, cx, cy, half * 0.4, width=3)
    elif kind == "inclusiveGateway":
        _add(g, "circle", cx=cx, cy=cy, r=half * 0.45, fill="none", stroke=INK, stroke_width=2.5)
    elif kind == "eventBasedGateway":
        for r in (half * 0.55, half * 0.45):
            _add(g, "circle", cx=cx, cy=cy, r=r, fill="none", stroke=INK, stroke_width=1)
        corners = [(cx + half * 0.28 * math.cos(a), cy + half * 0.28 * math.sin(a))
                   for a in (-math.pi / 2 + i * 2 * math.pi / 5 for i in range(5))]
        _add(g, "polygon", points=_points(corners), fill="none", stroke=INK, stroke_width=1.5)


def _bottom_markers(item: Item) -> list[Callable[[etree._Element, float, float], None]]:
    """The markers centred under an activity's name: [+] for a collapsed subprocess, bars for multi-instance."""
    markers = []
    if item.kind in SUBPROCESSES:
        markers.append(_collapsed_marker)
    loop = item.element.find(f"{{{BPMN_NS}}}multiInstanceLoopCharacteristics")
    if loop is not None:
        markers.append(_sequential_marker if loop.get("isSequential") == "true" else _parallel_marker)
    return markers


def _collapsed_marker(g, x, y):
    _add(g, "rect", x=x, y=y, width=14, height=14, fill="none", stroke=INK, stroke_width=1)
    _plus(g, x + 7, y + 7, 4, width=1.5)


def _parallel_marker(g, x, y):
    for dx in (3, 7, 11):
        _add(g, "polyline", points=_points([(x + dx, y + 1), (x + dx, y + 13)]), stroke=INK, stroke_width=2)


def _sequential_marker(g, x, y):
    for dy in (3, 7, 11):
        _add(g, "polyline", points=_points([(x + 1, y + dy), (x + 13, y + dy)]), stroke=INK, stroke_width=2)


def _arrowhead(points, length: float = 11, half: float = 4) -> list[tuple[float, float]] | None:
    """The corners of an arrowhead at the last point, along the last segment that has a length."""
    tip = points[-1]
    back = next((point for point in reversed(points[:-1]) if point != tip), None)
    if back is None:
        return None
    distance = math.hypot(tip[0] - back[0], tip[1] - back[1])
    ux, uy = (tip[0] - back[0]) / distance, (tip[1] - back[1]) / distance
    bx, by = tip[0] - ux * length, tip[1] - uy * length
    return [(bx - uy * half, by + ux * half), tip, (bx + uy * half, by - ux * half)]


def _midpoint(points) -> tuple[float, float]:
    """The point halfway along the polyline, where an unplaced label reads as the edge's."""
    lengths = [math.hypot(b[0] - a[0], b[1] - a[1]) for a, b in pairwise(points)]
    remaining = sum(lengths) / 2
    for (a, b), length in zip(pairwise(points), lengths, strict=True):
        if length and remaining <= length:
            t = remaining / length
            return a[0] + t * (b[0] - a[0]), a[1] + t * (b[1] - a[1])
        remaining -= length
    return points[0]


class Drawing:
    """The SVG under construction and the extent of everything on it, which the viewBox is fitted to last."""

    def __init__(self, states: dict[str, str]):
        self.states = states
        self.svg = etree.Element(f"{{{SVG_NS}}}svg", nsmap={None: SVG_NS})
        self.extent: Box | None = None
        self.painted: set[str] = set()

    def cover(self, box: Box | None) -> None:
        if box is not None:
            self.extent = box if self.extent is None else self.extent.union(box)

    def draw(self, item: Item) -> None:
        state = self.states.get(item.ref)
        if state:
            self.painted.add(state)
        group = _add(self.svg, "g", data_element_id=item.ref or None, data_kind=item.kind or None, data_state=state)
        paint = STATES[state] if state else PLAIN
        if item.box is None:
            xs, ys = [x for x, _ in item.points], [y for _, y in item.points]
            self.cover(Box(min(xs), min(ys), max(xs) - min(xs), max(ys) - min(ys)))
            self._edge(group, item, paint)
        else:
            self.cover(item.box)
            self._shape_drawer(item)(group, item, paint)

    def _shape_drawer(self, item: Item) -> Callable[[etree._Element, Item, Paint], None]:
        kind = item.kind
        if kind in ("participant", "lane"):
            return self._pool
        if kind in SUBPROCESSES and _expanded(item):
            return self._expanded_subprocess
        if kind in TASKS or kind in SUBPROCESSES or kind == "callActivity":
            return self._activity
        if kind in EVENTS:
            return self._event
        if kind in GATEWAYS:
            return self._gateway
        if kind in DATA_OBJECTS:
            return self._data_object
        others = {"dataStoreReference": self._data_store, "textAnnotation": self._annotation, "group": self._group}
        return others.get(kind, self._unknown)

    def _label(self, g, name: str, box: Box, *, backdrop: bool = False) -> None:
        """A name centred on a label box, wrapped to the box or Camunda Modeler's label width if wider."""
        lines = wrap(name, max(box.w, LABEL_WIDTH), LABEL_SIZE)
        self.cover(_write(g, lines, box.cx, box.y, LABEL_SIZE, backdrop=backdrop))

    def _outside_label(self, g, item: Item) -> None:
        """The name of an event, gateway or data: in the label bounds the modeler saved, else under the shape."""
        if item.name:
            self._label(g, item.name, item.label or Box(item.box.x, item.box.bottom + 5, item.box.w, 0))

    def _pool(self, g, item: Item, paint: Paint) -> None:
        """A pool or lane: its name runs up a band on the left (across a band on top when vertical). A pool
        without a process (another party, drawn as a black box) has no band: its name sits in the middle."""
        box = item.box
        _add(g, "rect", x=box.x, y=box.y, width=box.w, height=box.h, **paint.outline(1.5))
        if item.kind == "participant" and item.element.get("processRef") is None:
            _write_inside(g, item.name, box)
            return
        step = _line_height(TEXT_SIZE)
        pool = item.kind == "participant"
        if item.di.get("isHorizontal") == "false":
            if pool:
                _add(g, "polyline", points=_points([(box.x, box.y + BAND), (box.right, box.y + BAND)]),
                     **paint.line(1.5))
            _write(g, _fit(wrap(item.name, box.w - 10, TEXT_SIZE), 1), box.cx, box.y + (BAND - step) / 2, TEXT_SIZE)
            return
        if pool:
            _add(g, "polyline", points=_points([(box.x + BAND, box.y), (box.x + BAND, box.bottom)]), **paint.line(1.5))
        cx = box.x + BAND / 2
        band = _add(g, "g", transform=f"rotate(-90 {_num(cx)} {_num(box.cy)})")
        _write(band, _fit(wrap(item.name, box.h - 10, TEXT_SIZE), 1), cx, box.cy - step / 2, TEXT_SIZE)

    def _activity(self, g, item: Item, paint: Paint) -> None:
        """A task (with a marker for its kind), a call activity (thick border) or a collapsed subprocess."""
        box = item.box
        width = 4 if item.kind == "callActivity" else 1.5
        _add(g, "rect", x=box.x, y=box.y, width=box.w, height=box.h, rx=10, **paint.outline(width))
        if item.kind in TASK_ICONS:
            icon, filled = TASK_ICONS[item.kind]
            icon(_add(g, "g", class_=f"marker {item.kind}"), box.x + 14, box.y + 14, 8, filled)
        markers = _bottom_markers(item)
        left = box.cx - (len(markers) * 18 - 4) / 2
        for index, marker in enumerate(markers):
            marker(g, left + index * 18, box.bottom - 18)
        _write_inside(g, item.name, Box(box.x, box.y, box.w, box.h - 16) if markers else box)  # above the markers

    def _expanded_subprocess(self, g, item: Item, paint: Paint) -> None:
        """An expanded subprocess: its name at the top left, its content drawn over it as separate shapes.
        An event subprocess is dashed; a transaction has a double border."""
        box = item.box
        dash = "6 3" if item.element.get("triggeredByEvent") == "true" else None
        _add(g, "rect", x=box.x, y=box.y, width=box.w, height=box.h, rx=10, stroke_dasharray=dash,
             **paint.outline(1.5))
        if item.kind == "transaction":
            _add(g, "rect", x=box.x + 3, y=box.y + 3, width=box.w - 6, height=box.h - 6, rx=8, fill="none",
                 **paint.line(1))
        lines = _fit(wrap(item.name, box.w - 16, TEXT_SIZE), 2)
        _write(g, lines, box.x + 8, box.y + 4, TEXT_SIZE, anchor="start")

    def _event(self, g, item: Item, paint: Paint) -> None:
        """Start: thin circle; end: thick; others: double. Non-interrupting events are dashed."""
        box, element, kind = item.box, item.element, item.kind
        cx, cy, r = box.cx, box.cy, min(box.w, box.h) / 2
        non_interrupting = (kind == "boundaryEvent" and element.get("cancelActivity") == "false") or (
            kind == "startEvent" and element.get("isInterrupting") == "false")
        dash = "4 3" if non_interrupting else None
        width = {"startEvent": 2, "endEvent": 4}.get(kind, 1.5)
        _add(g, "circle", cx=cx, cy=cy, r=r, stroke_dasharray=dash, **paint.outline(width))
        if kind not in ("startEvent", "endEvent"):
            _add(g, "circle", cx=cx, cy=cy, r=max(r - 3, 1), fill="none", stroke=paint.stroke, stroke_width=1.5,
                 stroke_dasharray=dash)
        definition = _event_definition(element)
        if definition in EVENT_ICONS:
            filled = kind in ("endEvent", "intermediateThrowEvent")
            EVENT_ICONS[definition](_add(g, "g", class_=f"marker {definition}"), cx, cy, r * 0.55, filled)
        self._outside_label(g, item)

    def _gateway(self, g, item: Item, paint: Paint) -> None:
        """A diamond with its kind's symbol (an exclusive gateway's X unless the modeler hid it)."""
        box = item.box
        corners = [(box.cx, box.y), (box.right, box.cy), (box.cx, box.bottom), (box.x, box.cy)]
        _add(g, "polygon", points=_points(corners), stroke_linejoin="round", **paint.outline(1.5))
        if not (item.kind == "exclusiveGateway" and item.di.get("isMarkerVisible") == "false"):
            _gateway_marker(g, item.kind, box.cx, box.cy, min(box.w, box.h) / 2)
        self._outside_label(g, item)

    def _data_object(self, g, item: Item, paint: Paint) -> None:
        """A page with a folded corner."""
        box = item.box
        fold = min(10, box.w / 3, box.h / 3)
        page = [(box.x, box.y), (box.right - fold, box.y), (box.right, box.y + fold), (box.right, box.bottom),
                (box.x, box.bottom)]
        _add(g, "polygon", points=_points(page), stroke_linejoin="round", **paint.outline(1.5))
        corner = [(box.right - fold, box.y), (box.right - fold, box.y + fold), (box.right, box.y + fold)]
        _add(g, "polyline", points=_points(corner), fill="none", **paint.line(1.5))
        self._outside_label(g, item)

    def _data_store(self, g, item: Item, paint: Paint) -> None:
        """A cylinder: a body closed by arcs, and the lid drawn over it."""
        box = item.box
        rx, ry = box.w / 2, min(box.h * 0.12, 8)
        top, bottom = box.y + ry, box.bottom - ry
        arc = f"A{_num(rx)},{_num(ry)} 0 0 0"
        body = (f"M{_num(box.x)},{_num(top)} L{_num(box.x)},{_num(bottom)} {arc} {_num(box.right)},{_num(bottom)} "
                f"L{_num(box.right)},{_num(top)} {arc} {_num(box.x)},{_num(top)} Z")
        _add(g, "path", d=body, **paint.outline(1.5))
        _add(g, "ellipse", cx=box.cx, cy=top, rx=rx, ry=ry, **paint.outline(1.5))
        self._outside_label(g, item)

    def _annotation(self, g, item: Item, paint: Paint) -> None:
        """An open bracket with the text beside it, left-aligned."""
        box = item.box
        bracket = [(box.x + 10, box.y), (box.x, box.y), (box.x, box.bottom), (box.x + 10, box.bottom)]
        _add(g, "polyline", points=_points(bracket), fill="none", **paint.line(1.5))
        step = _line_height(TEXT_SIZE)
        lines = _fit(wrap(item.name, box.w - 10, TEXT_SIZE), int((box.h - 4) // step))
        _write(g, lines, box.x + 5, box.y + 2, TEXT_SIZE, anchor="start")

    def _group(self, g, item: Item, paint: Paint) -> None:
        """A dash-dotted frame around shapes that belong together, named at the top."""
        box = item.box
        _add(g, "rect", x=box.x, y=box.y, width=box.w, height=box.h, rx=10, fill="none",
             stroke_dasharray="8 4 1 4", **paint.line(1.5))
        if item.name:
            self._label(g, item.name, item.label or Box(box.x, box.y + 4, box.w, 0))

    def _unknown(self, g, item: Item, paint: Paint) -> None:
        """A shape of a kind not drawn here (or whose element is missing): a plain rectangle, so it is not lost."""
        box = item.box
        _add(g, "rect", x=box.x, y=box.y, width=box.w, height=box.h, **paint.outline(1))
        _write_inside(g, item.name, box)

    def _edge(self, g, item: Item, paint: Paint) -> None:
        """A polyline through the waypoints: sequence flows solid with a filled arrow, message flows dashed from
        a circle to a hollow arrow, associations dotted (with an open arrow when directed)."""
        style = EDGE_STYLES.get(item.kind, EdgeStyle())
        direction = item.element.get("associationDirection") if item.kind == "association" else None
        points = item.points
        _add(g, "polyline", points=_points(points), fill="none", stroke_dasharray=style.dash, stroke_linejoin="round",
             stroke_linecap="round" if style.dash == DOTTED else None, **paint.line(1.5))
        if style.tail_circle:
            _add(g, "circle", cx=points[0][0], cy=points[0][1], r=4, fill=PAPER, **paint.line(1.5))
        if style.head or direction in ("One", "Both"):
            self._head(g, points, style.head or "open", paint)
        if direction == "Both":
            self._head(g, points[::-1], "open", paint)
        if item.name:
            mx, my = _midpoint(points)
            self._label(g, item.name, item.label or Box(mx - LABEL_WIDTH / 2, my - 18, LABEL_WIDTH, 0), backdrop=True)

    def _head(self, g, points, kind: str, paint: Paint) -> None:
        corners = _arrowhead(points)
        if corners is None:
            return
        if kind == "open":
            _add(g, "polyline", points=_points(corners), fill="none", **paint.line(1.5))
        else:
            _add(g, "polygon", points=_points(corners), fill=paint.stroke if kind == "filled" else PAPER,
                 stroke_linejoin="round", **paint.line(1.5))

    def legend(self) -> None:
        """A swatch and a word for each state painted, under the diagram."""
        used = [state for state in STATES if state in self.painted]
        if not used:
            return
        area = self.extent or Box(0, 0, 0, 0)
        g = _add(self.svg, "g", class_="legend")
        x, top = area.x, area.bottom + 16
        for state in used:
            paint = STATES[state]
            item = _add(g, "g", data_legend=state)
            _add(item, "rect", x=x, y=top, width=22, height=14, rx=3, **paint.outline(1.5))
            self.cover(_write(item, [paint.legend], x + 28, top - 1, 12, anchor="start"))
            x += 28 + _text_width(paint.legend, 12) + 20

    def finish(self, title: str | None) -> str:
        """Fit the canvas to what was drawn (coordinates may be negative), put a white page and the title under
        everything, and serialise."""
        area = self.extent or Box(0, 0, 0, 0)
        x, y, w, h = area.x - MARGIN, area.y - MARGIN, area.w + 2 * MARGIN, area.h + 2 * MARGIN
        for name, value in (("width", _num(w)), ("height", _num(h)),
                            ("viewBox", f"{_num(x)} {_num(y)} {_num(w)} {_num(h)}"), ("font-family", FONT)):
            self.svg.set(name, value)
        self.svg.insert(0, _add(self.svg, "rect", class_="background", x=x, y=y, width=w, height=h, fill=PAPER))
        if title is not None:
            self.svg.insert(0, _add(self.svg, "title", title))
        return etree.tostring(self.svg, encoding="unicode")
