"""Processes and their instances: check and deploy BPMN, versions and their differences, diagrams, the
owners' scenario tests, starting, retrying, cancelling and migrating instances."""

from __future__ import annotations

from collections.abc import Callable
from datetime import datetime
from pathlib import Path
from typing import Any

from engine import Engine, OpsqaError
from engine.errors import NotPermitted
from i18n import _

from .base import Caller, authorized, guarded, who

Progress = Callable[[int, int], None] | None


# -- definitions


def deploy(engine: Engine, caller: Caller, paths: list[str], *, reason: str | None,
           progress: Progress = None, revert: bool = False) -> list[dict[str, Any]]:
    """Deploy BPMN files (process owners `po` and admins; with a reason). Each result says, for a changed
    process past its first version, how many running instances stay on older versions (`older_running`).
    A file equal to an older version is refused unless `revert`."""
    with guarded(engine, caller, "deploy"):
        actor = authorized(engine, caller, "deploy", reason=reason)
        results = engine.deploy(paths, actor=actor, reason=reason.strip(), progress=progress, revert=revert)
    for result in results:
        result["older_running"] = 0
        if result["changed"] and result["version"] > 1:
            result["older_running"] = sum(v["running"] for v in engine.versions(result["process"])
                                          if v["version"] < result["version"])
    return results


def export(engine: Engine, folder: str, *, force: bool = False) -> list[dict[str, Any]]:
    """Write each process's latest deployed version back to its file in `folder` (the file it was deployed
    from, by name), so that the files and the database are in step: a file already equal is left alone, a
    different one is replaced only with `force` (refused in one line before anything is written)."""
    from engine.files import check_output, write_output

    files: dict[str, tuple[str, list[tuple[str, int]]]] = {}
    for row in engine.processes():
        xml = engine.definition_xml(row["process"], row["version"]).decode("utf-8")
        files.setdefault(file_name(row["process"], row.get("file")), (xml, []))[1].append(
            (row["process"], row["version"]))
    target = Path(folder)
    results = []
    for name, (xml, processes) in sorted(files.items()):
        path = target / name
        same = path.is_file() and path.read_bytes() == xml.encode("utf-8")
        if not same and path.exists() and not force:
            raise OpsqaError(_("{path} differs from the deployed {processes}; add --force to replace it").format(
                                 path=path, processes=", ".join(f"{p} v{v}" for p, v in processes)))
        if not same:
            check_output(path, force=True)
        results.append({"file": str(path), "processes": [f"{p} v{v}" for p, v in processes],
                        "written": not same})
    target.mkdir(parents=True, exist_ok=True)
    for result, (xml, _processes) in zip(results, (files[name] for name in sorted(files)), strict=True):
        if result["written"]:
            write_output(result["file"], xml, force=True)
    return results


def file_name(process_id: str, source_file: str | None) -> str:
    """The file a process's versions are exported to: the name of the file its latest version came from, else
    PROCESS.bpmn."""
    name = Path(source_file or "").name
    return name if name.endswith(".bpmn") else f"{process_id}.bpmn"


def default_folder() -> str:
    """Where `deploy` and `validate` look when given no files: ./processes, else the processes shipped with
    opsqa."""
    from processes import default_folder as folder

    return folder()


def validate(db: str | None, paths: list[str]) -> list[dict[str, Any]]:
    """Check BPMN files without deploying them; without a database, calls resolve among the files given."""
    from engine import Engine
    from handlers import registry
    from store import NoDatabase, open_database

    try:
        database = open_database(db)
    except NoDatabase:
        database = None
    try:
        builds = Engine(database, handlers=registry).validate(paths)
    finally:
        if database is not None:
            database.dispose()
    return [{"process": b.process_id, "name": b.name, "user_tasks": len(b.model["user_tasks"]),
             "file": b.source_file} for b in builds]


def processes(engine: Engine) -> list[dict[str, Any]]:
    return engine.processes()


def versions(engine: Engine, process_id: str) -> list[dict[str, Any]]:
    return engine.versions(process_id)


def callers(engine: Engine, process_id: str) -> list[dict[str, Any]]:
    """Running instances of other processes that call this one, by process and version: they keep the version
    they bound when they started, whatever is deployed since, until they are moved."""
    return engine.callers(process_id)


def diff(engine: Engine, process_id: str, old: int, new: int) -> list:
    return engine.diff(process_id, old, new)


def process_diagram(engine: Engine, process_id: str, version: int | None = None) -> tuple[int, str]:
    """(version, SVG) of a process's diagram: the latest version unless one is named."""
    from engine.diagram import render_svg

    chosen = version or engine.versions(process_id)[-1]["version"]
    return chosen, render_svg(engine.definition_xml(process_id, chosen), title=f"{process_id} v{chosen}")


def test_scenarios(folder: Path, *, run_command=None):
    """Run a folder's scenario tests, each in a new database of its own: yields each `Outcome`."""
    from engine import Engine
    from engine.processtest import run_scenario, scenario_files
    from handlers import registry

    for path in scenario_files(folder):
        yield run_scenario(path, folder, lambda database: Engine(database, handlers=registry),
                           run_command=run_command)


# -- instances


def start(engine: Engine, caller: Caller, process_id: str, *, business_key: str | None = None,
          variables: dict[str, Any] | None = None) -> dict[str, Any]:
    path = engine.handlers.owner_command(process_id)
    if path is not None:
        raise OpsqaError(_("instances of {process} belong to a domain record and start only through it: {path}").format(
                             process=process_id, path=path))
    with guarded(engine, caller, "start"):
        actor = authorized(engine, caller, "start")
        instance_id = engine.start(process_id, actor=actor, business_key=business_key, variables=variables)
    return engine.instance(instance_id)


def instances(engine: Engine, *, status: str | None = None, process_id: str | None = None) -> list[dict[str, Any]]:
    return engine.instances(status=status, process_id=process_id)


def instance(engine: Engine, instance_id: int) -> dict[str, Any]:
    return engine.instance(instance_id)


def instance_page(engine: Engine, caller: Caller, instance_id: int) -> dict[str, Any]:
    """An instance as the web shows it: its tasks and timers, the state of each element for its diagram
    (done, ready, waiting, error), its history, and whether the caller may retry its incident."""
    from engine import policy

    view = engine.instance(instance_id)
    _xml, states, _title = engine.painted(instance_id)
    view["states"] = states
    for timer in view["timers"]:
        timer["due_at"] = datetime.fromisoformat(timer["due"])
    view["definition"] = engine.instance_definition(instance_id)
    view["history"] = engine.history(instance_id)
    view["variables"] = sorted(engine.variables(instance_id).items())
    view["may_retry"] = view["status"] == "error" and policy.allows(who(engine, caller), "instance.retry")
    return view


def definition_xml(engine: Engine, definition_id: int) -> str:
    """A deployed definition's BPMN as its process owner wrote it (for the diagram viewer)."""
    return engine.definition_xml_by_id(definition_id)


def instance_diagram(engine: Engine, instance_id: int) -> str:
    """The instance's process drawn with its state painted on it (done, ready, waiting, failed), as SVG."""
    from engine.diagram import render_svg

    xml, states, title = engine.painted(instance_id)
    return render_svg(xml, states=states, title=title)


def retry(engine: Engine, caller: Caller, instance_id: int, *, reason: str | None) -> dict[str, Any]:
    """Re-run the service task whose handler failed (admin, qmd; with a reason)."""
    with guarded(engine, caller, "instance.retry"):
        actor = authorized(engine, caller, "instance.retry", reason=reason)
        engine.retry(instance_id, actor=actor, reason=reason.strip())
    return engine.instance(instance_id)


def cancel(engine: Engine, caller: Caller, instance_id: int, *, reason: str | None) -> None:
    """Cancel a running instance and its open tasks (admin, qmd; with a reason)."""
    with guarded(engine, caller, "instance.cancel"):
        actor = authorized(engine, caller, "instance.cancel", reason=reason)
        engine.cancel(instance_id, actor=actor, reason=reason.strip())


def migrate(engine: Engine, caller: Caller, process_id: str, version: int, *, instance_ids: list[int] | None = None,
            dry_run: bool = False, revert: bool = False, reason: str | None = None) -> list[dict[str, Any]]:
    """Move running instances onto another version (process owners `po` and admins; with a reason unless it
    is a dry run), each in its own transaction; those that cannot move are left, with the tasks in the way."""
    with guarded(engine, caller, "instance.migrate"):
        actor = authorized(engine, caller, "instance.migrate", reason=reason if not dry_run else "dry run")
    return engine.migrate(process_id, version, actor=actor, instance_ids=instance_ids, dry_run=dry_run,
                          revert=revert, reason=(reason or "").strip() or None)


# -- deploying by upload (the web): check, see what changes, then deploy exactly what was checked
#
# The checked files wait on the server, each in a folder named by its SHA-256, and the confirmation posts
# back only the hashes: what is deployed is what was checked, read again and compared with its hash, and no
# file travels twice. A folder rather than a table: the files are transient (removed when deployed, forgotten
# after a day) and the engine deploys from paths, as `opsqa deploy` does. Beside a SQLite database it is the
# service's own directory; on PostgreSQL it is this machine's temporary folder, so a confirmation served by
# another machine finds nothing and asks for the files again, having changed nothing.

UPLOAD_LIMIT = 5 * 1024 * 1024  # bytes of one diagram (the standard ones are under 40 KB)
UPLOAD_COUNT = 50  # files checked at once (the standard processes are 11)
UPLOAD_REFUSALS = 10  # refused files named in one check: each one named costs a check of the files left
UPLOAD_KEPT_SECONDS = 24 * 3600  # a check not deployed within a day is forgotten


def upload_folder(engine: Engine) -> Path:
    """Where uploaded diagrams wait between their check and their deploy."""
    import os
    import tempfile

    from sqlalchemy.engine import make_url

    url = make_url(engine.database.url)
    if engine.database.is_sqlite and url.database not in (None, "", ":memory:"):
        return Path(url.database).resolve().parent / "opsqa-uploads"
    return Path(tempfile.gettempdir()) / f"opsqa-uploads-{os.getuid()}"


def check_upload(engine: Engine, caller: Caller, uploads: list[tuple[str, bytes]]) -> dict[str, Any]:
    """Check uploaded diagrams, given as (file name, content), with the deploy checks, and say for each
    process what deploying them would change (see `preview`); nothing is deployed. Those who may deploy
    (`po`, admin) may check; the files are bounded in number, size and name (.bpmn), each refusal one line
    naming its file. Returns the files kept for the deploy (name, sha256), the refusals and the processes."""
    import hashlib

    from engine.files import write_output

    authorized(engine, caller, "deploy", reason="check")
    uploads = [(name, content) for name, content in uploads if name or content]
    if not uploads:
        raise OpsqaError(_("choose one or more .bpmn files to check"))
    if len(uploads) > UPLOAD_COUNT:
        raise OpsqaError(_("{count} files were chosen; at most {limit} are checked at once").format(
                             count=len(uploads), limit=UPLOAD_COUNT))
    root = _private_folder(upload_folder(engine))
    _forget_old_uploads(root)
    refusals: list[str] = []
    kept: dict[str, Path] = {}
    for given, content in uploads:
        name = _upload_name(given)
        if not name.lower().endswith(".bpmn") or name.startswith("."):
            refusals.append(_("{name}: only BPMN diagrams (.bpmn files) can be deployed").format(name=name))
        elif len(name.encode()) > 200:
            refusals.append(_("{name}: the file name is too long; give it a shorter one").format(name=name))
        elif len(content) > UPLOAD_LIMIT:
            refusals.append(_("{name}: larger than {limit} MB; a diagram uploaded here is at most {limit} MB").format(
                                name=name, limit=UPLOAD_LIMIT // (1024 * 1024)))
        elif not content:
            refusals.append(_("{name}: the file is empty").format(name=name))
        else:
            digest = hashlib.sha256(content).hexdigest()
            if digest in kept:
                continue  # the same file chosen twice
            folder = root / digest
            folder.mkdir(mode=0o700, parents=True, exist_ok=True)
            for other in folder.iterdir():  # the same content checked before under another name
                if other.name != name:
                    other.unlink()
            kept[digest] = write_output(folder / name, content, force=True, mode=0o600)
    view = preview(engine, caller, [str(path) for path in kept.values()]) if kept else {"processes": [],
                                                                                          "refusals": []}
    refusals += view["refusals"]
    return {"files": [{"name": path.name, "sha256": digest} for digest, path in kept.items()],
            "refusals": [_without_folder(root, line) for line in refusals],
            "processes": [{**p, "file": Path(p["file"]).name} for p in view["processes"]],
            "deployable": bool(kept) and not refusals}


def check_kept(engine: Engine, caller: Caller, hashes: list[str]) -> dict[str, Any]:
    """`check_upload` again for files checked before and still kept, named by their SHA-256."""
    authorized(engine, caller, "deploy", reason="check")
    root = upload_folder(engine)
    paths = _kept(root, hashes)
    view = preview(engine, caller, [str(path) for path in paths])
    return {"files": [{"name": path.name, "sha256": path.parent.name} for path in paths],
            "refusals": [_without_folder(root, line) for line in view["refusals"]],
            "processes": [{**p, "file": Path(p["file"]).name} for p in view["processes"]],
            "deployable": not view["refusals"]}


def deploy_upload(engine: Engine, caller: Caller, hashes: list[str], *, reason: str | None) -> list[dict[str, Any]]:
    """Deploy the uploaded files checked before, named by their SHA-256 (each read again and compared with
    it), as `deploy` does, with a reason; the kept files are then let go."""
    import shutil

    authorized(engine, caller, "deploy", reason=reason)
    root = upload_folder(engine)
    paths = _kept(root, hashes)
    try:
        results = deploy(engine, caller, [str(path) for path in paths], reason=reason)
    except NotPermitted:
        raise
    except OpsqaError as exc:  # a check that passed before and not now (a process it calls changed meanwhile)
        raise OpsqaError(_without_folder(root, str(exc))) from None
    for path in paths:
        shutil.rmtree(path.parent, ignore_errors=True)
    return [{**result, "file": Path(result["file"]).name} for result in results]


def preview(engine: Engine, caller: Caller, paths: list[str]) -> dict[str, Any]:
    """What deploying these BPMN files would do, without deploying them (those who may deploy): the deploy
    checks' refusals, one line each naming file and element (a refused file is set aside and the others are
    checked again, so every refused file is named), and for each process that passes, against its latest
    deployed version: `new` (none is deployed), `same` (no new version would be stored) or `changed`, with
    the changes in the words of `processes diff` (empty when only the file changed: its layout, its text, a
    process it calls)."""
    import json

    from sqlalchemy import select

    from engine.diff import describe
    from store import Definition

    authorized(engine, caller, "deploy", reason="check")
    builds, refusals = _checked(engine, paths)
    rows = []
    with engine.database.reading() as session:
        for build in builds:
            latest = session.scalar(select(Definition).where(Definition.process_id == build.process_id)
                                    .order_by(Definition.version.desc()).limit(1))
            row = {"process": build.process_id, "name": build.name, "file": build.source_file,
                   "version": latest.version if latest else None, "changes": []}
            if latest is None:
                row["status"] = "new"
            elif latest.sha256 == build.sha256:
                row["status"] = "same"
            else:
                row["status"] = "changed"
                row["changes"] = describe(json.loads(latest.model_json), latest.xml.encode(), build.model,
                                          build.xml.encode())
            rows.append(row)
    return {"processes": rows, "refusals": refusals}


def _checked(engine: Engine, paths: list[str]) -> tuple[list, list[str]]:
    """The builds of the files that pass the deploy checks, and a refusal for each file that does not."""
    from engine.errors import InvalidProcess

    left, refusals = list(paths), []
    while left:
        if len(refusals) == UPLOAD_REFUSALS:  # each round parses the files left again: bound the rounds
            refusals.append(_("the check stopped after {count} refused files; correct them and check again").format(
                                count=UPLOAD_REFUSALS))
            return [], refusals
        try:
            return engine.validate(left), refusals
        except InvalidProcess as exc:
            refusals.append(str(exc))
            if exc.file not in left:  # about the set as a whole or a deployed process: nothing to set aside
                return [], refusals
            left.remove(exc.file)
        except OpsqaError as exc:
            refusals.append(str(exc))
            return [], refusals
    return [], refusals


def _kept(root: Path, hashes: list[str]) -> list[Path]:
    """The kept files named by these hashes, each still there and still matching its hash."""
    import hashlib

    from engine.files import read_bounded

    hashes = list(dict.fromkeys(hashes))
    if not hashes or len(hashes) > UPLOAD_COUNT:
        raise OpsqaError(_("no checked files to deploy; choose the files and check them first"))
    paths = []
    for digest in hashes:
        if len(digest) != 64 or not all(c in "0123456789abcdef" for c in digest):
            raise OpsqaError(_("no checked files to deploy; choose the files and check them first"))
        folder = root / digest
        found = [p for p in folder.iterdir() if p.is_file() and not p.is_symlink()] if folder.is_dir() else []
        if len(found) != 1 or hashlib.sha256(read_bounded(found[0], UPLOAD_LIMIT)).hexdigest() != digest:
            raise OpsqaError(_("the checked file {digest} is no longer kept (files are kept for a day); choose the "
                               "files and check them again").format(digest=digest[:12]))
        paths.append(found[0])
    return paths


def _private_folder(root: Path) -> Path:
    """The upload folder, made if missing, refused unless it is this service's own (not a link, no one else may
    write in it): no one else may swap a file between its check and its deploy."""
    import os
    import stat

    try:
        root.mkdir(mode=0o700, parents=True, exist_ok=True)
        info = os.lstat(root)
    except OSError as exc:
        raise OpsqaError(_("cannot keep uploaded files in {path}: {strerror}").format(
                             path=root, strerror=exc.strerror or exc)) from None
    if not stat.S_ISDIR(info.st_mode) or info.st_uid != os.getuid() or info.st_mode & 0o022:
        raise OpsqaError(_("cannot keep uploaded files in {path}: it must be a folder of this service's own that "
                           "no one else may write in").format(path=root))
    return root


def _forget_old_uploads(root: Path) -> None:
    """Let go of the files checked more than a day ago and never deployed (by the file system's clock: it
    dates them)."""
    import shutil
    import time

    if not root.is_dir():
        return
    oldest = time.time() - UPLOAD_KEPT_SECONDS
    for folder in root.iterdir():
        try:
            if folder.is_dir() and not folder.is_symlink() and folder.stat().st_mtime < oldest:
                shutil.rmtree(folder, ignore_errors=True)
        except OSError:
            continue


def _upload_name(given: str) -> str:
    """A file name as the browser sent it, without any folder, printable, for messages and the kept file."""
    name = given.replace("\\", "/").rsplit("/", 1)[-1].strip()
    return "".join(c if c.isprintable() else "?" for c in name)[:240] or "?"


def _without_folder(root: Path, line: str) -> str:
    """A message naming a kept file by its name only, as the person chose it."""
    import re

    return re.sub(re.escape(str(root)) + r"[/\\][0-9a-f]{64}[/\\]", "", line)
