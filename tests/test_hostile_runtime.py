"""Hostile input at run time: expressions that would build giant numbers or strings, steps that never
wait, schedules that cannot be computed, names with control characters. Each ends in one line or its
own incident; memory and time are bounded by resource limits on a subprocess, not by timing."""

from __future__ import annotations

import resource
import subprocess
import sys
from datetime import timedelta

import pytest
from helpers import ROOT

MEMORY = 1 << 30
CPU_SECONDS = 20


def _limits():
    resource.setrlimit(resource.RLIMIT_AS, (MEMORY, MEMORY))
    resource.setrlimit(resource.RLIMIT_CPU, (CPU_SECONDS, CPU_SECONDS))


def _bounded(code: str, *args: str) -> subprocess.CompletedProcess:
    return subprocess.run([sys.executable, "-c", code, *args], cwd=ROOT, capture_output=True, text=True,
                          preexec_fn=_limits, timeout=120)


EVALUATE = """
import sys
from decimal import Decimal
from engine import expressions
from engine.errors import InvalidExpression
try:
    expressions.evaluate(sys.argv[1], {"d": Decimal("1e999999999"), "x": 10**200})
except InvalidExpression as exc:
    print(f"opsqa: {exc}")
    sys.exit(1)
print("evaluated")
"""

# Before: each of these ran until the memory or CPU limit killed the process (or built a gigabyte).
HOSTILE_EXPRESSIONS = {
    "(10**64)**64": "bits is larger than 4096",
    "((10**64)**64)**64": "bits is larger than 4096",
    "9**9**9": "larger than 64",
    "x*x*x*x*x*x*x*x*x*x*x*x*x*x*x*x*x*x*x*x*x*x*x*x*x*x*x*x*x*x*x*x": "bits is larger than 4096",
    "1 << 10**9": "bits is larger than 4096",
    "'x' * 10**9": "more than 100000 characters",
    "10**9 * [1]": "more than 100000 characters",
    "[[1] * 100000] * 100000": "more than 100000 characters",
    "f'{1:>1000000000}'": "format width or precision above 1000",
    "f'{1:.999999999f}'": "format width or precision above 1000",
    "'{:>1000000000}'.format(1)": "not available",
    "'%0999999999d' % 1": "format width or precision above 1000",
    "'%*d' % (10**9, 1)": "format width or precision above 1000",
    "'x'.ljust(10**9)": "method 'ljust' is not available",
    "'x'.zfill(10**9)": "method 'zfill' is not available",
    "'\\t'.expandtabs(10**9)": "method 'expandtabs' is not available",
    "(1).to_bytes(10**9, 'big')": "method 'to_bytes' is not available",
    "('x' * 50000).join(['a'] * 1000)": "larger than 100000 characters",
    "('x' * 50000).replace('x', 'xxx')": "larger than 100000 characters",
    "int(d)": "decimal with an exponent above 1000",
    "round(d)": "decimal with an exponent above 1000",
    "f'{d:f}'": "decimal with an exponent above 1000",
    "'%f' % d": "decimal with an exponent above 1000",
    "round(1, -10**9)": "format width or precision above 1000",
}


@pytest.mark.parametrize("expression", list(HOSTILE_EXPRESSIONS))
def test_hostile_expression_is_refused_in_one_line_within_bounds(expression):
    result = _bounded(EVALUATE, expression)
    lines = (result.stdout + result.stderr).strip().splitlines()
    assert result.returncode == 1 and len(lines) == 1, (expression, result.stdout, result.stderr)
    assert lines[0].startswith("opsqa: expression ") and HOSTILE_EXPRESSIONS[expression] in lines[0], lines
    assert repr(expression)[1:-1][:40] in lines[0] or expression[:40] in lines[0], lines


def test_ordinary_expressions_still_evaluate():
    from decimal import Decimal

    from engine import expressions

    variables = {"name": " Plant A ", "amount": Decimal("12.50"), "items": [1, 2, 3], "n": 7}
    assert expressions.evaluate("${name.strip().lower() == 'plant a'}", variables) is True
    assert expressions.evaluate("${amount * 2 > 20 && len(items) == 3}", variables) is True
    assert expressions.evaluate("2**64 + n", variables) == 2**64 + 7
    assert expressions.evaluate("f'{n:>5}' + '-'.join(['a', 'b'])", variables) == "    7a-b"
    assert expressions.evaluate("'%05d' % n", variables) == "00007"
    assert expressions.evaluate("str(round(amount)) + str(int('12'))", variables) == "1212"


# -- steps that would not come to rest ----------------------------------------------------------------------

def _spin(before: str, first: str) -> tuple[str, list[str]]:
    """`before` (ending at `first`'s predecessor) -> join -> again, which goes back to join forever: a loop
    with no user task, timer or message in it. Its way out (`f_out`, the default) is never taken."""
    from helpers import flow

    body = ('<bpmn:exclusiveGateway id="join" /><bpmn:exclusiveGateway id="again" default="f_out" />'
            '<bpmn:endEvent id="out" />'
            + flow("f_join", first, "join") + flow("f_loop", "join", "again")
            + flow("f_back", "again", "join", "True") + flow("f_out", "again", "out"))
    return before + body, ["join", "again", "out"]


def looping(pid: str, wait: str = "") -> str:
    """A process whose loop starts at once (no `wait`), after a user task (`user`), after a timer
    (`timer`), or that is started by a daily timer (`schedule`)."""
    from helpers import process, user_task

    if wait == "schedule":
        start = ('<bpmn:startEvent id="start"><bpmn:timerEventDefinition id="start_def"><bpmn:timeCycle>'
                 'R/2027-01-01T00:00:00+08:00/P1D</bpmn:timeCycle></bpmn:timerEventDefinition></bpmn:startEvent>')
    else:
        start = '<bpmn:startEvent id="start" />'
    nodes = {"": [], "schedule": [],
             "user": [("work", user_task("work"))],
             "timer": [("wait", '<bpmn:intermediateCatchEvent id="wait"><bpmn:timerEventDefinition id="wait_def">'
                                '<bpmn:timeDuration>PT1H</bpmn:timeDuration></bpmn:timerEventDefinition>'
                                '</bpmn:intermediateCatchEvent>')]}[wait]
    from helpers import flow

    ids = ["start", *[node_id for node_id, _xml in nodes]]
    body = start + "".join(xml for _id, xml in nodes) + "".join(
        flow(f"f{i}", a, b) for i, (a, b) in enumerate(zip(ids, ids[1:], strict=False)))
    body, more = _spin(body, ids[-1])
    return process(pid, body, {"qmd": ids + more})


@pytest.fixture
def loops(engine, admin, tmp_path):
    for pid, wait in (("spin", ""), ("spin_after_work", "user"), ("spin_after_timer", "timer"),
                      ("spin_daily", "schedule"), ("ok", "user")):
        text = looping(pid, wait)
        if pid == "ok":  # the same shape without the loop: work, then the end
            text = text.replace('<bpmn:conditionExpression>True</bpmn:conditionExpression>',
                                '<bpmn:conditionExpression>False</bpmn:conditionExpression>')
        (tmp_path / f"{pid}.bpmn").write_text(text, encoding="utf-8")
        engine.deploy([str(tmp_path / f"{pid}.bpmn")], actor=admin)
    return engine


def _instances(engine):
    return {(row["process"], row["status"]) for row in engine.instances()}


def test_a_loop_that_never_waits_is_refused_at_start_not_reported_completed(loops, run):
    """Before: SpiffWorkflow lost sight of the looping task after ~333 passes and the instance was shown
    `completed` although it never reached its end."""
    result = run("start", "spin")
    assert result.exit_code == 1 and len(result.output.strip().splitlines()) == 1, result.output
    assert "spin [" in result.output and "no user task, timer or message in it" in result.output
    assert "nothing was started" in result.output
    assert [row for row in loops.instances() if row["process"] == "spin"] == []


def test_a_loop_after_a_user_task_keeps_the_task_and_gives_the_instance_an_incident(loops, admin, run):
    from helpers import ready_task

    instance = loops.start("spin_after_work", actor=admin)
    task = ready_task(loops, instance, "work")
    result = run("--as", "qmd1", "task", "complete", task["id"][:8])
    assert result.exit_code == 1 and len(result.output.strip().splitlines()) == 1, result.output
    assert "no user task, timer or message in it has run" in result.output and "has an incident" in result.output
    shown = run.json("instance", "show", str(instance))
    assert shown["status"] == "error" and "spin_after_work [" in shown["incident"]
    assert ready_task(loops, instance, "work")["id"] == task["id"]  # the completion was not kept
    kinds = [event["kind"] for event in loops.history(instance)]
    assert "task.completed" not in kinds and kinds[-1] == "instance.incident"


def test_a_loop_after_a_timer_is_its_own_incident_and_the_tick_goes_on(loops, admin, clock):
    spinning = loops.start("spin_after_timer", actor=admin)
    waiting = loops.start("spin_after_timer", actor=admin)
    loops.cancel(waiting, actor=admin, reason="one is enough")
    fine = loops.start("ok", actor=admin)
    clock.advance(timedelta(hours=2))
    report = loops.tick()
    assert [failure["instance"] for failure in report.failed] == [spinning]
    statuses = {row["id"]: row["status"] for row in loops.instances()}
    assert statuses[spinning] == "error" and statuses[fine] == "running"
    # at once, not after the back-off's attempts: running the same loop again would only fail again
    assert "no user task, timer or message in it" in loops.instance(spinning)["incident"]
    assert loops.tick().failed == []


def test_a_schedule_whose_start_never_waits_is_disabled_and_the_others_fire(loops, admin, tmp_path, clock):
    from helpers import linear, user_task

    daily = linear("daily_ok", ("work", user_task("work"))).replace(
        '<bpmn:startEvent id="start" />',
        '<bpmn:startEvent id="start"><bpmn:timerEventDefinition id="start_def"><bpmn:timeCycle>'
        'R/2027-01-01T00:00:00+08:00/P1D</bpmn:timeCycle></bpmn:timerEventDefinition></bpmn:startEvent>')
    (tmp_path / "daily_ok.bpmn").write_text(daily, encoding="utf-8")
    loops.deploy([str(tmp_path / "daily_ok.bpmn")], actor=admin)
    clock.advance(timedelta(days=1))
    report = loops.tick()
    assert [failure["process"] for failure in report.failed] == ["spin_daily"]
    assert [entry["process"] for entry in report.started] == ["daily_ok"]
    schedules = {view["process"]: view for view in loops.schedules()}
    assert schedules["spin_daily"]["enabled"] is False and schedules["daily_ok"]["enabled"] is True
    [failed] = [event for event in loops.history() if event["kind"] == "schedule.failed"]
    assert failed["payload"]["process"] == "spin_daily" and "loop" in failed["payload"]["error"]
    clock.advance(timedelta(days=1))
    assert loops.tick().failed == []  # disabled once, not failing on every tick
    # the process owner fixes the diagram: deploying it enables the schedule again
    fixed = looping("spin_daily", "schedule").replace('<bpmn:conditionExpression>True<',
                                                      '<bpmn:conditionExpression>False<')
    (tmp_path / "spin_daily.bpmn").write_text(fixed, encoding="utf-8")
    loops.deploy([str(tmp_path / "spin_daily.bpmn")], actor=admin)
    assert {view["process"]: view for view in loops.schedules()}["spin_daily"]["enabled"] is True


def test_a_step_past_the_engine_task_bound_is_stopped(loops, admin, monkeypatch):
    """The bound on engine tasks per step (10,000) is reached by fan-outs rather than loops; here lowered to
    show what a step past it gets."""
    from engine import runtime

    monkeypatch.setattr(runtime, "MAX_ENGINE_STEPS", 3)
    with pytest.raises(runtime.RunawayStep, match=r"spin \[\w+\]: the step ran 3 engine tasks without waiting"):
        loops.start("spin", actor=admin)


def test_a_loop_that_never_waits_ends_within_bounds(engine, admin, run, db_path, tmp_path):
    """Under 1 GB and 20 s of CPU (before: the step ran until the limits killed it, or called it done)."""
    import os
    import pwd

    engine.add_user(pwd.getpwuid(os.getuid()).pw_name, ["admin"], actor=admin)
    (tmp_path / "spin.bpmn").write_text(looping("spin"), encoding="utf-8")
    assert run("deploy", "--reason", "x", str(tmp_path / "spin.bpmn")).exit_code == 0
    result = _bounded("from cli.base import main; main()", "--db", str(db_path), "start", "spin")
    lines = (result.stdout + result.stderr).strip().splitlines()
    assert result.returncode == 1 and len(lines) == 1, (result.stdout, result.stderr)
    assert "no user task, timer or message in it" in lines[0]


# -- schedules stored before the deploy-time checks ---------------------------------------------------------

def _scheduled(pid: str, cycle: str) -> str:
    from helpers import linear, user_task

    return linear(pid, ("work", user_task("work"))).replace(
        '<bpmn:startEvent id="start" />',
        '<bpmn:startEvent id="start"><bpmn:timerEventDefinition id="start_def"><bpmn:timeCycle>'
        f'{cycle}</bpmn:timeCycle></bpmn:timerEventDefinition></bpmn:startEvent>')


def test_a_stored_schedule_that_cannot_be_computed_is_disabled_once_and_the_others_fire(engine, admin, tmp_path,
                                                                                       clock, run):
    """Before: a start cycle of P0D (deployable then) made every tick fail, so no other timer fired."""
    from sqlalchemy import update

    from store import Schedule

    for pid in ("broken", "daily"):
        (tmp_path / f"{pid}.bpmn").write_text(_scheduled(pid, "R/2027-01-01T00:00:00+08:00/P1D"), encoding="utf-8")
        engine.deploy([str(tmp_path / f"{pid}.bpmn")], actor=admin)
    with engine.database.transaction() as session:  # as an older opsqa stored it
        session.execute(update(Schedule).where(Schedule.process_id == "broken")
                        .values(expression="R/2027-01-01T00:00:00+08:00/P0D"))
    listed = {view["process"]: view for view in run.json("schedules")}
    assert listed["broken"]["next"] == [] and listed["daily"]["next"]  # the list still shows
    clock.advance(timedelta(days=1))
    report = engine.tick()
    assert [failure["process"] for failure in report.failed] == ["broken"]
    assert [entry["process"] for entry in report.started] == ["daily"]
    [failed] = [event for event in engine.history() if event["kind"] == "schedule.failed"]
    assert "longer than zero" in failed["payload"]["error"] and failed["payload"]["disabled"] is True
    clock.advance(timedelta(days=1))
    report = engine.tick()
    assert report.failed == [] and [entry["process"] for entry in report.started] == ["daily"]


def test_an_hourly_cycle_from_long_ago_is_not_walked_from_its_first_fire(monkeypatch):
    """Before: each tick walked an hourly cycle from its first fire: from 2000, a quarter of a million steps."""
    from datetime import UTC, datetime

    from engine import timers

    cycle = timers.parse_cycle("timeCycle", "R/2000-01-01T00:00:00+00:00/PT1H", UTC)
    calls = 0
    fire = timers.Cycle.fire

    def counted(self, n):
        nonlocal calls
        calls += 1
        return fire(self, n)

    monkeypatch.setattr(timers.Cycle, "fire", counted)
    now = datetime(2027, 6, 1, 12, 30, tzinfo=UTC)
    assert cycle.fires_between(now - timedelta(hours=3), now) == [
        datetime(2027, 6, 1, hour, tzinfo=UTC) for hour in (10, 11, 12)]
    assert cycle.next_fires(now, 2) == [datetime(2027, 6, 1, 13, tzinfo=UTC), datetime(2027, 6, 1, 14, tzinfo=UTC)]
    assert calls < 100, calls


def test_fires_due_at_once_are_bounded():
    """A cycle stored before the checks (one a second) asked for years of fires in one tick: refused."""
    from datetime import UTC, datetime

    from engine import timers

    cycle = timers.parse_cycle("timeCycle", "R/2020-01-01T00:00:00+00:00/PT1S", UTC)
    with pytest.raises(ValueError, match="fires are due at once"):
        cycle.fires_between(datetime(2020, 1, 1, tzinfo=UTC), datetime(2027, 1, 1, tzinfo=UTC))
