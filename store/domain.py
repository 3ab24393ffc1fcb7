"""The quality system's records (projects, audits, findings, complaints, surveys, reviews...): the
domain's tables, apart from the engine's own (store/models.py), so that a command that only drives
the engine does not pay for mapping them. Loaded by the handlers, the migrations and `db copy`."""

from __future__ import annotations

from datetime import date, datetime

from sqlalchemy import (
    Boolean,
    Date,
    Float,
    ForeignKey,
    Index,
    Integer,
    LargeBinary,
    String,
    Text,
    UniqueConstraint,
    text,
)
from sqlalchemy.orm import Mapped, mapped_column

from .models import Base, UtcDateTime


class Project(Base):
    """An O&M project of the register (6.1.3): whose team audits may not be audited by its members."""

    __tablename__ = "project"

    code: Mapped[str] = mapped_column(String(50), primary_key=True)
    name: Mapped[str] = mapped_column(String(500))
    kind: Mapped[str] = mapped_column(String(20))  # safe_city | smart_city | other
    customer: Mapped[str] = mapped_column(String(500))
    pm: Mapped[str] = mapped_column(ForeignKey("user_account.name"))
    oms: Mapped[str] = mapped_column(ForeignKey("user_account.name"))
    status: Mapped[str] = mapped_column(String(20))  # active | closed
    contract_ref: Mapped[str | None] = mapped_column(String(200))
    om_start: Mapped[date | None] = mapped_column(Date)
    om_end: Mapped[date | None] = mapped_column(Date)
    created_at: Mapped[datetime] = mapped_column(UtcDateTime)
    created_by: Mapped[str] = mapped_column(String(200))
    updated_at: Mapped[datetime] = mapped_column(UtcDateTime)


class ProjectMember(Base):
    """A project's team: its manager, its O&M supervisor and the engineers on it."""

    __tablename__ = "project_member"

    project_code: Mapped[str] = mapped_column(ForeignKey("project.code"), primary_key=True)
    user_name: Mapped[str] = mapped_column(ForeignKey("user_account.name"), primary_key=True)


class Auditor(Base):
    """A qualified internal auditor (内审员)."""

    __tablename__ = "auditor"

    user_name: Mapped[str] = mapped_column(ForeignKey("user_account.name"), primary_key=True)
    certificate_no: Mapped[str | None] = mapped_column(String(100))
    valid_until: Mapped[date | None] = mapped_column(Date)
    added_by: Mapped[str] = mapped_column(String(200))
    added_at: Mapped[datetime] = mapped_column(UtcDateTime)


LIVE_FULL_AUDIT = "\"full\" AND status <> 'cancelled'"  # "full" is a reserved word in PostgreSQL


class Audit(Base):
    """An internal audit of the O&M system (6.2.1): its scope, its team, its checklist."""

    __tablename__ = "audit"
    # One full internal audit a year (6.2.1), whichever way it was planned; one whose plan was sent back
    # (cancelled) makes room for the next. Partial audits are told apart by scope and dates: no index can.
    __table_args__ = (Index("uq_audit_full_year", "year", unique=True, sqlite_where=text(LIVE_FULL_AUDIT),
                            postgresql_where=text(LIVE_FULL_AUDIT)),)

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    code: Mapped[str] = mapped_column(String(50), unique=True)  # IA-2027-01
    year: Mapped[int] = mapped_column(Integer, index=True)
    full: Mapped[bool] = mapped_column(Boolean)
    scope: Mapped[str] = mapped_column(Text)  # JSON: the units audited (project or department codes)
    team: Mapped[str] = mapped_column(Text)  # JSON: {auditor: [units]}
    lead_auditor: Mapped[str] = mapped_column(ForeignKey("user_account.name"))
    status: Mapped[str] = mapped_column(String(20))  # planned | in_progress | reported | closed | cancelled
    planned_start: Mapped[date] = mapped_column(Date)
    planned_end: Mapped[date] = mapped_column(Date)
    instance_id: Mapped[int | None] = mapped_column(ForeignKey("instance.id"))
    reported_at: Mapped[datetime | None] = mapped_column(UtcDateTime)
    report_summary: Mapped[str | None] = mapped_column(Text)  # the lead auditor's report, as written
    report_conclusion: Mapped[str | None] = mapped_column(Text)
    mr_comment: Mapped[str | None] = mapped_column(Text)  # the management representative's acknowledgement
    created_at: Mapped[datetime] = mapped_column(UtcDateTime)
    created_by: Mapped[str] = mapped_column(String(200))


class ChecklistResult(Base):
    """One row of the 《运维过程内审检查表》: a checklist item checked at one audited unit."""

    __tablename__ = "checklist_result"
    __table_args__ = (UniqueConstraint("audit_id", "item_code", "unit", name="uq_checklist_result"),)

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    audit_id: Mapped[int] = mapped_column(ForeignKey("audit.id"), index=True)
    item_code: Mapped[str] = mapped_column(String(20))
    unit: Mapped[str] = mapped_column(String(100))
    result: Mapped[str] = mapped_column(String(20))  # conform | nonconform | observation | not_applicable
    na_reason: Mapped[str | None] = mapped_column(Text)
    evidence_text: Mapped[str | None] = mapped_column(Text)
    auditor: Mapped[str] = mapped_column(String(200))
    checked_at: Mapped[datetime] = mapped_column(UtcDateTime)
    finding_id: Mapped[int | None] = mapped_column(ForeignKey("finding.id"))


class Inspection(Base):
    """A service quality inspection (6.2.2) of one or more projects."""

    __tablename__ = "inspection"

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    code: Mapped[str] = mapped_column(String(50), unique=True)  # INS-2028-01
    trigger_type: Mapped[str] = mapped_column(String(20))  # random_oms | qmd_as_needed | planned
    seed: Mapped[int | None] = mapped_column(Integer)  # with sample_size, the random draw can be repeated
    sample_size: Mapped[int | None] = mapped_column(Integer)
    projects: Mapped[str] = mapped_column(Text)  # JSON list of project codes
    inspector: Mapped[str] = mapped_column(ForeignKey("user_account.name"))
    status: Mapped[str] = mapped_column(String(20))  # in_progress | reported
    instance_id: Mapped[int | None] = mapped_column(ForeignKey("instance.id"))
    started_at: Mapped[datetime] = mapped_column(UtcDateTime)
    reported_at: Mapped[datetime | None] = mapped_column(UtcDateTime)


class InspectionResult(Base):
    """One check point (SVC-a..e) at one project of an inspection; SVC-e keeps its record samples."""

    __tablename__ = "inspection_result"
    __table_args__ = (UniqueConstraint("inspection_id", "project", "item_code", name="uq_inspection_result"),)

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    inspection_id: Mapped[int] = mapped_column(ForeignKey("inspection.id"), index=True)
    project: Mapped[str] = mapped_column(ForeignKey("project.code"))
    item_code: Mapped[str] = mapped_column(String(20))
    passed: Mapped[bool] = mapped_column(Boolean)
    evidence: Mapped[str | None] = mapped_column(Text)
    samples: Mapped[str | None] = mapped_column(Text)  # JSON: {record_type, size, defects}
    checked_at: Mapped[datetime] = mapped_column(UtcDateTime)
    finding_id: Mapped[int | None] = mapped_column(ForeignKey("finding.id"))


class Finding(Base):
    """A nonconformity or rectification item (不符合项/整改项), followed up by its own `nc_followup` instance."""

    __tablename__ = "finding"

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    code: Mapped[str] = mapped_column(String(50), unique=True)  # NC-2027-003
    source: Mapped[str] = mapped_column(String(20))  # audit | inspection | complaint | survey | mr | manual
    source_ref: Mapped[str | None] = mapped_column(String(100))
    item_code: Mapped[str | None] = mapped_column(String(20))  # the checklist item, e.g. PRC-c
    unit: Mapped[str | None] = mapped_column(String(100))  # the project or department concerned
    description: Mapped[str] = mapped_column(Text)
    severity: Mapped[str] = mapped_column(String(10))  # minor | major
    raised_by: Mapped[str] = mapped_column(String(200))
    raised_at: Mapped[datetime] = mapped_column(UtcDateTime)
    owner: Mapped[str] = mapped_column(ForeignKey("user_account.name"))
    correction: Mapped[str | None] = mapped_column(Text)
    root_cause: Mapped[str | None] = mapped_column(Text)
    corrective_action: Mapped[str | None] = mapped_column(Text)
    similar_elsewhere: Mapped[bool | None] = mapped_column(Boolean)
    due_date: Mapped[date] = mapped_column(Date)  # the current approved due date (local)
    original_due_date: Mapped[date] = mapped_column(Date)
    due_history: Mapped[str] = mapped_column(Text)  # JSON: [{date, reason, by, at}], the original first
    status: Mapped[str] = mapped_column(String(30), index=True)
    reopen_count: Mapped[int] = mapped_column(Integer)
    reopened_at: Mapped[datetime | None] = mapped_column(UtcDateTime)
    reminded_at: Mapped[datetime | None] = mapped_column(UtcDateTime)
    escalated_at: Mapped[datetime | None] = mapped_column(UtcDateTime)
    verified_by: Mapped[str | None] = mapped_column(String(200))
    verified_at: Mapped[datetime | None] = mapped_column(UtcDateTime)
    verification_result: Mapped[str | None] = mapped_column(String(20))
    closed_at: Mapped[datetime | None] = mapped_column(UtcDateTime)
    instance_id: Mapped[int | None] = mapped_column(ForeignKey("instance.id"))
    updated_at: Mapped[datetime] = mapped_column(UtcDateTime)


class Evidence(Base):
    """An evidence file, kept whole with its SHA-256: retrievable, never replaced."""

    __tablename__ = "evidence"
    __table_args__ = (UniqueConstraint("finding_id", "sha256", name="uq_evidence_finding_sha256"),)

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    finding_id: Mapped[int | None] = mapped_column(ForeignKey("finding.id"), index=True)
    checklist_result_id: Mapped[int | None] = mapped_column(
        ForeignKey("checklist_result.id", name="fk_evidence_checklist_result"), index=True)
    file_name: Mapped[str] = mapped_column(String(500))
    sha256: Mapped[str] = mapped_column(String(64))
    size: Mapped[int] = mapped_column(Integer)
    content: Mapped[bytes] = mapped_column(LargeBinary)
    note: Mapped[str | None] = mapped_column(Text)
    added_by: Mapped[str] = mapped_column(String(200))
    added_at: Mapped[datetime] = mapped_column(UtcDateTime)


CURRENT_PLAN = "superseded_at IS NULL"


class QualityPlan(Base):
    """An issued organisational quality plan (6.1.2), written by the `plan.issue` handler."""

    __tablename__ = "quality_plan"
    # A year has one plan in force, whichever instance drafted it: its drafts are versions inside one edition;
    # a revision of the issued plan is a new edition, approved again, which supersedes the one before.
    __table_args__ = (Index("uq_quality_plan_current", "period", unique=True, sqlite_where=text(CURRENT_PLAN),
                            postgresql_where=text(CURRENT_PLAN)),
                      Index("uq_quality_plan_edition", "period", "edition", unique=True))

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    instance_id: Mapped[int] = mapped_column(ForeignKey("instance.id"), unique=True)
    period: Mapped[str] = mapped_column(String(50))
    objectives: Mapped[str] = mapped_column(Text)
    verification: Mapped[str] = mapped_column(Text)
    resources: Mapped[str] = mapped_column(Text)
    audit_schedule: Mapped[str] = mapped_column(Text)
    indicator_cycle: Mapped[str] = mapped_column(String(50))
    spot_check_plan: Mapped[str] = mapped_column(Text)
    audit_start: Mapped[date | None] = mapped_column(Date)
    spot_check_frequency: Mapped[str | None] = mapped_column(String(50))
    spot_check_sample: Mapped[int | None] = mapped_column(Integer)
    revisions: Mapped[int] = mapped_column(Integer)  # drafts (versions) inside this edition's instance
    approved_by: Mapped[str | None] = mapped_column(String(200))
    approval_comment: Mapped[str | None] = mapped_column(Text)
    issued_at: Mapped[datetime] = mapped_column(UtcDateTime)
    issued_by: Mapped[str] = mapped_column(String(200))
    edition: Mapped[int] = mapped_column(Integer, default=1, server_default="1")  # 第几版: 1, then each revision
    superseded_at: Mapped[datetime | None] = mapped_column(UtcDateTime)  # None: the edition in force
    superseded_by: Mapped[int | None] = mapped_column(ForeignKey(  # deferred: `db copy` inserts in id order
        "quality_plan.id", name="fk_quality_plan_superseded_by", deferrable=True, initially="DEFERRED"))
    revision_reason: Mapped[str | None] = mapped_column(Text)


class ProjectQaPlan(Base):
    """A project's quality-control content for a year (6.1.3 a-f), set by the operations department."""

    __tablename__ = "project_qa_plan"
    __table_args__ = (UniqueConstraint("project", "year", "version", name="uq_project_qa_plan"),)

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    project: Mapped[str] = mapped_column(ForeignKey("project.code"), index=True)
    year: Mapped[int] = mapped_column(Integer)
    version: Mapped[int] = mapped_column(Integer)
    instance_id: Mapped[int] = mapped_column(ForeignKey("instance.id"))
    org_structure: Mapped[str] = mapped_column(Text)  # a)
    kpi_control: Mapped[str] = mapped_column(Text)  # b)
    spot_checks: Mapped[str] = mapped_column(Text)  # c)
    report_frequency: Mapped[str] = mapped_column(String(20))  # d) report_monthly | report_quarterly
    report_due_days: Mapped[int] = mapped_column(Integer)  # d) days after the period's end
    resource_plan: Mapped[str] = mapped_column(Text)  # e)
    service_desk_plan: Mapped[str] = mapped_column(Text)  # f)
    spare_parts_plan: Mapped[str] = mapped_column(Text)  # f)
    emergency_plan: Mapped[str] = mapped_column(Text)  # f)
    status: Mapped[str] = mapped_column(String(20))  # defined | arranged
    defined_by: Mapped[str] = mapped_column(String(200))
    defined_at: Mapped[datetime] = mapped_column(UtcDateTime)
    arrangement: Mapped[str | None] = mapped_column(Text)
    arranged_by: Mapped[str | None] = mapped_column(String(200))
    arranged_at: Mapped[datetime | None] = mapped_column(UtcDateTime)


class ReportSubmission(Base):
    """One periodic O&M report a project owes its customer (6.1.3 d): due, submitted, on time or late."""

    __tablename__ = "report_submission"
    __table_args__ = (UniqueConstraint("project", "period", name="uq_report_submission"),)

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    project: Mapped[str] = mapped_column(ForeignKey("project.code"), index=True)
    period: Mapped[str] = mapped_column(String(20))  # 2027-03 | 2027-Q1
    instance_id: Mapped[int] = mapped_column(ForeignKey("instance.id"))
    due_at: Mapped[datetime] = mapped_column(UtcDateTime)
    reminded_at: Mapped[datetime | None] = mapped_column(UtcDateTime)
    overdue_at: Mapped[datetime | None] = mapped_column(UtcDateTime)
    submitted_at: Mapped[datetime | None] = mapped_column(UtcDateTime)
    submitted_by: Mapped[str | None] = mapped_column(String(200))
    report_ref: Mapped[str | None] = mapped_column(Text)
    note: Mapped[str | None] = mapped_column(Text)
    on_time: Mapped[bool | None] = mapped_column(Boolean)


class Complaint(Base):
    """A customer complaint (6.2.3) from receipt to the customer's confirmation (DOMAIN.md 3.2)."""

    __tablename__ = "complaint"

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    code: Mapped[str] = mapped_column(String(50), unique=True)  # C-2028-001
    received_at: Mapped[datetime] = mapped_column(UtcDateTime)
    channel: Mapped[str] = mapped_column(String(30))  # phone | email | letter | service_desk | on_site | platform
    customer: Mapped[str] = mapped_column(String(500))
    contact: Mapped[str | None] = mapped_column(String(500))
    project: Mapped[str] = mapped_column(ForeignKey("project.code"), index=True)
    description: Mapped[str] = mapped_column(Text)
    remedy_sought: Mapped[str | None] = mapped_column(Text)
    category: Mapped[str | None] = mapped_column(String(200))
    severity: Mapped[str | None] = mapped_column(String(10))  # general | major, once assessed
    severity_reason: Mapped[str | None] = mapped_column(Text)
    handler: Mapped[str] = mapped_column(ForeignKey("user_account.name"))  # the project manager
    assessed_by: Mapped[str | None] = mapped_column(String(200))
    acknowledged_at: Mapped[datetime | None] = mapped_column(UtcDateTime)
    ack_due_at: Mapped[datetime] = mapped_column(UtcDateTime)
    resolve_due_at: Mapped[datetime] = mapped_column(UtcDateTime)
    escalated: Mapped[bool] = mapped_column(Boolean)
    escalated_to: Mapped[str | None] = mapped_column(String(200))
    escalated_at: Mapped[datetime | None] = mapped_column(UtcDateTime)
    escalation_reason: Mapped[str | None] = mapped_column(String(30))
    handling_team: Mapped[str | None] = mapped_column(Text)
    investigation: Mapped[str | None] = mapped_column(Text)
    resolution: Mapped[str | None] = mapped_column(Text)
    resolved_at: Mapped[datetime | None] = mapped_column(UtcDateTime)
    customer_feedback: Mapped[str | None] = mapped_column(String(20))  # satisfied | not_satisfied
    reopen_count: Mapped[int] = mapped_column(Integer)
    finding_id: Mapped[int | None] = mapped_column(ForeignKey("finding.id"))
    status: Mapped[str] = mapped_column(String(20), index=True)
    closed_by: Mapped[str | None] = mapped_column(String(200))
    closed_at: Mapped[datetime | None] = mapped_column(UtcDateTime)
    instance_id: Mapped[int | None] = mapped_column(ForeignKey("instance.id"))
    created_by: Mapped[str] = mapped_column(String(200))


class Indicator(Base):
    """A quality indicator (6.1.2 e, 4.4): its target, which way is better, how often it is collected."""

    __tablename__ = "indicator"

    code: Mapped[str] = mapped_column(String(20), primary_key=True)  # K1
    name: Mapped[str] = mapped_column(String(500))
    unit: Mapped[str] = mapped_column(String(20))  # %, h, score, count
    direction: Mapped[str] = mapped_column(String(20))  # higher_better | lower_better
    target: Mapped[float] = mapped_column(Float)
    cycle: Mapped[str] = mapped_column(String(20))  # monthly | quarterly | yearly
    yearly_rule: Mapped[str] = mapped_column(String(20))  # mean | latest
    source: Mapped[str | None] = mapped_column(String(50))  # survey: taken from the satisfaction survey
    active: Mapped[bool] = mapped_column(Boolean)
    created_at: Mapped[datetime] = mapped_column(UtcDateTime)  # no value is asked for a period begun before
    updated_at: Mapped[datetime] = mapped_column(UtcDateTime)
    updated_by: Mapped[str] = mapped_column(String(200))


class IndicatorValue(Base):
    """One measured value of an indicator for a period (2027-03, 2027-Q1, 2027), organisation-wide
    (scope '*') or for one project."""

    __tablename__ = "indicator_value"
    __table_args__ = (UniqueConstraint("indicator", "period", "scope", name="uq_indicator_value"),)

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    indicator: Mapped[str] = mapped_column(ForeignKey("indicator.code"), index=True)
    period: Mapped[str] = mapped_column(String(20))
    scope: Mapped[str] = mapped_column(String(50))  # '*' or a project code
    value: Mapped[float] = mapped_column(Float)
    attainment: Mapped[str] = mapped_column(String(20))  # met | unmet
    source: Mapped[str | None] = mapped_column(String(500))  # the import file and row, or 'entered'
    collected_by: Mapped[str] = mapped_column(String(200))
    collected_at: Mapped[datetime] = mapped_column(UtcDateTime)


class SurveyCampaign(Base):
    """A year's customer satisfaction survey (6.2.4)."""

    __tablename__ = "survey_campaign"

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    code: Mapped[str] = mapped_column(String(50), unique=True)  # CS-2027
    year: Mapped[int] = mapped_column(Integer, unique=True)
    # planned | collecting | extended | awaiting_decision (closed without answers) | analysing | reported
    status: Mapped[str] = mapped_column(String(20))
    questionnaire: Mapped[str | None] = mapped_column(String(200))
    collect_until: Mapped[date | None] = mapped_column(Date)
    instance_id: Mapped[int | None] = mapped_column(ForeignKey("instance.id"))
    stats: Mapped[str | None] = mapped_column(Text)  # JSON, frozen when analysed
    no_data_reason: Mapped[str | None] = mapped_column(Text)
    report_summary: Mapped[str | None] = mapped_column(Text)
    reported_at: Mapped[datetime | None] = mapped_column(UtcDateTime)
    created_at: Mapped[datetime] = mapped_column(UtcDateTime)
    created_by: Mapped[str] = mapped_column(String(200))


class SurveyInvitation(Base):
    """One customer asked, by one channel (phone, form, visit), about one project."""

    __tablename__ = "survey_invitation"
    __table_args__ = (UniqueConstraint("campaign_id", "customer", "project", name="uq_survey_invitation"),)

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    campaign_id: Mapped[int] = mapped_column(ForeignKey("survey_campaign.id"), index=True)
    customer: Mapped[str] = mapped_column(String(500))
    project: Mapped[str] = mapped_column(ForeignKey("project.code"))
    channel: Mapped[str] = mapped_column(String(20))  # phone | form | visit
    contact: Mapped[str | None] = mapped_column(String(500))
    status: Mapped[str] = mapped_column(String(20))  # pending | responded | declined | unreachable


class SurveyResponse(Base):
    """A customer's answers: a 1-5 score per question, overall, and the problems they raised."""

    __tablename__ = "survey_response"
    __table_args__ = (UniqueConstraint("campaign_id", "fingerprint", name="uq_survey_response"),)

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    campaign_id: Mapped[int] = mapped_column(ForeignKey("survey_campaign.id"), index=True)
    invitation_id: Mapped[int] = mapped_column(ForeignKey("survey_invitation.id"))
    channel: Mapped[str] = mapped_column(String(20))
    respondent: Mapped[str | None] = mapped_column(String(200))
    scores: Mapped[str] = mapped_column(Text)  # JSON {question: score}
    overall: Mapped[int] = mapped_column(Integer)
    comments: Mapped[str | None] = mapped_column(Text)
    issues: Mapped[str | None] = mapped_column(Text)  # the problems raised: each becomes a rectification
    fingerprint: Mapped[str] = mapped_column(String(64))  # SHA-256 of the row: importing it twice adds nothing
    source: Mapped[str] = mapped_column(String(500))
    finding_id: Mapped[int | None] = mapped_column(ForeignKey("finding.id"))
    collected_by: Mapped[str] = mapped_column(String(200))
    collected_at: Mapped[datetime] = mapped_column(UtcDateTime)


class ManagementReview(Base):
    """The yearly management review (6.2.5): its preconditions, inputs, decisions and report."""

    __tablename__ = "management_review"

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    year: Mapped[int] = mapped_column(Integer, unique=True)
    status: Mapped[str] = mapped_column(String(20))  # initiated | held | reported
    instance_id: Mapped[int | None] = mapped_column(ForeignKey("instance.id"))
    precondition_snapshot: Mapped[str] = mapped_column(Text)  # JSON
    review_date: Mapped[date | None] = mapped_column(Date)
    attendees: Mapped[str | None] = mapped_column(Text)
    inputs: Mapped[str | None] = mapped_column(Text)  # JSON snapshot, frozen when gathered
    minutes: Mapped[str | None] = mapped_column(Text)
    decisions: Mapped[str | None] = mapped_column(Text)  # JSON [{text, requires_action}]
    initiated_by: Mapped[str] = mapped_column(String(200))
    created_at: Mapped[datetime] = mapped_column(UtcDateTime)
    reported_at: Mapped[datetime | None] = mapped_column(UtcDateTime)


class ImprovementItem(Base):
    """One line of the service-capability improvement plan (6.2.6), one per source item."""

    __tablename__ = "improvement_item"
    __table_args__ = (UniqueConstraint("year", "source_type", "source_ref", name="uq_improvement_source"),)

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    code: Mapped[str] = mapped_column(String(50), unique=True)  # IMP-2027-01
    year: Mapped[int] = mapped_column(Integer, index=True)
    source_type: Mapped[str] = mapped_column(String(30))  # unmet_kpi | not_measured_kpi | open_nc | complaint | mr
    source_ref: Mapped[str] = mapped_column(String(200))
    description: Mapped[str] = mapped_column(Text)
    cause: Mapped[str | None] = mapped_column(Text)
    measure: Mapped[str | None] = mapped_column(Text)
    owner: Mapped[str | None] = mapped_column(ForeignKey("user_account.name"))
    due_date: Mapped[date | None] = mapped_column(Date)
    expected_result: Mapped[str | None] = mapped_column(Text)
    status: Mapped[str] = mapped_column(String(20))  # proposed | planned | tracking
    finding_id: Mapped[int | None] = mapped_column(ForeignKey("finding.id"))
    created_at: Mapped[datetime] = mapped_column(UtcDateTime)
    updated_at: Mapped[datetime] = mapped_column(UtcDateTime)
