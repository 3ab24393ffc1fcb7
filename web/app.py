"""The ASGI application: routes, templates, and the middleware every response passes through — the error
page with an id the log also has, the security headers, and the request's language."""

from __future__ import annotations

import logging
import secrets
from collections.abc import Callable
from pathlib import Path
from typing import Any

import jinja2
from starlette.applications import Starlette
from starlette.requests import Request
from starlette.responses import HTMLResponse
from starlette.routing import Mount
from starlette.staticfiles import StaticFiles
from starlette.types import ASGIApp, Message, Receive, Scope, Send

import i18n

HERE = Path(__file__).resolve().parent
MAX_BODY = 52 * 1024 * 1024  # an evidence file (50 MB at most) and its form
log = logging.getLogger("opsqa.web")

# No inline script anywhere (htmx's indicator styles are off: see base.html's htmx-config); the diagram
# viewer sets element styles through the DOM, which style-src 'self' allows.
CSP = ("default-src 'self'; script-src 'self'; style-src 'self'; img-src 'self' data:; font-src 'self'; "
       "connect-src 'self'; object-src 'none'; base-uri 'none'; form-action 'self'; frame-ancestors 'none'")


def templates() -> jinja2.Environment:
    """Templates overridable by name (a folder given in OPSQA_TEMPLATES comes first), always autoescaped."""
    import os

    folders = [os.environ["OPSQA_TEMPLATES"]] if os.environ.get("OPSQA_TEMPLATES") else []
    env = jinja2.Environment(loader=jinja2.FileSystemLoader([*folders, str(HERE / "templates")]),
                             autoescape=True, undefined=jinja2.StrictUndefined, trim_blocks=True,
                             lstrip_blocks=True)
    from .labels import label

    env.globals.update(_=i18n.gettext, ngettext=i18n.ngettext, label=label)
    return env


def create_app(engine: Any, *, secure: bool = False, health: Callable[[], dict] | None = None) -> Starlette:
    """The web face over `engine` (a use cases' engine: `usecases.open_engine`). `secure`: served over TLS
    (cookies marked Secure, HSTS). `health`: the scheduler's status for /healthz, None when it runs
    elsewhere."""
    from . import pages

    app = Starlette(
        routes=[
            *pages.routes(),
            Mount("/static", app=StaticFiles(directory=HERE / "static"), name="static"),
        ],
    )
    app.state.engine = engine
    app.state.secure = secure
    app.state.health = health
    app.state.templates = templates()
    # outermost last: the language first (an error page is in it too), the headers on every response
    app.add_middleware(BodyLimit, limit=MAX_BODY)
    app.add_middleware(ErrorPages, render=lambda error_id, lang: _error_page(app.state.templates, error_id, lang))
    app.add_middleware(SecurityHeaders, secure=secure)
    app.add_middleware(Language)
    return app


def _error_page(env: jinja2.Environment, error_id: str, lang: str) -> str:
    return env.get_template("error.html").render(error_id=error_id, user=None, csrf=None, lang=lang, path="/",
                                                 nav=[])


class ErrorPages:
    """An unexpected error becomes a page with an id that the log line has too; never a traceback."""

    def __init__(self, app: ASGIApp, render: Callable[[str, str], str]):
        self.app, self.render = app, render

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        started = False

        async def sending(message: Message) -> None:
            nonlocal started
            if message["type"] == "http.response.start":
                started = True
            await send(message)

        try:
            await self.app(scope, receive, sending)
        except Exception:
            error_id = secrets.token_hex(6)
            log.exception("error %s on %s %s", error_id, scope.get("method"), scope.get("path"))
            if started:
                raise
            lang = scope.get("state", {}).get("lang", "zh_CN")
            response = HTMLResponse(self.render(error_id, lang), status_code=500)
            await response(scope, receive, send)


class BodyLimit:
    """A request body larger than `limit` bytes is refused (413) before it is read: a Content-Length over it
    at once, a body streamed without one when it passes it."""

    def __init__(self, app: ASGIApp, limit: int):
        self.app, self.limit = app, limit

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        declared = dict(scope.get("headers", [])).get(b"content-length")
        if declared is not None and (not declared.isdigit() or int(declared) > self.limit):
            await _too_large(scope, receive, send)
            return
        seen, started = 0, False

        async def sending(message: Message) -> None:
            nonlocal started
            started = started or message["type"] == "http.response.start"
            await send(message)

        async def counting() -> Message:
            nonlocal seen
            message = await receive()
            if message["type"] == "http.request":
                seen += len(message.get("body", b""))
                if seen > self.limit:
                    raise _TooLarge()
            return message

        try:
            await self.app(scope, counting, sending)
        except _TooLarge:
            if started:
                raise
            await _too_large(scope, receive, send)


class _TooLarge(Exception):
    pass


async def _too_large(scope: Scope, receive: Receive, send: Send) -> None:
    response = HTMLResponse(i18n.gettext("The upload is too large."), status_code=413)
    await response(scope, receive, send)


class SecurityHeaders:
    """Every response: the Content-Security-Policy, no framing, no sniffing, no referrer to other sites; pages
    (not the versioned static files) are never cached, since they carry people's work."""

    def __init__(self, app: ASGIApp, secure: bool = False):
        self.app, self.secure = app, secure

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        static = scope.get("path", "").startswith("/static/")

        async def sending(message: Message) -> None:
            if message["type"] == "http.response.start":
                headers = [(k, v) for k, v in message.get("headers", []) if k.lower() != b"server"]
                headers += [(b"content-security-policy", CSP.encode()), (b"x-frame-options", b"DENY"),
                            (b"x-content-type-options", b"nosniff"), (b"referrer-policy", b"same-origin"),
                            (b"cross-origin-opener-policy", b"same-origin"),
                            (b"permissions-policy", b"camera=(), microphone=(), geolocation=()")]
                if static:
                    headers.append((b"cache-control", b"public, max-age=86400"))
                else:
                    headers.append((b"cache-control", b"no-store"))
                if self.secure or scope.get("scheme") == "https":  # TLS here, or at a trusted proxy
                    headers.append((b"strict-transport-security", b"max-age=31536000"))
                message = {**message, "headers": headers}
            await send(message)

        await self.app(scope, receive, sending)


LANG_COOKIE = "opsqa_lang"


def chosen_language(cookie: str | None, accept: str | None) -> str:
    """Chinese first: the language switch's cookie, else the browser's first language we have, else zh_CN."""
    if cookie in i18n.LANGUAGES:
        return cookie
    for part in (accept or "").split(",")[:20]:
        tag = part.split(";")[0].strip().lower()
        if tag.startswith("zh"):
            return "zh_CN"
        if tag.startswith("en"):
            return "en"
    return "zh_CN"


class Language:
    """The request's language, for its context only (i18n.use_language): pages, messages and refusals."""

    def __init__(self, app: ASGIApp):
        self.app = app

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        request = Request(scope)
        lang = chosen_language(request.cookies.get(LANG_COOKIE), request.headers.get("accept-language"))
        scope.setdefault("state", {})["lang"] = lang
        with i18n.use_language(lang):
            await self.app(scope, receive, send)

