"""The safe evaluator for conditions, assignees and timer values. No code from BPMN runs.

Process owners write what Camunda users write: `${decision == "approved"}`, `${pm}`,
`${amount > 10 && urgent}`, and timer values as plain ISO 8601 (`P14D`, `R/2027-01-01T09:00:00+08:00/P1Y`).
Expressions are evaluated by simpleeval over the process variables; there are no attribute
lookups on arbitrary objects, no imports, no calls but a short list of harmless functions.
"""

from __future__ import annotations

import ast
import re
from typing import Any

from simpleeval import EvalWithCompoundTypes
from simpleeval import InvalidExpression as SimpleEvalError

from i18n import _

from .errors import InvalidExpression

_WRAPPED = re.compile(r"^\s*[$#]\{(?P<body>.*)\}\s*$", re.DOTALL)
# ISO 8601 durations, repeating intervals and dated times, as modellers write them unquoted.
_ISO_TIMER = re.compile(
    r"^(R\d*/)?("
    r"P(?!$)(\d+Y)?(\d+M)?(\d+W)?(\d+D)?(T(?=\d)(\d+H)?(\d+M)?(\d+(\.\d+)?S)?)?"
    r"|\d{4}-\d{2}-\d{2}T[\d:.]+(Z|[+-]\d{2}:?\d{2})?"
    r")(/(P[\dYMWDTHS.]+|\d{4}-\d{2}-\d{2}T[\d:.]+(Z|[+-]\d{2}:?\d{2})?))*$"
)
_STRING = re.compile(r"""("(?:[^"\\]|\\.)*"|'(?:[^'\\]|\\.)*')""")
_FUNCTIONS = {
    "len": len,
    "min": min,
    "max": max,
    "abs": abs,
    "round": round,
    "int": int,
    "float": float,
    "str": str,
    "bool": bool,
}
_CONSTANTS = {"true": True, "false": False, "null": None, "True": True, "False": False, "None": None}


def unwrap(expression: str) -> str:
    """`${x}` -> `x`; JUEL's `&&`, `||`, `!` -> Python's `and`, `or`, `not`."""
    match = _WRAPPED.match(expression)
    body = match.group("body") if match else expression
    parts = _STRING.split(body)  # odd parts are string literals: left as written
    for i in range(0, len(parts), 2):
        code = parts[i].replace("&&", " and ").replace("||", " or ")
        parts[i] = re.sub(r"!(?!=)", " not ", code)
    return "".join(parts).strip()


def is_iso_timer(expression: str) -> bool:
    return bool(_ISO_TIMER.match(unwrap(expression)))


def check(expression: str) -> None:
    """Raise InvalidExpression if the expression does not parse (used at deploy)."""
    body = unwrap(expression)
    if not body:
        raise InvalidExpression(_("the expression is empty"))
    if is_iso_timer(body):
        return
    _shape(body)
    try:
        ast.parse(body, mode="eval")
    except SyntaxError as exc:
        raise InvalidExpression(_("expression {body!r} does not parse: {msg}").format(
                                    body=body[:80], msg=exc.msg)) from None
    except (MemoryError, RecursionError, ValueError) as exc:
        raise InvalidExpression(_("expression {body!r} does not parse: {name}").format(
                                    body=body[:80], name=type(exc).__name__)) from None


MAX_LENGTH = 2000  # characters: a condition or a timer, not a program
MAX_DEPTH = 40  # nested brackets
MAX_EXPONENT = 64


def _power(base, exponent):
    """`**` without the giant numbers (10**100000) that would stall a worker."""
    if isinstance(exponent, (int, float)) and abs(exponent) > MAX_EXPONENT and base not in (0, 1, -1):
        raise InvalidExpression(_("exponent {exponent} is larger than {max_exponent}").format(
                                    exponent=exponent, max_exponent=MAX_EXPONENT))
    return base**exponent


def _shape(body: str) -> None:
    if len(body) > MAX_LENGTH:
        raise InvalidExpression(_("the expression is {body} characters long; at most {max_length}").format(
                                    body=len(body), max_length=MAX_LENGTH))
    depth = deepest = 0
    for char in _STRING.sub("", body):
        if char in "([{":
            depth += 1
            deepest = max(deepest, depth)
        elif char in ")]}":
            depth -= 1
    if deepest > MAX_DEPTH:
        raise InvalidExpression(_("the expression nests {deepest} brackets deep; at most {max_depth}").format(
                                    deepest=deepest, max_depth=MAX_DEPTH))


def evaluate(expression: str, variables: dict[str, Any]) -> Any:
    """Evaluate over the process variables; a bare ISO 8601 timer value is returned as is. Anything that
    is not a plain expression over the variables — imports, attributes of objects, huge numbers or
    strings, deep nesting — is refused with InvalidExpression, and nothing of it runs."""
    body = unwrap(expression)
    if is_iso_timer(body):
        return body
    _shape(body)
    names = dict(_CONSTANTS)
    names.update(variables)
    evaluator = EvalWithCompoundTypes(names=names, functions=_FUNCTIONS)
    evaluator.operators[ast.Pow] = _power
    try:
        return evaluator.eval(body)
    except InvalidExpression:
        raise
    except SimpleEvalError as exc:
        raise InvalidExpression(_("expression {body!r}: {exc}").format(body=body[:80], exc=exc)) from None
    except SyntaxError as exc:
        raise InvalidExpression(_("expression {body!r} does not parse: {msg}").format(
                                    body=body[:80], msg=exc.msg)) from None
    except Exception as exc:  # any failure is the expression's: overflow, memory, a wrong type, a missing key
        raise InvalidExpression(f"expression {body[:80]!r}: {type(exc).__name__}: {exc}"[:300]) from None


def script_engine():
    """A SpiffWorkflow script engine that evaluates with `evaluate` and runs no scripts."""
    from SpiffWorkflow.bpmn.script_engine import PythonScriptEngine
    from SpiffWorkflow.bpmn.script_engine.python_environment import BasePythonScriptEngineEnvironment

    class SafeEnvironment(BasePythonScriptEngineEnvironment):
        def evaluate(self, expression, context, external_context=None):
            variables = dict(context)
            if external_context:
                variables.update(external_context)
            return evaluate(expression, variables)

        def execute(self, script, context, external_context=None):
            raise InvalidExpression(_("scripts are not run by opsqa; put code in a handler"))

        def call_service(self, context, **kwargs):
            raise InvalidExpression(_("service calls go through opsqa handlers"))

    return PythonScriptEngine(environment=SafeEnvironment())
