"""Signing in to the web face: passwords (argon2id), the lockout after repeated failures, and sessions.

A password is set by an admin (or by its user) and kept only as an argon2id hash. Five failures in a row
lock the account for fifteen minutes; every sign-in, failure and lockout is a security event with the
source address, in the transaction of the attempt — a refused attempt commits its record and nothing
else. A session is a random token in an HttpOnly cookie; the database keeps its SHA-256, the token its
forms must carry (CSRF), and when it was last used: idle longer than the setting `web_idle_minutes`, it
ends. The CLI keeps the OS login and never reads any of this.
"""

from __future__ import annotations

import hashlib
import hmac
import secrets
from dataclasses import dataclass
from datetime import datetime, timedelta

from argon2 import PasswordHasher
from argon2.exceptions import InvalidHashError, VerificationError, VerifyMismatchError
from sqlalchemy import select, update
from sqlalchemy.orm import Session

from i18n import _
from store import User, WebSession, append_event

from . import policy, settings
from .errors import OpsqaError, UnknownUser
from .users import Actor, roles_of

MAX_FAILURES = 5
LOCKOUT = timedelta(minutes=15)
MIN_PASSWORD = 10
MAX_PASSWORD = 1024  # argon2 takes anything; a megabyte posted as a password is refused before hashing
TOUCH_EVERY = timedelta(seconds=60)  # a session's last use is written at most once a minute

_hasher = PasswordHasher()  # argon2id, the library's current recommended parameters
# Unknown users are checked against a hash too, so that the time a refusal takes does not tell who exists.
_DECOY = _hasher.hash(secrets.token_urlsafe(16))


class SignInRefused(OpsqaError):
    """A refused sign-in: one message for every cause people may see (it never says which users exist)."""


@dataclass(frozen=True)
class Attempt:
    """What a sign-in gave: a session (its cookie token and CSRF token) or a refusal's message."""

    user: str | None = None
    token: str | None = None
    csrf: str | None = None
    refusal: str | None = None


@dataclass(frozen=True)
class SignedIn:
    """The user a session cookie belongs to, with the token their forms carry."""

    user: str
    display_name: str | None
    roles: frozenset[str]
    csrf: str
    session_id: int


def digest(token: str) -> str:
    return hashlib.sha256(token.encode("utf-8", "surrogatepass")).hexdigest()


def check_password(password: str, name: str) -> None:
    """Refuse a password people should not have: too short, too long, or the user's own name."""
    if len(password) < MIN_PASSWORD:
        raise OpsqaError(_("a password has at least {count} characters").format(count=MIN_PASSWORD))
    if len(password) > MAX_PASSWORD:
        raise OpsqaError(_("a password has at most {count} characters").format(count=MAX_PASSWORD))
    if password.strip().casefold() == name.casefold():
        raise OpsqaError(_("a password is not the user's name"))


def set_password(session: Session, name: str, password: str, *, now: datetime, actor: Actor) -> None:
    """Set a user's password (admins, or the user themselves); it ends their other sessions and lifts a lockout."""
    user = session.get(User, name)
    if user is None:
        raise UnknownUser(_("no opsqa user named {name!r}; see `opsqa users list`").format(name=name))
    policy.require(actor, "users.passwd", user=name)
    check_password(password, name)
    first = user.password_hash is None
    user.password_hash = _hasher.hash(password)
    user.password_set_at, user.failed_logins, user.locked_until = now, 0, None
    ended = _end_sessions(session, name, now, "password")
    append_event(session, at=now, kind="user.password_set", actor=actor.name, real_actor=actor.real,
                 payload={"user": name, "first": first, "sessions_ended": ended})


def sign_in(session: Session, username: str, password: str, *, now: datetime, source: str,
            code: str | None = None) -> Attempt:
    """One attempt: a session, or a refusal — both recorded with the source address. Never raises for a
    wrong name or password: the caller commits the record, then refuses. A user with a TOTP secret gives
    its current `code` too (a code signs in once); an admin must have one when `web_admin_totp` is on."""
    refused = _("wrong user name or password")
    user = session.get(User, username) if 0 < len(username) <= 200 else None
    if user is None or user.password_hash is None or user.disabled_at is not None:
        _verify(_DECOY, password)  # as long as a real check
        cause = "unknown_user" if user is None else "disabled" if user.disabled_at is not None else "no_password"
        _record(session, now, "security.login_failed", username[:200], source, cause=cause)
        return Attempt(refusal=refused)
    if user.locked_until is not None and user.locked_until > now:
        _record(session, now, "security.login_failed", user.name, source, cause="locked")
        return Attempt(refusal=_locked(session, user.locked_until))
    if not _verify(user.password_hash, password):
        user.failed_logins += 1
        _record(session, now, "security.login_failed", user.name, source, cause="bad_password",
                failures=user.failed_logins)
        if user.failed_logins >= MAX_FAILURES:
            user.locked_until, user.failed_logins = now + LOCKOUT, 0
            _record(session, now, "security.locked", user.name, source, until=user.locked_until.isoformat())
            return Attempt(refusal=_locked(session, user.locked_until))
        return Attempt(refusal=refused)
    if user.totp_secret is None and settings.get(session, "web_admin_totp") == "on" and \
            policy.ADMIN in (roles_of(session, user.name) or ()):
        _record(session, now, "security.login_failed", user.name, source, cause="totp_required")
        return Attempt(refusal=_("an administrator signs in with a one-time code too: set one up with `opsqa users "
                                 "totp {name}`").format(name=user.name))
    if user.totp_secret is not None:
        step = _totp_step(user.totp_secret, code or "", now)
        if step is None or (user.totp_last_step is not None and step <= user.totp_last_step):
            user.failed_logins += 1
            _record(session, now, "security.login_failed", user.name, source, cause="bad_code",
                    failures=user.failed_logins)
            if user.failed_logins >= MAX_FAILURES:
                user.locked_until, user.failed_logins = now + LOCKOUT, 0
                _record(session, now, "security.locked", user.name, source, until=user.locked_until.isoformat())
                return Attempt(refusal=_locked(session, user.locked_until))
            return Attempt(refusal=_("wrong or used one-time code; wait for the next one"))
        user.totp_last_step = step
    if _hasher.check_needs_rehash(user.password_hash):
        user.password_hash = _hasher.hash(password)
    user.failed_logins, user.locked_until = 0, None
    token, csrf = secrets.token_urlsafe(32), secrets.token_urlsafe(32)
    row = WebSession(token_sha256=digest(token), user_name=user.name, csrf_token=csrf, source=source[:200],
                     created_at=now, last_seen_at=now)
    session.add(row)
    session.flush()
    _record(session, now, "security.login", user.name, source, session_id=row.id)
    return Attempt(user=user.name, token=token, csrf=csrf)


def set_totp(session: Session, name: str, *, now: datetime, actor: Actor, off: bool = False,
             reason: str | None = None) -> str | None:
    """Give a user a new TOTP secret (admins, or the user themselves): the otpauth:// address an
    authenticator app takes, shown once. `off` removes it (admins, with a reason)."""
    import pyotp

    user = session.get(User, name)
    if user is None:
        raise UnknownUser(_("no opsqa user named {name!r}; see `opsqa users list`").format(name=name))
    if off:
        policy.require(actor, "users.totp_off")
        reason = policy.require_reason("users.totp_off", reason)
        user.totp_secret, user.totp_last_step = None, None
        append_event(session, at=now, kind="user.totp_removed", actor=actor.name, real_actor=actor.real,
                     payload={"user": name, "reason": reason})
        return None
    policy.require(actor, "users.passwd", user=name)
    user.totp_secret, user.totp_last_step = pyotp.random_base32(), None
    ended = _end_sessions(session, name, now, "totp")
    append_event(session, at=now, kind="user.totp_set", actor=actor.name, real_actor=actor.real,
                 payload={"user": name, "sessions_ended": ended})
    return pyotp.TOTP(user.totp_secret).provisioning_uri(name=name, issuer_name="opsqa")


def _totp_step(secret: str, code: str, now: datetime) -> int | None:
    """The time step (30 s) of `now`, or of the step before or after (a phone's clock drifts), whose code
    `code` is; None when it is none of them."""
    import pyotp

    code = code.strip().replace(" ", "")
    if not (code.isdigit() and len(code) == 6):
        return None
    totp = pyotp.TOTP(secret)
    step = int(now.timestamp()) // totp.interval
    for candidate in (step - 1, step, step + 1):
        if hmac.compare_digest(totp.at(candidate * totp.interval), code):
            return candidate
    return None


def signed_in(session: Session, token: str, *, now: datetime) -> tuple[SignedIn | None, str | None]:
    """The session a cookie names while it lives — not ended, not idle past the setting, its user active —
    and what is to be written about it, if anything: `touch` (its last use, at most once a minute), `idle`
    or `disabled` (it ends). Reads only: a page view takes no write lock unless `record_use` must write."""
    if not token or len(token) > 200:
        return None, None
    row = session.scalar(select(WebSession).where(WebSession.token_sha256 == digest(token)))
    if row is None or row.ended_at is not None:
        return None, None
    user = session.get(User, row.user_name)
    idle = timedelta(minutes=int(settings.get(session, "web_idle_minutes")))
    if user is None or user.disabled_at is not None:
        return None, "disabled"
    if idle and now - row.last_seen_at > idle:
        return None, "idle"
    view = SignedIn(user=user.name, display_name=user.display_name, roles=roles_of(session, user.name) or frozenset(),
                    csrf=row.csrf_token, session_id=row.id)
    return view, "touch" if now - row.last_seen_at >= TOUCH_EVERY else None


def record_use(session: Session, token: str, what: str, *, now: datetime) -> None:
    """Write what `signed_in` found: the session's last use, or its end (idle, disabled)."""
    row = session.scalar(select(WebSession).where(WebSession.token_sha256 == digest(token)))
    if row is None or row.ended_at is not None:
        return
    if what == "touch":
        row.last_seen_at = max(row.last_seen_at, now)
    else:
        row.ended_at, row.end_reason = now, what


def sign_out(session: Session, token: str, *, now: datetime, source: str) -> None:
    row = session.scalar(select(WebSession).where(WebSession.token_sha256 == digest(token)))
    if row is None or row.ended_at is not None:
        return
    row.ended_at, row.end_reason = now, "signed_out"
    _record(session, now, "security.logout", row.user_name, source, session_id=row.id)


def same_token(expected: str, given: str | None) -> bool:
    """A form's CSRF token against the session's, in constant time."""
    return bool(given) and hmac.compare_digest(expected.encode(), str(given).encode("utf-8", "replace"))


def _verify(hashed: str, password: str) -> bool:
    if len(password) > MAX_PASSWORD:
        return False
    try:
        return _hasher.verify(hashed, password)
    except (VerifyMismatchError, VerificationError, InvalidHashError):
        return False


def _locked(session: Session, until: datetime) -> str:
    from .clock import local_time

    return _("too many failed sign-ins: this account is locked until {until}").format(
        until=local_time(until, settings.zone(session)))


def _end_sessions(session: Session, name: str, now: datetime, reason: str) -> int:
    result = session.execute(update(WebSession).where(WebSession.user_name == name, WebSession.ended_at.is_(None))
                             .values(ended_at=now, end_reason=reason))
    return result.rowcount or 0


def _record(session: Session, now: datetime, kind: str, user: str, source: str, **more) -> None:
    result = {"security.login": "success", "security.logout": "success"}.get(kind, "failure")
    append_event(session, at=now, kind=kind, actor=user, payload={"user": user, "source": source[:200],
                                                                  "result": result, **more})
