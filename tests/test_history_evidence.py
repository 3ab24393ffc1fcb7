"""The history as evidence: what someone able to write the database file can no longer do unseen.

Each attack is made on the SQLite file directly, as a member of the `opsqa` group could, then `opsqa
history verify` (which opens the file read-only) must say what was done, in one line per problem, exit 1.
Before: deleting every event and resetting the head, cutting the newest events and resetting the head,
editing a row and recomputing the chain with the public SHA-256, or changing a finding in SQL all
verified as "intact"."""

from __future__ import annotations

import json
import shutil
import sqlite3
from datetime import timedelta

import pytest
from helpers import ADMIN, linear, user_task

import usecases
from store import history as chain

pytestmark = pytest.mark.filterwarnings("ignore::ResourceWarning")


@pytest.fixture
def signed(engine, admin, tmp_path, db_path):
    """A database with a process run twice, a signing key (its first checkpoint signed), and one more
    instance after that checkpoint (the unsigned tail)."""
    (tmp_path / "chore.bpmn").write_text(linear("chore", ("work", user_task("work")), lane="qmd"), encoding="utf-8")
    engine.deploy([str(tmp_path / "chore.bpmn")], actor=admin)
    engine.start("chore", actor=admin, business_key="a")
    engine.start("chore", actor=admin, business_key="b")
    made = usecases.admin.history_keygen(engine, usecases.Caller(ADMIN))
    engine.start("chore", actor=admin, business_key="c")
    engine.database.dispose()
    return made


def verify(run, *args):
    result = run("history", "verify", *args)
    return result.exit_code, result.stdout, result.stderr


def sql(db_path, *statements):
    with sqlite3.connect(db_path) as connection:
        for statement in statements:
            connection.execute(statement)


def rechain(db_path, after: int = 0) -> None:
    """What an attacker can do with the public SHA-256: recompute every link from `after` on and reset the
    head, so that the chain itself is consistent again."""
    from datetime import UTC, datetime

    with sqlite3.connect(db_path) as connection:
        rows = connection.execute("SELECT id, seq, at, instance_id, task_id, kind, actor, real_actor, payload "
                                  "FROM event WHERE seq IS NOT NULL ORDER BY seq").fetchall()
        prev, position = chain.GENESIS, 0
        for event_id, _seq, at, instance_id, task_id, kind, actor, real_actor, payload in rows:
            position += 1
            when = datetime.fromisoformat(at).replace(tzinfo=UTC)
            digest = chain._digest(prev, position, when, instance_id, task_id, kind, actor, real_actor, payload)
            if position > after:
                connection.execute("UPDATE event SET seq = ?, prev_hash = ?, hash = ? WHERE id = ?",
                                   (position, prev, digest, event_id))
            prev = digest
        connection.execute("UPDATE history_head SET last_hash = ?, count = ?", (prev, position))


def test_an_untouched_signed_history_is_intact_and_names_its_last_checkpoint(signed, run):
    code, out, err = verify(run)
    assert code == 0, err
    assert out.startswith("history intact: ") and "last valid checkpoint: event " in out
    checkpoint = signed["checkpoint"]["seq"]
    report = json.loads(run("history", "verify", "--json").stdout)
    assert report["intact"] and report["checkpoint"]["seq"] == checkpoint and report["unsigned"] > 0
    assert report["records"] > 0 and report["keys"] == [signed["key_id"]]


def test_deleting_everything_is_not_intact(signed, run, db_path):
    sql(db_path, "DELETE FROM event", f"UPDATE history_head SET count = 0, last_hash = '{chain.GENESIS}'")
    code, _out, err = verify(run)
    assert code == 1
    assert "the history is empty" in err and "events after 0 were cut" in err
    assert "is not in the history (written outside opsqa)" in err  # the records outnumber the history


def test_deleting_everything_and_the_checkpoints_is_caught_by_the_records(signed, run, db_path):
    sql(db_path, "DELETE FROM event", "DELETE FROM history_checkpoint", "DELETE FROM signing_key",
        f"UPDATE history_head SET count = 0, last_hash = '{chain.GENESIS}'")
    code, _out, err = verify(run)
    assert code == 1 and "record definition/1 is not in the history" in err and "instance 1 has no start" in err


def test_cutting_the_events_a_checkpoint_covers_is_seen(signed, run, db_path):
    keep = signed["checkpoint"]["seq"] - 3
    sql(db_path, f"DELETE FROM event WHERE seq > {keep}",
        f"UPDATE history_head SET count = {keep}, last_hash = (SELECT hash FROM event WHERE seq = {keep})")
    code, _out, err = verify(run)
    assert code == 1 and f"the history has only {keep} events: events after {keep} were cut" in err


def test_cutting_the_unsigned_tail_is_what_remains_possible_and_the_auditors_file_catches_it(signed, engine, run,
                                                                                            db_path, tmp_path):
    """The events after the last checkpoint can be cut unseen by the database alone (the README says so);
    a checkpoint file kept outside it reaches further."""
    signed_up_to = signed["checkpoint"]["seq"]
    file = tmp_path / "auditor.checkpoint"
    usecases.admin.history_checkpoint(engine, usecases.Caller(ADMIN), out=str(file))
    engine.database.dispose()
    sql(db_path, "DELETE FROM history_checkpoint WHERE seq > " + str(signed_up_to),
        f"DELETE FROM event WHERE seq > {signed_up_to}",
        f"UPDATE history_head SET count = {signed_up_to}, last_hash = (SELECT hash FROM event WHERE seq = "
        f"{signed_up_to})")
    code, out, err = verify(run)
    assert f"last valid checkpoint: event {signed_up_to}" in out
    assert "instance 3 has no start in the history" in err and code == 1  # its records remain
    code, _out, err = verify(run, "--checkpoint", str(file))
    assert code == 1 and "the checkpoint file of event" in err and "were cut" in err


def test_deleting_a_middle_event_is_seen(signed, run, db_path):
    sql(db_path, "DELETE FROM event WHERE seq = 5")
    code, _out, err = verify(run)
    assert code == 1 and "event 5 is missing" in err


def test_an_edited_event_with_the_chain_recomputed_is_seen_by_the_checkpoint(signed, run, db_path):
    sql(db_path, "UPDATE event SET actor = 'mallory' WHERE seq = 4")
    code, _out, err = verify(run)
    assert code == 1 and "event 4 was altered" in err
    rechain(db_path)
    code, _out, err = verify(run)
    assert code == 1 and "the history up to it was rewritten" in err


def test_a_record_changed_added_or_deleted_in_sql_is_seen(signed, run, db_path):
    sql(db_path, "UPDATE user_account SET display_name = 'Mallory' WHERE name = 'qmd1'")
    code, _out, err = verify(run)
    assert code == 1 and "record user_account/qmd1 differs from what event" in err
    sql(db_path, "UPDATE user_account SET display_name = '张三' WHERE name = 'qmd1'")
    assert verify(run)[0] == 0
    sql(db_path, "INSERT INTO user_role (user_name, role) VALUES ('qmd1', 'admin')")
    code, _out, err = verify(run)
    assert code == 1 and "record user_role/qmd1/admin is not in the history" in err
    sql(db_path, "DELETE FROM user_role WHERE user_name = 'qmd1'")
    code, _out, err = verify(run)
    assert code == 1 and "record user_role/qmd1/qmd, sealed by event" in err and "deleted outside opsqa" in err


def test_a_finding_closed_in_sql_is_seen(engine, admin, run, db_path):
    """The issue's case: a finding set to closed and verified in SQL."""
    engine.deploy(["processes"], actor=admin)
    raised = usecases.audits.add_finding(engine, usecases.Caller("qmd1"), owner="gm1", description="记录不全")
    engine.database.dispose()
    assert verify(run)[0] == 0
    sql(db_path, f"UPDATE finding SET status = 'closed' WHERE code = '{raised['code']}'")
    code, _out, err = verify(run)
    assert code == 1 and "record finding/1 differs from what event" in err


def test_times_going_backwards_in_the_unsigned_tail_are_seen(signed, run, db_path):
    last = signed["checkpoint"]["seq"] + 1
    sql(db_path, f"UPDATE event SET at = '2020-01-01 00:00:00.000000' WHERE seq = {last}")
    rechain(db_path, after=last - 1)
    code, _out, err = verify(run)
    assert code == 1 and f"event {last} is dated 2020-01-01" in err


def test_a_checkpoint_signed_by_a_key_the_attacker_added_is_refused_against_the_auditors_key(signed, engine, run,
                                                                                           db_path, tmp_path):
    """Someone in the group registers a key of their own and signs a rewritten history with it: against
    the keys the database records it looks signed; against the auditor's public key it is not."""
    auditors = tmp_path / "auditor.pub"
    shutil.copy(signed["public_key_file"], auditors)
    sql(db_path, "UPDATE event SET actor = 'mallory' WHERE seq = 4")
    rechain(db_path)
    sql(db_path, "DELETE FROM history_checkpoint")
    usecases.admin.history_keygen(engine, usecases.Caller(ADMIN), str(tmp_path / "mallory.key"))
    engine.database.dispose()
    code, _out, err = verify(run)
    assert code == 0, err  # the database's own keys vouch for it
    code, _out, err = verify(run, "--public-key", str(auditors))
    assert code == 1 and "which is not the key given" in err


def test_a_checkpoint_file_of_another_database_is_refused(signed, engine, run, tmp_path):
    other = tmp_path / "other.checkpoint"
    usecases.admin.history_checkpoint(engine, usecases.Caller(ADMIN), out=str(other))
    engine.database.dispose()
    data = json.loads(other.read_text())
    data["database_id"] = "0" * 64
    other.write_text(json.dumps(data))
    code, _out, err = verify(run, "--checkpoint", str(other))
    assert code == 1 and "its signature does not verify" in err


def test_verify_reads_a_read_only_copy(signed, run, db_path, tmp_path):
    copy = tmp_path / "ro" / "copy.db"
    copy.parent.mkdir()
    with sqlite3.connect(db_path) as source, sqlite3.connect(copy) as target:
        source.backup(target)
    copy.chmod(0o444)
    result = run("--db", str(copy), "history", "verify")
    assert result.exit_code == 0, result.stderr


def test_bad_key_and_checkpoint_files_get_one_line(signed, run, tmp_path, engine):
    junk = tmp_path / "junk"
    junk.write_text("not a key")
    for args, words in ((("--public-key", str(junk)), "is not a public key file"),
                        (("--checkpoint", str(junk)), "is not an opsqa checkpoint file"),
                        (("--checkpoint", "/dev/zero"), "not a regular file")):
        result = run("history", "verify", *args)
        assert result.exit_code == 1 and len(result.stderr.strip().splitlines()) == 1, result.output
        assert words in result.stderr
    result = run("history", "keygen")  # the key file exists: never written over
    assert result.exit_code == 1 and "is never written over" in result.stderr
    junk.chmod(0o600)
    result = run("history", "checkpoint", "--key", str(junk))
    assert result.exit_code == 1 and "is not a signing key file" in result.stderr


def test_the_scheduler_signs_after_a_milestone_and_after_the_interval(signed, engine, admin, clock):
    engine.tick()  # the fixture's tail: signed or not, as the interval says
    engine.start("chore", actor=admin, business_key="d")
    assert engine.tick().checkpoint is None  # within the hour: nothing
    clock.advance(timedelta(minutes=61))
    report = engine.tick()
    assert report.checkpoint is not None and report.checkpoint["reason"] == "periodic"
    assert engine.tick().checkpoint is None  # nothing new
    engine.database.dispose()


def test_a_rotated_key_retires_the_last_and_both_verify_with_the_auditors_copies(signed, engine, run, tmp_path):
    second = usecases.admin.history_keygen(engine, usecases.Caller(ADMIN), str(tmp_path / "second.key"))
    engine.database.dispose()
    assert second["retired"] == [signed["key_id"]]
    code, _out, err = verify(run, "--public-key", signed["public_key_file"], "--public-key", second["public_key_file"])
    assert code == 0, err
    code, _out, err = verify(run, "--public-key", signed["public_key_file"])
    assert code == 1 and f"signed by key {second['key_id']}, which is not the key given" in err
    result = run("history", "checkpoint", "--key", signed["key_file"])  # the retired key signs no more
    assert result.exit_code == 1 and f"key {signed['key_id']} is retired" in result.stderr


def test_the_review_report_prints_the_checkpoint_taken_at_its_report(demo_year, tmp_path):
    before = usecases.audits.report_review(demo_year, 2027, str(tmp_path / "before"))
    text = "\n".join(open(path, encoding="utf-8").read() for path in before["files"] if path.endswith(".md"))
    assert "九、历史记录检查点" in text and "尚未签署历史记录检查点" in text
    made = usecases.admin.history_keygen(demo_year, usecases.Caller("sim-admin"), str(tmp_path / "signing.key"))
    after = usecases.audits.report_review(demo_year, 2027, str(tmp_path / "after"))
    text = "\n".join(open(path, encoding="utf-8").read() for path in after["files"] if path.endswith(".md"))
    assert made["key_id"] in text and made["checkpoint"]["head_hash"] in text
    usecases.admin.history_checkpoint(demo_year, usecases.Caller("sim-admin"), key_file=str(tmp_path / "signing.key"))
    again = usecases.audits.report_review(demo_year, 2027, str(tmp_path / "again"))  # the same checkpoint
    assert [open(p, "rb").read() for p in again["files"] if p.endswith(".md")] == [
        open(p, "rb").read() for p in after["files"] if p.endswith(".md")]
