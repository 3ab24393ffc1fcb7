"""Administration for those the policy allows: users, their roles, passwords and status; the processes with
their versions, diagrams and differences, deploying by upload (checked and its changes shown, then deployed
with a reason), and a migration's dry run before it is applied; the message channels, each role's group
channel and each user's channel and mention; the settings.
Reading is open to every user; each change is the same use case as its CLI command, with its reason."""

from __future__ import annotations

from starlette.responses import RedirectResponse, Response
from starlette.routing import Route

import usecases
from i18n import _

from .pages import Web, page, rule_refusal


def _when(web: Web):
    zone = usecases.admin.zone(web.engine)
    return lambda value: usecases.local_time(value, zone) if value else ""


def _name(web: Web) -> str:
    name = web.request.path_params["name"]
    if not 1 <= len(name) <= 200 or not all(c.isalnum() or c in "._@-" for c in name):
        raise usecases.OpsqaError(_("no opsqa user named {name!r}; see `opsqa users list`").format(name=name[:40]))
    return name


def _may(web: Web, *actions: str) -> dict[str, bool]:
    return {action: usecases.may(web.engine, web.caller, action) for action in actions}


# -- users


def users(web: Web) -> Response:
    if web.request.method == "POST":
        roles = [role.strip() for role in web.field("roles").replace("，", ",").split(",") if role.strip()]
        name = web.field("name").strip()
        with rule_refusal() as refusal:
            usecases.admin.add_user(web.engine, web.caller, name, roles, display_name=web.field("display").strip()
                                    or None, department=web.field("department").strip() or None,
                                    email=web.field("email").strip() or None, reason=web.field("reason") or None)
        if refusal.message is not None:
            return _users(web, error=refusal.message, status=400)
        return RedirectResponse(f"/admin/users/{name}", status_code=303)
    return _users(web)


def _users(web: Web, *, error: str | None = None, status: int = 200) -> Response:
    return web.render("admin_users.html", status=status, rows=usecases.admin.users(web.engine), error=error,
                      form={k: web.field(k) for k in ("name", "display", "roles", "department", "email")},
                      may=_may(web, "users"))


def user(web: Web) -> Response:
    return _user(web, _name(web))


def _user(web: Web, name: str, *, away_error: str | None = None, route_error: str | None = None,
          status: int = 200) -> Response:
    may_away = usecases.may(web.engine, web.caller, "users.away", user=name)
    may_route = usecases.may(web.engine, web.caller, "users.channel", user=name)
    return web.render("admin_user.html", status=status, person=usecases.admin.user(web.engine, name),
                      when=_when(web),
                      may=_may(web, "users.grant", "users.revoke", "users.disable", "users.fix", "users.totp_off")
                      | {"passwd": usecases.may(web.engine, web.caller, "users.passwd", user=name), "away": may_away,
                         "route": may_route},
                      processes=usecases.processes.processes(web.engine) if may_away else [],
                      away_error=away_error, away={k: web.field(k) for k in ("substitute", "from", "to", "reason")},
                      channels=usecases.channels.channels(web.engine) if may_route else [],
                      route_error=route_error,
                      route={k: web.field(k) for k in ("channel", "mention")} if route_error else None, error=None)


def _away(web: Web, name: str) -> Response:
    """代理: an absence recorded from the user's page; a refusal is shown beside the form, nothing stored."""
    from .audits import _date

    with rule_refusal() as refusal:
        starts, ends = _date(web.field("from"), _("From")), _date(web.field("to"), _("To"))
        if starts is None or ends is None:
            raise usecases.OpsqaError(_("give the first and the last day of the absence"))
        processes = [value for value in (web.form.getlist("process") if web.form is not None else [])
                     if isinstance(value, str)][:50]
        usecases.admin.away(web.engine, web.caller, name, web.field("substitute")[:200], starts, ends, processes,
                            reason=web.field("reason")[:500] or None)
    if refusal.message is not None:
        return _user(web, name, away_error=refusal.message, status=400)
    return RedirectResponse(f"/admin/users/{name}#away", status_code=303)


def user_change(web: Web) -> Response:
    """One change to a user, named by the form's `change`: grant, revoke, disable, enable, fix, passwd, away
    (代理: who stands in for them, when), back, route (the channel their messages go through and the id it
    mentions them by)."""
    name, change, reason = _name(web), web.field("change"), web.field("reason") or None
    engine, caller = web.engine, web.caller
    if change == "grant":
        usecases.admin.add_user(engine, caller, name, [web.field("role").strip()], reason=reason)
    elif change == "revoke":
        usecases.admin.revoke_role(engine, caller, name, web.field("role").strip(), reason=reason)
    elif change == "disable":
        usecases.admin.disable_user(engine, caller, name, reason=reason)
    elif change == "enable":
        usecases.admin.enable_user(engine, caller, name, reason=reason)
    elif change == "fix":
        usecases.admin.change_user(engine, caller, name, display_name=web.field("display").strip() or None,
                                   department=web.field("department").strip() or None,
                                   email=web.field("email").strip() or None, reason=reason)
    elif change == "passwd":
        usecases.auth.set_password(engine, caller, name, web.field("password"))
    elif change == "away":
        return _away(web, name)
    elif change == "back":
        usecases.admin.back(engine, caller, name)
    elif change == "route":
        with rule_refusal() as refusal:
            usecases.channels.route(engine, caller, name, channel=web.field("channel")[:64],
                                    mention=web.field("mention")[:200])
        if refusal.message is not None:
            return _user(web, name, route_error=refusal.message, status=400)
        return RedirectResponse(f"/admin/users/{name}#route", status_code=303)
    else:
        raise usecases.OpsqaError(_("no such change to a user: {change!r}").format(change=change[:20]))
    return RedirectResponse(f"/admin/users/{name}", status_code=303)


# -- processes


def processes(web: Web) -> Response:
    return _processes(web)


def _processes(web: Web, *, check: dict | None = None, results: list | None = None, problem: str | None = None,
               status: int = 200) -> Response:
    return web.render("admin_processes.html", status=status, rows=usecases.processes.processes(web.engine),
                      when=_when(web), may=_may(web, "deploy"), check=check, results=results, problem=problem,
                      reason=web.field("reason")[:500], limits={"count": usecases.processes.UPLOAD_COUNT,
                                                                 "mb": usecases.processes.UPLOAD_LIMIT >> 20})


def deploy_check(web: Web) -> Response:
    """Deploy by upload, first step: the chosen .bpmn files checked as `opsqa deploy` checks them and each
    process's changes against its deployed version; nothing is deployed."""
    limit = usecases.processes.UPLOAD_LIMIT
    files = [part for part in (web.form.getlist("files") if web.form is not None else []) if not isinstance(part, str)]
    uploads = [(part.filename or "", part.file.read(limit + 1)) for part in files]
    with rule_refusal() as refusal:
        check = usecases.processes.check_upload(web.engine, web.caller, uploads)
    if refusal.message is not None:
        check = _refused(refusal.message)
    return _processes(web, check=check, status=200 if check["deployable"] else 400)


def deploy_confirm(web: Web) -> Response:
    """Deploy by upload, second step: with a reason, exactly the files checked (posted back as their SHA-256);
    refused, the check is shown again with the refusal beside the reason."""
    hashes = [h for h in (web.form.getlist("sha256") if web.form is not None else []) if isinstance(h, str)]
    hashes = hashes[:usecases.processes.UPLOAD_COUNT + 1]
    with rule_refusal() as refusal:
        results = usecases.processes.deploy_upload(web.engine, web.caller, hashes, reason=web.field("reason"))
    if refusal.message is not None:
        with rule_refusal() as gone:
            check = usecases.processes.check_kept(web.engine, web.caller, hashes)
        if gone.message is not None:
            check = _refused(gone.message)
        return _processes(web, check=check, problem=refusal.message, status=400)
    return _processes(web, results=results)


def _refused(message: str) -> dict:
    return {"files": [], "refusals": [message], "processes": [], "deployable": False}


def process(web: Web) -> Response:
    """A process's versions, one drawn, and what changed between two of them, in words."""
    process_id = web.request.path_params["process_id"][:200]
    versions = usecases.processes.versions(web.engine, process_id)
    numbers = [v["version"] for v in versions]
    chosen = _number(web.arg("version"), numbers[-1])
    shown = next((v for v in versions if v["version"] == chosen), versions[-1])
    old, new = _number(web.arg("from"), max(1, numbers[-1] - 1)), _number(web.arg("to"), numbers[-1])
    changes = usecases.processes.diff(web.engine, process_id, old, new) if old != new else []
    deployed = _number(web.arg("deployed"), 0)
    return web.render("admin_process.html", process_id=process_id, versions=versions, shown=shown,
                      old=old, new=new, changes=[change.translated() for change in changes], when=_when(web),
                      may=_may(web, "instance.migrate", "drafts"), outcomes=None,
                      drafts=usecases.drafts.drafts(web.engine, process_id),
                      deployed=deployed if deployed in numbers else None,
                      callers=usecases.processes.callers(web.engine, process_id))


def migrate(web: Web) -> Response:
    """A migration's dry run (what would move, what would be left and why), or, with a reason, the move."""
    process_id = web.request.path_params["process_id"][:200]
    version = _number(web.field("to"), 0)
    dry = web.field("apply") != "1"
    results = usecases.processes.migrate(web.engine, web.caller, process_id, version, dry_run=dry,
                                         reason=web.field("reason") or None)
    versions = usecases.processes.versions(web.engine, process_id)
    outcomes = [{**r, "obstacles": [getattr(o, "translated", o.__str__)() for o in r.get("obstacles", [])]}
                for r in results]
    return web.render("admin_process.html", process_id=process_id, versions=versions, shown=versions[-1],
                      old=version, new=version, changes=[], when=_when(web),
                      may=_may(web, "instance.migrate", "drafts"),
                      outcomes={"to": version, "dry": dry, "rows": outcomes},
                      drafts=usecases.drafts.drafts(web.engine, process_id), deployed=None,
                      callers=usecases.processes.callers(web.engine, process_id))


def _number(text: str, default: int) -> int:
    return int(text) if text.isdigit() and len(text) <= 6 else default


# -- message channels


CHANNEL_FIELDS = ("name", "kind", "url", "secret", "host", "port", "sender", "user", "password")


def channels(web: Web) -> Response:
    """The channels, masked, with who uses them and what waits for them; for admins a channel added or set
    anew, and a role's group channel."""
    return _channels(web)


def _channels(web: Web, *, error: str | None = None, role_error: str | None = None, tested: dict | None = None,
              status: int = 200) -> Response:
    rows = usecases.channels.channels(web.engine)
    typed = {k: web.field(k) if error else "" for k in CHANNEL_FIELDS if k not in ("secret", "password")}
    return web.render("admin_channels.html", status=status, rows=rows, may=_may(web, "channels"),
                      roles=usecases.channels.role_channels(web.engine), error=error, role_error=role_error,
                      tested=tested, typed=typed, starttls=web.field("starttls") == "1",
                      replace=web.field("replace") == "1",
                      role={k: web.field(k) if role_error else "" for k in ("role", "channel")})


def channel_add(web: Web) -> Response:
    """A channel added, or with `replace` set anew: refused in one line beside the form, nothing stored."""
    port = web.field("port").strip() or "25"
    with rule_refusal() as refusal:
        if not port.isdigit() or len(port) > 5:
            raise usecases.OpsqaError(_("port {port!r} is not a number from 1 to 65535").format(port=port[:20]))
        usecases.channels.add(web.engine, web.caller, name=web.field("name")[:64], kind=web.field("kind")[:20],
                              url=web.field("url")[:2000], secret=web.field("secret")[:500],
                              host=web.field("host")[:255], port=int(port), sender=web.field("sender")[:320],
                              user=web.field("user")[:320], password=web.field("password")[:500],
                              starttls=web.field("starttls") == "1", replace=web.field("replace") == "1")
    if refusal.message is not None:
        return _channels(web, error=refusal.message, status=400)
    return RedirectResponse("/admin/channels", status_code=303)


def channel_change(web: Web) -> Response:
    """One change to a channel, named by the form's `change`: remove, or test (a test message sent now, to
    a user when named, its outcome shown on the page)."""
    name, change = web.request.path_params["name"][:64], web.field("change")
    if change == "remove":
        with rule_refusal() as refusal:
            usecases.channels.remove(web.engine, web.caller, name)
        if refusal.message is not None:
            return _channels(web, error=refusal.message, status=400)
        return RedirectResponse("/admin/channels", status_code=303)
    if change == "test":
        to = web.field("to").strip()[:200] or None
        with rule_refusal() as refusal:
            outcome = usecases.channels.test(web.engine, web.caller, name, to=to)
        if refusal.message is not None:
            outcome = {"ok": False, "error": refusal.message, "reference": None}
        return _channels(web, tested={"name": name, **outcome}, status=200 if outcome["ok"] else 400)
    raise usecases.OpsqaError(_("no such change to a channel: {change!r}").format(change=change[:20]))


def role_channel(web: Web) -> Response:
    """A role's group channel set, or cleared (no channel chosen)."""
    with rule_refusal() as refusal:
        usecases.channels.role(web.engine, web.caller, web.field("role")[:100], web.field("channel")[:64] or None)
    if refusal.message is not None:
        return _channels(web, role_error=refusal.message, status=400)
    return RedirectResponse("/admin/channels#roles", status_code=303)


# -- settings


def settings(web: Web) -> Response:
    error = None
    status = 200
    if web.request.method == "POST":
        with rule_refusal() as refusal:
            usecases.admin.change_setting(web.engine, web.caller, web.field("key"), web.field("value"),
                                          reason=web.field("reason") or None)
        if refusal.message is None:
            return RedirectResponse("/admin/settings", status_code=303)
        error, status = refusal.message, 400
    return web.render("admin_settings.html", status=status, rows=usecases.admin.settings(web.engine), error=error,
                      chosen=web.field("key"), may=_may(web, "settings"))


def index(web: Web) -> Response:
    return web.render("admin.html")


def routes() -> list[Route]:
    return [
        Route("/admin", page(index)),
        Route("/admin/users", page(users), methods=["GET", "POST"]),
        Route("/admin/users/{name}", page(user)),
        Route("/admin/users/{name}/change", page(user_change), methods=["POST"]),
        Route("/admin/processes", page(processes)),
        # the deploy check takes UPLOAD_COUNT files (and reads a few more, to refuse too many in one line)
        Route("/admin/processes/check", page(deploy_check, files=usecases.processes.UPLOAD_COUNT * 4),
              methods=["POST"]),
        Route("/admin/processes/deploy", page(deploy_confirm), methods=["POST"]),
        Route("/admin/processes/{process_id}", page(process)),
        Route("/admin/processes/{process_id}/migrate", page(migrate), methods=["POST"]),
        Route("/admin/channels", page(channels)),
        Route("/admin/channels/add", page(channel_add), methods=["POST"]),
        Route("/admin/channels/roles", page(role_channel), methods=["POST"]),
        Route("/admin/channels/{name}/change", page(channel_change), methods=["POST"]),
        Route("/admin/settings", page(settings), methods=["GET", "POST"]),
    ]
