"""Loading and checking BPMN files, and turning them into deployable process builds.

Every check a process owner can fail happens here, before anything is stored, and names
the file, the line and the element. SpiffWorkflow parses what passed; its own
`ValidationException`s are translated into the same one-line form.
"""

from __future__ import annotations

import codecs
import difflib
import hashlib
import itertools
import re
import warnings
from collections.abc import Callable, Iterable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from lxml import etree

from i18n import _

from . import expressions, forms, timers
from .errors import InvalidExpression, InvalidProcess
from .state import WorkflowSerializer

BPMN_NS = "http://www.omg.org/spec/BPMN/20100524/MODEL"
CAMUNDA_NS = forms.CAMUNDA_NS
NS = {"bpmn": BPMN_NS, "camunda": CAMUNDA_NS}

# The BPMN elements opsqa runs (inside <process>), and those it knows but refuses, with why.
SUPPORTED = {
    "process", "laneSet", "lane", "childLaneSet", "flowNodeRef", "documentation", "extensionElements",
    "startEvent", "endEvent", "intermediateCatchEvent", "intermediateThrowEvent", "boundaryEvent",
    "userTask", "serviceTask", "manualTask", "task", "callActivity", "subProcess",
    "exclusiveGateway", "parallelGateway", "inclusiveGateway", "eventBasedGateway",
    "sequenceFlow", "conditionExpression", "incoming", "outgoing",
    "timerEventDefinition", "timeDate", "timeDuration", "timeCycle",
    "messageEventDefinition", "signalEventDefinition", "errorEventDefinition",
    "escalationEventDefinition", "terminateEventDefinition",
    "textAnnotation", "text", "association", "group", "dataObject", "dataObjectReference",
    "dataInputAssociation", "dataOutputAssociation", "sourceRef", "targetRef", "property",
    "multiInstanceLoopCharacteristics", "loopCardinality", "completionCondition",
}
REFUSED = {
    "scriptTask": "script tasks are refused: code lives in handlers/; use a service task with camunda:topic",
    "businessRuleTask": "business rule tasks (DMN) are not supported; use a gateway with conditions",
    "sendTask": "send tasks are not supported; use a message throw event",
    "receiveTask": "receive tasks are not supported; use a message catch event",
    "complexGateway": "complex gateways are not supported",
    "transaction": "transaction subprocesses are not supported",
    "adHocSubProcess": "ad-hoc subprocesses are not supported",
    "compensateEventDefinition": "compensation events are not supported",
    "cancelEventDefinition": "cancel events are not supported",
    "conditionalEventDefinition": "conditional events are not supported",
    "linkEventDefinition": "link events are not supported",
    "standardLoopCharacteristics": "loop markers are not supported; draw the loop with a gateway",
}
# Camunda extensions that carry code or behaviour opsqa does not run.
REFUSED_CAMUNDA = {
    "executionListener": "execution listeners are not supported (they run code)",
    "taskListener": "task listeners are not supported (they run code)",
    "script": "scripts are refused: code lives in handlers/",
    "inputOutput": "input/output mappings are not supported; name form fields after the variables",
    "connector": "connectors are not supported; use an external service task with camunda:topic",
}
REFUSED_CAMUNDA_ATTRIBUTES = ("class", "expression", "delegateExpression", "resultVariable")
_CONTROL = re.compile(r"[\x00-\x1f\x7f]")  # in names: they go into mail headers, one-line listings, logs
FLOW_NODES = {
    "startEvent", "endEvent", "intermediateCatchEvent", "intermediateThrowEvent", "boundaryEvent",
    "userTask", "serviceTask", "manualTask", "task", "callActivity", "subProcess",
    "exclusiveGateway", "parallelGateway", "inclusiveGateway", "eventBasedGateway",
}


def _local(node) -> str:
    return etree.QName(node).localname


def _ns(node) -> str | None:
    return etree.QName(node).namespace


@dataclass
class SourceFile:
    path: str
    content: bytes
    root: Any  # lxml root element
    ids: dict[str, Any] = field(default_factory=dict)  # BPMN elements
    extension_ids: dict[str, Any] = field(default_factory=dict)  # form fields and values: the first of each id

    def line(self, element_id: str | None) -> int | None:
        node = self.ids.get(element_id) if element_id else None
        if node is None and element_id:
            node = self.extension_ids.get(element_id)
        return node.sourceline if node is not None else None

    def fail(self, message: str, element_id: str | None = None, node=None) -> InvalidProcess:
        line = node.sourceline if node is not None else self.line(element_id)
        return InvalidProcess(message, file=self.path, element=element_id, line=line)


@dataclass
class ProcessBuild:
    """One process, checked and parsed, ready to be stored as a definition version."""

    process_id: str
    name: str
    source_file: str
    xml: str
    sha256: str
    spec_json: str
    model: dict[str, Any]


def read_file(path: str | Path) -> SourceFile:
    path = Path(path)
    display = str(path)
    from .files import read_bounded

    content = read_bounded(path)  # a regular file, sized before reading; refused in one line naming it
    return parse_source(display, content)


def _xml(display: str, content: bytes):
    parser = etree.XMLParser(resolve_entities=False, no_network=True, remove_comments=True)
    try:
        return etree.fromstring(content, parser)
    except etree.XMLSyntaxError as exc:
        message = exc.msg if hasattr(exc, "msg") and exc.msg else str(exc)
        if "encoding" in message.lower():
            raise InvalidProcess(_("the file does not decode by its declared encoding ({message}); save it as "
                                   "UTF-8").format(message=message), file=display, line=exc.lineno) from None
        raise InvalidProcess(_("malformed XML: {message}").format(
                                 message=message), file=display, line=exc.lineno) from None


# A byte-order mark says the encoding whatever the declaration (lxml's docinfo then says UTF-8): UTF-32 first.
_BOMS = ((codecs.BOM_UTF32_LE, "utf-32"), (codecs.BOM_UTF32_BE, "utf-32"), (codecs.BOM_UTF8, "utf-8-sig"),
         (codecs.BOM_UTF16_LE, "utf-16"), (codecs.BOM_UTF16_BE, "utf-16"))
_DECLARATION = re.compile(r"^\ufeff?\s*<\?xml[^>]*?\?>")


def _as_utf8(display: str, content: bytes, encoding: str) -> bytes:
    """A document declared in another encoding (GBK, UTF-16 with its BOM, ...) decoded by its declaration and
    written again as UTF-8, its declaration saying so and its lines where they were: what opsqa stores and
    parses again is always UTF-8."""
    if not encoding.lower().startswith(("utf", "ucs")) and not content.isascii():
        try:
            content.decode("utf-8")
        except UnicodeDecodeError:
            pass
        else:  # text in GBK (or Latin-1) is almost never valid UTF-8: these bytes were saved as UTF-8
            raise InvalidProcess(_("the file is declared {encoding} but its text is UTF-8; correct the declaration "
                                   "to encoding=\"UTF-8\"").format(encoding=encoding), file=display)
    try:
        text = content.decode(encoding)
    except (LookupError, UnicodeDecodeError):
        raise InvalidProcess(_("the file is declared {encoding} but does not decode as {encoding}; save it as "
                               "UTF-8").format(encoding=encoding), file=display) from None
    text = _DECLARATION.sub('<?xml version="1.0" encoding="UTF-8"?>', text.lstrip("\ufeff"), count=1)
    return text.encode("utf-8")


def parse_source(display: str, content: bytes) -> SourceFile:
    root = _xml(display, content)
    encoding = next((codec for bom, codec in _BOMS if content.startswith(bom)), None)
    encoding = encoding or root.getroottree().docinfo.encoding or "utf-8"
    if encoding.lower().replace("-", "").replace("_", "") != "utf8":
        content = _as_utf8(display, content, encoding)
        root = _xml(display, content)
    if _ns(root) != BPMN_NS or _local(root) != "definitions":
        raise InvalidProcess(_("not a BPMN 2.0 file (the root element must be bpmn:definitions)"), file=display)
    source = SourceFile(display, content, root)
    for node in root.iter():
        if not isinstance(node.tag, str):
            continue
        element_id = node.get("id")
        if element_id is None:
            continue
        if _ns(node) == CAMUNDA_NS:
            siblings = [s for s in node.getparent() if isinstance(s.tag, str) and s.get("id") == element_id]
            if siblings[0] is not node:
                raise source.fail(_("duplicate id {element_id!r} in one form (also on line {sourceline})").format(
                                      element_id=element_id, sourceline=siblings[0].sourceline),
                                  element_id, node)
            source.extension_ids.setdefault(element_id, node)  # unique within their form or field only
            continue
        if element_id in source.ids:
            first = source.ids[element_id].sourceline
            raise source.fail(_("duplicate id {element_id!r} (also on line {first}); ids must be unique in the "
                                "file").format(element_id=element_id, first=first),
                              element_id, node)
        source.ids[element_id] = node
    for element_id, node in source.extension_ids.items():
        if element_id in source.ids:
            raise source.fail(_("id {element_id!r} is also the id of a BPMN element (line {sourceline}); give "
                                "the form field or value another id").format(
                                  element_id=element_id, sourceline=source.ids[element_id].sourceline),
                              element_id, node)
    if not root.findall(f"{{{BPMN_NS}}}process"):
        raise InvalidProcess(_("the file defines no process"), file=display)
    return source


def _check_process(source: SourceFile, process, topics: set[str], checks: set[str]) -> None:
    """Every deploy-time rule for one <process> element; raises the first problem."""
    problem = next(process_problems(source, process, topics, checks), None)
    if problem is not None:
        raise problem


def process_problems(source: SourceFile, process, topics: set[str], checks: set[str]) -> Iterator[InvalidProcess]:
    """Every deploy-time rule for one <process> element, each problem as it is found, in document order: so a
    process owner sees all of them at once (the first is the one deploy refuses with). A refused element's
    contents are not looked into (they are refused with it)."""
    has_lanes = bool(process.findall(f"{{{BPMN_NS}}}laneSet/{{{BPMN_NS}}}lane"))
    roles = _lane_roles(process) if has_lanes else None  # once: per user task it made the rules quadratic
    pending = [process]
    while pending:  # process.iter()'s order, but able to leave a subtree out
        node = pending.pop()
        found = list(_node_problems(source, process, node, roles, topics, checks))
        yield from found
        if found and _refused(node):
            continue
        pending.extend(reversed([child for child in node if isinstance(child.tag, str)]))
    if process.get("id") is None:
        yield source.fail(_("the process has no id"), node=process)


def _refused(node) -> bool:
    """An element opsqa does not run at all."""
    ns, tag = _ns(node), _local(node)
    if ns == BPMN_NS:
        return tag in REFUSED or tag not in SUPPORTED
    return ns == CAMUNDA_NS and tag in REFUSED_CAMUNDA


def _node_problems(source: SourceFile, process, node, roles: dict[str, str] | None, topics: set[str],
                   checks: set[str]) -> Iterator[InvalidProcess]:
    """The rules for one element of a process (`roles`: its lanes', None when it has none), each problem as it
    is found; an element opsqa refuses outright is one problem (what is inside it is refused with it), and a
    rule that needs what an earlier one refused is not asked (a form's fields when the form does not parse)."""
    ns, tag = _ns(node), _local(node)
    element_id = node.get("id") or _nearest_id(node)
    if ns == BPMN_NS:
        if tag in REFUSED:
            yield source.fail(REFUSED[tag], element_id, node)
            return
        if tag not in SUPPORTED:
            yield source.fail(_("unsupported BPMN element <{tag}>").format(tag=tag), element_id, node)
            return
    elif ns == CAMUNDA_NS and tag in REFUSED_CAMUNDA:
        yield source.fail(REFUSED_CAMUNDA[tag], element_id, node)
        return
    for attribute in REFUSED_CAMUNDA_ATTRIBUTES:
        if node.get(f"{{{CAMUNDA_NS}}}{attribute}") is not None:
            yield source.fail(_("camunda:{attribute} is not supported (it runs code); use camunda:topic").format(
                                  attribute=attribute),
                              element_id, node)
    for attribute in ("name", "label"):
        text = node.get(attribute)
        if text is not None and _CONTROL.search(text):
            yield source.fail(_("the {attribute} {text!r} contains a control character (a line break, a tab, "
                                "...); write it on one line").format(attribute=attribute, text=text[:80]),
                              element_id, node)
    if ns != BPMN_NS:
        return
    if tag == "serviceTask":
        topic = node.get(f"{{{CAMUNDA_NS}}}topic")
        if node.get(f"{{{CAMUNDA_NS}}}type") != "external" or not topic:
            yield source.fail(_("a service task needs camunda:type=\"external\" and a camunda:topic"),
                              element_id, node)
        elif topic not in topics:
            yield source.fail(_("unknown handler topic {topic!r}{suggestion}").format(
                                  topic=topic, suggestion=_suggest(topic, topics)), element_id, node)
    elif tag == "userTask":
        yield from _user_task_problems(source, process, node, element_id, roles, checks)
    elif tag == "conditionExpression":
        language = node.get("language")
        if language and language.lower() not in ("juel", "python", "feel"):
            yield source.fail(_("condition language {language!r} is not supported").format(
                                  language=language), element_id, node)
        else:
            yield from _caught(_check_expression, source, node.text or "", element_id, node, "condition")
    elif tag in ("timeDate", "timeDuration", "timeCycle"):
        yield from _caught(_check_timer, source, process, node, tag, element_id)
    elif tag == "multiInstanceLoopCharacteristics":
        collection = node.get(f"{{{CAMUNDA_NS}}}collection")
        if collection:
            yield from _caught(_check_expression, source, collection, element_id, node, "camunda:collection")
    elif tag == "loopCardinality":
        yield from _caught(_check_cardinality, source, node.text or "", element_id, node)
    elif tag == "completionCondition":
        yield from _caught(_check_expression, source, node.text or "", element_id, node, "completionCondition")
    elif tag == "callActivity" and not node.get("calledElement"):
        yield source.fail(_("the call activity names no process (calledElement)"), element_id, node)


def _user_task_problems(source: SourceFile, process, node, element_id, roles: dict[str, str] | None,
                        checks: set[str]) -> Iterator[InvalidProcess]:
    """A user task's rules: its form, the expressions of its fields, assignee and due date, its role."""
    try:
        fields = forms.parse_form(node)
    except forms.FormError as exc:
        yield source.fail(str(exc), exc.field or element_id)
        fields = []
    for each in fields:
        if "required_if" in each:
            yield from _caught(_check_expression, source, each["required_if"], each["id"], node, "requiredIf")
    assignee = node.get(f"{{{CAMUNDA_NS}}}assignee")
    if assignee:
        yield from _caught(_check_expression, source, assignee, element_id, node, "assignee")
    due_date = node.get(f"{{{CAMUNDA_NS}}}dueDate")
    if due_date:
        wrong = list(_caught(_check_expression, source, due_date, element_id, node, "dueDate"))
        yield from wrong
        if not wrong and expressions.is_iso_timer(due_date) and timers.parse_when(expressions.unwrap(due_date)) is None:
            yield source.fail(_("camunda:dueDate {value!r} is a duration or a cycle, not a moment: give a date and "
                                "time with its offset (2027-06-30T18:00:00+08:00) or an expression (${{due_at}}); "
                                "for a deadline counted from when the task appears, use a boundary timer").format(
                                  value=due_date), element_id, node)
    groups = node.get(f"{{{CAMUNDA_NS}}}candidateGroups")
    if groups is not None and not re.fullmatch(r"[\w.@-]+", groups):
        yield source.fail(_("camunda:candidateGroups {groups!r}: name one role (its code, e.g. qmd)").format(
                              groups=groups),
                          element_id, node)
    check = _property(node, "check")
    if check is not None and check not in checks:
        yield source.fail(_("unknown completion check {check!r}{suggestion}").format(
                              check=check, suggestion=_suggest(check, checks)), element_id, node)
    if roles is not None and _role_of(process, node, roles) is None and not assignee and not groups:
        yield source.fail(_("the user task is in no lane, so no role may complete it"), element_id, node)


def _caught(check: Callable[..., None], *args) -> Iterator[InvalidProcess]:
    """A rule that raises its problem (`_check_expression`, `_check_timer`, ...), as a problem given."""
    try:
        check(*args)
    except InvalidProcess as problem:
        yield problem


def _suggest(name: str, known: set[str]) -> str:
    close = difflib.get_close_matches(name, sorted(known), n=3, cutoff=0.6)
    if close:
        return f"; did you mean {' or '.join(close)}?"
    return f" ({len(known)} are registered; see handlers/)" if known else " (none are registered)"


def _nearest_id(node) -> str | None:
    while node is not None:
        if node.get("id"):
            return node.get("id")
        node = node.getparent()
    return None


def _start_timer_event(process, timer_value_node):
    """The start event a timer value belongs to, when it is the process's own start event."""
    event = timer_value_node.getparent().getparent()
    if _local(event) == "startEvent" and event.getparent() is process:
        return event
    return None


def _check_timer(source: SourceFile, process, node, tag: str, element_id) -> None:
    text = (node.text or "").strip()
    start = _start_timer_event(process, node)
    wrapped = text.startswith(("${", "#{"))
    if not wrapped or expressions.is_iso_timer(text):  # a literal, as modellers write them: P14D, R3/P7D, ...
        try:
            timers.check_literal(tag, expressions.unwrap(text), start_event=start is not None)
        except ValueError as exc:
            literal = wrapped or expressions.is_iso_timer(text)
            hint = "" if literal else " (an expression over variables is written ${...})"
            raise source.fail(_("timer: {exc}{hint}").format(exc=exc, hint=hint), element_id, node) from None
        return
    if start is not None:
        raise source.fail(_("timer: a start event's {tag} must be a literal ISO 8601 value (it becomes a "
                            "schedule), not {text!r}").format(tag=tag, text=text), element_id, node)
    _check_expression(source, text, element_id, node, "timer")


MAX_CARDINALITY = 1000  # instances of one multi-instance activity


def _check_cardinality(source: SourceFile, text: str, element_id, node) -> None:
    body = expressions.unwrap(text)
    if re.fullmatch(r"[+-]?\d+", body):
        if not 0 <= int(body) <= MAX_CARDINALITY:
            raise source.fail(_("loopCardinality {body}: a multi-instance activity runs at most {max} "
                                "instances").format(body=body, max=MAX_CARDINALITY), element_id, node)
        return
    _check_expression(source, text, element_id, node, "loopCardinality")


def _check_expression(source: SourceFile, text: str, element_id, node, what: str) -> None:
    try:
        expressions.check(text)
    except InvalidExpression as exc:
        raise source.fail(f"{what}: {exc}", element_id, node) from None


def _lane_roles(process) -> dict[str, str]:
    """flow node id -> lane id (the role code)."""
    roles = {}
    for lane in process.iter(f"{{{BPMN_NS}}}lane"):
        for ref in lane.findall(f"{{{BPMN_NS}}}flowNodeRef"):
            roles[(ref.text or "").strip()] = lane.get("id")
    return roles


def _role_of(process, node, roles: dict[str, str] | None = None) -> str | None:
    """The lane of a flow node; nodes inside an embedded subprocess take the subprocess's lane.
    `roles`: the process's `_lane_roles`, when the caller has them."""
    roles = _lane_roles(process) if roles is None else roles
    while node is not None and node is not process:
        if node.get("id") in roles:
            return roles[node.get("id")]
        node = node.getparent()
    return None


def _scope(node) -> str:
    """The name SpiffWorkflow gives the (sub)process a task runs in."""
    parent = node.getparent()
    while _local(parent) not in ("process", "subProcess"):
        parent = parent.getparent()
    return parent.get("id")


def _model(process) -> dict[str, Any]:
    """What opsqa keeps about one process besides SpiffWorkflow's spec."""
    roles = _lane_roles(process)
    user_tasks, service_tasks, nodes = {}, {}, {}
    for node in process.iter(*(f"{{{BPMN_NS}}}{tag}" for tag in FLOW_NODES)):
        element_id = node.get("id")
        role = _role_of(process, node, roles) if roles else None
        nodes[element_id] = {"name": node.get("name") or element_id, "type": _local(node), "role": role}
        key = f"{_scope(node)}:{element_id}"
        if _local(node) == "userTask":
            user_tasks[key] = {
                "bpmn_id": element_id,
                "process": process.get("id"),  # the process it belongs to, also inside an embedded subprocess
                "name": node.get("name") or element_id,
                "role": node.get(f"{{{CAMUNDA_NS}}}candidateGroups") or role,
                "check": _property(node, "check"),
                "prefill": _property(node, "prefill") == "true",  # the form starts from the task's variables
                "assignee": node.get(f"{{{CAMUNDA_NS}}}assignee"),
                "due_date": node.get(f"{{{CAMUNDA_NS}}}dueDate"),
                "form": forms.parse_form(node),
            }
        elif _local(node) == "serviceTask":
            service_tasks[key] = node.get(f"{{{CAMUNDA_NS}}}topic")
    return {"user_tasks": user_tasks, "service_tasks": service_tasks, "nodes": nodes,
            "start_timer": _start_timer(process)}


def _property(node, name: str) -> str | None:
    """A task's own camunda:property (not those of its form fields)."""
    for prop in node.iterfind(f"{{{BPMN_NS}}}extensionElements/{{{CAMUNDA_NS}}}properties/{{{CAMUNDA_NS}}}property"):
        if prop.get("name") == name:
            return prop.get("value")
    return None


def _start_timer(process) -> dict[str, str] | None:
    for event in process.findall(f"{{{BPMN_NS}}}startEvent"):
        for value in event.iterfind(f"{{{BPMN_NS}}}timerEventDefinition/*"):
            return {"kind": _local(value), "expression": expressions.unwrap(value.text or ""), "event": event.get("id")}
    return None


def check_files(sources: Iterable[SourceFile], topics: set[str],
                checks: set[str] = frozenset()) -> dict[str, tuple[SourceFile, Any]]:
    """All rules over a set of files; returns process id -> (file, <process> element). Raises the first problem."""
    processes: dict[str, tuple[SourceFile, Any]] = {}
    problem = next(_file_problems(sources, topics, checks, processes), None)
    if problem is not None:
        raise problem
    return processes


def _file_problems(sources: Iterable[SourceFile], topics: set[str], checks: set[str],
                   processes: dict[str, tuple[SourceFile, Any]]) -> Iterator[InvalidProcess]:
    """All rules over a set of files, each problem as it is found; fills `processes` as it goes (process id ->
    (file, <process> element), the first file defining an id kept, so calls to it resolve and are not reported)."""
    for source in sources:
        for process in source.root.findall(f"{{{BPMN_NS}}}process"):
            yield from process_problems(source, process, topics, checks)
            process_id = process.get("id")
            if process_id is None:
                continue  # reported above
            if process_id in processes:
                other = processes[process_id][0].path
                yield source.fail(_("process {process_id!r} is also defined in {other}").format(
                                      process_id=process_id, other=other), process_id, process)
                continue
            processes[process_id] = (source, process)
    for source, process in processes.values():
        for call in process.iter(f"{{{BPMN_NS}}}callActivity"):
            callee = call.get("calledElement")
            if callee and callee not in processes:  # one naming no process is reported above
                yield source.fail(_("the call activity calls process {value!r}, which is not deployed or given").format(
                                      value=callee), call.get("id"), call)
    yield from _call_cycles(processes)


def _call_cycles(processes: dict[str, tuple[SourceFile, Any]]) -> Iterator[InvalidProcess]:
    """A process that can call itself, directly or through the processes it calls: refused, on the call that
    starts the cycle (once per call)."""
    calls = {pid: [(c.get("calledElement"), c) for c in process.iter(f"{{{BPMN_NS}}}callActivity")
                   if c.get("calledElement") in processes]  # calls to unknown processes are reported already
             for pid, (_source, process) in processes.items()}
    done: set[str] = set()
    reported: set[Any] = set()

    def visit(pid: str, path: list[tuple[str, Any]]) -> Iterator[InvalidProcess]:  # path: (process, its call)
        for callee, call in calls[pid]:
            trail = [*path, (pid, call)]
            ids = [p for p, _call in trail]
            if callee in ids:
                cycle = trail[ids.index(callee):]
                first, first_call = cycle[0]
                if first_call not in reported:
                    reported.add(first_call)
                    names = " -> ".join([*(p for p, _call in cycle), callee])
                    yield processes[first][0].fail(_("the call activity makes process {process!r} call itself "
                                                     "({cycle})").format(process=first, cycle=names),
                                                   first_call.get("id"), first_call)
                continue
            if callee not in done:
                yield from visit(callee, trail)
        done.add(pid)

    for pid in processes:
        if pid not in done:
            yield from visit(pid, [])


def problems(sources: list[SourceFile], topics: set[str], checks: set[str] = frozenset(), limit: int = 50, *,
             wanted: set[str] | None = None) -> list[InvalidProcess]:
    """Every problem of a set of files, for a process owner to mend at once; an empty list: they deploy.
    The rules' problems first, at most `limit` of them (a hostile file gives no endless list, and the checking
    stops there); SpiffWorkflow reads the files only when they pass, as at deploy, and its refusal is then the
    one problem. The first problem is the one deploy refuses with."""
    processes: dict[str, tuple[SourceFile, Any]] = {}
    found = list(itertools.islice(_file_problems(sources, topics, checks, processes), max(limit, 1)))
    if found:
        return found
    try:
        _built(sources, processes, wanted)
    except InvalidProcess as problem:
        return [problem]
    return []


def _unreadable(exc: Exception, source: SourceFile) -> InvalidProcess:
    first = (str(exc).strip().splitlines() or [""])[0][:200]
    return InvalidProcess(f"SpiffWorkflow cannot read the process ({type(exc).__name__}: {first})", file=source.path)


@contextmanager
def _library_quiet():
    """SpiffWorkflow's parser warns about lxml usage of its own (FutureWarning): not the modeller's concern."""
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", FutureWarning)
        yield


def build(sources: list[SourceFile], topics: set[str], wanted: set[str] | None = None,
          checks: set[str] = frozenset(), progress: Callable[[int, int], None] | None = None) -> list[ProcessBuild]:
    """Check and parse the files; return builds for the wanted processes (default: all).
    `progress(done, total)` after each file is parsed and each process is built."""
    return _built(sources, check_files(sources, topics, checks), wanted, progress)


def _built(sources: list[SourceFile], processes: dict[str, tuple[SourceFile, Any]], wanted: set[str] | None = None,
           progress: Callable[[int, int], None] | None = None) -> list[ProcessBuild]:
    """SpiffWorkflow's parse of files that passed every rule (`processes`, from check_files)."""
    parser = _parser()
    from SpiffWorkflow.bpmn.parser.ValidationException import ValidationException

    total, done = len(sources) + len(processes), 0
    for source in sources:
        if progress:
            done += 1
            progress(done, total)
        try:
            with _library_quiet():
                parser.add_bpmn_xml(etree.ElementTree(source.root), filename=source.path)
        except ValidationException as exc:
            raise _translate(exc, source) from None
        except Exception as exc:  # the library choked on something our checks let through: still a refusal
            raise _unreadable(exc, source) from None
    serializer = WorkflowSerializer()
    builds = []
    keys: dict[str, str] = {}
    for process_id, (source, process) in processes.items():
        if progress:
            done += 1
            progress(done, total)
        if wanted is not None and process_id not in wanted:
            continue
        if process.get("isExecutable") == "false":
            continue
        try:
            with _library_quiet():
                spec = parser.get_spec(process_id)
                subprocess_specs = parser.get_subprocess_specs(process_id)
        except ValidationException as exc:
            raise _translate(exc, source) from None
        except Exception as exc:
            raise _unreadable(exc, source) from None
        model = {
            "process_id": process_id,
            "name": process.get("name") or process_id,
            "user_tasks": {},
            "service_tasks": {},
            "nodes": {},
        }
        for name in [process_id, *subprocess_specs]:
            if name in processes:  # embedded subprocesses are part of their process's model
                part = _model(processes[name][1])
                model["user_tasks"].update(part["user_tasks"])
                model["service_tasks"].update(part["service_tasks"])
                model["nodes"][name] = part["nodes"]
                if name == process_id:
                    model["start_timer"] = part["start_timer"]
        # A timer start event becomes a schedule: each fire starts a new instance itself, so the
        # spec starts plainly (kept as a timer, the instance would wait on it, or loop inside one state).
        for each in [spec, *subprocess_specs.values()]:
            _plain_start(each)
        spec_json = serializer.dump_spec(spec, subprocess_specs)
        builds.append(
            ProcessBuild(
                process_id=process_id,
                name=model["name"],
                source_file=source.path,
                xml=source.content.decode("utf-8"),
                sha256=_version_key(process_id, processes, keys),
                spec_json=spec_json,
                model=model,
            )
        )
    return builds


def _version_key(process_id: str, processes, keys: dict[str, str], seen: frozenset = frozenset()) -> str:
    """A hash of the file and of every process it calls: a changed callee is a new version too."""
    if process_id in keys:
        return keys[process_id]
    source, process = processes[process_id]
    digest = hashlib.sha256(source.content)
    digest.update(process_id.encode())
    called = sorted({call.get("calledElement") for call in process.iter(f"{{{BPMN_NS}}}callActivity")})
    for callee in called:
        if callee not in seen and callee != process_id:
            digest.update(_version_key(callee, processes, keys, seen | {process_id}).encode())
    keys[process_id] = digest.hexdigest()
    return keys[process_id]


def _translate(exc, source: SourceFile) -> InvalidProcess:
    message = str(getattr(exc, "message", None) or exc).splitlines()[0]
    element_id = getattr(exc, "id", None)
    return InvalidProcess(message, file=getattr(exc, "file_name", None) or source.path,
                          element=element_id, line=source.line(element_id))


def _parser():
    from SpiffWorkflow.camunda.parser import CamundaParser

    return CamundaParser()


def _plain_start(spec) -> None:
    from SpiffWorkflow.bpmn.specs.event_definitions import NoneEventDefinition
    from SpiffWorkflow.bpmn.specs.event_definitions.timer import TimerEventDefinition
    from SpiffWorkflow.bpmn.specs.mixins.events.start_event import StartEvent

    for task_spec in spec.task_specs.values():
        if isinstance(task_spec, StartEvent) and isinstance(task_spec.event_definition, TimerEventDefinition):
            task_spec.event_definition = NoneEventDefinition()


def documentation(xml: str, element_id: str) -> str | None:
    """The `bpmn:documentation` of an element of a deployed definition: what its author wrote for the person
    who does the task. None when it has none."""
    parser = etree.XMLParser(resolve_entities=False, no_network=True, remove_comments=True, huge_tree=False)
    root = etree.fromstring(xml.encode("utf-8"), parser)
    for node in root.iter(f"{{{BPMN_NS}}}*"):
        if node.get("id") == element_id:
            texts = [(child.text or "").strip() for child in node if child.tag == f"{{{BPMN_NS}}}documentation"]
            return "\n\n".join(text for text in texts if text) or None
    return None
