"""Persistence: tables, sessions, the history chain. Imports nothing else of opsqa.

Names are imported on first use (PEP 562): a command that only needs `store.quickread` does not pay
for SQLAlchemy and the models."""

from __future__ import annotations

import importlib

_WHERE = {
    "Audit": "domain",
    "Auditor": "domain",
    "ChainReport": "history",
    "ChecklistResult": "domain",
    "Complaint": "domain",
    "CopyReport": "copy",
    "Database": "db",
    "DatabaseError": "db",
    "Definition": "models",
    "Event": "models",
    "Evidence": "domain",
    "Finding": "domain",
    "ImprovementItem": "domain",
    "Indicator": "domain",
    "IndicatorValue": "domain",
    "Inspection": "domain",
    "InspectionResult": "domain",
    "Instance": "models",
    "InstanceMigration": "models",
    "Job": "models",
    "ManagementReview": "domain",
    "NoDatabase": "db",
    "Project": "domain",
    "ProjectMember": "domain",
    "ProjectQaPlan": "domain",
    "QualityPlan": "domain",
    "ReportSubmission": "domain",
    "SCHEMA_REVISION": "db",
    "Schedule": "models",
    "ScheduleFire": "models",
    "SchemaMismatch": "db",
    "Setting": "models",
    "SurveyCampaign": "domain",
    "SurveyInvitation": "domain",
    "SurveyResponse": "domain",
    "Task": "models",
    "TaskCopy": "models",
    "Channel": "models",
    "RoleChannel": "models",
    "NoticeMark": "models",
    "ControlledDocument": "models",
    "DraftTrial": "models",
    "ProcessDraft": "models",
    "TaskSigner": "models",
    "Absence": "models",
    "User": "models",
    "UserRole": "models",
    "WebSession": "models",
    "SigningKey": "models",
    "HistoryCheckpoint": "models",
    "HistoryHead": "models",
    "append_event": "history",
    "backup_sqlite": "db",
    "copy_database": "copy",
    "create_database": "migrate",
    "describe": "db",
    "open_database": "db",
    "resolve_url": "db",
    "upgrade_database": "migrate",
    "verify_chain": "history",
}

_SUBMODULES = ("evidence", "failpoints", "rows", "seals")  # used as modules: store.rows.open_tasks(...)

__all__ = [*_SUBMODULES, *sorted(_WHERE)]


def __getattr__(name: str):
    if name in _SUBMODULES:
        return importlib.import_module(f".{name}", __name__)
    module = _WHERE.get(name)
    if module is None:
        raise AttributeError(f"module {__name__!r} has no attribute {name!r}")
    value = getattr(importlib.import_module(f".{module}", __name__), name)
    globals()[name] = value
    return value
