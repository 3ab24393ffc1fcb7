"""The service quality inspection (6.2.2): which projects a random spot check visits.

The sample is drawn as `random.Random(seed).sample(sorted(active project codes), k)`; the seed
and k are recorded with the inspection, so anyone can draw the same sample again.
"""

from __future__ import annotations

import json
import random
from datetime import datetime
from typing import Any

from sqlalchemy import func, select
from sqlalchemy.orm import Session

from engine import Actor, HandlerContext, OpsqaError, policy, settings
from i18n import _
from store import Inspection, InspectionResult, Project, User, append_event

from . import handler, registry
from .checklist import INSPECTION_ITEMS
from .codes import next_code
from .findings import raise_finding
from .projects import get_project

TRIGGERS = {"oms": "random_oms", "qmd": "qmd_as_needed", "plan": "planned"}


def draw_sample(session: Session, *, seed: int, size: int = 1) -> list[str]:
    """The projects a random inspection visits: reproducible from (seed, size) and the register."""
    codes = sorted(session.scalars(select(Project.code).where(Project.status == "active")))
    if not codes:
        raise OpsqaError(_("there are no active projects to inspect; see `opsqa projects list`"))
    if not 1 <= size <= len(codes):
        raise OpsqaError(_("sample size {size} must be between 1 and the {codes} active projects").format(
                             size=size, codes=len(codes)))
    return random.Random(seed).sample(codes, size)


def start_inspection(session: Session, *, actor: Actor, now: datetime, start_instance, seed: int | None = None,
                     size: int = 1, projects: list[str] | None = None, planned: bool = False) -> Inspection:
    """Record an inspection and start its process. An O&M supervisor's is a random draw (seed recorded);
    the quality department may name the projects ("when necessary"). Who may: engine/policy.py,
    inspection.start, and inspection.name to name the projects."""
    # The trigger is whose inspection it is, as the record and its report name it; not a permission.
    if planned:
        trigger = "planned"
    elif actor.roles & {"qmd", "admin"}:
        trigger = "qmd_as_needed"
    else:
        trigger = "random_oms"
    if projects:
        for code in projects:
            get_project(session, code)
        chosen, seed, size = sorted(set(projects)), None, None
    else:
        if seed is None:
            seed = random.SystemRandom().randrange(1, 1_000_000)
        chosen = draw_sample(session, seed=seed, size=size)
    inspection = _record_inspection(session, trigger=trigger, seed=seed, size=size, projects=chosen,
                                    inspector=actor.name, now=now, by=actor.name, real=actor.real)
    inspection.instance_id = start_instance("service_inspection", inspection.code,
                                            {"inspection": inspection.code, "inspector": actor.name})
    return inspection


def _record_inspection(session: Session, *, trigger: str, seed: int | None, size: int | None, projects: list[str],
                       inspector: str, now: datetime, by: str, real: str | None) -> Inspection:
    year = now.astimezone(settings.zone(session)).year
    inspection = Inspection(code=next_code(session, Inspection.code, f"INS-{year}-", 2), trigger_type=trigger,
                            seed=seed, sample_size=size, projects=json.dumps(projects), inspector=inspector,
                            status="in_progress", started_at=now)
    session.add(inspection)
    session.flush()
    append_event(session, at=now, kind="inspection.started", actor=by, real_actor=real,
                 payload={"inspection": inspection.code, "trigger_type": trigger, "seed": seed, "size": size,
                          "projects": projects, "inspector": inspector})
    return inspection


def get_inspection(session: Session, code: str) -> Inspection:
    inspection = session.scalar(select(Inspection).where(Inspection.code == code.upper()))
    if inspection is None:
        raise OpsqaError(_("no inspection {code}").format(code=code))
    return inspection


def sampled_project(session: Session, code: str, project: str | None) -> str:
    """The project a record is for: as named, or the sample's only project."""
    projects = json.loads(get_inspection(session, code).projects)
    if project is None:
        if len(projects) != 1:
            raise OpsqaError(_("{code} samples {projects}; name the project").format(
                                 code=code.upper(), projects=', '.join(projects)))
        return projects[0]
    return project


def record_rest(session: Session, code: str, *, project: str, passed: bool, evidence: str | None, now: datetime,
                actor: Actor) -> list[str]:
    """Record every check point of a project not recorded yet with one outcome (typically: the rest pass)."""
    inspection = get_inspection(session, code)
    done = set(session.scalars(select(InspectionResult.item_code).where(
        InspectionResult.inspection_id == inspection.id, InspectionResult.project == project)))
    rest = [item.code for item in INSPECTION_ITEMS if item.code not in done]
    for item in rest:
        record_check(session, code, project=project, item=item, passed=passed, evidence=evidence, samples=None,
                     now=now, actor=actor)
    return rest


def record_check(session: Session, code: str, *, project: str, item: str, passed: bool, evidence: str | None,
                 samples: dict[str, Any] | None, now: datetime, actor: Actor) -> InspectionResult:
    inspection = get_inspection(session, code)
    if inspection.status != "in_progress":
        raise OpsqaError(_("{code} is {status}; its record is closed").format(
                             code=inspection.code, status=inspection.status))
    policy.require(actor, "inspection.record", inspector=inspection.inspector)
    if project not in json.loads(inspection.projects):
        raise OpsqaError(_("project {project!r} is not in the sample of {code}").format(
                             project=project, code=inspection.code))
    if item not in {i.code for i in INSPECTION_ITEMS}:
        raise OpsqaError(_("item {item!r} is not a check point (SVC-a..e)").format(item=item))
    if not passed and not (evidence or "").strip():
        raise OpsqaError(_("{item} at {project}: a failed check needs its evidence").format(item=item, project=project))
    row = session.scalar(select(InspectionResult).where(InspectionResult.inspection_id == inspection.id,
                                                        InspectionResult.project == project,
                                                        InspectionResult.item_code == item))
    if row is None:
        row = InspectionResult(inspection_id=inspection.id, project=project, item_code=item, passed=passed,
                               checked_at=now)
        session.add(row)
    row.passed, row.evidence, row.checked_at = passed, evidence, now
    row.samples = json.dumps(samples, ensure_ascii=False) if samples else None
    session.flush()
    append_event(session, at=now, kind="inspection.result_recorded", actor=actor.name, real_actor=actor.real,
                 payload={"inspection": inspection.code, "project": project, "item": item, "passed": passed,
                          "evidence": evidence, "samples": samples})
    return row


def missing_checks(session: Session, inspection: Inspection) -> list[str]:
    done = {(r.project, r.item_code) for r in session.scalars(
        select(InspectionResult).where(InspectionResult.inspection_id == inspection.id))}
    return [f"{item.code}@{project}" for project in json.loads(inspection.projects) for item in INSPECTION_ITEMS
            if (project, item.code) not in done]


def list_inspections(session: Session) -> list[dict[str, Any]]:
    return [{"code": i.code, "trigger_type": i.trigger_type, "seed": i.seed, "projects": json.loads(i.projects),
             "inspector": i.inspector, "status": i.status, "started_at": i.started_at, "reported_at": i.reported_at}
            for i in session.scalars(select(Inspection).order_by(Inspection.code))]


# -- the service_inspection process's steps -----------------------------------------------------


@handler("inspection.plan")
def plan_spot_check(context: HandlerContext) -> dict:
    """A spot check of the annual plan (6.1.2 f): a random draw of the plan's sample size, inspected by
    the O&M supervisor of the first project drawn. The seed is recorded like any other draw's."""
    session = context.session
    active = session.scalar(select(func.count()).select_from(Project).where(Project.status == "active"))
    size = min(int(context.variables.get("spot_check_sample") or 1), active or 1)
    seed = random.SystemRandom().randrange(1, 1_000_000)
    chosen = draw_sample(session, seed=seed, size=size)
    inspector = session.get(Project, chosen[0]).oms
    inspection = _record_inspection(session, trigger="planned", seed=seed, size=size, projects=chosen,
                                    inspector=inspector, now=context.now, by=context.actor, real=None)
    inspection.instance_id = context.instance_id
    return {"inspection": inspection.code, "inspector": inspector}


@registry.check("inspection.results_complete")
def results_complete(context: HandlerContext) -> None:
    inspection = get_inspection(context.session, context.variables["inspection"])
    missing = missing_checks(context.session, inspection)
    if missing:
        raise ValueError(_("{code} has {count} unchecked points: {missing}").format(
                             code=inspection.code, count=len(missing), missing=', '.join(missing)))


@handler("inspection.raise_rectifications")
def raise_rectifications(context: HandlerContext) -> dict:
    """Each failed check point becomes a rectification item owned by the project's manager (once, even on retry)."""
    inspection = get_inspection(context.session, context.variables["inspection"])
    texts = {item.code: item.text_zh for item in INSPECTION_ITEMS}
    failed = context.session.scalars(
        select(InspectionResult).where(InspectionResult.inspection_id == inspection.id,
                                       InspectionResult.passed.is_(False))
        .order_by(InspectionResult.project, InspectionResult.item_code)).all()
    for row in failed:
        if row.finding_id is None:
            pm = context.session.get(Project, row.project).pm
            if context.session.get(User, pm) is None:
                raise OpsqaError(_("project {project} has no manager to own its rectification").format(
                                     project=row.project))
            row.finding_id = raise_finding(
                context.session, source="inspection", source_ref=inspection.code, item_code=row.item_code,
                unit=row.project, owner=pm, description=f"{texts[row.item_code]} —— {row.evidence}",
                now=context.now, actor=context.actor, start_instance=context.start_instance).id
    return {"rectifications": len(failed)}


@handler("inspection.reported")
def reported(context: HandlerContext) -> dict:
    inspection = get_inspection(context.session, context.variables["inspection"])
    inspection.status, inspection.reported_at = "reported", context.now
    append_event(context.session, at=context.now, kind="inspection.reported", actor=context.actor,
                 instance_id=context.instance_id,
                 payload={"inspection": inspection.code, "notes": context.variables.get("inspection_notes")})
    return {"inspection_status": "reported"}
