"""The migrations build exactly the schema the models describe."""

from __future__ import annotations

from alembic.autogenerate import compare_metadata
from alembic.migration import MigrationContext

from store import (
    create_database,
    domain,  # noqa: F401
)
from store.models import Base


def test_migrated_schema_matches_the_models(tmp_path):
    database = create_database(str(tmp_path / "opsqa.db"))
    try:
        with database.engine.connect() as connection:
            differences = compare_metadata(MigrationContext.configure(connection), Base.metadata)
    finally:
        database.dispose()
    assert differences == []
