"""Who acts: opsqa users, their roles, and impersonation by admins."""

from __future__ import annotations

import json
import re
from dataclasses import dataclass
from datetime import date, datetime, timedelta

from sqlalchemy import func, select
from sqlalchemy.orm import Session

from i18n import _
from store import Task, User, UserRole, append_event

from . import policy
from .clock import local_time
from .errors import NotPermitted, OpsqaError, UnknownUser

ADMIN = "admin"
_NAME = re.compile(r"^[\w.@-]{1,200}$")
_EMAIL = re.compile(r"^[^@\s]+@[^@\s]+\.[^@\s]+$")


@dataclass(frozen=True)
class Actor:
    """The user a change is recorded under; `real` is the admin's login when acting `--as`."""

    name: str
    roles: frozenset[str]
    real: str | None = None
    # 代理: the people away whose tasks this user may do today: (name, their roles, the processes or None: all)
    stands_in: tuple[tuple[str, frozenset[str], tuple[str, ...] | None], ...] = ()

    @property
    def label(self) -> str:
        return f"{self.real} as {self.name}" if self.real else self.name

    @property
    def is_admin(self) -> bool:
        return ADMIN in self.roles


def roles_of(session: Session, name: str) -> frozenset[str] | None:
    if session.get(User, name) is None:
        return None
    return frozenset(session.scalars(select(UserRole.role).where(UserRole.user_name == name)))


def stand_ins(session: Session, name: str, now: datetime) -> tuple:
    """Whom `name` substitutes for today: (away user, their roles, their processes or None). Read on every
    actor's resolution: the organisation's zone (today's local date) only when they have an open absence."""
    from store import Absence

    open_ = session.scalars(select(Absence).where(
        Absence.substitute == name, Absence.ended_at.is_(None),
        Absence.ends_on >= (now - timedelta(days=1)).date()).order_by(Absence.id)).all()  # a day: any zone
    if not open_:
        return ()
    today = now.astimezone(_zone(session)).date()
    return tuple((absence.user_name, roles_of(session, absence.user_name) or frozenset(),
                  tuple(json.loads(absence.processes)) if absence.processes else None)
                 for absence in open_ if absence.starts_on <= today <= absence.ends_on)


def resolve_actor(session: Session, login: str, as_name: str | None = None, *,
                  now: datetime | None = None) -> Actor:
    """The acting user (an admin `--as` someone: that someone, the admin kept as `real`); with `now`, the
    people away for whom they stand in today."""
    actor = _resolve(session, login, as_name)
    if now is None:
        return actor
    found = stand_ins(session, actor.name, now)
    return Actor(actor.name, actor.roles, actor.real, found) if found else actor


def _resolve(session: Session, login: str, as_name: str | None = None) -> Actor:
    roles = roles_of(session, login)
    if roles is None:
        raise UnknownUser(
            _("you ({login}) are not an opsqa user; an admin can add you with `opsqa users add {login} --role "
              "ROLE`").format(login=login)
        )
    _refuse_disabled(session, login)
    if not as_name or as_name == login:
        return Actor(login, roles)
    if ADMIN not in roles:
        raise NotPermitted(_("--as needs the admin role, and {login} does not hold it").format(login=login))
    as_roles = roles_of(session, as_name)
    if as_roles is None:
        raise UnknownUser(_("no opsqa user named {as_name!r}").format(as_name=as_name))
    _refuse_disabled(session, as_name)
    return Actor(as_name, as_roles, real=login)


def _refuse_disabled(session: Session, name: str) -> None:
    """A disabled user can no longer act (reading stays open, as to every opsqa user)."""
    user = session.get(User, name)
    if user is not None and user.disabled_at is not None:
        raise NotPermitted(_("{name} was disabled at {at} and can no longer act; an admin can enable them again "
                             "with `opsqa users enable {name} --reason ...`").format(
                                 name=name, at=local_time(user.disabled_at, _zone(session))))


def _zone(session: Session):
    from .settings import zone  # settings imports this module (Actor)

    return zone(session)


def add_user(
    session: Session,
    name: str,
    roles: list[str],
    *,
    display_name: str | None,
    now: datetime,
    actor: Actor | None,
    department: str | None = None,
    email: str | None = None,
    reason: str | None = None,
) -> None:
    """Create a user, or add roles (and set the name or department) of an existing one. A role change is
    recorded with its reason and the roles before and after; `opsqa users add` asks `check_addition` first."""
    if not _NAME.match(name):
        raise OpsqaError(_("user name {name!r} may hold letters, digits and . _ @ - only").format(name=name))
    for role in roles:
        if not _NAME.match(role):
            raise OpsqaError(_("role {role!r} may hold letters, digits and . _ @ - only").format(role=role))
    if actor is not None:
        policy.require(actor, "users")
    user = session.get(User, name)
    created = user is None
    _check_contact(department, email)
    if created:
        session.add(User(name=name, display_name=display_name, department=department, email=email, created_at=now))
        session.flush()
    else:
        user.display_name = display_name or user.display_name
        user.department = department or user.department
        user.email = email or user.email
    existing = roles_of(session, name) or frozenset()
    added = [role for role in dict.fromkeys(roles) if role not in existing]
    for role in added:
        session.add(UserRole(user_name=name, role=role))
    payload = {"user": name, "roles": added, "display_name": display_name, "department": department,
               "email": email}
    if not created:  # a role change: why, and the roles before and after
        payload = {"user": name, "roles": added, "reason": reason, "old": {"roles": sorted(existing)},
                   "new": {"roles": sorted(existing | set(added))}}
    append_event(
        session,
        at=now,
        kind="user.added" if created else "user.roles_added",
        actor=actor.name if actor else name,
        real_actor=actor.real if actor else None,
        payload=payload,
    )


def check_addition(session: Session, name: str, *, display_name: str | None, department: str | None,
                   email: str | None) -> bool:
    """Whether `opsqa users add` finds the user already there — then it gives them another role, a role
    change (`users.grant`, with a reason); their name, department or e-mail address are corrected by `users
    set`, which keeps the old value, and are refused here when they differ."""
    user = session.get(User, name)
    if user is None:
        return False
    differing = [option for option, given, held in (("--name", display_name, user.display_name),
                                                     ("--department", department, user.department),
                                                     ("--email", email, user.email))
                 if given is not None and given != held]
    if differing:
        raise OpsqaError(_("user {name} exists: correct {options} with `opsqa users set {name} ... --reason ...`")
                         .format(name=name, options=", ".join(differing)))
    return True


def _check_contact(department: str | None, email: str | None) -> None:
    if department is not None and not _NAME.match(department):
        raise OpsqaError(_("department {department!r} may hold letters, digits and . _ @ - only").format(
                             department=department))
    if email is not None and not _EMAIL.match(email):
        raise OpsqaError(_("e-mail address {email!r} is not like name@example.com").format(email=email))


def list_users(session: Session) -> list[dict]:
    users = session.scalars(select(User).order_by(User.name)).all()
    roles: dict[str, list[str]] = {}
    for user_name, role in session.execute(select(UserRole.user_name, UserRole.role).order_by(UserRole.role)):
        roles.setdefault(user_name, []).append(role)
    return [
        {"name": user.name, "display_name": user.display_name, "department": user.department, "email": user.email,
         "roles": roles.get(user.name, []), "status": _status(user), "disabled_at": user.disabled_at}
        for user in users
    ]


# -- corrections: a user is never deleted (the history and the records name them); each change is recorded
# with its reason and the values before and after


def _status(user: User) -> str:
    return "disabled" if user.disabled_at is not None else "active"


def get_user(session: Session, name: str) -> User:
    user = session.get(User, name)
    if user is None:
        raise UnknownUser(_("no opsqa user named {name!r}; see `opsqa users list`").format(name=name))
    return user


def open_tasks_of(session: Session, name: str) -> list[Task]:
    """The open tasks a user holds: assigned to them, or claimed by them."""
    return list(session.scalars(select(Task).where(Task.state == "ready",
                                                   (Task.assignee == name) | (Task.claimed_by == name))
                                .order_by(Task.created_at, Task.id)))


def user_view(session: Session, name: str, *, findings: list[str]) -> dict:
    """A user as `users show` shows them: their record, roles, status, and the open work they hold
    (`findings`: the codes of the open findings they own, which the domain knows)."""
    user = get_user(session, name)
    return {"name": user.name, "display_name": user.display_name, "department": user.department,
            "email": user.email, "channel": user.channel, "mention": user.mention,
            "roles": sorted(roles_of(session, name) or ()), "status": _status(user),
            "disabled_at": user.disabled_at, "created_at": user.created_at,
            "open_tasks": [{"id": t.id, "name": t.name, "instance": t.instance_id, "due_at": t.due_at}
                           for t in open_tasks_of(session, name)],
            "open_findings": findings}


def change_user(session: Session, name: str, *, display_name: str | None = None, department: str | None = None,
                email: str | None = None, reason: str, now: datetime, actor: Actor) -> dict[str, dict]:
    """Correct a user's name, department or e-mail address (the values given; "" clears one): {"old": ...,
    "new": ...} of what changed, nothing recorded when nothing did."""
    policy.require(actor, "users.fix")
    user = get_user(session, name)
    given = {"display_name": display_name, "department": department, "email": email}
    wanted = {key: value.strip() or None for key, value in given.items() if value is not None}
    _check_contact(wanted.get("department"), wanted.get("email"))
    new = {key: value for key, value in wanted.items() if getattr(user, key) != value}
    if not new:
        return {"old": {}, "new": {}}
    old = {key: getattr(user, key) for key in new}
    for key, value in new.items():
        setattr(user, key, value)
    _record(session, "user.changed", name, reason, old, new, now=now, actor=actor)
    return {"old": old, "new": new}


def revoke_role(session: Session, name: str, role: str, *, reason: str, now: datetime, actor: Actor) -> list[str]:
    """Take a role from a user (the last admin who can act keeps theirs); the roles left."""
    policy.require(actor, "users.revoke")
    user = get_user(session, name)
    held = roles_of(session, name) or frozenset()
    if role not in held:
        raise OpsqaError(_("{name} does not hold role {role}; they hold {roles}").format(
                             name=name, role=role, roles=", ".join(sorted(held)) or "-"))
    if role == ADMIN and user.disabled_at is None:
        _keep_an_admin(session, name)
    session.delete(session.get(UserRole, (name, role)))
    left = sorted(held - {role})
    _record(session, "user.role_revoked", name, reason, {"roles": sorted(held)}, {"roles": left}, now=now,
            actor=actor, role=role)
    return left


def disable_user(session: Session, name: str, *, findings: list[str], reason: str, now: datetime,
                 actor: Actor) -> None:
    """Disable a user: they can no longer act. Refused while they hold open tasks or own open findings
    (`findings`, which the domain knows), all of which the refusal names, and for the last admin who can act."""
    policy.require(actor, "users.disable")
    user = get_user(session, name)
    if user.disabled_at is not None:
        raise OpsqaError(_("{name} is already disabled (since {at})").format(
                             name=name, at=local_time(user.disabled_at, _zone(session))))
    tasks = open_tasks_of(session, name)
    if tasks or findings:
        held = []
        if tasks:
            held.append(_("open tasks {tasks}").format(
                tasks=", ".join(f"{task.id[:8]} ({task.name})" for task in tasks)))
        if findings:
            held.append(_("open findings {codes}").format(codes=", ".join(findings)))
        raise OpsqaError(_("{name} cannot be disabled while holding {held}; hand them over or finish them "
                           "first").format(name=name, held="; ".join(held)))
    if ADMIN in (roles_of(session, name) or ()):
        _keep_an_admin(session, name)
    user.disabled_at = now
    _record(session, "user.disabled", name, reason, {"status": "active"}, {"status": "disabled"}, now=now,
            actor=actor)


def enable_user(session: Session, name: str, *, reason: str, now: datetime, actor: Actor) -> None:
    """Let a disabled user act again."""
    policy.require(actor, "users.disable")
    user = get_user(session, name)
    if user.disabled_at is None:
        raise OpsqaError(_("{name} is not disabled").format(name=name))
    old = {"status": "disabled", "disabled_at": user.disabled_at.isoformat()}
    user.disabled_at = None
    _record(session, "user.enabled", name, reason, old, {"status": "active"}, now=now, actor=actor)


def _keep_an_admin(session: Session, name: str) -> None:
    others = session.scalar(select(func.count()).select_from(UserRole).join(User, User.name == UserRole.user_name)
                            .where(UserRole.role == ADMIN, UserRole.user_name != name, User.disabled_at.is_(None)))
    if not others:
        raise OpsqaError(_("{name} is the only admin who can act; make another user admin first (`opsqa users add "
                           "USER --role admin`)").format(name=name))


def _record(session: Session, kind: str, name: str, reason: str, old: dict, new: dict, *, now: datetime,
            actor: Actor, **more) -> None:
    append_event(session, at=now, kind=kind, actor=actor.name, real_actor=actor.real,
                 payload={"user": name, **more, "reason": reason, "old": old, "new": new})


# -- 代理: someone away, and who does their tasks meanwhile


def set_away(session: Session, name: str, substitute: str, starts: date, ends: date, processes: list[str], *,
             reason: str | None, now: datetime, actor: Actor) -> dict:
    """Record an absence: `substitute` does `name`'s tasks (of `processes`, or all) from `starts` to `ends`.
    Refused: an unknown or disabled user, oneself, dates the wrong way round or past, an absence of `name`
    overlapping it, a substitute away himself then, or one whose own substitute would be `name` (a loop)."""
    from store import Absence, Definition

    from .errors import OpsqaError as Refused

    for who in (name, substitute):
        if session.get(User, who) is None:
            raise Refused(_("no opsqa user named {name!r}").format(name=who))
        _refuse_disabled(session, who)
    if name == substitute:
        raise Refused(_("{name} cannot stand in for themselves").format(name=name))
    if ends < starts:
        raise Refused(_("the absence ends ({ends}) before it starts ({starts})").format(ends=ends, starts=starts))
    today = now.astimezone(_zone(session)).date()
    if ends < today:
        raise Refused(_("the absence ended on {ends}, before today ({today})").format(ends=ends, today=today))
    known = set(session.scalars(select(Definition.process_id)))
    for process in processes:
        if process not in known:
            raise Refused(_("no process {process!r} is deployed; see `opsqa processes`").format(process=process))

    def overlapping(who: str):
        return session.scalar(select(Absence).where(Absence.user_name == who, Absence.ended_at.is_(None),
                                                    Absence.starts_on <= ends, Absence.ends_on >= starts).limit(1))

    clash = overlapping(name)
    if clash is not None:
        raise Refused(_("{name} is already away from {starts} to {ends} (substitute {substitute}); end it with "
                        "`opsqa users back {name}` first").format(name=name, starts=clash.starts_on,
                                                                   ends=clash.ends_on, substitute=clash.substitute))
    away = overlapping(substitute)
    if away is not None:
        raise Refused(_("{substitute} is away from {starts} to {ends} and cannot stand in then").format(
                          substitute=substitute, starts=away.starts_on, ends=away.ends_on))
    loop = session.scalar(select(Absence).where(Absence.user_name == substitute, Absence.substitute == name,
                                                Absence.ended_at.is_(None)).limit(1))
    if loop is not None:
        raise Refused(_("{substitute} has {name} as their own substitute: substitutes may not stand in for each "
                        "other").format(substitute=substitute, name=name))
    row = Absence(user_name=name, substitute=substitute, starts_on=starts, ends_on=ends,
                  processes=json.dumps(sorted(set(processes))) if processes else None, reason=reason,
                  created_by=actor.name, created_at=now)
    session.add(row)
    session.flush()
    append_event(session, at=now, kind="user.away", actor=actor.name, real_actor=actor.real,
                 payload={"user": name, "substitute": substitute, "from": starts.isoformat(), "to": ends.isoformat(),
                          "processes": sorted(set(processes)) or None, "reason": reason})
    return {"user": name, "substitute": substitute, "from": starts, "to": ends, "processes": sorted(set(processes))}


def set_back(session: Session, name: str, *, now: datetime, actor: Actor) -> list[dict]:
    """End `name`'s absences now (today's and those planned): the substitute no longer stands in."""
    from store import Absence

    from .errors import OpsqaError as Refused

    rows = session.scalars(select(Absence).where(Absence.user_name == name, Absence.ended_at.is_(None))).all()
    if not rows:
        raise Refused(_("{name} is not away").format(name=name))
    for row in rows:
        row.ended_at = now
    append_event(session, at=now, kind="user.back", actor=actor.name, real_actor=actor.real,
                 payload={"user": name, "substitutes": sorted({row.substitute for row in rows})})
    return [{"user": name, "substitute": row.substitute} for row in rows]


def absences_of(session: Session, name: str, today: date) -> list[dict]:
    """`name`'s absences not ended nor past (today's and those planned), soonest first."""
    from store import Absence

    return [{"id": row.id, "substitute": row.substitute, "from": row.starts_on, "to": row.ends_on,
             "processes": json.loads(row.processes) if row.processes else None, "reason": row.reason,
             "now": row.starts_on <= today}
            for row in session.scalars(select(Absence).where(Absence.user_name == name, Absence.ended_at.is_(None),
                                                             Absence.ends_on >= today).order_by(Absence.starts_on))]


def away_now(session: Session, today: date) -> dict[str, dict]:
    """Who is away today: name -> {substitute, until, processes}."""
    from store import Absence

    return {row.user_name: {"substitute": row.substitute, "until": row.ends_on,
                            "processes": json.loads(row.processes) if row.processes else None}
            for row in session.scalars(select(Absence).where(Absence.ended_at.is_(None), Absence.starts_on <= today,
                                                             Absence.ends_on >= today))}
