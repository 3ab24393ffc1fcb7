"""The domain: service-task handlers, registered by topic, and the functions domain commands call.

`registry` holds every handler of this package; the CLI hands it to the engine.
"""

from engine import Registry

registry = Registry()
handler = registry.handler


def year_of(context) -> int:
    """The year a step works for: its `year` variable, else its instance's business key (2027)."""
    year = context.variables.get("year") or context.business_key
    try:
        return int(year)
    except (TypeError, ValueError):
        from engine import OpsqaError

        raise OpsqaError(f"the instance names no year (variable year, or a business key like 2027): {year!r}") from None


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

__all__ = ["handler", "registry", "year_of"]
