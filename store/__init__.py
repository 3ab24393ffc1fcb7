"""Persistence: tables, sessions, the history chain. Imports nothing else of opsqa."""

from .db import (
    SCHEMA_REVISION,
    Database,
    DatabaseError,
    NoDatabase,
    SchemaMismatch,
    backup_sqlite,
    describe,
    open_database,
    resolve_url,
)
from .history import ChainReport, append_event, verify_chain
from .migrate import create_database, upgrade_database
from .models import (
    Definition,
    Event,
    Instance,
    Job,
    QualityPlan,
    Schedule,
    ScheduleFire,
    Setting,
    Task,
    User,
    UserRole,
)

__all__ = [
    "SCHEMA_REVISION",
    "ChainReport",
    "Database",
    "DatabaseError",
    "Definition",
    "Event",
    "Instance",
    "Job",
    "NoDatabase",
    "QualityPlan",
    "Schedule",
    "ScheduleFire",
    "SchemaMismatch",
    "Setting",
    "Task",
    "User",
    "UserRole",
    "append_event",
    "backup_sqlite",
    "create_database",
    "describe",
    "open_database",
    "resolve_url",
    "upgrade_database",
    "verify_chain",
]
