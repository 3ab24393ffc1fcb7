"""`Engine`: the public face of opsqa's engine. Each method is one transaction."""

from __future__ import annotations

import json
from collections.abc import Callable
from datetime import datetime
from pathlib import Path
from typing import Any
from zoneinfo import ZoneInfo

from sqlalchemy import func, select, union, union_all

from i18n import _
from store import (
    ChainReport,
    Database,
    Definition,
    Event,
    Instance,
    InstanceMigration,
    Schedule,
    ScheduleFire,
    Task,
    TaskCopy,
    TaskSigner,
    append_event,
    verify_chain,
)

from . import users as users_module
from .clock import Clock, SystemClock
from .errors import InstanceNotFound, InstanceNotRunning, InvalidProcess, OpsqaError, ProcessNotFound
from .lookup import find_task, user_task_spec
from .registry import Registry
from .settings import zone as settings_zone
from .users import Actor


class Engine:
    def __init__(self, database: Database | None, *, clock: Clock | None = None, handlers: Registry | None = None):
        self.database = database
        self._clock = clock or SystemClock()
        self.handlers = handlers or Registry()
        self._runtime = None
        self._worker: str | None = None

    def close(self) -> None:
        """Let go of the database's connections (the engine is not used after)."""
        if self.database is not None:
            self.database.dispose()

    @property
    def worker(self) -> str:
        """This engine's name in job leases (host, pid and a random part)."""
        if self._worker is None:
            from .jobs import worker_name

            self._worker = worker_name()
        return self._worker

    @property
    def clock(self) -> Clock:
        return self._clock

    @clock.setter
    def clock(self, clock: Clock) -> None:
        """Replace the clock (`tick --now`, simulate) everywhere at once, SpiffWorkflow's timers included."""
        self._clock = clock
        if self._runtime is not None:
            self._runtime.clock = clock

    @property
    def runtime(self):
        """The SpiffWorkflow side, imported only by commands that step instances."""
        if self._runtime is None:
            from .runtime import Runtime

            self._runtime = Runtime(self.database, clock=self.clock, handlers=self.handlers)
        return self._runtime

    # -- who acts

    def actor(self, login: str, as_name: str | None = None) -> Actor:
        """The acting user, with whom they stand in for today (代理)."""
        now = self.clock.now()
        with self.database.reading() as session:
            return users_module.resolve_actor(session, login, as_name, now=now)

    def add_user(self, name: str, roles: list[str], *, display_name: str | None = None,
                 department: str | None = None, email: str | None = None, actor: Actor | None = None,
                 reason: str | None = None) -> None:
        """Add a user (or roles to one, with a reason). `actor` None only while bootstrapping the first admin."""
        with self.database.transaction() as session:
            users_module.add_user(session, name, roles, display_name=display_name, department=department,
                                  email=email, now=self.clock.now(), actor=actor, reason=reason)

    def users(self) -> list[dict]:
        """Every user, with whether they are away today (and who stands in for them)."""
        now = self.clock.now()
        with self.database.reading() as session:
            rows = users_module.list_users(session)
            away = users_module.away_now(session, now.astimezone(settings_zone(session)).date())
        for row in rows:
            row["away"] = away.get(row["name"])
        return rows

    # -- definitions

    def validate(self, paths: list[str], *, progress: Callable[[int, int], None] | None = None) -> list:
        """Check BPMN files without storing anything; returns the builds. `progress(done, total)` as they are."""
        from . import definitions

        return self._validate_sources([definitions.read_file(path) for path in _bpmn_files(paths)], progress)

    def validate_texts(self, files: list[tuple[str, bytes]], *,
                       progress: Callable[[int, int], None] | None = None) -> list:
        """`validate` for files held elsewhere than on disk (a draft in the database): (display name, content)."""
        from . import definitions

        if not files:
            raise OpsqaError(_("no BPMN files given"))
        return self._validate_sources([definitions.parse_source(display, content) for display, content in files],
                                      progress)

    def _validate_sources(self, sources: list, progress: Callable[[int, int], None] | None) -> list:
        """The builds of the files and of the deployed processes that call theirs (rebuilt with them, so that a
        new version of a called process reaches the next instance of its callers)."""
        from . import definitions

        sources = self._with_deployed_callers(sources)
        wanted = {p.get("id") for s in sources for p in s.root.findall(f"{{{definitions.BPMN_NS}}}process")}
        return definitions.build(self._with_deployed_callees(sources), self.handlers.topics, wanted,
                                 self.handlers.checks, progress)

    def _with_deployed_callers(self, sources: list) -> list:
        """The files and the deployed processes that call theirs (`_deployed_callers`), to be built with them."""
        if self.database is None:
            return sources
        with self.database.reading() as session:
            return sources + _deployed_callers(session, sources)

    def _with_deployed_callees(self, sources: list) -> list:
        """The files and the deployed processes they call; without a database, calls must resolve within the files."""
        if self.database is None:
            return sources
        with self.database.reading() as session:
            return sources + _deployed_callees(session, sources)

    def problems(self, files: list[tuple[str, bytes]], *, limit: int = 50) -> list[InvalidProcess]:
        """Every problem of files held as (display name, content), each naming its file and element, so that a
        process owner editing a draft sees them all at once; an empty list: they deploy. A file that does not
        parse is one problem and the others are still checked. At most `limit` problems."""
        from . import definitions

        limit = max(limit, 1)  # none would read as deployable
        found: list[InvalidProcess] = []
        sources = []
        for display, content in files:
            try:
                sources.append(definitions.parse_source(display, content))
            except InvalidProcess as problem:
                found.append(problem)
        if sources and len(found) < limit:
            sources = self._with_deployed_callers(sources)  # what deploying them would build again
            wanted = {p.get("id") for s in sources for p in s.root.findall(f"{{{definitions.BPMN_NS}}}process")}
            found += definitions.problems(self._with_deployed_callees(sources), self.handlers.topics,
                                          self.handlers.checks, limit - len(found), wanted=wanted)
        return found[:limit]

    def deploy(self, paths: list[str], *, actor: Actor, reason: str | None = None,
               progress: Callable[[int, int], None] | None = None, revert: bool = False) -> list[dict[str, Any]]:
        """Store a new version of every process whose content (or a callee's) changed, each recorded with
        the version it follows and the reason. A file equal to an older version than the latest would silently
        undo what was deployed since (a change made in the browser, a file left behind): refused, nothing
        deployed, unless `revert` says it is meant. `progress(done, total)` as the files are parsed and their
        processes built (the long part)."""
        return self._store(self.validate(paths, progress=progress), actor=actor, reason=reason, revert=revert)

    def deploy_texts(self, files: list[tuple[str, bytes]], *, actor: Actor, reason: str | None = None,
                     revert: bool = False, also: Callable[[Any, list[dict[str, Any]]], None] | None = None
                     ) -> list[dict[str, Any]]:
        """`deploy` for files held elsewhere than on disk (a draft in the database): (file name, content).
        `also(session, results)` runs in the deploy's transaction (the draft closed with the version it became):
        both are stored, or neither."""
        return self._store(self.validate_texts(files), actor=actor, reason=reason, revert=revert, also=also)

    def _store(self, builds: list, *, actor: Actor, reason: str | None, revert: bool,
               also: Callable[[Any, list[dict[str, Any]]], None] | None = None) -> list[dict[str, Any]]:
        now = self.clock.now()
        results = []
        with self.database.transaction() as session:
            for build in builds:
                latest = session.scalar(
                    select(Definition).where(Definition.process_id == build.process_id)
                    .order_by(Definition.version.desc()).limit(1)
                )
                if latest is not None and latest.sha256 == build.sha256:
                    results.append({"process": build.process_id, "name": build.name, "version": latest.version,
                                    "changed": False, "file": build.source_file})
                    continue
                older = session.scalar(
                    select(Definition).where(Definition.process_id == build.process_id,
                                             Definition.sha256 == build.sha256)
                    .order_by(Definition.version.desc()).limit(1)) if latest is not None else None
                if older is not None and not revert:
                    raise OpsqaError(_(
                        "{file}: process {process} is the same as its version {old} (deployed {at} by {by}); "
                        "deploying it would undo version {latest}: export the deployed versions with `opsqa "
                        "processes export`, or add --revert if going back is meant").format(
                            file=build.source_file, process=build.process_id, old=older.version,
                            at=older.deployed_at.date(), by=older.deployed_by, latest=latest.version))
                version = (latest.version if latest else 0) + 1
                definition = Definition(
                    process_id=build.process_id, version=version, name=build.name, sha256=build.sha256,
                    source_file=build.source_file, xml=build.xml, spec_json=build.spec_json,
                    model_json=json.dumps(build.model, ensure_ascii=False, sort_keys=True),
                    deployed_at=now, deployed_by=actor.name,
                )
                session.add(definition)
                session.flush()
                _sync_schedule(session, build, version, now, actor)
                append_event(session, at=now, kind="definition.deployed", actor=actor.name, real_actor=actor.real,
                             payload={"process": build.process_id, "from_version": latest.version if latest else None,
                                      "version": version, "sha256": build.sha256, "file": build.source_file,
                                      "reason": reason, "reverts_to": older.version if older is not None else None})
                results.append({"process": build.process_id, "name": build.name, "version": version,
                                "changed": True, "file": build.source_file})
            if also is not None:
                also(session, results)
        return results

    def model_of(self, process_id: str) -> dict[str, Any]:
        """The latest version's model: user tasks with their forms and roles, service topics."""
        with self.database.reading() as session:
            text = session.scalar(select(Definition.model_json).where(Definition.process_id == process_id)
                                  .order_by(Definition.version.desc()).limit(1))
        if text is None:
            raise OpsqaError(_("no process {process_id!r} is deployed").format(process_id=process_id))
        return json.loads(text)

    def versions(self, process_id: str) -> list[dict[str, Any]]:
        """Every deployed version of a process, oldest first, with the instances still running on it."""
        with self.database.reading() as session:
            rows = session.scalars(select(Definition).where(Definition.process_id == process_id)
                                   .order_by(Definition.version)).all()
            if not rows:
                raise ProcessNotFound(_("no process {process_id!r} is deployed; see `opsqa processes`").format(
                                          process_id=process_id))
            running = dict(session.execute(
                select(Instance.definition_id, func.count()).where(Instance.status.in_(("running", "error")))
                .group_by(Instance.definition_id)).all())
            return [{"version": d.version, "name": d.name, "deployed_at": d.deployed_at, "deployed_by": d.deployed_by,
                     "source_file": d.source_file, "sha256": d.sha256[:12], "running": running.get(d.id, 0),
                     "definition": d.id} for d in rows]

    def callers(self, process_id: str) -> list[dict[str, Any]]:
        """The running instances of other processes that call this one, per calling process and version, how many
        are running: a caller's version binds the versions it calls when it is built, so a new version of this
        one reaches them only when they are moved to a newer version of their own."""
        with self.database.reading() as session:
            running = session.execute(
                select(Definition.id, Definition.process_id, Definition.version, func.count())
                .join(Instance, Instance.definition_id == Definition.id)
                .where(Instance.status.in_(("running", "error")), Definition.process_id != process_id)
                .group_by(Definition.id, Definition.process_id, Definition.version)).all()
            found = []
            for definition_id, caller, version, count in running:
                model = json.loads(session.scalar(select(Definition.model_json).where(Definition.id == definition_id)))
                if process_id in model["nodes"]:
                    found.append({"process": caller, "version": version, "running": count})
        return sorted(found, key=lambda row: (row["process"], row["version"]))

    def diff(self, process_id: str, old: int, new: int) -> list:
        """What changed from version `old` to version `new`, in words (engine/diff.py's `Change`s)."""
        from . import diff

        models = {}
        with self.database.reading() as session:
            for version in (old, new):
                row = session.scalar(select(Definition).where(Definition.process_id == process_id,
                                                             Definition.version == version))
                if row is None:
                    raise ProcessNotFound(_("process {process_id} has no version {version}; see `opsqa processes "
                                            "show {process_id}`").format(process_id=process_id, version=version))
                models[version] = (json.loads(row.model_json), row.xml.encode())
        return diff.describe(*models[old], *models[new])

    def definition_xml(self, process_id: str, version: int) -> bytes:
        with self.database.reading() as session:
            xml = session.scalar(select(Definition.xml).where(Definition.process_id == process_id,
                                                              Definition.version == version))
        if xml is None:
            raise ProcessNotFound(_("process {process_id} has no version {version}; see `opsqa processes show "
                                    "{process_id}`").format(process_id=process_id, version=version))
        return xml.encode()

    def processes(self) -> list[dict[str, Any]]:
        with self.database.reading() as session:
            latest = (
                select(Definition.process_id, func.max(Definition.version).label("version"))
                .group_by(Definition.process_id).subquery()
            )
            rows = session.execute(
                select(Definition).join(latest, (Definition.process_id == latest.c.process_id)
                                        & (Definition.version == latest.c.version))
                .order_by(Definition.process_id)
            ).scalars().all()
            counts = dict(session.execute(
                select(Instance.process_id, func.count()).where(Instance.status.in_(("running", "error")))
                .group_by(Instance.process_id)
            ).all())
            return [
                {"process": d.process_id, "name": d.name, "version": d.version, "file": d.source_file,
                 "deployed_at": d.deployed_at, "deployed_by": d.deployed_by, "active": counts.get(d.process_id, 0)}
                for d in rows
            ]

    # -- time

    def tick(self, now: datetime | None = None):
        """One scheduler pass: due schedules, then due timers."""
        from .scheduler import tick

        return tick(self, now or self.clock.now())

    def schedules(self, count: int = 3) -> list[dict[str, Any]]:
        """Each schedule with its last period and its next fire times."""
        from . import timers

        now = self.clock.now()
        with self.database.reading() as session:
            rows = session.scalars(select(Schedule).order_by(Schedule.process_id)).all()
            fires = session.scalars(select(ScheduleFire).order_by(ScheduleFire.fire_time)).all()
        last = {fire.process_id: fire for fire in fires}
        fired = {(fire.process_id, fire.period) for fire in fires}
        views = []
        for row in rows:
            zone = ZoneInfo(row.zone)
            try:
                cycle = timers.parse_cycle(row.timer_kind, row.expression, zone)
                upcoming = [when for when in cycle.next_fires(now, count + 5)
                            if (row.process_id, cycle.period(when, zone)) not in fired][:count]
            except ValueError:  # stored before the deploy-time checks; the next tick disables it with its reason
                cycle, upcoming = None, []
            fire = last.get(row.process_id)
            views.append({
                "process": row.process_id, "expression": row.expression, "zone": row.zone, "policy": row.policy,
                "enabled": row.enabled, "version": row.version,
                "last_period": fire.period if fire else None, "last_fire": fire.fire_time if fire else None,
                "next": [{"period": cycle.period(when, zone), "at": when} for when in upcoming]
                        if row.enabled and cycle is not None else [],
            })
        return views

    def settings(self) -> list[dict[str, Any]]:
        from . import settings

        with self.database.reading() as session:
            return settings.all_settings(session)

    def change_setting(self, key: str, value: str, *, actor: Actor, reason: str | None = None) -> None:
        from . import settings

        with self.database.transaction() as session:
            settings.change(session, key, value, now=self.clock.now(), actor=actor, reason=reason)
            if key in ("timezone", "catch_up_policy"):  # schedules carry the zone and policy they fire by
                for schedule in session.scalars(select(Schedule)):
                    if key == "timezone":
                        schedule.zone = value
                    else:
                        schedule.policy = value

    # -- instances

    def start(self, process_id: str, *, actor: Actor, business_key: str | None = None,
              variables: dict | None = None) -> int:
        return self.runtime.start(process_id, actor=actor, business_key=business_key, variables=variables)

    def starter(self, session, actor: Actor):
        """A function starting instances in the caller's transaction, for domain commands that raise
        work of their own (a finding and its follow-up): (process, business key, variables) -> id."""
        now = self.clock.now()

        def start(process_id: str, business_key: str, variables: dict) -> int:
            return self.runtime.start_in(session, process_id, now=now, actor=actor, business_key=business_key,
                                         variables=variables)

        return start

    def rearmer(self, session, actor: Actor):
        """A function re-arming an instance's date timers from changed variables, in the caller's
        transaction (a finding's extended due date): (instance id, variables, reason) -> timers."""
        now = self.clock.now()

        def rearm(instance_id: int, variables: dict, reason: str) -> list[dict]:
            return self.runtime.rearm_in(session, instance_id, variables, now=now, actor=actor, reason=reason)

        return rearm

    def retry(self, instance_id: int, *, actor: Actor, reason: str | None = None) -> None:
        self.runtime.retry(instance_id, actor=actor, reason=reason)

    def cancel(self, instance_id: int, *, actor: Actor, reason: str | None = None) -> None:
        self.runtime.cancel(instance_id, actor=actor, reason=reason)

    def migrate(self, process_id: str, version: int, *, actor: Actor, instance_ids: list[int] | None = None,
                dry_run: bool = False, revert: bool = False, reason: str | None = None) -> list[dict[str, Any]]:
        """Move running instances of a process onto `version` (or, with `revert`, undo their migration to
        it): each in its own transaction; those that cannot move are left, with the tasks in the way.
        Every id given must be an instance of the process; none is touched otherwise."""
        with self.database.reading() as session:
            target = session.scalar(select(Definition).where(Definition.process_id == process_id,
                                                             Definition.version == version))
            if target is None:
                if session.scalar(select(Definition.id).where(Definition.process_id == process_id).limit(1)) is None:
                    raise ProcessNotFound(_("no process {process_id!r} is deployed; see `opsqa processes`").format(
                                              process_id=process_id))
                raise ProcessNotFound(_("process {process_id} has no version {version}; see `opsqa processes "
                                        "show {process_id}`").format(process_id=process_id, version=version))
            if instance_ids:
                rows = {row.id: row for row in session.scalars(select(Instance).where(Instance.id.in_(instance_ids)))}
                for instance_id in instance_ids:
                    row = rows.get(instance_id)
                    if row is None:
                        raise InstanceNotFound(_("no instance {instance_id}; see `opsqa instances`").format(
                                                   instance_id=instance_id))
                    if row.process_id != process_id:
                        raise OpsqaError(_("instance {instance_id} runs {other}, not {process_id}; a version of "
                                           "{process_id} cannot take it").format(
                                             instance_id=instance_id, other=row.process_id, process_id=process_id))
                    if row.status not in ("running", "error"):
                        raise InstanceNotRunning(_("instance {instance_id} is {status}; only a running one can "
                                                   "move").format(instance_id=instance_id, status=row.status))
                    if not revert and row.definition_id == target.id:
                        raise OpsqaError(_("instance {instance_id} already runs version {version} of "
                                           "{process_id}").format(instance_id=instance_id, version=version,
                                                                  process_id=process_id))
                candidates = list(instance_ids)
            elif revert:
                candidates = list(session.scalars(
                    select(InstanceMigration.instance_id).distinct().join(Instance)
                    .where(Instance.definition_id == target.id, InstanceMigration.to_definition_id == target.id,
                           InstanceMigration.reverted_at.is_(None), Instance.status.in_(("running", "error")))
                    .order_by(InstanceMigration.instance_id)))
            else:
                candidates = list(session.scalars(
                    select(Instance.id).where(Instance.process_id == process_id, Instance.definition_id != target.id,
                                              Instance.status.in_(("running", "error"))).order_by(Instance.id)))
        results = []
        for instance_id in candidates:
            try:
                if revert:
                    results.append(self.runtime.revert_migration(instance_id, actor=actor, dry_run=dry_run,
                                                                 reason=reason))
                else:
                    results.append(self.runtime.migrate(instance_id, target.id, actor=actor, dry_run=dry_run,
                                                        reason=reason))
            except OpsqaError as exc:  # changed meanwhile, or its state would not load on the version: left
                results.append({"instance": instance_id, "process": process_id, "outcome": "left",
                                "obstacles": [str(exc)]})
        return results

    def instances(self, *, status: str | None = None, process_id: str | None = None) -> list[dict[str, Any]]:
        with self.database.reading() as session:
            query = select(Instance, Definition.version, Definition.name).join(Definition).order_by(Instance.id)
            if status:
                query = query.where(Instance.status == status)
            if process_id:
                query = query.where(Instance.process_id == process_id)
            return [_instance_view(row, version, name) for row, version, name in session.execute(query)]

    def instance(self, instance_id: int) -> dict[str, Any]:
        with self.database.reading() as session:
            found = session.execute(
                select(Instance, Definition.version, Definition.name).join(Definition)
                .where(Instance.id == instance_id)
            ).first()
            if found is None:
                raise InstanceNotFound(_("no instance {instance_id}; see `opsqa instances`").format(
                                           instance_id=instance_id))
            view = _instance_view(*found)
            tasks = session.scalars(select(Task).where(Task.instance_id == instance_id).order_by(Task.created_at))
            view["tasks"] = [_task_view(task) for task in tasks]
            view["timers"] = self.runtime.waiting(session, instance_id) if view["status"] == "running" else []
            return view

    def variables(self, instance_id: int) -> dict[str, Any]:
        """The instance's process variables as they stand (for people to read)."""
        with self.database.reading() as session:
            return self.runtime.variables(session, instance_id)

    def painted(self, instance_id: int) -> tuple[bytes, dict[str, str], str]:
        """An instance's BPMN and what to paint on it: done, ready or in progress, waiting on a timer, failed."""
        with self.database.reading() as session:
            row = session.get(Instance, instance_id)
            if row is None:
                raise InstanceNotFound(_("no instance {instance_id}; see `opsqa instances`").format(
                                           instance_id=instance_id))
            definition = session.get(Definition, row.definition_id)
            states = self.runtime.element_states(session, instance_id)
            if row.status == "error" and row.incident_task:
                states[row.incident_task] = "error"
            key = f" {row.business_key}" if row.business_key else ""
            return definition.xml.encode(), states, f"{definition.name} #{instance_id}{key} ({row.status})"

    # -- tasks

    def tasks(self, *, role: str | None = None, mine: Actor | None = None, instance_id: int | None = None,
              state: str | None = "ready", overdue: bool = False, limit: int | None = None) -> list[dict[str, Any]]:
        """Tasks from the read model, oldest first; only the listed columns are read (no variables)."""
        filters = {"role": role, "state": state, "instance_id": instance_id, "limit": limit,
                   "due_before": self.clock.now() if overdue else None,
                   "person": mine.name if mine is not None else None}
        if self.database.is_sqlite:  # plain tuples: the ORM's rows cost more than the query
            from store import quickread

            with self.database.reading_driver() as connection:
                return quickread.read_tasks(connection, **filters)
        with self.database.reading() as session:
            return orm_tasks(session, **filters)

    def inbox(self, actor: Actor, *, view: str = "todo", page: int = 1, per_page: int = 50,
              process_id: str | None = None, overdue: bool = False) -> dict[str, Any]:
        """A person's work, a page at a time: `todo` — open tasks assigned to or claimed by them, and their
        roles' tasks nobody holds, the most urgent first (overdue, then by due date, then the oldest);
        `done` — tasks they completed, newest first; `started` — instances they started, newest first; `cc` —
        tasks copied to them (抄送我的), the newest copy first; `sign` — open tasks waiting for their signature
        (加签), the newest request first.
        {"rows", "total", "page", "pages", "processes": the processes among all rows, {"id", "name"} (a filter)}.

        The open tasks are three disjoint parts, each read from the index that covers it (migration 0017),
        and the page is chosen among those entries before its rows are joined and read: one person's inbox
        among 100,000 open tasks reads that person's entries only."""
        now = self.clock.now()
        if view == "started":
            parts = [select(Instance.id.label("id"), Instance.process_id.label("process_id"),
                            Instance.started_at.label("at")).where(Instance.started_by == actor.name)]
            process_column = Instance.process_id

            def ordering(c):
                return c.at.desc(), c.id.desc()

            def joined(window):
                return (select(Instance.id, Instance.process_id.label("process"),
                               Definition.name.label("process_name"), Instance.business_key, Instance.status,
                               Instance.started_at)
                        .select_from(window).join(Instance, Instance.id == window.c.id)
                        .join(Definition, Definition.id == Instance.definition_id))
        else:
            process_column = Task.process_id
            columns = (Task.id.label("id"), Task.process_id.label("process_id"), Task.due_at.label("due_at"),
                       Task.created_at.label("created_at"))  # what the inbox's indexes cover: nothing more
            if view in ("done", "cc", "sign"):
                if view == "done":
                    parts = [select(*columns, Task.completed_at.label("at"))
                             .where(Task.completed_by == actor.name, Task.state == "completed")]
                elif view == "cc":  # 抄送我的: the tasks copied to them, the newest copy first
                    parts = [select(*columns, TaskCopy.copied_at.label("at"))
                             .join(TaskCopy, TaskCopy.task_id == Task.id).where(TaskCopy.user_name == actor.name)]
                else:  # 待我加签: open tasks waiting for their signature, the newest request first
                    parts = [select(*columns, TaskSigner.asked_at.label("at"))
                             .join(TaskSigner, TaskSigner.task_id == Task.id)
                             .where(TaskSigner.user_name == actor.name, TaskSigner.decision.is_(None),
                                    Task.state == "ready")]

                def ordering(c):
                    return c.at.desc(), c.id

            else:
                parts = [select(*columns).where(Task.assignee == actor.name, Task.state == "ready"),
                         select(*columns).where(Task.claimed_by == actor.name, Task.state == "ready",
                                                Task.assignee.is_(None) | (Task.assignee != actor.name))]
                if actor.roles:
                    parts.append(select(*columns).where(Task.state == "ready", Task.role.in_(sorted(actor.roles)),
                                                        Task.assignee.is_(None), Task.claimed_by.is_(None)))
                for name, roles, processes in actor.stands_in:  # 代理: the tasks of those they stand in for
                    theirs = (Task.assignee == name) | (Task.claimed_by == name)
                    if roles:
                        theirs |= (Task.role.in_(sorted(roles)) & Task.assignee.is_(None) & Task.claimed_by.is_(None))
                    part = select(*columns).where(Task.state == "ready", theirs)
                    parts.append(part.where(Task.process_id.in_(processes)) if processes is not None else part)
                if overdue:
                    parts = [one.where(Task.due_at < now) for one in parts]

                def ordering(c):
                    return c.due_at.is_(None), c.due_at, c.created_at, c.id

            def joined(window):
                return (select(*_TASK_COLUMNS, Definition.name.label("process_name"))
                        .select_from(window).join(Task, Task.id == window.c.id)
                        .join(Instance, Instance.id == Task.instance_id)
                        .join(Definition, Definition.id == Instance.definition_id))
        with self.database.reading() as session:
            together = union if actor.stands_in and view == "todo" else union_all  # a stand-in's parts overlap
            every = (parts[0] if len(parts) == 1 else together(*parts)).subquery()
            ids = sorted(session.scalars(select(every.c.process_id).distinct()))
            names = dict(session.execute(select(Definition.process_id, Definition.name)
                                         .where(Definition.process_id.in_(ids)).order_by(Definition.version)).all())
            processes = [{"id": one, "name": names.get(one) or one} for one in ids]  # the latest version's name
            if process_id:
                parts = [one.where(process_column == process_id) for one in parts]
            part = (parts[0] if len(parts) == 1 else together(*parts)).subquery()
            total = session.scalar(select(func.count()).select_from(part))
            pages = max(1, -(-total // per_page))
            page = min(max(1, page), pages)
            window = (select(part).order_by(*ordering(part.c)).limit(per_page).offset((page - 1) * per_page)
                      .subquery())
            rows = [dict(row._mapping) for row in session.execute(joined(window).order_by(*ordering(window.c)))]
            for row in rows:
                due = row.get("due_at")
                row["overdue"] = bool(due is not None and row.get("state") == "ready" and due < now)
            listing = {"rows": rows, "total": total, "page": page, "pages": pages, "processes": processes}
            if view == "todo":  # beside their own tasks: how many others wait for their signature (加签)
                listing["to_sign"] = session.scalar(
                    select(func.count()).select_from(TaskSigner).join(Task, Task.id == TaskSigner.task_id)
                    .where(TaskSigner.user_name == actor.name, TaskSigner.decision.is_(None), Task.state == "ready"))
            return listing

    def deadlines(self, start: datetime, end: datetime, *, limit: int = 50) -> list[dict[str, Any]]:
        """Open tasks due in [start, end), soonest first, with their process's name and business key."""
        with self.database.reading() as session:
            query = (select(*_TASK_COLUMNS, Definition.name.label("process_name"))
                     .join(Instance, Instance.id == Task.instance_id)
                     .join(Definition, Definition.id == Instance.definition_id)
                     .where(Task.state == "ready", Task.due_at >= start, Task.due_at < end)
                     .order_by(Task.due_at, Task.id).limit(limit))
            return [dict(row._mapping) for row in session.execute(query)]

    def overdue_by_holder(self) -> list[dict[str, Any]]:
        """Open tasks past their due date, counted by who holds them (the assignee, else whoever claimed
        it, else the role), the most first, with the oldest due date of each."""
        now = self.clock.now()
        holder = func.coalesce(Task.assignee, Task.claimed_by)
        with self.database.reading() as session:
            rows = session.execute(
                select(holder.label("person"), Task.role, func.count().label("count"), func.min(Task.due_at))
                .where(Task.state == "ready", Task.due_at < now).group_by(holder, Task.role))
            grouped: dict[tuple, dict[str, Any]] = {}
            for person, role, count, oldest in rows:
                key = (person, None) if person else (None, role)
                entry = grouped.setdefault(key, {"person": key[0], "role": key[1], "count": 0, "oldest": oldest})
                entry["count"] += count
                entry["oldest"] = min(entry["oldest"], oldest)
            return sorted(grouped.values(), key=lambda e: (-e["count"], e["oldest"]))

    def count_tasks(self, *, role: str | None = None, state: str | None = "ready") -> int:
        with self.database.reading() as session:
            query = select(func.count()).select_from(Task)
            if state:
                query = query.where(Task.state == state)
            if role:
                query = query.where(Task.role == role)
            return session.scalar(query)

    def task(self, task_id: str) -> dict[str, Any]:
        with self.database.reading() as session:
            task = find_task(session, task_id)
            view = _task_view(task)
            instance = session.get(Instance, task.instance_id)
            model = json.loads(session.scalar(select(Definition.model_json)
                                              .where(Definition.id == instance.definition_id)))
            spec = user_task_spec(model, task.process_id, task.bpmn_id) or {}
            view["form"] = spec.get("form", [])
            view["variables"] = json.loads(task.variables)
            view["prefill"] = bool(spec.get("prefill"))  # the fields left out keep the values in `variables`
            view["business_key"] = instance.business_key
            return view

    def task_page(self, task_id: str, actor: Actor) -> dict[str, Any]:
        """What a person needs to do a task: the task with its form and variables, its process's name, the
        element's documentation (the instructions), the definition its diagram is drawn from, and what the
        policy lets `actor` do with it (complete, claim, unclaim)."""
        from . import definitions, policy

        with self.database.reading() as session:
            task = find_task(session, task_id)
            view = _task_view(task)
            instance = session.get(Instance, task.instance_id)
            if task.process_id == instance.process_id:
                definition = session.get(Definition, instance.definition_id)
            else:  # a task of a called process: the callee's version deployed when the instance started
                definition = session.scalars(
                    select(Definition).where(Definition.process_id == task.process_id)
                    .order_by((Definition.deployed_at <= instance.started_at).desc(), Definition.version.desc())
                ).first()
            model = json.loads(session.scalar(select(Definition.model_json)
                                              .where(Definition.id == instance.definition_id)))
            spec = user_task_spec(model, task.process_id, task.bpmn_id) or {}
            view.update(
                form=spec.get("form", []), variables=json.loads(task.variables), prefill=bool(spec.get("prefill")),
                business_key=instance.business_key, instance_status=instance.status,
                process_name=definition.name if definition is not None else task.process_id,
                definition=definition.id if definition is not None else None,
                documentation=definitions.documentation(definition.xml, task.bpmn_id) if definition else None,
            )
            ready = task.state == "ready"
            view["overdue"] = bool(ready and task.due_at is not None and task.due_at < self.clock.now())
            view["may"] = {
                "complete": ready and not _delegated(task) and policy.allows(actor, "task.complete", task=task),
                "claim": ready and not task.assignee and not task.claimed_by and task.role is not None
                and policy.allows(actor, "task.claim", task=task),
                "unclaim": ready and task.claimed_by is not None
                and policy.allows(actor, "task.unclaim", claimer=task.claimed_by),
                "transfer": ready and not _delegated(task)
                and policy.allows(actor, "task.transfer", holder=task.assignee or task.claimed_by),
                "delegate": ready and not _delegated(task) and bool(task.assignee or task.claimed_by)
                and policy.allows(actor, "task.delegate", holder=task.assignee or task.claimed_by),
                "resolve": ready and _delegated(task) and policy.allows(actor, "task.resolve", delegate=task.assignee),
                "copy": ready and policy.allows(actor, "task.cc", holder=task.assignee or task.claimed_by,
                                                starter=instance.started_by),
                "remind": ready and policy.allows(actor, "task.remind", starter=instance.started_by),
                "send_back": ready and not _delegated(task) and policy.allows(actor, "task.send_back", task=task),
                "withdraw": task.state == "completed" and instance.status == "running"
                and policy.allows(actor, "task.withdraw", completer=task.completed_by),
                "add_signer": ready and not _delegated(task) and policy.allows(actor, "task.add_signer", task=task),
            }
            signers = session.scalars(select(TaskSigner).where(TaskSigner.task_id == task.id).order_by(TaskSigner.id))
            view["signers"] = [{"user": row.user_name, "asked_by": row.asked_by, "asked_at": row.asked_at,
                                "reason": row.reason, "decision": row.decision, "decided_at": row.decided_at,
                                "note": row.note} for row in signers]
            view["may"]["sign"] = ready and any(row["user"] == actor.name and row["decision"] is None
                                                for row in view["signers"])
            view["steps_back"] = []
            if view["may"]["send_back"]:  # the steps done before it in its process (the engine checks the path)
                done = session.execute(select(Task.bpmn_id, Task.name).where(
                    Task.instance_id == task.instance_id, Task.process_id == task.process_id,
                    Task.state == "completed", Task.bpmn_id != task.bpmn_id).order_by(Task.completed_at))
                view["steps_back"] = [{"bpmn_id": b, "name": n} for b, n in dict(done.all()).items()]
            return view

    def instance_definition(self, instance_id: int) -> int:
        with self.database.reading() as session:
            row = session.get(Instance, instance_id)
            if row is None:
                raise InstanceNotFound(_("no instance {instance_id}; see `opsqa instances`").format(
                                           instance_id=instance_id))
            return row.definition_id

    def definition_xml_by_id(self, definition_id: int) -> str:
        with self.database.reading() as session:
            definition = session.get(Definition, definition_id)
            if definition is None:
                raise ProcessNotFound(_("no process definition {id}").format(id=definition_id))
            return definition.xml

    def claim(self, task_id: str, *, actor: Actor) -> None:
        self.runtime.claim(task_id, actor=actor)

    def unclaim(self, task_id: str, *, actor: Actor) -> None:
        self.runtime.claim(task_id, actor=actor, release=True)

    def transfer(self, task_id: str, to: str, *, actor: Actor, reason: str) -> dict[str, Any]:
        return self.runtime.transfer(task_id, to, actor=actor, reason=reason)

    def remind(self, task_id: str, *, actor: Actor, note: str | None = None) -> dict[str, Any]:
        return self.runtime.remind(task_id, actor=actor, note=note)

    def delegate(self, task_id: str, to: str, *, actor: Actor) -> dict[str, Any]:
        return self.runtime.delegate(task_id, to, actor=actor)

    def resolve(self, task_id: str, *, actor: Actor, note: str | None = None) -> dict[str, Any]:
        return self.runtime.resolve(task_id, actor=actor, note=note)

    def copy(self, task_id: str, to: list[str], *, actor: Actor) -> dict[str, Any]:
        return self.runtime.copy(task_id, to, actor=actor)

    def add_signers(self, task_id: str, to: list[str], *, actor: Actor, reason: str) -> dict[str, Any]:
        return self.runtime.add_signers(task_id, to, actor=actor, reason=reason)

    def sign(self, task_id: str, *, actor: Actor, approve: bool, note: str | None = None) -> dict[str, Any]:
        return self.runtime.sign(task_id, actor=actor, approve=approve, note=note)

    def send_back(self, task_id: str, step: str, *, actor: Actor, reason: str) -> dict[str, Any]:
        return self.runtime.send_back(task_id, step, actor=actor, reason=reason)

    def withdraw(self, task_id: str, *, actor: Actor, reason: str | None = None) -> dict[str, Any]:
        return self.runtime.withdraw(task_id, actor=actor, reason=reason)

    def complete(self, task_id: str, values: dict[str, Any], *, actor: Actor) -> None:
        self.runtime.complete(task_id, values, actor=actor)

    # -- history

    def history(self, instance_id: int | None = None, *, limit: int | None = None,
                kind: str | None = None) -> list[dict[str, Any]]:
        """Events oldest first; `kind` keeps those of that kind or family (`security` for `security.denied`)."""
        with self.database.reading() as session:
            query = select(Event).order_by(Event.id)
            if kind:
                query = query.where((Event.kind == kind) | Event.kind.startswith(f"{kind}.", autoescape=True))
            if instance_id is not None:
                if session.get(Instance, instance_id) is None:
                    raise InstanceNotFound(_("no instance {instance_id}; see `opsqa instances`").format(
                                               instance_id=instance_id))
                query = query.where(Event.instance_id == instance_id)
            if limit:  # the newest N, shown oldest first
                events = list(reversed(session.scalars(query.order_by(None).order_by(Event.id.desc())
                                                       .limit(limit)).all()))
            else:
                events = session.scalars(query).all()
            return [
                {"id": e.id, "at": e.at, "kind": e.kind, "actor": e.actor, "real_actor": e.real_actor,
                 "instance": e.instance_id, "task": e.task_id, "payload": json.loads(e.payload)}
                for e in events
            ]

    def verify_history(self) -> ChainReport:
        with self.database.reading() as session:
            return verify_chain(session)


def _sync_schedule(session, build, version: int, now: datetime, actor: Actor) -> None:
    """A timer start event is the process's schedule; a new version moves it (a period never fires twice)."""
    from . import settings

    timer = build.model.get("start_timer")
    schedule = session.scalar(select(Schedule).where(Schedule.process_id == build.process_id))
    if timer is None:
        if schedule is not None and schedule.enabled:
            schedule.enabled, schedule.version, schedule.updated_at = False, version, now
            append_event(session, at=now, kind="schedule.disabled", actor=actor.name, real_actor=actor.real,
                         payload={"process": build.process_id, "version": version})
        return
    if schedule is None:
        schedule = Schedule(process_id=build.process_id, version=version, timer_kind=timer["kind"],
                            expression=timer["expression"], zone=settings.get(session, "timezone"),
                            policy=settings.get(session, "catch_up_policy"), source="diagram", enabled=True,
                            created_at=now, updated_at=now)
        session.add(schedule)
        kind = "schedule.created"
    elif (schedule.timer_kind, schedule.expression, schedule.enabled) != (timer["kind"], timer["expression"], True):
        schedule.timer_kind, schedule.expression, schedule.enabled = timer["kind"], timer["expression"], True
        schedule.version, schedule.updated_at = version, now
        kind = "schedule.updated"
    else:
        schedule.version = version
        return
    append_event(session, at=now, kind=kind, actor=actor.name, real_actor=actor.real,
                 payload={"process": build.process_id, "version": version, "timer": timer})


def _bpmn_files(paths: list[str]) -> list[Path]:
    files: list[Path] = []
    for raw in paths:
        path = Path(raw)
        if path.is_dir():
            found = sorted(path.glob("*.bpmn"))
            if not found:
                raise InvalidProcess(_("the folder holds no .bpmn files"), file=str(path))
            files.extend(found)
        elif path.exists():
            files.append(path)
        else:
            raise InvalidProcess(_("no such file or folder"), file=str(path))
    if not files:
        raise OpsqaError(_("no BPMN files given"))
    return files


def _deployed_callers(session, sources) -> list:
    """The latest versions of the deployed processes that call the given files' processes (directly or through
    others) and are not given themselves, as files to build again with them. A caller's version binds the
    versions of what it calls when it is built, and an instance starts on its process's latest version: so a
    new quality plan reaches next year's annual cycle only through a new version of the cycle, its BPMN the
    same. (Instances already running keep theirs until they are moved.)"""
    from . import definitions

    defined = {p.get("id") for s in sources for p in s.root.findall(f"{{{definitions.BPMN_NS}}}process")}
    latest = (select(Definition.process_id, func.max(Definition.version).label("version"))
              .group_by(Definition.process_id).subquery())
    rows = session.scalars(select(Definition).join(latest, (Definition.process_id == latest.c.process_id)
                                                   & (Definition.version == latest.c.version))).all()
    added, seen = [], set(defined)
    for row in rows:
        if row.process_id in seen or not defined & set(json.loads(row.model_json)["nodes"]):
            continue  # model["nodes"] names the process and every process it calls, through others too
        caller = definitions.parse_source(row.source_file, row.xml.encode())
        seen.update(p.get("id") for p in caller.root.findall(f"{{{definitions.BPMN_NS}}}process"))
        added.append(caller)
    return added


def _deployed_callees(session, sources) -> list:
    """Deployed processes that the given files call but do not define (so calls resolve)."""
    from . import definitions

    defined = {p.get("id") for s in sources for p in s.root.findall(f"{{{definitions.BPMN_NS}}}process")}
    added = []
    pending = [s for s in sources]
    while pending:
        source = pending.pop()
        for call in source.root.iter(f"{{{definitions.BPMN_NS}}}callActivity"):
            callee = call.get("calledElement")
            if not callee or callee in defined:
                continue
            row = session.scalar(select(Definition).where(Definition.process_id == callee)
                                 .order_by(Definition.version.desc()).limit(1))
            if row is None:
                continue  # check_files reports it, naming the calling file and element
            deployed = definitions.parse_source(f"{row.source_file} (deployed v{row.version})", row.xml.encode())
            defined.update(p.get("id") for p in deployed.root.findall(f"{{{definitions.BPMN_NS}}}process"))
            added.append(deployed)
            pending.append(deployed)
    return added


def _instance_view(row: Instance, version: int, name: str) -> dict[str, Any]:
    return {
        "id": row.id, "process": row.process_id, "name": name, "version": version, "business_key": row.business_key,
        "status": row.status, "incident": row.incident, "started_at": row.started_at, "started_by": row.started_by,
        "updated_at": row.updated_at, "ended_at": row.ended_at, "next_due_at": row.next_due_at,
    }


_TASK_COLUMNS = (Task.id, Task.instance_id.label("instance"), Instance.business_key, Task.process_id.label("process"),
                 Task.bpmn_id.label("task"), Task.name, Task.role, Task.state, Task.assignee, Task.claimed_by,
                 Task.due_at, Task.created_at, Task.completed_by, Task.completed_at)


def orm_tasks(session, *, role: str | None = None, state: str | None = "ready", instance_id: int | None = None,
              due_before: datetime | None = None, person: str | None = None,
              limit: int | None = None) -> list[dict[str, Any]]:
    """`Engine.tasks` through SQLAlchemy (PostgreSQL; tests/test_quickread.py holds SQLite's reader to it), with
    each task's instance's business key."""
    query = select(*_TASK_COLUMNS).join(Instance, Instance.id == Task.instance_id).order_by(Task.created_at, Task.id)
    if due_before is not None:
        query = query.where(Task.state == "ready", Task.due_at < due_before)
    if state:
        query = query.where(Task.state == state)
    if role:
        query = query.where(Task.role == role)
    if instance_id is not None:
        query = query.where(Task.instance_id == instance_id)
    if person is not None:
        query = query.where((Task.assignee == person) | (Task.claimed_by == person))
    if limit:
        query = query.limit(limit)
    return [dict(row._mapping) for row in session.execute(query)]


def _delegated(task) -> bool:
    """Delegated and not handed back yet: its assignee works on it for its owner."""
    return task.owner is not None and task.assignee != task.owner


def _task_view(task: Task) -> dict[str, Any]:
    return {
        "id": task.id, "instance": task.instance_id, "process": task.process_id, "task": task.bpmn_id,
        "name": task.name, "role": task.role,
        "state": task.state, "assignee": task.assignee, "claimed_by": task.claimed_by, "due_at": task.due_at,
        "created_at": task.created_at, "completed_by": task.completed_by, "completed_at": task.completed_at,
        "owner": task.owner,
    }
