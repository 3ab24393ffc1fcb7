"""Persistence: tables, sessions, the history chain. Imports nothing else of opsqa.

Names are imported on first use (PEP 562): a command that only needs `store.quickread` does not pay
for SQLAlchemy and the models."""

from __future__ import annotations

import importlib

_WHERE = {
    "Audit": "models",
    "Auditor": "models",
    "ChainReport": "history",
    "ChecklistResult": "models",
    "Complaint": "models",
    "CopyReport": "copy",
    "Database": "db",
    "DatabaseError": "db",
    "Definition": "models",
    "Event": "models",
    "Evidence": "models",
    "Finding": "models",
    "ImprovementItem": "models",
    "Indicator": "models",
    "IndicatorValue": "models",
    "Inspection": "models",
    "InspectionResult": "models",
    "Instance": "models",
    "Job": "models",
    "ManagementReview": "models",
    "NoDatabase": "db",
    "Project": "models",
    "ProjectMember": "models",
    "ProjectQaPlan": "models",
    "QualityPlan": "models",
    "ReportSubmission": "models",
    "SCHEMA_REVISION": "db",
    "Schedule": "models",
    "ScheduleFire": "models",
    "SchemaMismatch": "db",
    "Setting": "models",
    "SurveyCampaign": "models",
    "SurveyInvitation": "models",
    "SurveyResponse": "models",
    "Task": "models",
    "User": "models",
    "UserRole": "models",
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

__all__ = ["failpoints", *sorted(_WHERE)]


def __getattr__(name: str):
    if name == "failpoints":
        return importlib.import_module(".failpoints", __name__)
    module = _WHERE.get(name)
    if module is None:
        raise AttributeError(f"module {__name__!r} has no attribute {name!r}")
    value = getattr(importlib.import_module(f".{module}", __name__), name)
    globals()[name] = value
    return value
