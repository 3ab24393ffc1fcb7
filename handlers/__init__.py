"""The domain: service-task handlers, registered by topic, and the functions domain commands call.

`registry` holds every handler of this package; the CLI hands it to the engine. The modules are
imported (and so register their handlers) when the engine first asks for a handler or a check.
"""

import importlib

from engine import Registry
from i18n import _

MODULES = ("audits", "complaints", "cycle", "findings", "improvement", "indicators", "inspections", "plan",
           "project_qa", "reviews", "surveys")


def _register_all() -> None:
    for name in MODULES:
        importlib.import_module(f"{__name__}.{name}")


registry = Registry(loader=_register_all)
handler = registry.handler

# Processes whose instances belong to a domain record, and the domain path that starts each: a generic
# `opsqa start` of one would squat the business key its record needs (an annual cycle started and
# cancelled by hand, and that year's cycle could never run).
for _process, _path in {
    "annual_cycle": "opsqa cycle start --year YEAR",
    "quality_plan": "opsqa cycle start --year YEAR",
    "internal_audit": "opsqa audit plan",
    "service_inspection": "opsqa inspection start",
    "nc_followup": "opsqa finding add",
    "complaint": "opsqa complaints add",
    "satisfaction_survey": "opsqa survey start --year YEAR",
    "kpi_collection": "the plan's indicator schedule (opsqa schedules)",
    "management_review": "opsqa review start --year YEAR",
    "improvement": "opsqa review start --year YEAR",
    "project_qa": "opsqa projects plan CODE",
}.items():
    registry.owns(_process, _path)


def year_of(context) -> int:
    """The year a step works for: its `year` variable, else its instance's business key (2027)."""
    year = context.variables.get("year") or context.business_key
    try:
        return int(year)
    except (TypeError, ValueError):
        from engine import OpsqaError

        raise OpsqaError(_("the instance names no year (variable year, or a business key like 2027): {year!r}").format(
                             year=year)) from None


__all__ = ["handler", "registry", "year_of"]
