"""The schema revision this opsqa needs (the newest migration): read without importing SQLAlchemy."""

SCHEMA_REVISION = "0024"
