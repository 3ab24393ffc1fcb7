"""Who acts: opsqa users, their roles, and impersonation by admins."""

from __future__ import annotations

import re
from dataclasses import dataclass
from datetime import datetime

from sqlalchemy import select
from sqlalchemy.orm import Session

from i18n import _
from store import User, UserRole, append_event

from . import policy
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


def resolve_actor(session: Session, login: str, as_name: str | None = None) -> Actor:
    roles = roles_of(session, login)
    if roles is None:
        raise UnknownUser(
            _("you ({login}) are not an opsqa user; an admin can add you with `opsqa users add {login} --role "
              "ROLE`").format(login=login)
        )
    if not as_name or as_name == login:
        return Actor(login, roles)
    if ADMIN not in roles:
        raise NotPermitted(_("--as needs the admin role, and {login} does not hold it").format(login=login))
    as_roles = roles_of(session, as_name)
    if as_roles is None:
        raise UnknownUser(_("no opsqa user named {as_name!r}").format(as_name=as_name))
    return Actor(as_name, as_roles, real=login)


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
) -> None:
    """Create a user, or add roles (and set the name or department) of an existing one."""
    if not _NAME.match(name):
        raise OpsqaError(_("user name {name!r} may hold letters, digits and . _ @ - only").format(name=name))
    for role in roles:
        if not _NAME.match(role):
            raise OpsqaError(_("role {role!r} may hold letters, digits and . _ @ - only").format(role=role))
    if actor is not None:
        policy.require(actor, "users")
    user = session.get(User, name)
    created = user is None
    if department is not None and not _NAME.match(department):
        raise OpsqaError(_("department {department!r} may hold letters, digits and . _ @ - only").format(
                             department=department))
    if email is not None and not _EMAIL.match(email):
        raise OpsqaError(_("e-mail address {email!r} is not like name@example.com").format(email=email))
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
    append_event(
        session,
        at=now,
        kind="user.added" if created else "user.roles_added",
        actor=actor.name if actor else name,
        real_actor=actor.real if actor else None,
        payload={"user": name, "roles": added, "display_name": display_name, "department": department,
                 "email": email},
    )


def list_users(session: Session) -> list[dict]:
    users = session.scalars(select(User).order_by(User.name)).all()
    roles: dict[str, list[str]] = {}
    for user_name, role in session.execute(select(UserRole.user_name, UserRole.role).order_by(UserRole.role)):
        roles.setdefault(user_name, []).append(role)
    return [
        {"name": user.name, "display_name": user.display_name, "department": user.department, "email": user.email,
         "roles": roles.get(user.name, [])}
        for user in users
    ]
