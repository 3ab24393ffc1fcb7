"""The pages: each route parses the request, calls one use case and renders a template.

`page(...)` wraps a route: it reads a posted form (bounded), runs the route in a worker thread (the use
cases are synchronous; the request's language goes with it), sends whoever is not signed in to /login,
refuses a POST whose CSRF token is not the session's, and turns a refusal into a page: the policy's
(403) and any other (400), nothing changed either way.
"""

from __future__ import annotations

import secrets
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from datetime import datetime
from typing import Any
from urllib.parse import quote, urlencode

from starlette.concurrency import run_in_threadpool
from starlette.datastructures import FormData
from starlette.requests import Request
from starlette.responses import HTMLResponse, JSONResponse, RedirectResponse, Response
from starlette.routing import Route

import usecases
from i18n import N_, _

from .app import LANG_COOKIE

SESSION_COOKIE = "opsqa_session"
MAX_UPLOAD = 50 * 1024 * 1024  # the use cases refuse what is too large; this bounds what is read
LOGIN_COOKIE = "opsqa_login"  # the sign-in form's CSRF token, before there is a session


class Web:
    """What a route gets: the request, its posted form, the signed-in user and their caller."""

    def __init__(self, request: Request, form: FormData | None, user: Any):
        self.request, self.form, self.user = request, form, user
        self.engine = request.app.state.engine
        self.source = client_address(request)
        self.caller = usecases.auth.web_caller(user, self.source) if user is not None else None

    def render(self, template: str, *, status: int = 200, **context: Any) -> HTMLResponse:
        env = self.request.app.state.templates
        html = env.get_template(template).render(
            user=self.user, csrf=self.user.csrf if self.user else None, lang=self.request.scope["state"]["lang"],
            path=self.request.url.path, nav=_nav(self.user), **context)
        return HTMLResponse(html, status_code=status)

    def field(self, name: str, default: str = "") -> str:
        value = self.form.get(name) if self.form is not None else None
        return value if isinstance(value, str) else default

    def arg(self, name: str, default: str = "") -> str:
        return self.request.query_params.get(name, default)[:200]


def client_address(request: Request) -> str:
    """The client's address: the peer's, or the one a trusted proxy forwarded (uvicorn, `--proxy-headers`)."""
    return request.client.host if request.client else "unknown"


def page(handler: Callable[[Web], Response], *, signed_in: bool = True, files: int = 20,
         part_size: int = 1024 * 1024) -> Callable:
    """A route's endpoint: the posted form read (at most `files` files and 200 fields, each part at most
    `part_size` bytes), then the handler run in a thread with the signed-in user (`_run`)."""

    async def endpoint(request: Request) -> Response:
        form = None
        if request.method == "POST":
            form = await request.form(max_files=files, max_fields=200, max_part_size=part_size)
        try:
            return await run_in_threadpool(_run, handler, request, form, signed_in)
        finally:
            if form is not None:
                await form.close()

    endpoint.__name__ = handler.__name__
    return endpoint


def _run(handler: Callable[[Web], Response], request: Request, form: FormData | None, signed_in: bool) -> Response:
    user = usecases.auth.current(request.app.state.engine, request.cookies.get(SESSION_COOKIE))
    web = Web(request, form, user)
    if signed_in and user is None:
        if request.method == "GET":
            return RedirectResponse("/login?" + urlencode({"next": _here(request)}), status_code=303)
        return RedirectResponse("/login", status_code=303)
    if signed_in and request.method == "POST" and not usecases.auth.same_token(user.csrf, web.field("csrf")):
        return web.render("message.html", status=403, title=_("The form has expired"),
                          message=_("This form is too old or did not come from opsqa; reload the page and try "
                                    "again. Nothing was changed."))
    try:
        return handler(web)
    except usecases.NotPermitted as exc:
        return web.render("message.html", status=403, title=_("Not permitted"), message=str(exc))
    except usecases.OpsqaError as exc:
        return web.render("message.html", status=400, title=_("Not done"), message=str(exc))


@dataclass
class Refusal:
    """A form's use case refused by a rule: `message` is the refusal in one line, None while nothing refused."""

    message: str | None = None


@contextmanager
def rule_refusal() -> Iterator[Refusal]:
    """A form's checks and its use case, run as one block: a refusal by a rule is kept in `message`, to be shown
    beside the form it came from (400, nothing changed); a refusal by the permission policy goes on to the 403
    page (`_run`). A block, not a callable, because most forms check their fields before the use case."""
    refusal = Refusal()
    try:
        yield refusal
    except usecases.NotPermitted:
        raise
    except usecases.OpsqaError as exc:
        refusal.message = str(exc)


def _here(request: Request) -> str:
    query = request.url.query
    return request.url.path + (f"?{query}" if query else "")


def safe_next(target: str | None) -> str:
    """Where to go after signing in: a path on this site only (no other host, scheme or protocol-relative
    address), else the start page."""
    if not target or not target.startswith("/") or target.startswith(("//", "/\\")) or len(target) > 500:
        return "/"
    if any(ord(c) < 32 for c in target) or "\\" in target:
        return "/"
    return target


def _nav(user: Any) -> list[tuple[str, str]]:
    if user is None:
        return []
    return [("/", _("My tasks")), ("/tasks/done", _("Done by me")), ("/tasks/started", _("Started by me")),
            ("/tasks/cc", _("Copied to me")), ("/year", _("The year")), ("/records", _("Records")),
            ("/admin", _("Administration"))]


RECORDS = [  # the records' pages, as the index lists them: (path, title, what it holds)
    ("/findings", N_("Findings"), N_("nonconformities and their rectification: due, overdue, closed late")),
    ("/complaints", N_("Complaints"), N_("customers' complaints, their handling and escalation")),
    ("/audits", N_("Internal audits"), N_("audit plans, teams and checklists")),
    ("/inspections", N_("Service inspections"), N_("spot checks of projects and their five points")),
    ("/surveys", N_("Satisfaction surveys"), N_("invitations, answers and scores")),
    ("/indicators", N_("Indicators"), N_("quality indicators, their values and targets")),
    ("/improvement", N_("Improvement plan"), N_("improvement items: cause, measure, owner, due date")),
    ("/projects", N_("Projects"), N_("the register of O&M projects")),
    ("/auditors", N_("Auditors"), N_("qualified internal auditors")),
]


def records(web: Web) -> Response:
    """The index of the records' pages."""
    return web.render("records.html", records=[(path, _(title), _(what)) for path, title, what in RECORDS])


def _cookie(response: Response, request: Request, name: str, value: str, *, path: str = "/",
            max_age: int | None = None) -> None:
    response.set_cookie(name, value, path=path, max_age=max_age, httponly=True, samesite="strict",
                        # over TLS, here or at a trusted proxy (--proxy-headers: its X-Forwarded-Proto)
                        secure=bool(request.app.state.secure) or request.url.scheme == "https")


# -- signing in and out


def login(web: Web) -> Response:
    request = web.request
    target = safe_next(web.arg("next") if request.method == "GET" else web.field("next"))
    if web.user is not None:
        return RedirectResponse(target, status_code=303)
    if request.method == "GET":
        token = secrets.token_urlsafe(24)
        response = web.render("login.html", login_token=token, username="", next=target, error=None)
        _cookie(response, request, LOGIN_COOKIE, token, path="/login")
        return response
    expected = request.cookies.get(LOGIN_COOKIE, "")
    if not expected or not usecases.auth.same_token(expected, web.field("csrf")):
        token = secrets.token_urlsafe(24)
        response = web.render("login.html", status=403, login_token=token, username=web.field("username")[:200],
                              next=target, error=_("The sign-in form had expired; please sign in again."))
        _cookie(response, request, LOGIN_COOKIE, token, path="/login")
        return response
    username = web.field("username").strip()[:200]
    try:
        _user, token, _csrf = usecases.auth.sign_in(web.engine, username, web.field("password"), source=web.source,
                                                    code=web.field("code").strip()[:10] or None)
    except usecases.auth.SignInRefused as exc:
        fresh = secrets.token_urlsafe(24)
        response = web.render("login.html", status=401, login_token=fresh, username=username, next=target,
                              error=str(exc))
        _cookie(response, request, LOGIN_COOKIE, fresh, path="/login")
        return response
    response = RedirectResponse(target, status_code=303)
    _cookie(response, request, SESSION_COOKIE, token)
    response.delete_cookie(LOGIN_COOKIE, path="/login")
    return response


def logout(web: Web) -> Response:
    usecases.auth.sign_out(web.engine, web.request.cookies.get(SESSION_COOKIE), source=web.source)
    response = RedirectResponse("/login", status_code=303)
    response.delete_cookie(SESSION_COOKIE, path="/")
    return response


def language(web: Web) -> Response:
    """The language switch: a cookie for a year, then back where the person was."""
    chosen = web.arg("to")
    response = RedirectResponse(safe_next(web.arg("next")), status_code=303)
    if chosen in ("en", "zh_CN"):
        _cookie(response, web.request, LANG_COOKIE, chosen, max_age=365 * 24 * 3600)
    return response


# -- work


VIEWS = {"todo": "/", "done": "/tasks/done", "started": "/tasks/started", "cc": "/tasks/cc", "sign": "/tasks/sign"}


def _inbox(web: Web, view: str) -> Response:
    try:
        number = int(web.arg("page", "1"))
    except ValueError:
        number = 1
    process = web.arg("process") or None
    overdue = web.arg("overdue") == "1"
    listing = usecases.tasks.inbox(web.engine, web.caller, view=view, page=number, process_id=process,
                                   overdue=overdue)
    zone = usecases.admin.zone(web.engine)

    def when(value: datetime | None) -> str:
        return usecases.local_time(value, zone) if value is not None else ""

    def page_link(n: int) -> str:
        query = {"page": n, **({"process": process} if process else {}), **({"overdue": 1} if overdue else {})}
        return VIEWS[view] + "?" + urlencode(query)

    return web.render("inbox.html", view=view, listing=listing, when=when, page_link=page_link,
                      process=process, overdue=overdue, completed=_just_completed(web))


def _just_completed(web: Web) -> str | None:
    """The name of the task the person just completed (after a form's redirect), to confirm it."""
    task_id = web.arg("completed")
    if not task_id or len(task_id) != 36:
        return None
    try:
        done = usecases.tasks.task(web.engine, task_id)
    except usecases.OpsqaError:
        return None
    return done["name"] if done["state"] == "completed" and done["completed_by"] == web.user.user else None


def todo(web: Web) -> Response:
    return _inbox(web, "todo")


def done(web: Web) -> Response:
    return _inbox(web, "done")


def started(web: Web) -> Response:
    return _inbox(web, "started")


def copied(web: Web) -> Response:
    return _inbox(web, "cc")


def to_sign(web: Web) -> Response:
    return _inbox(web, "sign")


# -- a task


def _task_id(web: Web) -> str:
    task_id = web.request.path_params["task_id"]
    if not 8 <= len(task_id) <= 36 or not all(c in "0123456789abcdef-" for c in task_id):
        raise usecases.OpsqaError(_("no task {task_id}; see my tasks").format(task_id=task_id[:40]))
    return task_id


def task(web: Web) -> Response:
    """The task page: its form, rendered from the BPMN's camunda:formData; a POST completes it."""
    task_id = _task_id(web)
    view = usecases.tasks.task_page(web.engine, web.caller, task_id)
    if web.request.method == "GET":
        return _task_form(web, view)
    values = {field["id"]: web.field(field["id"]) for field in view["form"] if not field["readonly"]}
    try:
        usecases.tasks.complete(web.engine, web.caller, view["id"], values)
    except usecases.InvalidFormValue as exc:
        return _task_form(web, view, values=values, problems=exc.problems or {exc.field: str(exc)}, status=400)
    except usecases.TaskAlreadyCompleted as exc:
        return web.render("message.html", status=409, title=_("Already done"), message=str(exc))
    except usecases.NotPermitted:
        raise
    except usecases.OpsqaError as exc:  # a completion check of the domain (a plan lacking an item...)
        return _task_form(web, view, values=values, refusal=str(exc), status=400)
    return RedirectResponse("/?" + urlencode({"completed": view["id"]}), status_code=303)


def _task_form(web: Web, view: dict, *, values: dict | None = None, problems: dict | None = None,
               refusal: str | None = None, refused: dict | None = None, status: int = 200) -> Response:
    zone = usecases.admin.zone(web.engine)
    refused = refused or {"kind": None, "message": None, "values": {}}

    def typed(kind: str, name: str) -> str:  # what the person typed into the form that was refused
        return refused["values"].get(name, "") if kind == refused["kind"] else ""

    return web.render("task.html", status=status, task=view, values={**view["values"], **(values or {})},
                      problems=problems or {}, refusal=refusal, refused=refused, typed=typed,
                      when=lambda value: usecases.local_time(value, zone) if value else "")


def _handover(web: Web, kind: str, act, *, then: str | None = None) -> Response:
    """One of the task page's handover forms (转办, 委派, 加签...): done, then back to the task (or `then`); a
    refusal by a rule is shown beside the form it came from, with what was typed, and nothing changed. Who
    may not act at all still gets the 403 page."""
    task_id = _task_id(web)
    with rule_refusal() as refusal:
        act(task_id)
    if refusal.message is not None:
        values = {name: web.field(name)[:2000] for name in ("to", "reason", "note")}
        view = usecases.tasks.task_page(web.engine, web.caller, task_id)
        return _task_form(web, view, refused={"kind": kind, "message": refusal.message, "values": values},
                          status=400)
    return RedirectResponse(then or f"/tasks/{task_id}", status_code=303)


def claim(web: Web) -> Response:
    usecases.tasks.claim(web.engine, web.caller, _task_id(web))
    return RedirectResponse(f"/tasks/{_task_id(web)}", status_code=303)


def unclaim(web: Web) -> Response:
    usecases.tasks.unclaim(web.engine, web.caller, _task_id(web))
    return RedirectResponse(f"/tasks/{_task_id(web)}", status_code=303)


def transfer(web: Web) -> Response:
    """转办: the task handed to another user, with a reason."""
    return _handover(web, "transfer", lambda task_id: usecases.tasks.transfer(
        web.engine, web.caller, task_id, web.field("to")[:200], reason=web.field("reason")))


def delegate(web: Web) -> Response:
    """委派: another user does the work and hands it back."""
    return _handover(web, "delegate", lambda task_id: usecases.tasks.delegate(
        web.engine, web.caller, task_id, web.field("to")[:200]))


def resolve(web: Web) -> Response:
    """The delegated work handed back to whoever delegated it."""
    return _handover(web, "resolve", lambda task_id: usecases.tasks.resolve(
        web.engine, web.caller, task_id, note=web.field("note")[:500]))


def _names(web: Web) -> list[str]:
    """User names from a text field, separated by spaces or commas (either width)."""
    return [name for name in web.field("to")[:2000].replace(",", " ").replace("，", " ").split() if name]


def copy(web: Web) -> Response:
    """抄送: the task copied to users."""
    return _handover(web, "cc", lambda task_id: usecases.tasks.copy(web.engine, web.caller, task_id, _names(web)))


def add_signers(web: Web) -> Response:
    """加签: users asked to approve the task before it can be completed, with a reason."""
    return _handover(web, "signers", lambda task_id: usecases.tasks.add_signers(
        web.engine, web.caller, task_id, _names(web), reason=web.field("reason")))


def sign(web: Web) -> Response:
    """A signer's decision: approve, or reject with a note."""
    return _handover(web, "sign", lambda task_id: usecases.tasks.sign(
        web.engine, web.caller, task_id, approve=web.field("decision") == "approve", note=web.field("note")[:500]))


def send_back(web: Web) -> Response:
    """退回: the instance back to an earlier step, with a reason."""
    return _handover(web, "send-back", lambda task_id: usecases.tasks.send_back(
        web.engine, web.caller, task_id, web.field("to")[:200], reason=web.field("reason")), then="/")


def withdraw(web: Web) -> Response:
    """撤回: a task one completed, taken back."""
    return _handover(web, "withdraw", lambda task_id: usecases.tasks.withdraw(
        web.engine, web.caller, task_id, reason=web.field("reason")[:500]))


def remind(web: Web) -> Response:
    """催办: whoever holds the task reminded, at most once a day."""
    return _handover(web, "remind", lambda task_id: usecases.tasks.remind(
        web.engine, web.caller, task_id, note=web.field("note")[:500]))


# -- evidence


def _code(web: Web) -> str:
    code = web.request.path_params["code"]
    if not 1 <= len(code) <= 40 or not all(c.isalnum() or c in "-_" for c in code):
        raise usecases.OpsqaError(_("no finding {code}; see `opsqa findings`").format(code=code[:40]))
    return code


def evidence_upload(web: Web) -> Response:
    """Attach an evidence file to a finding, then back to the task that asked for it."""
    code = _code(web)
    upload = web.form.get("file") if web.form is not None else None
    if upload is None or isinstance(upload, str):
        raise usecases.OpsqaError(_("choose an evidence file to upload"))
    content = upload.file.read(MAX_UPLOAD + 1)
    usecases.audits.upload_evidence(web.engine, web.caller, code, upload.filename or "", content,
                                    note=web.field("note").strip()[:500] or None)
    back = web.field("back")
    target = f"/tasks/{back}" if back and len(back) == 36 and all(c in "0123456789abcdef-" for c in back) else "/"
    return RedirectResponse(target + "#evidence", status_code=303)


def evidence_download(web: Web) -> Response:
    """An evidence file, checked against its SHA-256, always as a download (never shown as a page)."""
    code = _code(web)
    text = web.request.path_params["evidence_id"]
    if not text.isdigit() or len(text) > 12:
        raise usecases.OpsqaError(_("{code} has no evidence {evidence_id}; see `opsqa finding show {given}`").format(
                                      code=code.upper(), evidence_id=text[:20], given=code))
    name, content = usecases.audits.finding_evidence(web.engine, code, int(text))
    fallback = "".join(c if c.isascii() and c.isalnum() or c in "._-" else "_" for c in name) or "evidence"
    disposition = f"attachment; filename=\"{fallback}\"; filename*=UTF-8''{quote(name)}"
    return Response(content, media_type="application/octet-stream",
                    headers={"content-disposition": disposition})


def indicator_values(web: Web) -> Response:
    """The period's indicator values from a collection task's grid, all or none, then back to the task."""
    entries = {key[2:]: value for key, value in (web.form or {}).items()
               if key.startswith("v:") and isinstance(value, str)}
    back = web.field("back")
    usecases.review.set_values(web.engine, web.caller, dict(list(entries.items())[:200]))
    target = f"/tasks/{back}" if back and len(back) == 36 and all(c in "0123456789abcdef-" for c in back) else "/"
    return RedirectResponse(target + "#indicators", status_code=303)


# -- an instance


def _instance_id(web: Web) -> int:
    text = web.request.path_params["instance_id"]
    if not text.isdigit() or len(text) > 12:
        raise usecases.OpsqaError(_("no instance {instance_id}; see `opsqa instances`").format(instance_id=text[:20]))
    return int(text)


def instance(web: Web) -> Response:
    """An instance: its diagram with the state marked, the timers it waits on, its tasks and its history."""
    view = usecases.processes.instance_page(web.engine, web.caller, _instance_id(web))
    zone = usecases.admin.zone(web.engine)
    return web.render("instance.html", instance=view,
                      when=lambda value: usecases.local_time(value, zone) if value else "")


def retry(web: Web) -> Response:
    instance_id = _instance_id(web)
    usecases.processes.retry(web.engine, web.caller, instance_id, reason=web.field("reason"))
    return RedirectResponse(f"/instances/{instance_id}", status_code=303)


def diagram(web: Web) -> Response:
    """A deployed definition's BPMN, for the diagram viewer."""
    text = web.request.path_params["definition_id"]
    if not text.isdigit() or len(text) > 12:
        raise usecases.OpsqaError(_("no process definition {id}").format(id=text[:20]))
    xml = usecases.processes.definition_xml(web.engine, int(text))
    return Response(xml, media_type="application/xml")


# -- the system


def healthz(request: Request) -> Response:
    """For monitors: the scheduler's last pass (null when it runs in another process); 503 when it has
    not passed for three of its intervals."""
    health = request.app.state.health
    if health is None:
        return JSONResponse({"status": "ok", "scheduler": None})
    status = health()
    return JSONResponse({"status": "ok" if status["healthy"] else "stale", "scheduler": status},
                        status_code=200 if status["healthy"] else 503)


def routes() -> list[Route]:
    from . import admin, audits, customers, drafts, findings, overview, review, surveys

    return [
        *findings.routes(), *customers.routes(), *audits.routes(), *surveys.routes(), *review.routes(),
        *overview.routes(),
        *admin.routes(),
        *drafts.routes(),
        Route("/login", page(login, signed_in=False), methods=["GET", "POST"]),
        Route("/logout", page(logout), methods=["POST"]),
        Route("/lang", page(language, signed_in=False)),
        Route("/", page(todo)),
        Route("/tasks/done", page(done)),
        Route("/records", page(records)),
        Route("/tasks/started", page(started)),
        Route("/tasks/cc", page(copied)),
        Route("/tasks/sign", page(to_sign)),
        Route("/tasks/{task_id}", page(task), methods=["GET", "POST"]),
        Route("/tasks/{task_id}/claim", page(claim), methods=["POST"]),
        Route("/tasks/{task_id}/unclaim", page(unclaim), methods=["POST"]),
        Route("/tasks/{task_id}/transfer", page(transfer), methods=["POST"]),
        Route("/tasks/{task_id}/remind", page(remind), methods=["POST"]),
        Route("/tasks/{task_id}/delegate", page(delegate), methods=["POST"]),
        Route("/tasks/{task_id}/resolve", page(resolve), methods=["POST"]),
        Route("/tasks/{task_id}/cc", page(copy), methods=["POST"]),
        Route("/tasks/{task_id}/signers", page(add_signers), methods=["POST"]),
        Route("/tasks/{task_id}/sign", page(sign), methods=["POST"]),
        Route("/tasks/{task_id}/send-back", page(send_back), methods=["POST"]),
        Route("/tasks/{task_id}/withdraw", page(withdraw), methods=["POST"]),
        Route("/instances/{instance_id}", page(instance)),
        Route("/instances/{instance_id}/retry", page(retry), methods=["POST"]),
        Route("/definitions/{definition_id}.bpmn", page(diagram)),
        Route("/findings/{code}/evidence", page(evidence_upload), methods=["POST"]),
        Route("/indicators/values", page(indicator_values), methods=["POST"]),
        Route("/findings/{code}/evidence/{evidence_id}", page(evidence_download)),
        Route("/healthz", healthz),
    ]
