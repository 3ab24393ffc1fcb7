"""Drafts: a process edited in the browser by its owner (`po`, admins). A draft is opened from a deployed
version, saved (stored and listed, never run), checked with the deploy checks (each problem with the element
it is on), compared with the deployed version (the words of `processes diff`, and the elements to colour),
tried (usecases/trials.py) and deployed with a reason as the process's next version, or discarded. Every
step is in the history: draft.saved, draft.checked, draft.tried, draft.deployed, draft.discarded."""

from __future__ import annotations

import hashlib
import json
from typing import Any

from engine import Engine, OpsqaError
from i18n import N_, _

from .base import acting, authorized, guarded, reading
from .caller import Caller
from .processes import file_name

DRAFT_LIMIT = 5 * 1024 * 1024  # bytes of one draft, as of one uploaded diagram
OPEN_DRAFTS = 50  # open drafts of one process at a time
STATUS = {"open": N_("being edited"), "deployed": N_("deployed"), "discarded": N_("discarded")}


class DraftNotFound(OpsqaError):
    """No such draft."""


def open_version(engine: Engine, caller: Caller, process_id: str, version: int | None = None) -> dict[str, Any]:
    """What the modeler opens to start a draft: a deployed version's BPMN (the latest unless one is named), for
    those who may edit drafts."""
    authorized(engine, caller, "drafts")
    versions = engine.versions(process_id)
    chosen = version or versions[-1]["version"]
    xml = engine.definition_xml(process_id, chosen).decode("utf-8")
    return {"process": process_id, "name": versions[-1]["name"], "version": chosen, "xml": xml,
            "latest": versions[-1]["version"], "versions": [v["version"] for v in versions]}


def save(engine: Engine, caller: Caller, process_id: str, xml: str, *, draft_id: int | None = None,
         based_on: int | None = None) -> dict[str, Any]:
    """Store a draft of a deployed process (new, or `draft_id` saved again), checked as it is saved: its problems
    are kept with it, each on its element. Refused in one line, nothing stored, when it is not a BPMN diagram
    at all (not XML, too large) or the draft is not open; a diagram with problems is stored, to be corrected."""
    from store import ProcessDraft, append_event

    content = _bounded(xml)
    authorized(engine, caller, "drafts")
    deployed = engine.versions(process_id)
    versions = [v["version"] for v in deployed]
    if based_on is not None and based_on not in versions:
        raise OpsqaError(_("process {process_id} has no version {version}; see `opsqa processes show "
                           "{process_id}`").format(process_id=process_id, version=based_on))
    file = file_name(process_id, deployed[-1]["source_file"])
    problems = _problems(engine, process_id, file, content)
    if problems and problems[0].get("fatal"):
        raise OpsqaError(problems[0]["line"])
    digest = hashlib.sha256(content).hexdigest()
    with acting(engine, caller, "drafts") as act:
        if draft_id is None:
            open_count = act.session.query(ProcessDraft).filter_by(process_id=process_id, status="open").count()
            if open_count >= OPEN_DRAFTS:
                raise OpsqaError(_("{process} has {count} open drafts; deploy or discard some first").format(
                                     process=process_id, count=open_count))
            draft = ProcessDraft(process_id=process_id, based_on=based_on or versions[-1], file=file,
                                 status="open", created_at=act.now, created_by=act.actor.name)
            act.session.add(draft)
        else:
            draft = _open_draft(act.session, draft_id, process_id)
        draft.xml, draft.sha256 = content.decode("utf-8"), digest
        draft.problems_json = json.dumps(problems, ensure_ascii=False)
        draft.saved_at, draft.saved_by = act.now, act.actor.name
        act.session.flush()
        append_event(act.session, at=act.now, kind="draft.saved", actor=act.actor.name, real_actor=act.actor.real,
                     payload={"process": process_id, "draft": draft.id, "based_on": draft.based_on, "sha256": digest,
                              "problems": len(problems)})
        return _view(draft)


def check(engine: Engine, caller: Caller, draft_id: int) -> dict[str, Any]:
    """Check a draft again with the deploy checks (what it calls may have changed since it was saved)."""
    from store import append_event

    authorized(engine, caller, "drafts")
    found = draft(engine, draft_id)
    problems = _problems(engine, found["process"], found["file"], found["xml"].encode("utf-8"))
    with acting(engine, caller, "drafts") as act:
        row = _open_draft(act.session, draft_id, found["process"])
        if row.sha256 != found["sha256"]:
            raise OpsqaError(_("draft {draft} was saved again meanwhile; check it again").format(draft=draft_id))
        row.problems_json = json.dumps(problems, ensure_ascii=False)
        append_event(act.session, at=act.now, kind="draft.checked", actor=act.actor.name, real_actor=act.actor.real,
                     payload={"process": row.process_id, "draft": row.id, "sha256": row.sha256,
                              "problems": len(problems)})
        return _view(row)


def drafts(engine: Engine, process_id: str | None = None, *, status: str | None = "open") -> list[dict[str, Any]]:
    """The drafts (open ones unless `status` says otherwise; all with None), newest first, without their BPMN."""
    from sqlalchemy import select

    from store import ProcessDraft

    query = select(ProcessDraft).order_by(ProcessDraft.id.desc())
    if process_id is not None:
        query = query.where(ProcessDraft.process_id == process_id)
    if status is not None:
        query = query.where(ProcessDraft.status == status)
    with reading(engine) as session:
        return [{k: v for k, v in _view(row).items() if k != "xml"} for row in session.scalars(query)]


def draft(engine: Engine, draft_id: int) -> dict[str, Any]:
    """One draft with its BPMN and its problems."""
    from store import ProcessDraft

    with reading(engine) as session:
        row = session.get(ProcessDraft, draft_id)
        if row is None:
            raise DraftNotFound(_("no draft {draft}; see the process's drafts").format(draft=draft_id))
        return _view(row)


def compare(engine: Engine, draft_id: int) -> dict[str, Any]:
    """A draft against the latest deployed version: the changes in the words of `processes diff` (engine/diff.py
    `Change`s), the elements to colour on each diagram, and the deployed BPMN to draw them on. Refused in one
    line while the draft has problems (what it would run is not known until they are corrected)."""
    from engine.diff import describe
    from engine.drafts import element_marks

    found = draft(engine, draft_id)
    if found["problems"]:
        raise OpsqaError(_("draft {draft} has {count} problem(s); correct them before comparing it").format(
                             draft=draft_id, count=len(found["problems"])))
    latest = engine.versions(found["process"])[-1]["version"]
    deployed_xml = engine.definition_xml(found["process"], latest)
    [build] = [b for b in engine.validate_texts([(found["file"], found["xml"].encode("utf-8"))])
               if b.process_id == found["process"]]
    changes = describe(engine.model_of(found["process"]), deployed_xml, build.model, build.xml.encode("utf-8"))
    marks = element_marks(deployed_xml, found["xml"].encode("utf-8"))
    return {"draft": found, "version": latest, "deployed_xml": deployed_xml.decode("utf-8"), "changes": changes,
            "marks": marks, "same": build.sha256 == _latest_sha(engine, found["process"])}


def deploy(engine: Engine, caller: Caller, draft_id: int, *, reason: str | None) -> dict[str, Any]:
    """Deploy a draft without problems as its process's next version (`po`, admins; with a reason), as `opsqa
    deploy` does (the processes that call it get new versions too); the draft is then closed, naming the version
    it became. Returns the deploy's result for the process, with the running instances left on older versions
    (`older_running`), and the callers' results (`also`)."""
    from store import ProcessDraft, append_event

    found = draft(engine, draft_id)
    with guarded(engine, caller, "deploy"):
        actor = authorized(engine, caller, "deploy", reason=reason)
        authorized(engine, caller, "drafts")
        if found["status"] != "open":
            raise OpsqaError(_("draft {draft} is {status}; open a new draft to deploy a change").format(
                                 draft=draft_id, status=_(STATUS[found["status"]])))
        if found["problems"]:
            raise OpsqaError(_("draft {draft} has {count} problem(s); correct them before deploying it").format(
                                 draft=draft_id, count=len(found["problems"])))

        def close(session, results) -> None:
            row = session.get(ProcessDraft, draft_id)
            if row is None or row.status != "open" or row.sha256 != found["sha256"]:
                raise OpsqaError(_("draft {draft} changed while it was being deployed; nothing was deployed").format(
                                     draft=draft_id))
            mine = next(r for r in results if r["process"] == row.process_id)
            row.status, row.deployed_version = "deployed", mine["version"]
            append_event(session, at=engine.clock.now(), kind="draft.deployed", actor=actor.name,
                         real_actor=actor.real, payload={"process": row.process_id, "draft": row.id,
                                                         "version": mine["version"], "changed": mine["changed"],
                                                         "reason": reason.strip()})

        results = engine.deploy_texts([(found["file"], found["xml"].encode("utf-8"))], actor=actor,
                                      reason=reason.strip(), also=close)
    for each in results:
        each["older_running"] = sum(v["running"] for v in engine.versions(each["process"])
                                    if v["version"] < each["version"]) if each["changed"] else 0
    result = next(r for r in results if r["process"] == found["process"])
    return {**result, "draft": draft_id, "also": [r for r in results if r is not result]}


def discard(engine: Engine, caller: Caller, draft_id: int) -> None:
    """Close an open draft without deploying it (kept, as everything is, for the history)."""
    from store import append_event

    found = draft(engine, draft_id)
    with acting(engine, caller, "drafts") as act:
        row = _open_draft(act.session, draft_id, found["process"])
        row.status = "discarded"
        append_event(act.session, at=act.now, kind="draft.discarded", actor=act.actor.name,
                     real_actor=act.actor.real, payload={"process": row.process_id, "draft": row.id})


# -- below the use cases


def _bounded(xml: str | bytes) -> bytes:
    content = xml.encode("utf-8") if isinstance(xml, str) else xml
    if not content.strip():
        raise OpsqaError(_("the draft is empty; draw the process or open a deployed version"))
    if len(content) > DRAFT_LIMIT:
        raise OpsqaError(_("the draft is larger than {limit} MB; a diagram is at most {limit} MB").format(
                             limit=DRAFT_LIMIT >> 20))
    return content


def _problems(engine: Engine, process_id: str, file: str, content: bytes) -> list[dict[str, Any]]:
    """The deploy checks' problems with a draft, each {element, name, message, line}: `fatal` when the file is
    not a BPMN diagram at all (nothing to store), and one when it does not define the process it is a draft of
    (a new id would be a new process)."""
    from engine.definitions import BPMN_NS, parse_source
    from engine.errors import InvalidProcess

    try:
        source = parse_source(file, content)
    except InvalidProcess as exc:
        if exc.element is None:
            return [{"element": None, "name": None, "message": exc.message, "line": str(exc), "fatal": True}]
        return [_problem(exc)]
    found = [p.get("id") for p in source.root.findall(f"{{{BPMN_NS}}}process")]
    if process_id not in found:
        element = found[0] if found else None
        message = _("the draft defines process {found}, not {process}: keep the process's id (another id would be "
                    "another process)").format(found=", ".join(str(f) for f in found), process=process_id)
        return [{"element": element, "name": None, "message": message, "line": f"{file} [{element}]: {message}"}]
    return [_problem(exc, source) for exc in engine.problems([(file, content)])]


def _problem(exc, source=None) -> dict[str, Any]:
    """A problem as the draft's page marks it: on the element of the diagram it is about (a form field's problem
    on its user task: a field has no shape of its own)."""
    element = exc.element
    if source is not None and element and element not in source.ids and element in source.extension_ids:
        node = source.extension_ids[element].getparent()
        while node is not None and not (node.get("id") in source.ids and source.ids[node.get("id")] is node):
            node = node.getparent()
        element = node.get("id") if node is not None else element
    node = source.ids.get(element) if source is not None and element else None
    return {"element": element, "name": node.get("name") if node is not None else None, "message": exc.message,
            "line": str(exc)}


def _open_draft(session, draft_id: int, process_id: str):
    from store import ProcessDraft

    row = session.get(ProcessDraft, draft_id, with_for_update=True)
    if row is None or row.process_id != process_id:
        raise DraftNotFound(_("no draft {draft} of {process}").format(draft=draft_id, process=process_id))
    if row.status != "open":
        raise OpsqaError(_("draft {draft} is {status}; open a new draft to change it").format(
                             draft=draft_id, status=_(STATUS[row.status])))
    return row


def _latest_sha(engine: Engine, process_id: str) -> str:
    from sqlalchemy import select

    from store import Definition

    with reading(engine) as session:
        return session.scalar(select(Definition.sha256).where(Definition.process_id == process_id)
                              .order_by(Definition.version.desc()).limit(1))


def _view(row) -> dict[str, Any]:
    return {"id": row.id, "process": row.process_id, "based_on": row.based_on, "file": row.file, "xml": row.xml,
            "sha256": row.sha256, "problems": json.loads(row.problems_json), "status": row.status,
            "deployed_version": row.deployed_version, "created_at": row.created_at, "created_by": row.created_by,
            "saved_at": row.saved_at, "saved_by": row.saved_by}
