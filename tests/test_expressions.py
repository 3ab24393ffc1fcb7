"""The safe evaluator and the form checks, on literal values."""

from __future__ import annotations

from datetime import date
from decimal import Decimal

import pytest

from engine import expressions, forms
from engine.errors import InvalidExpression, InvalidFormValue


@pytest.mark.parametrize(
    ("expression", "variables", "expected"),
    [
        ('${decision == "approved"}', {"decision": "approved"}, True),
        ("${amount > 10 && urgent}", {"amount": 11, "urgent": True}, True),
        ("${!urgent || amount != 3}", {"amount": 3, "urgent": True}, False),
        ('${note == "a && b!"}', {"note": "a && b!"}, True),
        ("${pm}", {"pm": "zhangsan"}, "zhangsan"),
        ("P14D", {}, "P14D"),
        ("R/2027-01-01T09:00:00+08:00/P1Y", {}, "R/2027-01-01T09:00:00+08:00/P1Y"),
        ("${R3/PT6H}", {}, "R3/PT6H"),
        ("2027-03-31T18:00:00+08:00", {}, "2027-03-31T18:00:00+08:00"),
        ("${len(items) >= 2}", {"items": [1, 2]}, True),
    ],
)
def test_evaluate(expression, variables, expected):
    assert expressions.evaluate(expression, variables) == expected


@pytest.mark.parametrize(
    "expression",
    ["().__class__.__base__.__subclasses__()", "__import__('os').system('true')", "open('/etc/passwd').read()",
     "undefined_name > 1", "9 ** 9 ** 9"],
)
def test_evaluate_refuses_what_is_not_an_expression_over_variables(expression):
    with pytest.raises(InvalidExpression):
        expressions.evaluate(expression, {})


def test_check_finds_syntax_errors_at_deploy():
    expressions.check('${decision == "ok"}')
    with pytest.raises(InvalidExpression, match="does not parse"):
        expressions.check("${decision ==}")
    with pytest.raises(InvalidExpression, match="empty"):
        expressions.check("${}")


FIELDS = [
    {"id": "count", "label": "count", "type": "long", "required": True, "readonly": False, "min": 1, "max": 9},
    {"id": "ratio", "label": "ratio", "type": "decimal", "required": False, "readonly": False, "max": "1.5"},
    {"id": "ok", "label": "ok", "type": "boolean", "required": False, "readonly": False},
    {"id": "day", "label": "day", "type": "date", "required": False, "readonly": False},
    {"id": "name", "label": "name", "type": "string", "required": False, "readonly": False, "maxlength": 3},
]


def test_validate_types_values():
    typed = forms.validate("t", FIELDS, {"count": "3", "ratio": "1.25", "ok": "是", "day": "2027-02-28", "name": "abc"})
    assert typed == {"count": 3, "ratio": Decimal("1.25"), "ok": True, "day": date(2027, 2, 28), "name": "abc"}
    assert forms.validate("t", FIELDS, {"count": 2}) == {"count": 2, "ratio": None, "ok": None, "day": None,
                                                          "name": None}


@pytest.mark.parametrize(
    ("values", "message"),
    [
        ({}, "field count: a value is required"),
        ({"count": "0"}, "field count: 0 is below the minimum 1"),
        ({"count": True}, "field count: expected a whole number"),
        ({"count": 1, "ratio": "1.6"}, "field ratio: 1.6 is above the maximum 1.5"),
        ({"count": 1, "ratio": "NaN"}, "field ratio: expected a number"),
        ({"count": 1, "ok": "maybe"}, "field ok: expected true or false"),
        ({"count": 1, "day": "2027-02-30"}, "field day: expected a date as YYYY-MM-DD"),
        ({"count": 1, "name": "abcd"}, "field name: at most 3 characters allowed, got 4"),
    ],
)
def test_validate_refuses(values, message):
    with pytest.raises(InvalidFormValue, match=message):
        forms.validate("t", FIELDS, values)


def test_required_if_and_labels_in_messages():
    fields = [
        {"id": "decision", "label": "审批结果", "type": "enum", "required": True, "readonly": False,
         "options": [{"id": "approved", "name": "批准"}, {"id": "rejected", "name": "退回修改"}]},
        {"id": "comment", "label": "审批意见", "type": "string", "required": False, "readonly": False,
         "required_if": '${decision == "rejected"}'},
    ]
    assert forms.validate("approve", fields, {"decision": "approved"}) == {"decision": "approved", "comment": None}
    with pytest.raises(InvalidFormValue, match=r'field comment \(审批意见\): a value is required when decision =='):
        forms.validate("approve", fields, {"decision": "退回修改", "comment": " "})
