"""The web face's sign-in: passwords, signing in and out, and the session behind each request.

The CLI's caller is the OS login; the web's is whoever signed in with a password. A refused sign-in is
recorded (with the source address) and committed before it is refused, so that failures count towards
the lockout even though nothing else changes.
"""

from __future__ import annotations

from engine import Engine
from engine.auth import SignedIn, SignInRefused, same_token

from .base import Caller, acting

__all__ = ["SignInRefused", "SignedIn", "current", "same_token", "set_password", "set_totp", "sign_in",
           "sign_out", "web_caller"]


def set_password(engine: Engine, caller: Caller, name: str, password: str) -> None:
    """Set `name`'s web password (admins, or the user themselves); their other sessions end."""
    from engine.auth import set_password as set_hash

    with acting(engine, caller, "users.passwd", user=name) as act:
        set_hash(act.session, name, password, now=act.now, actor=act.actor)


def set_totp(engine: Engine, caller: Caller, name: str, *, off: bool = False, reason: str | None = None
             ) -> str | None:
    """Give `name` a new one-time-code secret (admins, or the user themselves): the otpauth:// address for
    an authenticator app, shown once; `off` removes it (admins, with a reason)."""
    from engine.auth import set_totp as change

    action = "users.totp_off" if off else "users.passwd"
    with acting(engine, caller, action, reason=reason if off else None, **({} if off else {"user": name})) as act:
        return change(act.session, name, now=act.now, actor=act.actor, off=off, reason=reason)


def sign_in(engine: Engine, username: str, password: str, *, source: str, code: str | None = None
            ) -> tuple[str, str, str]:
    """(user, session token, CSRF token), or `SignInRefused` with one line for the person — after the
    attempt is recorded. `code`: the one-time code of a user who has one."""
    from engine.auth import sign_in as attempt

    with engine.database.transaction() as session:
        result = attempt(session, username, password, now=engine.clock.now(), source=source, code=code)
    if result.refusal is not None:
        raise SignInRefused(result.refusal)
    return result.user, result.token, result.csrf


def current(engine: Engine, token: str | None) -> SignedIn | None:
    """The signed-in user a session cookie names, or None (no cookie, signed out, idle too long, disabled)."""
    from engine.auth import record_use, signed_in

    if not token:
        return None
    now = engine.clock.now()
    with engine.database.reading() as session:  # a page view reads; it writes at most once a minute
        found, what = signed_in(session, token, now=now)
    if what is not None:
        with engine.database.transaction() as session:
            record_use(session, token, what, now=now)
    return found


def sign_out(engine: Engine, token: str | None, *, source: str) -> None:
    from engine.auth import sign_out as end

    if not token:
        return
    with engine.database.transaction() as session:
        end(session, token, now=engine.clock.now(), source=source)


def web_caller(user: SignedIn, source: str) -> Caller:
    """The caller a signed-in request acts as: the user, from their address."""
    return Caller(login=user.user, source=source)

