"""The project register (6.1.3): the O&M projects, their manager, supervisor and team.

Projects are records, entered with `opsqa projects add` or imported from CSV or .xlsx; the audit's
independence rule and the inspection's random sample read them.
"""

from __future__ import annotations

import re
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import date, datetime
from typing import Any

from sqlalchemy import select
from sqlalchemy.orm import Session

from engine import Actor, OpsqaError
from i18n import _
from store import Project, ProjectMember, User, append_event

from .tabular import Table

KINDS = ("safe_city", "smart_city", "other")
STATUSES = ("active", "closed")
_CODE = re.compile(r"^[A-Za-z0-9][A-Za-z0-9._-]{0,49}$")
COLUMNS = ("code", "name", "customer", "pm", "oms", "kind", "status", "members", "contract_ref", "om_start", "om_end")
REQUIRED = ("code", "name", "customer", "pm", "oms")


class UnknownProject(OpsqaError):
    """No such project in the register."""


@dataclass
class ProjectInput:
    code: str
    name: str
    customer: str
    pm: str
    oms: str
    kind: str = "other"
    status: str = "active"
    members: list[str] = field(default_factory=list)
    contract_ref: str | None = None
    om_start: date | None = None
    om_end: date | None = None


def _check(session: Session, project: ProjectInput, where: str) -> None:
    if not _CODE.match(project.code):
        raise OpsqaError(_("{where}code {code!r}: letters, digits and . _ - only, at most 50").format(
                             where=where, code=project.code))
    for name in ("name", "customer"):
        if not getattr(project, name).strip():
            raise OpsqaError(_("{where}{name}: a value is required").format(where=where, name=name))
    if project.kind not in KINDS:
        raise OpsqaError(_("{where}kind {kind!r} is not one of {kinds}").format(
                             where=where, kind=project.kind, kinds=', '.join(KINDS)))
    if project.status not in STATUSES:
        raise OpsqaError(_("{where}status {status!r} is not one of {statuses}").format(
                             where=where, status=project.status, statuses=', '.join(STATUSES)))
    for role in ("pm", "oms"):
        if session.get(User, getattr(project, role)) is None:
            raise OpsqaError(_("{where}{role} {project!r} is not an opsqa user").format(
                                 where=where, role=role, project=getattr(project, role)))
    for member in project.members:
        if session.get(User, member) is None:
            raise OpsqaError(_("{where}members: {member!r} is not an opsqa user").format(where=where, member=member))
    if project.om_start and project.om_end and project.om_end < project.om_start:
        raise OpsqaError(_("{where}om_end {om_end} is before om_start {om_start}").format(
                             where=where, om_end=project.om_end, om_start=project.om_start))


def save_project(session: Session, project: ProjectInput, *, now: datetime, actor: Actor, where: str = "",
                 create_only: bool = False) -> str:
    """Add a project, or update it; returns 'added', 'updated' or 'unchanged'. Recorded in the history.
    Who may: engine/policy.py, project.edit."""
    _check(session, project, where)
    team = sorted({project.pm, project.oms, *project.members})
    row = session.get(Project, project.code)
    values = {"name": project.name.strip(), "kind": project.kind, "customer": project.customer.strip(),
              "pm": project.pm, "oms": project.oms, "status": project.status, "contract_ref": project.contract_ref,
              "om_start": project.om_start, "om_end": project.om_end}
    if row is None:
        session.add(Project(code=project.code, **values, created_at=now, created_by=actor.name, updated_at=now))
        session.flush()
        before: dict[str, Any] = {}
        outcome = "added"
    else:
        if create_only:
            raise OpsqaError(_("{where}project {code} is already in the register; see `opsqa projects list`").format(
                                 where=where, code=project.code))
        before = {key: getattr(row, key) for key in values}
        before["team"] = members_of(session, project.code)
        if before == {**values, "team": team}:
            return "unchanged"
        for key, value in values.items():
            setattr(row, key, value)
        row.updated_at = now
        outcome = "updated"
    current = set(members_of(session, project.code))
    for user in current - set(team):
        session.delete(session.get(ProjectMember, (project.code, user)))
    for user in set(team) - current:
        session.add(ProjectMember(project_code=project.code, user_name=user))
    after = {**values, "team": team}
    changes = {key: [_plain(before.get(key)), _plain(value)]
               for key, value in after.items() if before.get(key) != value}
    append_event(session, at=now, kind=f"project.{outcome}", actor=actor.name, real_actor=actor.real,
                 payload={"project": project.code, "changes": changes})
    return outcome


def _plain(value: Any) -> Any:
    return value.isoformat() if isinstance(value, date) else value


def members_of(session: Session, code: str) -> list[str]:
    query = select(ProjectMember.user_name).where(ProjectMember.project_code == code).order_by(ProjectMember.user_name)
    return list(session.scalars(query))


def get_project(session: Session, code: str) -> Project:
    project = session.get(Project, code)
    if project is None:
        raise UnknownProject(_("unknown project code {code!r}; see `opsqa projects list`").format(code=code))
    return project


FIXABLE = ("name", "customer", "pm", "oms", "kind", "status", "contract_ref", "om_start", "om_end")


def fix_project(session: Session, code: str, changes: dict[str, Any], *, reason: str, now: datetime,
                actor: Actor) -> dict[str, dict]:
    """Correct a project of the register (the values given in `changes`, FIXABLE; a contract of "" clears
    it), checked as an added one is: {"old": ..., "new": ...} of what changed, recorded with the reason. A new
    manager or supervisor joins the team; whoever they replace stays on it (still not independent of the
    project's audits), as the team changes only by import. Who may: engine/policy.py, project.fix."""
    unknown = sorted(set(changes) - set(FIXABLE))
    if unknown:
        raise ValueError(f"not a field of a project: {', '.join(unknown)}")
    row = get_project(session, code)
    current = {key: getattr(row, key) for key in FIXABLE}
    given = {key: value.strip() if isinstance(value, str) else value
             for key, value in changes.items() if value is not None}
    if "contract_ref" in given:
        given["contract_ref"] = given["contract_ref"] or None
    wanted = {**current, **given}
    _check(session, ProjectInput(code=code, **wanted), "")
    new = {key: value for key, value in wanted.items() if current[key] != value}
    if not new:
        return {"old": {}, "new": {}}
    old = {key: current[key] for key in new}
    for key, value in new.items():
        setattr(row, key, value)
    row.updated_at = now
    team = members_of(session, code)
    for user in sorted({wanted["pm"], wanted["oms"]} - set(team)):
        session.add(ProjectMember(project_code=code, user_name=user))
    append_event(session, at=now, kind="project.fixed", actor=actor.name, real_actor=actor.real,
                 payload={"project": code, "reason": reason, "old": {k: _plain(v) for k, v in old.items()},
                          "new": {k: _plain(v) for k, v in new.items()}})
    return {"old": old, "new": new}


def project_view(session: Session, code: str) -> dict[str, Any]:
    """A project of the register, with its team and when it was added and last changed."""
    row = get_project(session, code)
    return {"code": row.code, **{key: getattr(row, key) for key in FIXABLE}, "team": members_of(session, code),
            "created_at": row.created_at, "created_by": row.created_by, "updated_at": row.updated_at}


def list_projects(session: Session, *, status: str | None = "active") -> list[dict[str, Any]]:
    query = select(Project).order_by(Project.code)
    if status:
        query = query.where(Project.status == status)
    teams: dict[str, list[str]] = {}
    for code, user in session.execute(select(ProjectMember.project_code, ProjectMember.user_name)
                                      .order_by(ProjectMember.user_name)):
        teams.setdefault(code, []).append(user)
    return [
        {"code": p.code, "name": p.name, "kind": p.kind, "customer": p.customer, "pm": p.pm, "oms": p.oms,
         "status": p.status, "team": teams.get(p.code, []), "contract_ref": p.contract_ref,
         "om_start": p.om_start, "om_end": p.om_end}
        for p in session.scalars(query)
    ]


def parse_projects(table: Table) -> list[tuple[str, ProjectInput]]:
    """Rows of a project table (header: code,name,customer,pm,oms[,kind,status,members,...]), each with where
    it stands in the file."""
    table.require(list(REQUIRED), _(" (columns: {columns})").format(columns=", ".join(COLUMNS)))
    unknown = [name for name in table.header if name not in COLUMNS]
    if unknown:
        raise OpsqaError(_("{source}: unknown column {unknown!r} (columns: {columns})").format(
                             source=table.source, unknown=unknown[0], columns=', '.join(COLUMNS)))
    rows, seen = [], {}
    for where, cells in table.rows:
        for name in REQUIRED:
            if not cells.get(name):
                raise OpsqaError(_("{where}{name}: a value is required").format(where=where, name=name))
        if cells["code"] in seen:
            raise OpsqaError(_("{where}code {code} is also in {seen}").format(
                                 where=where, code=cells['code'], seen=seen[cells['code']]))
        seen[cells["code"]] = where.removesuffix(": ")
        try:
            starts = {key: date.fromisoformat(cells[key]) if cells.get(key) else None for key in ("om_start", "om_end")}
        except ValueError:
            raise OpsqaError(_("{where}om_start/om_end: dates are written YYYY-MM-DD").format(where=where)) from None
        rows.append((where, ProjectInput(
            code=cells["code"], name=cells["name"], customer=cells["customer"], pm=cells["pm"], oms=cells["oms"],
            kind=cells.get("kind") or "other", status=cells.get("status") or "active",
            members=[m for m in re.split(r"[;,\s]+", cells.get("members", "")) if m],
            contract_ref=cells.get("contract_ref") or None, **starts,
        )))
    return rows


def import_projects(session: Session, rows: list[tuple[str, ProjectInput]], *, now: datetime, actor: Actor,
                    progress: Callable[[int, int], None] | None = None) -> dict[str, int]:
    """All rows or none: the caller's transaction rolls back on the first bad row. Re-importing adds nothing.
    `progress(done, total)` as each row is taken."""
    counts = {"added": 0, "updated": 0, "unchanged": 0}
    for done, (where, project) in enumerate(rows, start=1):
        if progress:
            progress(done, len(rows))
        counts[save_project(session, project, now=now, actor=actor, where=where)] += 1
    return counts
