"""store/rows.py writes what the ORM would write, on SQLite and on PostgreSQL.

A step's own rows (the instance, its tasks, its events) go through plain SQL; the rest of opsqa reads
them through the ORM. These tests hold the two to each other: times, the lock version, refusals.
"""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from zoneinfo import ZoneInfo

import pytest
from sqlalchemy import select, text
from sqlalchemy.orm.exc import StaleDataError

from store import Definition, Event, Instance, Task, append_event, create_database, rows, verify_chain

pytest_plugins = ["postgres"]

SHANGHAI = ZoneInfo("Asia/Shanghai")
NOW = datetime(2027, 3, 1, 9, 30, 15, 123456, tzinfo=SHANGHAI)


@pytest.fixture(params=["sqlite", "postgresql"])
def database(request, tmp_path):
    url = str(tmp_path / "rows.db") if request.param == "sqlite" else request.getfixturevalue("pg_url")
    database = create_database(url)
    with database.transaction() as session:
        session.add(Definition(id=1, process_id="p", version=1, name="P", sha256="0" * 64, source_file="p.bpmn",
                               xml="<x/>", spec_json="{}", model_json="{}", deployed_at=NOW, deployed_by="admin"))
    yield database
    database.dispose()


def _instance(key: str = "k1") -> rows.InstanceRow:
    return rows.InstanceRow(
        id=None, definition_id=1, process_id="p", business_key=key, status="running", state_json="{}",
        serializer_version="1.4", library_version="3.2.0", lock_version=0, next_due_at=NOW + timedelta(days=10),
        incident=None, incident_task=None, started_at=NOW, started_by="ann", updated_at=NOW, ended_at=None)


def _task(instance_id: int, task_id: str) -> rows.TaskRow:
    return rows.TaskRow(
        id=task_id, instance_id=instance_id, process_id="p", bpmn_id="review", name="审核", role="qmd",
        state="ready", assignee=None, claimed_by=None, due_at=NOW + timedelta(days=3), overdue_notified_at=None,
        variables='{"year": 2027}', created_at=NOW, completed_by=None, completed_at=None)


def test_an_instance_written_in_sql_reads_the_same_through_the_orm(database):
    with database.transaction() as session:
        row = _instance()
        assert rows.insert_instance(session, row)
        assert row.lock_version == 1
        row.status, row.ended_at, row.next_due_at, row.state_json = "completed", NOW, None, '{"done": true}'
        rows.save_instance(session, row)
        assert row.lock_version == 2
    with database.reading() as session:
        orm = session.get(Instance, row.id)
        assert (orm.status, orm.state_json, orm.lock_version, orm.next_due_at) == ("completed", '{"done": true}', 2,
                                                                                   None)
        assert orm.started_at == orm.ended_at == NOW and orm.started_at.tzinfo == UTC
        again = rows.read_instance(session, row.id)
    assert again == row
    assert again.started_at.tzinfo == UTC


def test_times_are_stored_as_the_orm_stores_them(database):
    """SQLite keeps times as text and compares them as text: both writers must write the same."""
    with database.transaction() as session:
        row = _instance("sql")
        rows.insert_instance(session, row)
        session.add(Instance(definition_id=1, process_id="p", business_key="orm", status="running", state_json="{}",
                             serializer_version="1.4", library_version="3.2.0", started_at=NOW, started_by="ann",
                             updated_at=NOW, next_due_at=NOW + timedelta(days=10)))
        session.flush()
        stored = session.execute(text("SELECT business_key, started_at, next_due_at FROM instance")).all()
    by_key = {key: (started, due) for key, started, due in stored}
    assert by_key["sql"] == by_key["orm"]
    assert by_key["orm"][1] != by_key["orm"][0]


def test_a_save_after_someone_else_saved_is_refused_and_writes_nothing(database):
    with database.transaction() as session:
        row = _instance()
        rows.insert_instance(session, row)
    with database.transaction() as session:
        theirs = rows.read_instance(session, row.id)
        theirs.status = "error"
        rows.save_instance(session, theirs)
    row.status = "cancelled"
    with pytest.raises(StaleDataError), database.transaction() as session:
        rows.save_instance(session, row)
    with database.reading() as session:
        assert (session.get(Instance, row.id).status, session.get(Instance, row.id).lock_version) == ("error", 2)


def test_a_taken_business_key_is_refused_and_the_transaction_goes_on(database):
    with database.transaction() as session:
        first = _instance("2027")
        assert rows.insert_instance(session, first)
        assert not rows.insert_instance(session, _instance("2027"))  # PostgreSQL's transaction stays usable
        second = _instance("2028")
        assert rows.insert_instance(session, second)
    with database.reading() as session:
        assert sorted(session.scalars(select(Instance.business_key))) == ["2027", "2028"]


def test_task_rows_written_in_sql_read_the_same_through_the_orm(database):
    with database.transaction() as session:
        row = _instance()
        rows.insert_instance(session, row)
        task = _task(row.id, "0a1b2c3d-0000-4000-8000-000000000001")
        rows.insert_task(session, task)
        assert rows.open_tasks(session, row.id) == [task]
        rows.update_task(session, task, state="completed", completed_by="ann", completed_at=NOW)
        assert rows.open_tasks(session, row.id) == []
        assert rows.known_task_ids(session, [task.id, "nope"]) == {task.id}
    with database.reading() as session:
        orm = session.get(Task, task.id)
        assert (orm.state, orm.completed_by, orm.completed_at, orm.due_at, orm.name) == (
            "completed", "ann", NOW, NOW + timedelta(days=3), "审核")
        assert rows.find_tasks(session, task.id, min_prefix=4) == [task]
    with pytest.raises(ValueError, match="no column 'colour'"), database.transaction() as session:
        rows.update_task(session, task, colour="red")


def test_a_task_prefix_is_matched_literally(database):
    with database.transaction() as session:
        row = _instance()
        rows.insert_instance(session, row)
        for task_id in ("abcd_1", "abcdx1", "ab%d-2"):
            rows.insert_task(session, _task(row.id, task_id))
    with database.reading() as session:
        assert [t.id for t in rows.find_tasks(session, "abcd_", min_prefix=4)] == ["abcd_1"]  # not a wildcard
        assert [t.id for t in rows.find_tasks(session, "ab%d", min_prefix=4)] == ["ab%d-2"]
        assert len(rows.find_tasks(session, "abcd", min_prefix=4)) == 2  # ambiguous: the caller says so
        assert rows.find_tasks(session, "abc", min_prefix=4) == []  # too short to be a prefix
        assert [t.id for t in rows.find_tasks(session, "abcdx1", min_prefix=4, for_update=True)] == ["abcdx1"]


def test_events_appended_in_sql_verify_and_roll_back_with_the_step(database):
    with database.transaction() as session:
        row = _instance()
        rows.insert_instance(session, row)
        append_event(session, at=NOW, kind="instance.started", actor="ann", instance_id=row.id,
                     payload={"when": NOW, "名": "质量"})
        append_event(session, at=NOW, kind="task.ready", actor="ann", instance_id=row.id, task_id="t1")
    with pytest.raises(RuntimeError), database.transaction() as session:
        append_event(session, at=NOW, kind="lost", actor="ann")
        raise RuntimeError("the step failed")
    with database.reading() as session:
        kinds = [e.kind for e in session.scalars(select(Event).order_by(Event.id))]
        report = verify_chain(session)
    # the records sealed: the new database's, then the fixture's definition (instances are not sealed)
    assert kinds == ["records.sealed", "records.sealed", "instance.started", "task.ready"]
    assert report.intact and report.count == 4


def test_the_chain_continues_right_after_a_savepoint_that_rolled_back_or_was_released(database):
    """A handler runs in a savepoint: its events go when it fails, and the chain, linked at the commit, never
    holds them."""
    with database.transaction() as session:
        append_event(session, at=NOW, kind="step.one", actor="ann")
        with pytest.raises(RuntimeError), session.begin_nested():
            append_event(session, at=NOW, kind="handler.lost", actor="ann")
            append_event(session, at=NOW, kind="handler.lost", actor="ann")
            raise RuntimeError("the handler failed")
        append_event(session, at=NOW, kind="step.two", actor="ann")
        with session.begin_nested():
            append_event(session, at=NOW, kind="handler.kept", actor="ann")
        append_event(session, at=NOW, kind="step.three", actor="ann")
    with database.reading() as session:
        kinds = [e.kind for e in session.scalars(select(Event).order_by(Event.id))]
        report = verify_chain(session)
    assert kinds == ["records.sealed", "records.sealed", "step.one", "step.two", "handler.kept", "step.three"]
    assert report.intact and report.count == 6


def test_a_naive_time_is_refused(database):
    with pytest.raises(ValueError, match="naive datetime"), database.transaction() as session:
        row = _instance()
        row.started_at = datetime(2027, 3, 1, 9, 30)
        rows.insert_instance(session, row)
