"""Planning (6.1): the issued quality plans and their drafts, the register of O&M projects and their
quality control for a year with the reports it owes, the annual cycle started by hand."""

from __future__ import annotations

from collections.abc import Callable
from datetime import date
from typing import Any

from engine import Engine, OpsqaError, settings
from engine.errors import DuplicateBusinessKey
from i18n import _

from .base import Caller, acting, authorized, guarded, reading

Progress = Callable[[int, int], None] | None


# -- the quality plan


def plans(engine: Engine) -> list[dict[str, Any]]:
    """The issued organisational quality plans, every edition (status current or superseded), newest last."""
    from handlers.plan import list_plans

    with reading(engine) as session:
        return list_plans(session)


def plan(engine: Engine, year: int) -> dict[str, Any]:
    """A year's plan, edition by edition: every drafted version and every approval decision, and which
    version was issued."""
    from handlers.plan import plan_history

    with reading(engine) as session:
        return plan_history(session, year)


def revise(engine: Engine, caller: Caller, year: int, *, reason: str | None) -> dict[str, Any]:
    """Start a revision of the year's issued plan (qmd, admin; with a reason): a new edition of the same plan,
    drafted by qmd from the edition in force and approved again by the general manager; its issue supersedes
    that edition. Returns year, plan (the edition revised), edition, instance_id and business_key."""
    from handlers.plan import start_revision

    with acting(engine, caller, "plan.revise", reason=reason) as act:
        return start_revision(act.session, year, reason=reason.strip(), now=act.now, actor=act.actor,
                              start_instance=act.starter())


# -- the project register


def add_project(engine: Engine, caller: Caller, code: str, *, name: str, customer: str, pm: str, oms: str,
                kind: str = "other", members: list[str] | None = None, contract_ref: str | None = None,
                om_start: date | None = None, om_end: date | None = None) -> None:
    """Add a project to the register (ops, qmd); refused when its code is already there."""
    from handlers.projects import ProjectInput, save_project

    project = ProjectInput(code=code, name=name, customer=customer, pm=pm, oms=oms, kind=kind,
                           members=list(members or []), contract_ref=contract_ref, om_start=om_start, om_end=om_end)
    with acting(engine, caller, "project.edit") as act:
        save_project(act.session, project, now=act.now, actor=act.actor, create_only=True)


def projects(engine: Engine, *, all_projects: bool = False) -> list[dict[str, Any]]:
    """The projects of the register: the active ones, or all of them."""
    from handlers.projects import list_projects

    with reading(engine) as session:
        return list_projects(session, status=None if all_projects else "active")


def project(engine: Engine, code: str) -> dict[str, Any]:
    """A project of the register, with its team."""
    from handlers.projects import project_view

    with reading(engine) as session:
        return project_view(session, code)


def fix_project(engine: Engine, caller: Caller, code: str, *, reason: str | None, **changes: Any) -> dict[str, dict]:
    """Correct a project of the register (ops, qmd; with a reason): name, customer, pm, oms, kind, status,
    contract_ref, om_start, om_end as given (None: unchanged); {"old", "new"} of what changed."""
    from handlers.projects import fix_project as fix

    with acting(engine, caller, "project.fix", reason=reason) as act:
        return fix(act.session, code, changes, reason=reason.strip(), now=act.now, actor=act.actor)


def import_projects(engine: Engine, caller: Caller, path: str, *, progress: Progress = None) -> dict[str, int]:
    """Add or update projects from a .csv or .xlsx file (ops, qmd): all rows or none; counts added, updated
    and unchanged."""
    from handlers.projects import import_projects as save_all
    from handlers.projects import parse_projects
    from handlers.tabular import read_table

    rows = parse_projects(read_table(path))  # before the transaction: reading a large workbook holds no lock
    with acting(engine, caller, "project.edit") as act:
        return save_all(act.session, rows, now=act.now, actor=act.actor, progress=progress)


def plan_project(engine: Engine, caller: Caller, code: str, *, year: int | None = None) -> dict[str, Any]:
    """Start a project's quality control for a year (ops; default: this year in the organisation's zone)."""
    from handlers.project_qa import start_project_qa

    with acting(engine, caller, "project.plan") as act:
        year = year or act.now.astimezone(settings.zone(act.session)).year
        instance_id = start_project_qa(act.session, code, year=year, start_instance=act.starter())
        return {"project": code, "year": year, "instance_id": instance_id}


def reports(engine: Engine, *, project: str | None = None, year: int | None = None) -> list[dict[str, Any]]:
    """The O&M reports projects owe: due, submitted, on time or late (overdue as of the engine's clock)."""
    from handlers.project_qa import list_reports

    now = engine.clock.now()
    with reading(engine) as session:
        return list_reports(session, project=project, year=year, now=now)


# -- the annual cycle


def start_cycle(engine: Engine, caller: Caller, year: int) -> int:
    """Start a year's annual cycle by hand (qmd, admin); refused when the year has one already. Returns the
    instance's id."""
    with guarded(engine, caller, "cycle.start"):
        actor = authorized(engine, caller, "cycle.start")
        try:
            return engine.start("annual_cycle", actor=actor, business_key=str(year),
                                variables={"year": year, "period": str(year)})
        except DuplicateBusinessKey:
            found = [i for i in engine.instances(process_id="annual_cycle") if i["business_key"] == str(year)]
            if not found:
                raise  # the year's plan was made without a cycle: its line says where
            raise OpsqaError(_("the {year} annual cycle already exists (instance {id}, {status})").format(
                                 year=year, id=found[0]["id"], status=found[0]["status"])) from None


# -- the web's pages of projects


def project_page(engine: Engine, caller: Caller, code: str) -> dict[str, Any]:
    """A project of the register as its page shows it: `project`, its quality control year by year (the
    instance and its status, every version of the plan's items a)-f) and its arrangement), the O&M reports it
    owes (due, submitted, on time or late, overdue as of the engine's clock), and whether the caller may correct
    it (project.fix) and start its quality control for a year (project.plan)."""
    from sqlalchemy import select

    from handlers.project_qa import PLAN_ITEMS, list_reports
    from handlers.projects import project_view
    from store import Instance, ProjectQaPlan

    from .base import may

    now = engine.clock.now()
    with reading(engine) as session:
        view = project_view(session, code)
        code = view["code"]
        controls: dict[int, dict[str, Any]] = {}
        for instance in session.scalars(select(Instance).where(
                Instance.process_id == "project_qa", Instance.business_key.like(f"{code}/%")).order_by(Instance.id)):
            year = instance.business_key.rpartition("/")[2]
            if year.isdigit() and instance.business_key == f"{code}/{year}":
                controls[int(year)] = {"year": int(year), "instance": instance.id, "status": instance.status,
                                       "plans": []}
        for plan in session.scalars(select(ProjectQaPlan).where(ProjectQaPlan.project == code)
                                    .order_by(ProjectQaPlan.year, ProjectQaPlan.version)):
            entry = controls.setdefault(plan.year, {"year": plan.year, "instance": plan.instance_id, "status": None,
                                                    "plans": []})
            entry["plans"].append({
                "version": plan.version, "status": plan.status, "report_frequency": plan.report_frequency,
                "report_due_days": plan.report_due_days, "defined_by": plan.defined_by, "defined_at": plan.defined_at,
                "arranged_by": plan.arranged_by, "arranged_at": plan.arranged_at, "arrangement": plan.arrangement,
                "items": {name: getattr(plan, name) for name in PLAN_ITEMS}})
        reports = list_reports(session, project=code, now=now)
        year = now.astimezone(settings.zone(session)).year
    view["quality_control"] = [controls[y] for y in sorted(controls, reverse=True)]
    view["reports"] = reports
    view["this_year"] = year
    view["may"] = {"fix": may(engine, caller, "project.fix"), "plan": may(engine, caller, "project.plan")}
    return view
