"""Hostile input: no traceback ever reaches the user, a refused input changes nothing, and no expression
escapes the evaluator. Property-based (hypothesis, derandomized so CI runs the same cases every time)
over expressions, form values, command lines and mutated BPMN files."""

from __future__ import annotations

import datetime as dt
import random

import pytest
from click.testing import CliRunner
from helpers import ADMIN, PLAN_VALUES, PROCESSES, ready_task
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from lxml import etree

from cli import cli
from engine import Engine, OpsqaError, expressions
from engine.errors import InvalidExpression

FUZZ = settings(derandomize=True, deadline=None, suppress_health_check=list(HealthCheck))

ESCAPES = [
    "().__class__.__base__.__subclasses__()", "__import__('os').system('touch {sentinel}')",
    "open('{sentinel}', 'w')", "x.__class__", "x.__dict__", "x.__globals__", "(lambda: 1)()",
    "[c for c in ().__class__.__mro__]", "getattr(x, '__class__')", "type(x)", "globals()", "locals()", "vars()",
    "exec('1')", "eval('1')", "compile('1', '', 'eval')", "__builtins__", "'{{0.__class__}}'.format(x)",
    "f'{{x.__class__}}'", "x.format", "9**9**9", "10**100000", "2**2**2**2**2", "'a' * 10**9", "[1] * 10**9",
    "(" * 500 + "1" + ")" * 500, "[" * 200 + "]" * 200, "-" * 100000 + "1", "not " * 50000 + "True",
    "int('9' * 100000)", "len(range(10**12))", "[i for i in range(10**9)]", "round(1e308 * 10)",
]


@pytest.mark.parametrize("template", ESCAPES)
def test_escaping_expressions_are_refused_and_nothing_runs(template, tmp_path):
    sentinel = tmp_path / "pwned"
    expression = template.format(sentinel=sentinel)
    with pytest.raises(InvalidExpression):
        expressions.evaluate(expression, {"x": "abc"})
    with pytest.raises(InvalidExpression):
        expressions.evaluate("${" + expression + "}", {"x": "abc"})
    assert not sentinel.exists()


TOKENS = st.sampled_from(["x", "y", "1", "0", "-1", "2.5", "'s'", '"t"', "+", "-", "*", "/", "//", "%", "**", "==",
                          "!=", "<", ">", "and", "or", "not", "&&", "||", "!", "(", ")", "[", "]", "{", "}", ",", ":",
                          ".", "if", "else", "in", "len", "min", "max", "__class__", "lambda", "None", "true", "P1D",
                          "R/2027-01-01T00:00:00+08:00/P1Y", " "])


@settings(FUZZ, max_examples=1000)
@given(st.one_of(st.lists(TOKENS, max_size=30).map(" ".join), st.text(max_size=200)))
def test_any_expression_evaluates_or_is_refused(expression):
    for run in (expressions.check, lambda e: expressions.evaluate(e, {"x": 3, "y": "abc"})):
        try:
            run(expression)
        except InvalidExpression:
            pass


FIELDS = list(PLAN_VALUES) + ["decision", "unknown", "objectives\x00", ""]
VALUES = st.one_of(st.none(), st.booleans(), st.integers(), st.floats(allow_nan=True), st.text(max_size=300),
                   st.dates().map(dt.date.isoformat), st.lists(st.integers(), max_size=3),
                   st.dictionaries(st.text(max_size=5), st.integers(), max_size=2), st.just("x" * 20000),
                   st.sampled_from(["每月", "monthly", "spot_quarterly", "2027-13-01", "1e999", "-0", " "]))


@pytest.fixture(scope="module")
def plan_engine(tmp_path_factory):
    from helpers import make_engine

    from engine import SimulatedClock
    from store import create_database

    path = tmp_path_factory.mktemp("hostile") / "opsqa.db"
    create_database(str(path)).dispose()
    engine = make_engine(path, SimulatedClock(dt.datetime(2027, 1, 4, 9, tzinfo=dt.UTC)))
    engine.add_user(ADMIN, ["admin"])
    engine.add_user("qmd1", ["qmd"], actor=engine.actor(ADMIN))
    engine.deploy([str(PROCESSES / "quality_plan.bpmn")], actor=engine.actor(ADMIN))
    yield engine
    engine.database.dispose()


@settings(FUZZ, max_examples=300)
@given(st.dictionaries(st.sampled_from(FIELDS), VALUES, max_size=10), st.booleans())
def test_any_form_values_complete_or_are_refused_changing_nothing(plan_engine: Engine, values, start_from_valid):
    engine = plan_engine
    instance = engine.start("quality_plan", actor=engine.actor(ADMIN))
    task = ready_task(engine, instance, "draft_plan")
    submitted = {**PLAN_VALUES, **values} if start_from_valid else values
    events = len(engine.history(instance))
    try:
        engine.complete(task["id"], submitted, actor=engine.actor("qmd1"))
    except OpsqaError:
        assert engine.task(task["id"])["state"] == "ready"
        assert len(engine.history(instance)) == events
        return
    assert engine.task(task["id"])["state"] == "completed"


COMMANDS = [["tasks"], ["tasks", "--role"], ["task", "show"], ["task", "complete"], ["task", "claim"],
            ["start"], ["instances", "--status"], ["instance", "show"], ["instance", "retry"], ["findings"],
            ["finding", "show"], ["finding", "add"], ["projects", "add"], ["projects", "import"], ["audits"],
            ["audit", "record"], ["complaints", "add"], ["complaints", "show"], ["indicators", "set"],
            ["indicators", "import"], ["survey", "import"], ["review", "start"], ["report", "audit"], ["plan", "show"],
            ["history"], ["settings"], ["users", "add"], ["tick", "--now"], ["validate"], ["cycle", "start"]]
ARGS = st.one_of(st.sampled_from(["--year", "--set", "--json", "--role", "--project", "P-01", "2027", "x=1",
                                  "--now", "--data", "/dev/null", "/nonexistent", "-1", "99999999999999999999",
                                  "--description", "", "--due", "2027-02-30", "--value", "nan", "quality_plan",
                                  "--key", "--as", "nobody", "--item", "PRC-z", "--feedback"]),
                 st.text(max_size=40))


@pytest.fixture(scope="module")
def cli_db(tmp_path_factory):
    path = tmp_path_factory.mktemp("cli") / "opsqa.db"
    runner = CliRunner()
    assert runner.invoke(cli, ["--db", str(path), "init"], obj={"login": ADMIN}).exit_code == 0
    deployed = runner.invoke(cli, ["--db", str(path), "deploy", "--reason", "set-up", str(PROCESSES)],
                             obj={"login": ADMIN})
    assert deployed.exit_code == 0
    return path


@settings(FUZZ, max_examples=800)
@given(st.sampled_from(COMMANDS), st.lists(ARGS, max_size=6), st.sampled_from([ADMIN, "nobody"]))
def test_any_command_line_ends_in_a_result_or_a_one_line_refusal(cli_db, command, args, login):
    result = CliRunner().invoke(cli, ["--db", str(cli_db), *command, *args], obj={"login": login})
    assert result.exit_code in (0, 1, 2), (command, args, result.output)
    assert "Traceback" not in result.output and "internal error" not in result.output, (command, args, result.output)
    if result.exit_code == 1:
        assert result.stderr.startswith("opsqa: ") and result.stderr.count("\n") == 1, result.stderr


BASE = (PROCESSES / "quality_plan.bpmn").read_bytes()


def _mutate(seed: int, operations: int) -> bytes:
    rng = random.Random(seed)
    root = etree.fromstring(BASE)
    for _ in range(operations):
        nodes = [n for n in root.iter() if isinstance(n.tag, str)]
        node = rng.choice(nodes)
        kind = rng.randrange(5)
        if kind == 0 and node.getparent() is not None:
            node.getparent().remove(node)  # an element goes
        elif kind == 1 and node.attrib:
            node.set(rng.choice(list(node.attrib)), rng.choice(["", "x", "${", "${a ==}", "gw_decision", "P-1D",
                                                                "quality_plan", "0" * 300, "中文"]))
        elif kind == 2 and node.getparent() is not None:
            node.getparent().append(etree.fromstring(etree.tostring(node)))  # a copy, ids and all
        elif kind == 3:
            node.text = rng.choice(["${", "R/bad", "${x ** 99}", "", "${decision == 'approved'}"])
        elif kind == 4 and node.getparent() is not None:
            node.tag = rng.choice(["{http://www.omg.org/spec/BPMN/20100524/MODEL}scriptTask",
                                   "{http://www.omg.org/spec/BPMN/20100524/MODEL}complexGateway", "frobnicate"])
    text = etree.tostring(root)
    if rng.random() < 0.2:
        text = text[: rng.randrange(len(text))]  # a truncated file
    return text


@settings(FUZZ, max_examples=800)
@given(st.integers(0, 2**32), st.integers(1, 4))
def test_any_mutated_diagram_is_accepted_or_refused_in_one_line(tmp_path_factory, seed, operations):
    path = tmp_path_factory.mktemp("bpmn") / "mutated.bpmn"
    path.write_bytes(_mutate(seed, operations))
    result = CliRunner().invoke(cli, ["validate", str(path)], obj={"login": ADMIN})
    assert result.exit_code in (0, 1), result.output
    assert "Traceback" not in result.output and "internal error" not in result.output, result.output
    if result.exit_code == 1:
        assert result.stderr.startswith("opsqa: ") and result.stderr.count("\n") == 1, result.stderr
