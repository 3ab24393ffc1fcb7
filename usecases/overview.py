"""The year at a glance (年度总览): where the annual cycle stands, what is overdue and by whom, the next
30 days' deadlines, the indicators against their targets, the findings by status, and the year's documents.
Reading only: open to every opsqa user."""

from __future__ import annotations

from datetime import timedelta
from typing import Any

from engine import Engine, OpsqaError
from i18n import _

from . import audits, customers, plans, review
from .base import reading


def current_year(engine: Engine) -> int:
    """The year it is now, by the engine's clock (a simulated database's year) in the organisation's zone."""
    from engine.settings import zone as organisation_zone

    with reading(engine) as session:
        return engine.clock.now().astimezone(organisation_zone(session)).year


def year(engine: Engine, year: int) -> dict[str, Any]:
    """Everything the overview shows for `year`, as plain data."""
    from engine.settings import zone as organisation_zone

    if not 2000 <= year <= 2999:
        raise OpsqaError(_("{year} is not a year of the quality system").format(year=year))
    now = engine.clock.now()
    with reading(engine) as session:
        zone = organisation_zone(session)
    today = now.astimezone(zone).date()
    findings = audits.findings(engine, year=year)
    by_status: dict[str, int] = {}
    for finding in findings:
        by_status[finding["status"]] = by_status.get(finding["status"], 0) + 1
    return {
        "year": year,
        "today": today,
        "stages": _stages(engine, year),
        "overdue": engine.overdue_by_holder(),
        "overdue_findings": [f for f in findings if f.get("overdue")],
        "deadlines": engine.deadlines(now, now + timedelta(days=30)),
        "indicators": review.attainment(engine, year),
        "findings": {"total": len(findings), "by_status": sorted(by_status.items(), key=lambda kv: -kv[1]),
                     "closed_late": sum(1 for f in findings if f.get("closed_late"))},
    }


def _stages(engine: Engine, year: int) -> list[dict[str, Any]]:
    """The cycle's stages in order, each `done`, `active`, `pending` or `missing`, with one line of detail
    and where to look."""
    stages = []
    issued = [p for p in plans.plans(engine) if p["period"] == str(year) and not p.get("superseded_at")]
    cycle = next((i for i in engine.instances(process_id="annual_cycle") if i["business_key"] == str(year)), None)
    if issued:
        plan = issued[0]
        stages.append({"stage": "plan", "state": "done", "detail": {"edition": plan.get("edition", 1),
                                                                     "issued_at": plan["issued_at"]}})
    else:
        stages.append({"stage": "plan", "state": "active" if cycle and cycle["status"] == "running" else "pending",
                       "detail": {}})
    year_audits = audits.audits(engine, year)
    full = [a for a in year_audits if a["full"] and a["status"] != "cancelled"]
    if full:
        state = "done" if full[0]["status"] in ("reported", "closed") else "active"
        stages.append({"stage": "audit", "state": state, "detail": {"code": full[0]["code"],
                                                                    "status": full[0]["status"]}})
    else:
        stages.append({"stage": "audit", "state": "pending", "detail": {}})
    inspections = [i for i in audits.inspections(engine) if i["code"].startswith(f"INS-{year}-")]
    stages.append({"stage": "inspections", "state": "done" if inspections else "pending",
                   "detail": {"count": len(inspections),
                              "reported": sum(1 for i in inspections if i["status"] == "reported")}})
    survey = next((s for s in customers.surveys(engine) if s["year"] == year), None)
    stages.append({"stage": "survey", "state": _state(survey, ("reported", "closed_no_data")),
                   "detail": survey or {}})
    try:
        held = review.show(engine, year)
    except OpsqaError:
        held = None
    stages.append({"stage": "review", "state": _state(held, ("reported", "closed")), "detail": held and
                   {"status": held["status"], "review_date": held.get("review_date")} or {}})
    items = review.improvements(engine, year)
    stages.append({"stage": "improvement", "state": "done" if items and all(
        i["status"] not in ("proposed", "draft") for i in items) else "active" if items else "pending",
        "detail": {"count": len(items)}})
    return stages


def _state(record: dict | None, finished: tuple[str, ...]) -> str:
    if record is None:
        return "pending"
    return "done" if record.get("status") in finished else "active"


def documents(engine: Engine, year: int) -> list[dict[str, Any]]:
    """The year's documents as the overview lists them: kind, file name, title, number."""
    return [{"kind": kind, "name": d.name, "title": d.title, "doc_no": d.doc_no}
            for kind, d in _documents(engine, year)]


def document(engine: Engine, year: int, name: str) -> dict[str, Any]:
    """One of the year's documents as a draft: its title, number, controlled fields, blocks (headings,
    paragraphs, warnings, charts as SVG, tables) and sign-off, to be shown in a page, its Markdown and HTML,
    and the versions the register holds of it."""
    from .documents import register, shown

    for kind, d in _documents(engine, year):
        if d.name == name:
            return {**shown(d), "kind": kind, "markdown": d.markdown(), "html": d.html(),
                    "issued": [row for row in register(engine, year) if row["doc_no"] == d.doc_no]}
    raise OpsqaError(_("no document {name} for {year}").format(name=name, year=year))


def document_file(engine: Engine, year: int, name: str, fmt: str) -> tuple[str, bytes]:
    """One of the year's documents as a draft file of one format (html, docx, pdf, md): (file name, bytes)."""
    from handlers.render import files

    from .documents import parse_formats

    fmt = parse_formats(fmt)[0]
    for _kind, d in _documents(engine, year):
        if d.name == name:
            file_name, content = files(d, (fmt,))[0]
            return file_name, content.encode("utf-8") if isinstance(content, str) else content
    raise OpsqaError(_("no document {name} for {year}").format(name=name, year=year))


def _documents(engine: Engine, year: int) -> list[tuple[str, Any]]:
    from handlers.register import KINDS

    from .documents import build

    found = []
    with reading(engine) as session:
        for kind in KINDS:
            try:
                found += [(kind, d) for d in build(session, kind, year)]
            except OpsqaError:  # not there yet this year (no survey, no review): nothing to list
                continue
    return found
