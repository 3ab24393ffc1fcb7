"""The second face: opsqa in the browser (`opsqa serve`), over the same use cases and policy as the CLI.

Starlette routes parse a request, call one use case and render a Jinja2 template (autoescaped); the
browser libraries (htmx, the bpmn-js viewer) are vendored under static/vendor at pinned versions. Like
cli/, nothing here opens a transaction, imports the store, the engine or the handlers, or tests a role
(tests/test_layers.py). `create_app(engine)` gives the ASGI application; `serve(...)` runs it on uvicorn,
with the scheduler in the same process unless told not to.
"""

from __future__ import annotations

from .app import create_app
from .server import serve

__all__ = ["create_app", "serve"]
