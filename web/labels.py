"""Words for the states and history events the pages show: stored values stay English ids (`completed`,
`task.ready`); people read them in their language. An unknown value is shown as it is."""

from __future__ import annotations

from i18n import N_, _

LABELS = {
    # instances and tasks
    "running": N_("running"), "completed": N_("completed"), "error": N_("failed"), "cancelled": N_("cancelled"),
    "ready": N_("to do"), "waiting": N_("waiting"),
    # indicators
    "met": N_("target met"), "unmet": N_("target missed"), "not_measured": N_("not measured"),
    # history
    "instance.started": N_("instance started"), "instance.completed": N_("instance completed"),
    "instance.cancelled": N_("instance cancelled"), "instance.incident": N_("step failed"),
    "instance.retried": N_("failed step retried"), "instance.migrated": N_("moved to another version"),
    "instance.migration_reverted": N_("move undone"), "instance.rearmed": N_("deadlines re-armed"),
    "task.ready": N_("task to do"), "task.completed": N_("task completed"), "task.claimed": N_("task claimed"),
    "task.unclaimed": N_("task released"), "task.cancelled": N_("task cancelled"),
    "service.completed": N_("automatic step done"), "timer.fired": N_("date reached"),
}


def label(value: str | None) -> str:
    if value is None:
        return ""
    return _(LABELS[value]) if value in LABELS else value
