"""The domain: service-task handlers, registered by topic, and the functions domain commands call.

`registry` holds every handler of this package; the CLI hands it to the engine.
"""

from engine import Registry

registry = Registry()
handler = registry.handler

from . import audits, cycle, findings, inspections, plan, project_qa  # noqa: E402,F401  (registers their handlers)

__all__ = ["handler", "registry"]
