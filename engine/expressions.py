"""The safe evaluator for conditions, assignees and timer values. No code from BPMN runs.

Process owners write what Camunda users write: `${decision == "approved"}`, `${pm}`,
`${amount > 10 && urgent}`, and timer values as plain ISO 8601 (`P14D`, `R/2027-01-01T09:00:00+08:00/P1Y`).
Expressions are evaluated by simpleeval over the process variables; there are no attribute
lookups on arbitrary objects, no imports, no calls but a short list of harmless functions.
"""

from __future__ import annotations

import ast
import math
import re
from decimal import Decimal
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


MAX_INT_BITS = 4096  # an integer result or operand: far beyond any count, amount or date
MAX_SIZE = 100_000  # characters of a string, items of a collection (nested ones counted), per result
MAX_WIDTH = 1000  # a field width or precision in a format: `f"{x:>1000000000}"` would build a gigabyte
MAX_DIGITS = 1000  # the decimal exponent of a Decimal turned into an int or formatted in full


class _TooLarge(SimpleEvalError):
    """A bound of this module: reported as `expression '…': <why>`."""

    def __init__(self, message: str):
        Exception.__init__(self, message)
        self.message = message


def _size(value, budget: int = MAX_SIZE) -> int:
    """A bounded measure of a value: string lengths, items (nested ones too), integers by 64-bit words.
    Stops counting once past `budget`, so measuring a huge shared structure costs little."""
    total, stack = 0, [value]
    while stack:
        item = stack.pop()
        if isinstance(item, str | bytes | bytearray):
            total += len(item) or 1
        elif isinstance(item, bool):
            total += 1
        elif isinstance(item, int):
            total += 1 + item.bit_length() // 64
        elif isinstance(item, dict):
            total += 1
            stack.extend(item.keys())
            stack.extend(item.values())
        elif isinstance(item, list | tuple | set | frozenset):
            total += 1
            stack.extend(item)
        else:
            total += 1
        if total > budget:
            break
    return total


def _bounded(value):
    """Refuse a result past the bounds (after the operation: pre-checks keep it from being huge)."""
    if isinstance(value, int) and not isinstance(value, bool) and value.bit_length() > MAX_INT_BITS:
        raise _TooLarge(_("an integer of {bits} bits is larger than {max_bits}").format(
                            bits=value.bit_length(), max_bits=MAX_INT_BITS))
    if isinstance(value, str | bytes | list | tuple | dict | set | frozenset) and _size(value) > MAX_SIZE:
        raise _TooLarge(_("a value larger than {max_size} characters or items").format(max_size=MAX_SIZE))
    return value


def _int_bits(value) -> int:
    return value.bit_length() if isinstance(value, int) else 0


def _power(base, exponent):
    """`**` without the giant numbers (10**100000, (10**64)**64) that would stall a worker."""
    if isinstance(exponent, int | float | Decimal) and abs(exponent) > MAX_EXPONENT and base not in (0, 1, -1):
        raise _TooLarge(_("exponent {exponent} is larger than {max_exponent}").format(
                            exponent=exponent, max_exponent=MAX_EXPONENT))
    if isinstance(base, int) and isinstance(exponent, int) and exponent > 0 and abs(base) > 1:
        if exponent * math.log2(abs(base)) > MAX_INT_BITS:
            raise _TooLarge(_("an integer of {bits} bits is larger than {max_bits}").format(
                                bits=int(exponent * math.log2(abs(base))), max_bits=MAX_INT_BITS))
    return _bounded(base**exponent)


def _mult(a, b):
    if isinstance(a, int) and isinstance(b, int):
        if _int_bits(a) + _int_bits(b) > MAX_INT_BITS + 1:
            raise _TooLarge(_("an integer of {bits} bits is larger than {max_bits}").format(
                                bits=_int_bits(a) + _int_bits(b), max_bits=MAX_INT_BITS))
        return a * b
    for sequence, count in ((a, b), (b, a)):
        if isinstance(sequence, str | bytes | list | tuple) and isinstance(count, int):
            if count > 0 and _size(sequence) * count > MAX_SIZE:
                raise _TooLarge(_("repeating a value {count} times makes more than {max_size} characters or "
                                  "items").format(count=count, max_size=MAX_SIZE))
    return _bounded(a * b)


def _add(a, b):
    if isinstance(a, str | bytes | list | tuple) and isinstance(b, str | bytes | list | tuple):
        if _size(a) + _size(b) > MAX_SIZE:
            raise _TooLarge(_("a value larger than {max_size} characters or items").format(max_size=MAX_SIZE))
    return _bounded(a + b)


def _lshift(a, b):
    if isinstance(b, int) and b > 0 and _int_bits(a) + b > MAX_INT_BITS:
        raise _TooLarge(_("an integer of {bits} bits is larger than {max_bits}").format(
                            bits=_int_bits(a) + b, max_bits=MAX_INT_BITS))
    return a << b


# A width or precision inside a format: `%0999999999d`, `{:>1000000000}`, `.999999999f`.
_FORMAT_NUMBER = re.compile(r"\d+")


def _check_format(spec: str, value=None) -> None:
    if "*" in spec or any(int(n) > MAX_WIDTH for n in _FORMAT_NUMBER.findall(spec) if len(n) < 20) \
            or any(len(n) >= 20 for n in _FORMAT_NUMBER.findall(spec)):
        raise _TooLarge(_("a format width or precision above {max_width}").format(max_width=MAX_WIDTH))
    if isinstance(value, Decimal) and value.is_finite() and abs(value.adjusted()) > MAX_DIGITS:
        raise _TooLarge(_("a decimal with an exponent above {max_digits}").format(max_digits=MAX_DIGITS))


def _mod(a, b):
    if isinstance(a, str | bytes):  # printf-style formatting
        _check_format(a.decode("latin-1") if isinstance(a, bytes) else a)
        for value in b if isinstance(b, tuple) else (b,):
            _check_format("", value)
    return _bounded(a % b)


def _int(value=0, *args):
    if isinstance(value, Decimal) and value.is_finite() and value.adjusted() > MAX_DIGITS:
        raise _TooLarge(_("a decimal with an exponent above {max_digits}").format(max_digits=MAX_DIGITS))
    if isinstance(value, str | bytes) and len(value) > MAX_INT_BITS:
        raise _TooLarge(_("an integer of more than {max_bits} digits").format(max_bits=MAX_INT_BITS))
    return _bounded(int(value, *args))


def _round(value, ndigits=None):
    if ndigits is None:
        return _int(value) if isinstance(value, Decimal) else _bounded(round(value))
    if isinstance(ndigits, int) and abs(ndigits) > MAX_WIDTH:
        raise _TooLarge(_("a format width or precision above {max_width}").format(max_width=MAX_WIDTH))
    return _bounded(round(value, ndigits))


def _str(value=""):
    _bounded(value)
    if isinstance(value, Decimal) and value.is_finite() and abs(value.adjusted()) > MAX_DIGITS:
        return str(value)  # the scientific form is short; only formatting in full is long
    return _bounded(str(value))


def _join(separator):
    def join(items):
        items = list(items)
        if _size(items) + len(separator) * len(items) > MAX_SIZE:
            raise _TooLarge(_("a value larger than {max_size} characters or items").format(max_size=MAX_SIZE))
        return separator.join(items)
    return join


def _replace(text):
    def replace(old, new, count=-1):
        found = text.count(old) if count < 0 else min(count, text.count(old))
        if len(text) + found * max(0, len(new) - len(old)) > MAX_SIZE:
            raise _TooLarge(_("a value larger than {max_size} characters or items").format(max_size=MAX_SIZE))
        return text.replace(old, new, count)
    return replace


_FUNCTIONS.update(int=_int, round=_round, str=_str)

# Methods of values that an expression may call; others (ljust, center, zfill, expandtabs, to_bytes,
# quantize, …) build values of any size from a small argument, and none of them is needed for a condition.
_METHODS = frozenset({
    "lower", "upper", "strip", "lstrip", "rstrip", "startswith", "endswith", "split", "rsplit", "splitlines",
    "count", "find", "rfind", "index", "isdigit", "isdecimal", "isnumeric", "isalpha", "isalnum", "isspace",
    "islower", "isupper", "title", "capitalize", "casefold", "removeprefix", "removesuffix", "partition",
    "rpartition", "get", "keys", "values", "items", "is_integer", "bit_length", "isoformat", "weekday",
    "isoweekday", "date", "replace", "join",
})


class _Evaluator(EvalWithCompoundTypes):
    """simpleeval with every result bounded: integers in bits, strings and collections in size."""

    _UNCHECKED = (ast.Name, ast.Constant, ast.Attribute, ast.Subscript)

    def _eval(self, node):
        result = super()._eval(node)
        if not isinstance(node, self._UNCHECKED):
            _bounded(result)
        return result

    def _eval_formattedvalue(self, node):
        value = self._eval(node.value)
        if node.format_spec:
            spec = self._eval(node.format_spec)
            _check_format(spec, value)
            return _bounded(("{:" + spec + "}").format(value))
        _check_format("", value)
        return value

    def _eval_attribute(self, node):
        item = super()._eval_attribute(node)
        if callable(item) and getattr(item, "__self__", None) is not None:
            if node.attr not in _METHODS:
                raise _TooLarge(_("method {name!r} is not available in expressions").format(name=node.attr))
            if node.attr == "join" and isinstance(item.__self__, str | bytes):
                return _join(item.__self__)
            if node.attr == "replace" and isinstance(item.__self__, str | bytes):
                return _replace(item.__self__)
        return item


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
    evaluator = _Evaluator(names=names, functions=dict(_FUNCTIONS))
    evaluator.operators.update({ast.Pow: _power, ast.Mult: _mult, ast.Add: _add, ast.LShift: _lshift,
                                ast.Mod: _mod})
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
