"""The internal audit (6.2.1): qualified auditors and the independence of an audit team.

An auditor may audit neither their own department nor a project whose team they belong to
(ISO 9001 9.2.2 c, ISO 19011); only users on the auditor register may audit at all.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import date, datetime

from sqlalchemy import select
from sqlalchemy.orm import Session

from engine import Actor, OpsqaError
from store import Auditor, Project, ProjectMember, User, append_event


@dataclass(frozen=True)
class Conflict:
    auditor: str
    unit: str
    reason: str

    def __str__(self) -> str:
        return f"auditor {self.auditor} is not independent of {self.unit} ({self.reason})"


def add_auditor(session: Session, user: str, *, certificate_no: str | None, valid_until: date | None,
                now: datetime, actor: Actor) -> None:
    if not actor.roles & {"qmd", "admin"}:
        raise OpsqaError(f"auditors are registered by qmd, and {actor.name} does not hold that role")
    if session.get(User, user) is None:
        raise OpsqaError(f"{user!r} is not an opsqa user")
    if session.get(Auditor, user) is not None:
        raise OpsqaError(f"{user} is already a registered auditor")
    session.add(Auditor(user_name=user, certificate_no=certificate_no, valid_until=valid_until,
                        added_by=actor.name, added_at=now))
    append_event(session, at=now, kind="auditor.added", actor=actor.name, real_actor=actor.real,
                 payload={"user": user, "certificate_no": certificate_no,
                          "valid_until": valid_until.isoformat() if valid_until else None})


def list_auditors(session: Session) -> list[dict]:
    rows = session.execute(select(Auditor, User.department, User.display_name).join(User).order_by(Auditor.user_name))
    return [{"user": a.user_name, "name": name, "department": dept, "certificate_no": a.certificate_no,
             "valid_until": a.valid_until} for a, dept, name in rows]


def independence(session: Session, assignments: list[tuple[str, str]], *, on: date) -> list[Conflict]:
    """The conflicts of (auditor, unit) assignments; a unit is a project code or a department code.

    Raises OpsqaError for an auditor who is not a user, or a unit that is neither a project of
    the register nor a department anyone belongs to.
    """
    departments = {d for d in session.scalars(select(User.department).where(User.department.is_not(None)))}
    conflicts = []
    for auditor, unit in assignments:
        user = session.get(User, auditor)
        if user is None:
            raise OpsqaError(f"auditor {auditor!r} is not an opsqa user")
        record = session.get(Auditor, auditor)
        if record is None:
            conflicts.append(Conflict(auditor, unit, "not a registered auditor"))
            continue
        if record.valid_until is not None and record.valid_until < on:
            conflicts.append(Conflict(auditor, unit, f"qualification expired {record.valid_until}"))
            continue
        project = session.get(Project, unit)
        if project is None and unit not in departments:
            raise OpsqaError(f"unit {unit!r} is neither a project of the register nor a department")
        if user.department == unit:
            conflicts.append(Conflict(auditor, unit, "own department"))
        elif project is not None and session.get(ProjectMember, (unit, auditor)) is not None:
            conflicts.append(Conflict(auditor, unit, "member of the project team"))
    return conflicts
