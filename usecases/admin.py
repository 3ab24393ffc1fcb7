"""Looking after a database: creating, upgrading, copying and backing it up; users and their roles;
settings; the history and its check; the permission table itself."""

from __future__ import annotations

from pathlib import Path
from typing import Any

from engine import Engine, OpsqaError
from engine import policy as policy_module
from i18n import _

from .base import Caller, acting, authorized, guarded, reading


def init(db: str | None, login: str) -> str:
    """Create a new database; `login` becomes its first admin. Returns where it is, for people."""
    from store import create_database, describe

    database = create_database(db)
    try:
        Engine(database).add_user(login, ["admin"])
    finally:
        database.dispose()
    return describe(database.url)


def upgrade(db: str | None, caller: Caller) -> tuple[str | None, str]:
    """Apply pending schema migrations (admins): (revision before, revision after)."""
    from sqlalchemy import text
    from sqlalchemy.exc import SQLAlchemyError

    from engine import Actor
    from store import open_database, upgrade_database

    database = open_database(db, check_schema=False)
    try:
        # the schema may be older than the code, so the roles are read as every revision has them; a
        # refusal is not recorded as an event, whose table this code cannot be sure to write yet
        with database.engine.connect() as connection:
            roles = frozenset(connection.execute(text("SELECT role FROM user_role WHERE user_name = :login"),
                                                 {"login": caller.login}).scalars())
    except SQLAlchemyError:
        roles = None  # no opsqa tables at all: upgrade_database refuses it
    finally:
        database.dispose()
    if roles is not None:
        policy_module.require(Actor(caller.login, roles), "db")
    return upgrade_database(db)


def copy(engine: Engine, caller: Caller, target: str) -> dict[str, Any]:
    """Copy the whole database into an empty one and verify its rows and history (admins)."""
    from store import copy_database, describe

    actor = authorized(engine, caller, "db")
    report = copy_database(engine.database.url, target)
    _record(engine, actor, "db.copied", {"to": describe(target), "events": report.events})
    return {"tables": report.tables, "rows": sum(report.tables.values()), "events": report.events,
            "head": report.head, "target": describe(target)}


def backup(engine: Engine, caller: Caller, file: str, *, force: bool = False) -> None:
    """A consistent copy of the SQLite database into a new file (an existing one replaced with `force`, a
    symbolic link never), safe while the scheduler runs (admins). Written beside it, then moved in place."""
    import os

    from engine.files import check_output
    from store import backup_sqlite

    actor = authorized(engine, caller, "db")
    target = check_output(file, force=force)
    temporary = target.parent / f".{target.name}.{os.getpid()}.backup"
    if os.path.lexists(temporary):
        os.unlink(temporary)
    try:
        backup_sqlite(engine.database.url, temporary)
        os.chmod(temporary, 0o660)  # the opsqa group's, never world-readable
        os.replace(temporary, target)
    except OSError as exc:
        raise OpsqaError(_("cannot write {path}: {strerror}").format(path=file, strerror=exc.strerror or exc)) from None
    finally:
        if os.path.lexists(temporary):
            os.unlink(temporary)
    _record(engine, actor, "db.backed_up", {"file": str(Path(file).resolve())})


def check(db: str | None) -> dict[str, Any]:
    """Check a database without writing to it (open to everyone, like every read): SQLite's integrity and
    quick checks of the file and the references between rows, then the history's chain. Works on a
    read-only file or copy. {"database", "problems": [one line each], "events"}."""
    from store import DatabaseError, describe, open_database, verify_chain

    database = open_database(db, read_only=True)
    try:
        problems = database.integrity_problems()
        events = None
        try:
            with database.reading() as session:
                chain = verify_chain(session)
            events = chain.count
            problems.extend(_("history: {problem}").format(problem=problem) for problem in chain.problems)
        except DatabaseError as exc:  # a damaged page under the history: the file's check said where
            problems.append(_("the history cannot be read: {reason}").format(reason=getattr(exc, "reason", exc)))
        return {"database": describe(database.url), "problems": problems, "events": events}
    finally:
        database.dispose()


def _record(engine: Engine, actor, kind: str, payload: dict[str, Any]) -> None:
    """An administrative act on the whole database, recorded once it is done (the copy holds the history
    as it was when copied; the original, that it was copied)."""
    from store import append_event

    with engine.database.transaction() as session:
        append_event(session, at=engine.clock.now(), kind=kind, actor=actor.name, real_actor=actor.real,
                     payload=payload)


def describe_database(engine: Engine) -> str:
    from store import describe

    return describe(engine.database.url)


# -- users


def add_user(engine: Engine, caller: Caller, name: str, roles: list[str], *, display_name: str | None = None,
             department: str | None = None, email: str | None = None, reason: str | None = None) -> None:
    """Add a user (admins), or give an existing one more roles (`users.grant`: admins, with a reason)."""
    from engine.users import add_user as add
    from engine.users import check_addition

    with reading(engine) as session:
        exists = check_addition(session, name, display_name=display_name, department=department, email=email)
    with acting(engine, caller, "users.grant" if exists else "users", reason=reason) as act:
        add(act.session, name, roles, display_name=display_name, department=department, email=email, now=act.now,
            actor=act.actor, reason=(reason or "").strip() or None)


def users(engine: Engine) -> list[dict[str, Any]]:
    return engine.users()


def user(engine: Engine, name: str) -> dict[str, Any]:
    """A user: their record, roles and status, the open tasks and findings they hold, and their absences
    (today's and those planned: who stands in for them)."""
    from engine.settings import zone
    from engine.users import absences_of, user_view
    from handlers.findings import open_findings_of

    now = engine.clock.now()
    with reading(engine) as session:
        view = user_view(session, name, findings=open_findings_of(session, name))
        view["absences"] = absences_of(session, name, now.astimezone(zone(session)).date())
        return view


def change_user(engine: Engine, caller: Caller, name: str, *, display_name: str | None = None,
                department: str | None = None, email: str | None = None, reason: str | None) -> dict[str, dict]:
    """Correct a user's name, department or e-mail address (admins; with a reason): {"old", "new"} of what
    changed."""
    from engine.users import change_user as change

    with acting(engine, caller, "users.fix", reason=reason) as act:
        return change(act.session, name, display_name=display_name, department=department, email=email,
                      reason=reason.strip(), now=act.now, actor=act.actor)


def revoke_role(engine: Engine, caller: Caller, name: str, role: str, *, reason: str | None) -> list[str]:
    """Take a role from a user (admins; with a reason): the roles left."""
    from engine.users import revoke_role as revoke

    with acting(engine, caller, "users.revoke", reason=reason) as act:
        return revoke(act.session, name, role, reason=reason.strip(), now=act.now, actor=act.actor)


def disable_user(engine: Engine, caller: Caller, name: str, *, reason: str | None) -> None:
    """Disable a user, who can then no longer act (admins; with a reason); refused while they hold open tasks
    or own open findings, which the refusal names. A user is never deleted."""
    from engine.users import disable_user as disable
    from handlers.findings import open_findings_of

    with acting(engine, caller, "users.disable", reason=reason) as act:
        disable(act.session, name, findings=open_findings_of(act.session, name), reason=reason.strip(),
                now=act.now, actor=act.actor)


def enable_user(engine: Engine, caller: Caller, name: str, *, reason: str | None) -> None:
    """Let a disabled user act again (admins; with a reason)."""
    from engine.users import enable_user as enable

    with acting(engine, caller, "users.disable", reason=reason) as act:
        enable(act.session, name, reason=reason.strip(), now=act.now, actor=act.actor)


def away(engine: Engine, caller: Caller, name: str, substitute: str, starts, ends, processes: list[str], *,
         reason: str | None = None) -> dict[str, Any]:
    """代理: `substitute` does `name`'s tasks (of `processes`, or all) from `starts` to `ends` (the user, qmd
    or an admin); recorded, refused in one line when it would clash (see engine.users.set_away)."""
    from engine.users import set_away

    with acting(engine, caller, "users.away", user=name) as act:
        wanted = [process.strip() for process in processes if process.strip()]
        return set_away(act.session, name, substitute.strip(), starts, ends, wanted,
                        reason=(reason or "").strip() or None, now=act.now, actor=act.actor)


def back(engine: Engine, caller: Caller, name: str) -> list[dict[str, Any]]:
    """The end of `name`'s absence: their substitute no longer stands in."""
    from engine.users import set_back

    with acting(engine, caller, "users.away", user=name) as act:
        return set_back(act.session, name, now=act.now, actor=act.actor)


# -- settings


def settings(engine: Engine) -> list[dict[str, Any]]:
    return engine.settings()


def zone(engine: Engine):
    """The organisation's time zone (the `timezone` setting): the one people see times in."""
    from engine.settings import zone as organisation_zone

    with reading(engine) as session:
        return organisation_zone(session)


def change_setting(engine: Engine, caller: Caller, key: str, value: str, *, reason: str | None) -> None:
    """Change a setting (admins; with a reason); the change is recorded with its old and new value."""
    with guarded(engine, caller, "settings"):
        actor = authorized(engine, caller, "settings", reason=reason)
        engine.change_setting(key, value, actor=actor, reason=reason.strip())


# -- history and permissions


def history(engine: Engine, *, instance_id: int | None = None, limit: int | None = None,
            kind: str | None = None) -> list[dict[str, Any]]:
    return engine.history(instance_id, limit=limit, kind=kind)


def verify_history(db: str | None, *, public_keys: list[str] | None = None, checkpoint: str | None = None):
    """Check the history and what hangs on it (store.history.verify_chain) without writing: the database
    opened read-only, so that it works on an auditor's copy or a read-only file system. `public_keys`: trust
    only those keys (the auditor's copies), not the keys the database records; `checkpoint`: a checkpoint
    file kept outside the database (`history checkpoint --out`), which the history must still reach."""
    from engine.files import read_bounded
    from store import evidence, open_database, verify_chain

    trusted = exported = None
    try:
        if public_keys:
            trusted = {}
            for path in public_keys:
                public = evidence.load_public(read_bounded(path, evidence.MAX_KEY_FILE), path)
                trusted[evidence.key_id(public)] = public
        if checkpoint is not None:
            exported = evidence.read_exported(read_bounded(checkpoint, 64 * 1024), checkpoint)
    except evidence.KeyError_ as exc:
        raise OpsqaError(str(exc)) from None
    database = open_database(db, read_only=True)
    try:
        with database.reading() as session:
            return verify_chain(session, trusted=trusted, exported=exported)
    finally:
        database.dispose()


def history_keygen(engine: Engine, caller: Caller, key_file: str | None = None) -> dict[str, Any]:
    """A new signing key for the history's checkpoints (admins): the private key written where the service
    reads it (readable by its owner only, never over a file), its public half beside it (`.pub`) and
    recorded in the database; an earlier key is retired (its checkpoints still verify). The first
    checkpoint is signed at once."""
    import base64
    import os

    from sqlalchemy import select

    from engine import checkpoints
    from engine.files import write_output
    from store import SigningKey, append_event, evidence

    with guarded(engine, caller, "history.keygen"):
        actor = authorized(engine, caller, "history.keygen")
    path = Path(key_file) if key_file else checkpoints.key_path(engine.database)
    public_path = path.with_name(path.name + ".pub")
    try:
        key = evidence.new_key(path)
    except evidence.KeyError_ as exc:
        raise OpsqaError(str(exc)) from None
    public = evidence.raw_public(key)
    key_id = evidence.key_id(public)
    try:
        write_output(public_path, evidence.public_file_text(public), force=True, mode=0o644)
        now = engine.clock.now()
        with engine.database.transaction() as session:
            retired = []
            for row in session.scalars(select(SigningKey).where(SigningKey.retired_at.is_(None))):
                row.retired_at = now
                retired.append(row.key_id)
            encoded = base64.b64encode(public).decode()
            session.add(SigningKey(key_id=key_id, public_key=encoded, created_at=now, created_by=actor.name))
            append_event(session, at=now, kind="history.key_added", actor=actor.name, real_actor=actor.real,
                         payload={"key_id": key_id, "public_key": encoded, "retired": retired})
    except BaseException:
        os.unlink(path)  # a key no database knows would only mislead
        raise
    first = checkpoints.take(engine, key, now=engine.clock.now(), reason="key added")
    return {"key_id": key_id, "key_file": str(path), "public_key_file": str(public_path), "retired": retired,
            "checkpoint": first}


def history_checkpoint(engine: Engine, caller: Caller, *, key_file: str | None = None, out: str | None = None,
                       force: bool = False) -> dict[str, Any]:
    """Sign a checkpoint of the history as it stands, with the service's key (admins, and the quality
    department); with `out`, write it to a file for the auditor. Without access to the key, `out` exports
    the newest checkpoint the service signed (`signed` False then)."""
    import base64

    from sqlalchemy import select

    from engine import checkpoints
    from engine.files import check_output, write_output
    from store import HistoryCheckpoint, SigningKey, evidence

    with guarded(engine, caller, "history.checkpoint"):
        actor = authorized(engine, caller, "history.checkpoint")
    if out is not None:
        check_output(out, force=force)
    path = Path(key_file) if key_file else checkpoints.key_path(engine.database)
    try:
        key = evidence.load_key(path)
    except evidence.KeyError_ as exc:
        if out is None:
            raise OpsqaError(str(exc)) from None
        with engine.database.reading() as session:
            newest = session.scalar(select(HistoryCheckpoint).order_by(HistoryCheckpoint.seq.desc()).limit(1))
            if newest is None:
                raise OpsqaError(_("{reason}; and no checkpoint has been signed yet").format(reason=exc)) from None
            checkpoint, signed = checkpoints.view(newest), False
    else:
        checkpoint = checkpoints.take(engine, key, now=engine.clock.now(), reason=f"by {actor.name}")
        signed = True
    if out is not None:
        with engine.database.reading() as session:
            public = base64.b64decode(session.get(SigningKey, checkpoint["key_id"]).public_key)
        write_output(out, evidence.exported(checkpoint, public), force=force, mode=0o644)
    return {**checkpoint, "signed": signed, "file": out}


def permissions() -> list[dict[str, Any]]:
    """The permission table: every action, who may take it, and whether it needs a reason."""
    return policy_module.table()
