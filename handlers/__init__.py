"""The domain: service-task handlers, registered by topic, and the functions domain commands call.

`registry` holds every handler of this package; the CLI hands it to the engine.
"""

from engine import Registry

registry = Registry()
handler = registry.handler

from . import (  # noqa: E402,F401  (registers their handlers)
    audits,
    complaints,
    cycle,
    findings,
    improvement,
    indicators,
    inspections,
    plan,
    project_qa,
    reviews,
    surveys,
)

__all__ = ["handler", "registry"]
