"""Words for the states and history events the pages show: stored values stay English ids (`completed`,
`task.ready`); people read them in their language. An unknown value is shown as it is."""

from __future__ import annotations

from i18n import N_, _

LABELS = {
    # instances and tasks
    "running": N_("running"), "completed": N_("completed"), "error": N_("failed"), "cancelled": N_("cancelled"),
    "ready": N_("to do"), "waiting": N_("waiting"),
    # controlled documents
    "effective": N_("effective (受控)"), "obsolete": N_("obsolete (作废)"), "document.issued": N_("document issued"),
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
    # findings: states, severities, sources, due-date changes, history
    "open": N_("open"), "plan_submitted": N_("plan submitted"), "in_progress": N_("being rectified"),
    "pending_verification": N_("waiting for verification"), "closed": N_("closed"),
    "minor": N_("minor"), "major": N_("major"), "general": N_("general"),
    "audit": N_("internal audit"), "inspection": N_("service inspection"), "complaint": N_("complaint"),
    "survey": N_("satisfaction survey"), "mr": N_("management review"), "improvement": N_("improvement plan"),
    "manual": N_("raised by hand"), "raised": N_("set when raised"),
    "verification not effective": N_("verification not effective: due again"),
    "finding.raised": N_("finding raised"), "finding.extended": N_("due date extended"),
    "finding.evidence_added": N_("evidence added"), "finding.reminded": N_("owner reminded"),
    "finding.overdue": N_("finding overdue"), "finding.escalated": N_("finding escalated"),
    # complaints: states, channels, the callback, escalation, history
    "received": N_("received"), "handling": N_("being handled"), "escalated": N_("escalated"),
    "resolved": N_("resolved, waiting for the callback"), "withdrawn": N_("withdrawn"),
    "phone": N_("phone"), "email": N_("e-mail"), "letter": N_("letter"), "service_desk": N_("service desk"),
    "on_site": N_("on site"), "platform": N_("online platform"),
    "satisfied": N_("satisfied"), "not_satisfied": N_("not satisfied"),
    "initial_major": N_("major when assessed"), "time_limit_breach": N_("time limit passed"),
    "reclassified": N_("reclassified as major"), "customer_reopen": N_("reopened twice by the customer"),
    "complaint.received": N_("complaint received"), "complaint.assessed": N_("complaint assessed"),
    "complaint.ack_overdue": N_("not accepted in time"), "complaint.escalated": N_("complaint escalated"),
    "complaint.resolved": N_("complaint resolved"), "complaint.closed": N_("complaint closed"),
    "complaint.reopened": N_("complaint reopened"), "complaint.withdrawn": N_("complaint withdrawn"),
}

# surveys, indicators and the improvement plan (web/surveys.py, web/review.py); the words of findings (an
# improvement measure's follow-up is one) and of complaints (a channel) are theirs, above
LABELS.update({
    # the satisfaction survey: its states, channels, invitations, questions
    "planned": N_("planned"), "collecting": N_("collecting"), "extended": N_("extended"),
    "awaiting_decision": N_("awaiting the QMD's decision"), "analysing": N_("analysing"),
    "reported": N_("reported"), "form": N_("questionnaire"), "visit": N_("visit"),
    "pending": N_("not answered yet"), "responded": N_("answered"),
    "q_om_service": N_("Satisfaction with the O&M service"),
    "q_service_desk": N_("Satisfaction with the service desk"),
    # indicators
    "higher_better": N_("higher is better"), "lower_better": N_("lower is better"),
    "monthly": N_("monthly"), "quarterly": N_("quarterly"), "yearly": N_("yearly"),
    # the improvement plan's items; the management review
    "proposed": N_("proposed (measure to be planned)"), "tracking": N_("followed up"),
    "initiated": N_("initiated"),
})

IMPROVEMENT_SOURCES = {  # where an improvement item comes from (`complaint` and `mr` mean more than a finding's)
    "unmet_kpi": N_("indicator missed"), "not_measured_kpi": N_("indicator not measured"),
    "open_nc": N_("open nonconformity"), "complaint": N_("major complaint"), "mr": N_("management review decision"),
}


def improvement_source(kind: str) -> str:
    return _(IMPROVEMENT_SOURCES[kind]) if kind in IMPROVEMENT_SOURCES else label(kind)


def question(qid: str) -> str:
    """A survey question (a column q_*) in words: its label, else its id without the prefix, in words."""
    if qid in LABELS:
        return _(LABELS[qid])
    return qid.removeprefix("q_").replace("_", " ").strip() or qid


def label(value: str | None) -> str:
    if value is None:
        return ""
    return _(LABELS[value]) if value in LABELS else value


# audits, inspections, auditors and projects (web/audits.py)
LABELS.update({
    # a checklist row's result, an area's standing
    "conform": N_("conforms"), "nonconform": N_("nonconformity"), "observation": N_("observation"),
    "not_applicable": N_("not applicable"), "incomplete": N_("not fully checked"),
    "no items configured": N_("no items configured"),
    # how an inspection was started
    "random_oms": N_("random draw by the O&M supervisor"), "qmd_as_needed": N_("by the quality department, as needed"),
    # an auditor's qualification
    "valid": N_("valid"), "expired": N_("expired"), "no_end": N_("valid, no end date"),
    # a project: its kind and status; its quality-control plan and report frequency
    "safe_city": N_("safe city"), "smart_city": N_("smart city"), "other": N_("other"), "active": N_("active"),
    "defined": N_("set, to be arranged"), "arranged": N_("arranged"),
    "report_monthly": N_("monthly reports"), "report_quarterly": N_("quarterly reports"),
})

CHECKING_STATES = {  # an audit's or an inspection's state where its word differs from a finding's
    "in_progress": N_("under way"),
}


def checking_state(value: str | None) -> str:
    """An audit's or an inspection's state in words (web/audits.py)."""
    return _(CHECKING_STATES[value]) if value in CHECKING_STATES else label(value)
