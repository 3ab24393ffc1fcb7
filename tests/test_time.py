"""Time on a simulated clock: schedules from timer start events, boundary timers, deadlines."""

from __future__ import annotations

import multiprocessing
from datetime import datetime, timedelta
from pathlib import Path
from zoneinfo import ZoneInfo

import pytest
from helpers import ADMIN, flow, make_engine, process, service_task, stamp_simulated, user_task

from engine import Registry, SimulatedClock
from engine.errors import InvalidProcess

SHANGHAI = ZoneInfo("Asia/Shanghai")


def at(text: str) -> datetime:
    return datetime.fromisoformat(text)


def yearly(expression: str = "R/2027-01-01T09:00:00+08:00/P1Y", kind: str = "timeCycle") -> str:
    body = (f'<bpmn:startEvent id="start" name="每年"><bpmn:timerEventDefinition id="start_timer">'
            f"<bpmn:{kind}>{expression}</bpmn:{kind}></bpmn:timerEventDefinition></bpmn:startEvent>"
            + user_task("plan") + '<bpmn:endEvent id="end" />'
            + flow("f1", "start", "plan") + flow("f2", "plan", "end"))
    return process("yearly", body, {"qmd": ["start", "plan", "end"]})


def escalation(reminders: str = "R3/P1D", deadline: str = "P3D") -> str:
    """A complaint-like task: reminded (non-interrupting) and escalated (interrupting) when unanswered."""
    body = (
        '<bpmn:startEvent id="start" />' + user_task("handle")
        + f'<bpmn:boundaryEvent id="remind_timer" attachedToRef="handle" cancelActivity="false">'
        f'<bpmn:timerEventDefinition id="remind_def"><bpmn:timeCycle>{reminders}</bpmn:timeCycle>'
        "</bpmn:timerEventDefinition></bpmn:boundaryEvent>"
        + f'<bpmn:boundaryEvent id="deadline_timer" attachedToRef="handle">'
        f'<bpmn:timerEventDefinition id="deadline_def"><bpmn:timeDuration>{deadline}</bpmn:timeDuration>'
        "</bpmn:timerEventDefinition></bpmn:boundaryEvent>"
        + service_task("remind", "test.remind") + '<bpmn:endEvent id="reminded" />'
        + user_task("escalate") + '<bpmn:endEvent id="escalated" /><bpmn:endEvent id="handled" />'
        + flow("f1", "start", "handle") + flow("f2", "handle", "handled")
        + flow("f3", "remind_timer", "remind") + flow("f4", "remind", "reminded")
        + flow("f5", "deadline_timer", "escalate") + flow("f6", "escalate", "escalated")
    )
    return process("complaint", body, {"pm": ["start", "handle", "remind_timer", "deadline_timer", "remind",
                                              "reminded", "handled"], "ogm": ["escalate", "escalated"]})


@pytest.fixture
def timed(engine, db_path, tmp_path):
    """An engine on its own simulated clock, starting 2026-12-01 in Shanghai, with test handlers."""
    clock = SimulatedClock(at("2026-12-01T10:00:00+08:00"))
    registry = Registry()
    registry.handler("test.remind")(lambda context: {"reminders": context.variables.get("reminders", 0) + 1})
    timed = make_engine(db_path, clock, registry)
    admin = timed.actor(ADMIN)
    for user, role in (("pm1", "pm"), ("ogm1", "ogm"), ("qmd1", "qmd")):
        timed.add_user(user, [role], actor=admin)
    timed.files = tmp_path
    return timed


def deploy(engine, name: str, text: str) -> None:
    path = engine.files / f"{name}.bpmn"
    path.write_text(text, encoding="utf-8")
    engine.deploy([str(path)], actor=engine.actor(ADMIN))


def keys(engine, process_id: str) -> list[str]:
    return [i["business_key"] for i in engine.instances(process_id=process_id)]


def test_a_yearly_schedule_fires_once_a_year_for_ten_years(timed):
    deploy(timed, "yearly", yearly())
    assert timed.schedules()[0]["next"][0] == {"period": "2027", "at": at("2027-01-01T01:00:00+00:00")}
    moments = []
    for year in range(2027, 2037):
        # Passes before, at, and after each fire time, as a cron job every few hours would run.
        for when in (f"{year - 1}-12-31T23:00:00+08:00", f"{year}-01-01T09:00:00+08:00",
                     f"{year}-01-01T09:05:00+08:00", f"{year}-06-30T12:00:00+08:00"):
            timed.clock.set(at(when))
            moments.append(timed.tick())
    assert keys(timed, "yearly") == [str(year) for year in range(2027, 2037)]
    started = [fire for report in moments for fire in report.started]
    assert [fire["period"] for fire in started] == [str(year) for year in range(2027, 2037)]
    assert not any(fire["caught_up"] for fire in started)
    # Fire times are calendar dates: no drift across leap years.
    assert all(fire["fire_time"].astimezone(SHANGHAI).strftime("%m-%d %H:%M") == "01-01 09:00" for fire in started)
    first = timed.instances(process_id="yearly")[0]
    task = timed.task(timed.tasks(instance_id=first["id"])[0]["id"])
    assert task["variables"]["year"] == 2027 and task["variables"]["period"] == "2027"


def test_scheduler_down_over_new_year_fires_the_cycle_once_on_restart(timed):
    deploy(timed, "yearly", yearly())
    timed.clock.set(at("2026-12-30T18:00:00+08:00"))
    assert timed.tick().quiet
    timed.clock.set(at("2027-01-03T08:00:00+08:00"))  # down from 12-30 to 01-03
    report = timed.tick()
    assert [(f["period"], f["caught_up"]) for f in report.started] == [("2027", True)]
    assert timed.tick().quiet
    assert keys(timed, "yearly") == ["2027"]
    caught = [e for e in timed.history() if e["kind"] == "schedule.caught_up"]
    assert len(caught) == 1 and caught[0]["payload"]["fire_time"] == "2027-01-01T01:00:00+00:00"


def test_latest_policy_starts_only_the_newest_missed_period(timed):
    timed.change_setting("catch_up_policy", "latest", actor=timed.actor(ADMIN))
    deploy(timed, "monthly", yearly("R/2027-01-31T09:00:00+08:00/P1M").replace('"yearly"', '"monthly"'))
    timed.clock.set(at("2027-05-01T00:00:00+08:00"))
    report = timed.tick()
    assert [f["period"] for f in report.started] == ["2027-04"]
    assert report.skipped == [{"process": "monthly", "periods": ["2027-01", "2027-02", "2027-03"]}]
    # Month-end fires stay on the last day of each month (Jan 31, Feb 28, Mar 31, Apr 30).
    assert [n["at"].astimezone(SHANGHAI).day for n in timed.schedules(3)[0]["next"]] == [31, 30, 31]


def test_a_clock_that_jumps_back_fires_nothing_twice(timed):
    deploy(timed, "yearly", yearly())
    timed.clock.set(at("2027-01-01T09:00:00+08:00"))
    assert len(timed.tick().started) == 1
    timed.clock = SimulatedClock(at("2026-12-31T20:00:00+08:00"))  # the machine's clock was corrected backwards
    assert timed.tick().quiet
    timed.clock = SimulatedClock(at("2027-01-01T09:30:00+08:00"))
    assert timed.tick().quiet
    assert keys(timed, "yearly") == ["2027"]


def test_a_manual_start_of_the_period_is_not_repeated(timed):
    deploy(timed, "yearly", yearly())
    timed.start("yearly", actor=timed.actor("qmd1"), business_key="2027")
    timed.clock.set(at("2027-01-01T09:00:00+08:00"))
    report = timed.tick()
    assert report.started[0]["instance"] is None
    assert keys(timed, "yearly") == ["2027"]


def _tick_in_another_process(db: str, now: str, barrier) -> int:
    from helpers import make_engine

    engine = make_engine(Path(db), SimulatedClock(datetime.fromisoformat(now)), Registry())
    barrier.wait()
    return len(engine.tick().started)


def test_two_schedulers_at_once_start_the_period_once(timed, db_path):
    deploy(timed, "yearly", yearly())
    context = multiprocessing.get_context("spawn")
    with context.Pool(2) as pool:
        barrier = context.Manager().Barrier(2)
        started = pool.starmap(_tick_in_another_process,
                               [(str(db_path), "2027-01-01T09:00:00+08:00", barrier)] * 2)
    assert sorted(started) == [0, 1]
    assert keys(timed, "yearly") == ["2027"]


def test_a_changed_timer_moves_the_schedule_without_refiring_a_period(timed):
    deploy(timed, "yearly", yearly())
    timed.clock.set(at("2027-01-01T09:00:00+08:00"))
    timed.tick()
    deploy(timed, "yearly", yearly("R/2027-03-01T09:00:00+08:00/P1Y"))
    assert timed.schedules()[0]["next"][0]["period"] == "2028"
    timed.clock.set(at("2027-03-02T00:00:00+08:00"))
    assert timed.tick().quiet  # 2027 has started already
    assert keys(timed, "yearly") == ["2027"]


def test_interrupting_timer_escalates_and_non_interrupting_one_reminds_three_times(timed):
    deploy(timed, "complaint", escalation(reminders="R3/PT12H", deadline="P3D"))
    instance_id = timed.start("complaint", actor=timed.actor("pm1"))
    handle = timed.tasks(instance_id=instance_id)[0]
    assert handle["due_at"] == at("2026-12-04T10:00:00+08:00")
    assert timed.instance(instance_id)["next_due_at"] == at("2026-12-01T22:00:00+08:00")

    timed.clock.set(at("2026-12-03T10:00:00+08:00"))
    fired = timed.tick().timers  # three reminders were due by now: all fire, in one pass
    assert [t["timer"] for t in fired] == ["remind_timer"]
    assert timed.tick().quiet
    assert timed.tasks(overdue=True) == []
    timed.clock.set(at("2026-12-04T10:00:00+08:00"))
    assert [t["task"] for t in timed.tasks(overdue=False)] == ["handle"]
    report = timed.tick()
    assert [(t["timer"], t["interrupting"], t["attached_to"]) for t in report.timers] == [
        ("deadline_timer", True, "handle")]
    tasks = timed.tasks(instance_id=instance_id, state=None)
    assert [(t["task"], t["state"]) for t in tasks] == [("handle", "cancelled"), ("escalate", "ready")]
    assert tasks[1]["role"] == "ogm"
    reminders = [e for e in timed.history(instance_id) if e["kind"] == "service.completed"]
    assert [e["payload"]["task"] for e in reminders] == ["remind"] * 3


def test_reminders_one_pass_at_a_time(timed):
    deploy(timed, "complaint", escalation(reminders="R3/P1D", deadline="P10D"))
    instance_id = timed.start("complaint", actor=timed.actor("pm1"))
    for day in range(1, 6):
        timed.clock.set(at("2026-12-01T10:00:00+08:00") + timedelta(days=day))
        timed.tick()
    reminders = [e for e in timed.history(instance_id) if e["kind"] == "service.completed"]
    assert len(reminders) == 3
    assert timed.instance(instance_id)["next_due_at"] == at("2026-12-11T10:00:00+08:00")


def test_an_answered_task_cancels_its_timers(timed):
    deploy(timed, "complaint", escalation())
    instance_id = timed.start("complaint", actor=timed.actor("pm1"))
    timed.complete(timed.tasks(instance_id=instance_id)[0]["id"], {}, actor=timed.actor("pm1"))
    assert timed.instance(instance_id)["status"] == "completed"
    assert timed.instance(instance_id)["next_due_at"] is None
    timed.clock.set(at("2027-01-01T00:00:00+08:00"))
    assert timed.tick().quiet


def test_overdue_tasks_are_listed(timed, run):
    body = ('<bpmn:startEvent id="start" />'
            + '<bpmn:userTask id="report" name="提交运维报告" camunda:dueDate="${report_due}" />'
            + '<bpmn:endEvent id="end" />' + flow("f1", "start", "report") + flow("f2", "report", "end"))
    deploy(timed, "reporting", process("reporting", body, {"pm": ["start", "report", "end"]}))
    timed.start("reporting", actor=timed.actor("pm1"), variables={"report_due": "2026-12-05T18:00:00+08:00"})
    assert timed.tasks(overdue=True) == []
    timed.clock.set(at("2026-12-06T09:00:00+08:00"))
    assert [t["task"] for t in timed.tasks(overdue=True)] == ["report"]


@pytest.mark.parametrize(
    ("old", "new", "message"),
    [
        ("R/2027-01-01T09:00:00+08:00/P1Y", "R/P1Y", "needs a start date"),
        ("R/2027-01-01T09:00:00+08:00/P1Y", "R/2027-01-01T09:00:00/P1Y", "has no time-zone offset"),
        ("R/2027-01-01T09:00:00+08:00/P1Y", "R/2027-01-01T09:00:00+08:00/P1Q", "does not parse"),
        ("R/2027-01-01T09:00:00+08:00/P1Y", "${start_date}", "must be a literal ISO 8601 value"),
        ("timeCycle", "timeDate", "is not an ISO 8601 date and time"),
    ],
)
def test_bad_start_timers_are_refused_at_deploy(timed, old, new, message):
    with pytest.raises(InvalidProcess, match=f"yearly.bpmn:\\d+ \\[start_timer\\]: timer: .*{message}"):
        deploy(timed, "yearly", yearly().replace(old, new))
    assert timed.processes() == [] and timed.schedules() == []


def test_bad_boundary_timers_are_refused_at_deploy(timed):
    with pytest.raises(InvalidProcess, match=r"\[deadline_def\]: timer: timeDuration '3 days' is not"):
        deploy(timed, "complaint", escalation(deadline="3 days"))
    with pytest.raises(InvalidProcess, match=r"\[deadline_def\]: timer: .*2027-01-01T18:00:00' has no time-zone"):
        deploy(timed, "complaint", escalation().replace(
            "<bpmn:timeDuration>P3D</bpmn:timeDuration>", "<bpmn:timeDate>2027-01-01T18:00:00</bpmn:timeDate>"))


def test_tick_schedules_and_settings_from_the_command_line(run, tmp_path):
    assert run("init").exit_code == 0
    path = tmp_path / "yearly.bpmn"
    path.write_text(yearly(), encoding="utf-8")
    assert run("deploy", "--reason", "set-up", str(path)).exit_code == 0
    listing = run("schedules")
    assert listing.stdout.splitlines()[1].split()[:2] == ["yearly", "R/2027-01-01T09:00:00+08:00/P1Y"]
    assert "2027 (2027-01-01 09:00 +08:00)" in listing.stdout  # in the organisation's zone, with its offset

    # A real database runs on real time: no pass ahead of it, none by a non-admin.
    result = run("tick", "--now", "2999-01-01T09:00:00+08:00")
    assert result.exit_code == 1 and result.stderr == ("opsqa: --now 2999-01-01 09:00 +08:00 is ahead of the real "
                                                       "clock; a real database runs on real time (a simulated one: "
                                                       "`opsqa simulate`)\n")
    assert run("users", "add", "ops1", "--role", "ops").exit_code == 0
    result = run("tick", "--now", "2020-01-01T09:00:00+08:00", login="ops1")
    assert result.stderr == "opsqa: tick.now needs role admin; ops1 holds ops\n"
    assert run.json("instances") == []

    # A simulated one moves on with --now, never back.
    stamp_simulated(str(run.db_path), datetime.fromisoformat("2026-12-31T09:00:00+08:00"))
    result = run("tick", "--now", "2027-01-01T09:00:00+08:00")
    assert result.exit_code == 0 and result.stdout == "started yearly period 2027: instance 1\n"
    assert run("tick", "--now", "2027-01-01T09:00:00+08:00").stderr == "nothing was due\n"
    result = run("tick", "--now", "2026-12-31T09:00:00+08:00")
    assert result.exit_code == 1 and "simulated clock stands at 2027-01-01 09:00 +08:00" in result.stderr
    result = run("tick", "--now", "2027-01-01T09:00:00")
    assert result.exit_code == 2 and "has no time-zone offset" in result.stderr

    refused = run("settings", "--reason", "test", "timezone", "Mars/Olympus")
    assert refused.stderr.startswith("opsqa: setting timezone: 'Mars/Olympus'")
    assert run("settings", "--reason", "test", "timezone", "Asia/Urumqi").exit_code == 0
    assert run.json("schedules")[0]["zone"] == "Asia/Urumqi"
    assert [s["value"] for s in run.json("settings")][:2] == ["Asia/Urumqi", "all"]
    changed = [e for e in run.json("history") if e["kind"] == "setting.changed"]
    assert changed[0]["payload"] == {"key": "timezone", "old": "Asia/Shanghai", "new": "Asia/Urumqi",
                                     "reason": "test"}
    assert run("settings", "timezone", "Asia/Shanghai").stderr == (
        "opsqa: settings needs a reason (why, kept in the history)\n")

    # What people see follows the setting (tables and messages in +06:00 now); --json stays as it was.
    assert "2028 (2028-01-01 07:00 +06:00)" in run("schedules").stdout
    result = run("tick", "--now", "2026-12-31T09:00:00+08:00")
    assert result.stderr == ("opsqa: this database's simulated clock stands at 2027-01-01 07:00 +06:00; it does not "
                             "go back to 2026-12-31 07:00 +06:00\n")
    assert run.json("schedules")[0]["next"][0]["at"] == "2028-01-01T07:00:00+06:00"  # as before


def test_timer_values_from_process_variables(timed, run):
    body = ('<bpmn:startEvent id="start" /><bpmn:intermediateCatchEvent id="wait"><bpmn:timerEventDefinition '
            'id="wait_def"><bpmn:timeDuration>${grace}</bpmn:timeDuration></bpmn:timerEventDefinition>'
            "</bpmn:intermediateCatchEvent>" + user_task("review") + '<bpmn:endEvent id="end" />'
            + flow("f1", "start", "wait") + flow("f2", "wait", "review") + flow("f3", "review", "end"))
    deploy(timed, "graced", process("graced", body, {"qmd": ["start", "wait", "review", "end"]}))
    instance_id = timed.start("graced", actor=timed.actor("qmd1"), variables={"grace": "P2D"})
    assert timed.instance(instance_id)["next_due_at"] == at("2026-12-03T10:00:00+08:00")
    timed.clock.set(at("2026-12-03T10:00:00+08:00"))
    assert [t["timer"] for t in timed.tick().timers] == ["wait"]
    assert [t["task"] for t in timed.tasks(instance_id=instance_id)] == ["review"]


def test_overdue_from_the_command_line(timed, run):
    body = ('<bpmn:startEvent id="start" />'
            + '<bpmn:userTask id="report" name="提交运维报告" camunda:dueDate="2020-12-05T18:00:00+08:00" />'
            + '<bpmn:endEvent id="end" />' + flow("f1", "start", "report") + flow("f2", "report", "end"))
    deploy(timed, "reporting", process("reporting", body, {"pm": ["start", "report", "end"]}))
    timed.start("reporting", actor=timed.actor("pm1"))
    # Operator commands use the real clock, which is past this due date.
    rows = run.json("tasks", "--overdue")
    assert [(t["task"], t["due_at"]) for t in rows] == [("report", "2020-12-05T10:00:00+00:00")]
    assert "2020-12-05 18:00 +08:00" in run("tasks", "--overdue").stdout


def test_times_people_see_are_in_the_organisations_zone_with_its_offset(run, tmp_path):
    """Messages and tables show local time with the offset (never UTC), in the zone the `timezone` setting
    names; --json and the history's payloads keep theirs."""
    assert run("init").exit_code == 0
    assert run("users", "add", "qmd1", "--role", "qmd").exit_code == 0
    body = ('<bpmn:startEvent id="start" />' + user_task("tidy") + '<bpmn:endEvent id="end" />'
            + flow("f1", "start", "tidy") + flow("f2", "tidy", "end"))
    (tmp_path / "chore.bpmn").write_text(process("chore", body, {"qmd": ["start", "tidy", "end"]}), encoding="utf-8")
    body = ('<bpmn:startEvent id="start" /><bpmn:intermediateCatchEvent id="wait"><bpmn:timerEventDefinition '
            'id="wait_def"><bpmn:timeDuration>PT1H</bpmn:timeDuration></bpmn:timerEventDefinition>'
            '</bpmn:intermediateCatchEvent><bpmn:endEvent id="end" />' + flow("f1", "start", "wait")
            + flow("f2", "wait", "end"))
    (tmp_path / "waiting.bpmn").write_text(process("waiting", body, {"qmd": ["start", "wait", "end"]}),
                                           encoding="utf-8")
    assert run("deploy", "--reason", "set-up", str(tmp_path / "chore.bpmn"),
               str(tmp_path / "waiting.bpmn")).exit_code == 0
    stamp_simulated(str(run.db_path), at("2027-03-01T10:10:00+08:00"))  # the CLI runs on this clock
    assert run("start", "chore").exit_code == 0
    [task] = run.json("tasks")
    assert run("task", "complete", task["id"], login="qmd1").exit_code == 0

    def seen() -> tuple[str, str, str]:
        again = run("task", "complete", task["id"], login="qmd1").stderr
        shown = run("task", "show", task["id"]).stdout
        table = run("history", "--kind", "task").stdout.splitlines()[1]
        return again, shown, table

    again, shown, table = seen()
    assert again == f"opsqa: task {task['id']} was already completed by qmd1 at 2027-03-01 10:10 +08:00\n"
    assert "since 2027-03-01 10:10 +08:00  due -" in shown and "completed by qmd1 at 2027-03-01 10:10 +08:00" in shown
    assert "2027-03-01 10:10 +08:00" in table
    assert run.json("task", "show", task["id"])["completed_at"] == "2027-03-01T02:10:00+00:00"  # as it was

    assert run("settings", "--reason", "test", "timezone", "Asia/Urumqi").exit_code == 0
    again, shown, table = seen()
    assert again == f"opsqa: task {task['id']} was already completed by qmd1 at 2027-03-01 08:10 +06:00\n"
    assert "completed by qmd1 at 2027-03-01 08:10 +06:00" in shown and "2027-03-01 08:10 +06:00" in table
    [event] = [e for e in run.json("history") if e["kind"] == "task.completed"]
    assert event["at"] == "2027-03-01T02:10:00+00:00"

    # `tick` tells of what fired in the same way
    assert run("start", "waiting").exit_code == 0
    result = run("tick", "--now", "2027-03-01T11:10:00+08:00")
    assert result.stdout == "timer wait of instance 2 fired (due 2027-03-01 09:10 +06:00)\n"
