"""What every use case shares: who calls (`Caller`), and the ways a use case runs — `acting` (now read
once, one write transaction, the actor resolved in it, the policy asked), `reading`, and `guarded` for
work whose transactions the engine opens itself. A refusal by the policy, wherever below it is raised,
leaves the use case as it came and is recorded as a security event (`security.denied`) in a
transaction of its own, so that nothing of the refused action is stored but the record of the refusal.
"""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from datetime import datetime
from typing import Any

from sqlalchemy.orm import Session

from engine import Actor, Engine
from engine import policy as policy_module
from engine.errors import NotPermitted
from engine.users import resolve_actor

from .caller import Caller


@dataclass
class Act:
    """A use case's transaction: its session, the actor resolved in it, and the one `now` it runs at."""

    session: Session
    actor: Actor
    now: datetime
    engine: Engine
    action: str

    def require(self, action: str | None = None, **facts: Any) -> None:
        """Ask the policy again, with the facts a record gives (the finding's owner, the audit's team)."""
        policy_module.require(self.actor, action or self.action, **facts)

    def starter(self):
        """Start instances in this transaction (a finding's follow-up): (process, key, variables) -> id."""
        return self.engine.starter(self.session, self.actor)


@contextmanager
def guarded(engine: Engine, caller: Caller, action: str) -> Iterator[None]:
    """Record any refusal by the policy raised inside as a security event, then let it go on."""
    try:
        yield
    except NotPermitted as exc:
        if not getattr(exc, "recorded", False):  # guards nest: the innermost records it
            exc.recorded = True
            record_denial(engine, caller, getattr(exc, "action", None) or action, str(exc))
        raise


@contextmanager
def acting(engine: Engine, caller: Caller, action: str, *, reason: str | None = None,
           **facts: Any) -> Iterator[Act]:
    """One write transaction for `action`: the reason checked when the action needs one, the actor
    resolved, the policy asked (with what is known before anything is read; `act.require(...)` asks again
    with what a record gives), `now` read once."""
    policy_module.require_reason(action, reason)
    now = engine.clock.now()
    with guarded(engine, caller, action), engine.database.transaction() as session:
        actor = resolve_actor(session, caller.login, caller.as_name, now=now)
        if actor.real:  # the domain records events under the acted-as name: each keeps the admin's too
            session.info["acting_as"] = (actor.name, actor.real)
        policy_module.require(actor, action, **facts)
        yield Act(session, actor, now, engine, action)


def authorized(engine: Engine, caller: Caller, action: str, *, reason: str | None = None, **facts: Any) -> Actor:
    """The actor, once the policy lets them take `action` (and has the reason it needs): for use cases whose
    engine call opens its own transaction (deploy, complete); run that call inside `guarded` so that its
    refusals are recorded too."""
    policy_module.require_reason(action, reason)
    with guarded(engine, caller, action):
        actor = engine.actor(caller.login, caller.as_name)
        policy_module.require(actor, action, **facts)
        return actor


@contextmanager
def reading(engine: Engine) -> Iterator[Session]:
    """A read-only session: reading is open to every opsqa user (engine/policy.py)."""
    with engine.database.reading() as session:
        yield session


def who(engine: Engine, caller: Caller) -> Actor:
    """The caller as an opsqa user, for reads that depend on who asks (`tasks --mine`)."""
    with guarded(engine, caller, "act_as"):
        return engine.actor(caller.login, caller.as_name)


def may(engine: Engine, caller: Caller, action: str, **facts: Any) -> bool:
    """Whether the policy lets the caller take `action` (with the facts a record gives): for a face to offer
    only what would be allowed. The use case still asks when it acts."""
    try:
        actor = engine.actor(caller.login, caller.as_name)
    except NotPermitted:
        return False
    return policy_module.allows(actor, action, **facts)


def record_denial(engine: Engine, caller: Caller, action: str, message: str) -> None:
    from store import append_event

    acted_as = caller.as_name or caller.login
    with engine.database.transaction() as session:
        append_event(session, at=engine.clock.now(), kind="security.denied", actor=acted_as,
                     real_actor=caller.login if acted_as != caller.login else None,
                     payload={"action": action, "result": "denied", "message": message, "source": caller.source})
