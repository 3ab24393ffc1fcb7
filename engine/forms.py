"""User-task forms: `camunda:formData` -> a field schema, and the checks on submitted values.

A schema is plain data (stored with the definition), so showing a task's form or checking
a completion never needs SpiffWorkflow.
"""

from __future__ import annotations

import re
from datetime import date
from decimal import Decimal, InvalidOperation
from typing import Any

from i18n import _

from . import expressions
from .errors import InvalidFormValue, OpsqaError

CAMUNDA_NS = "http://camunda.org/schema/1.0/bpmn"
TYPES = ("string", "long", "boolean", "date", "enum", "decimal")
CONSTRAINTS = ("required", "requiredIf", "readonly", "min", "max", "minlength", "maxlength")
_TRUE = {"true", "yes", "y", "1", "是", "对"}
_FALSE = {"false", "no", "n", "0", "否", "不"}
MAX_TEXT_LENGTH = 10_000  # a text field without its own maxlength (the `max_text_length` setting)
# typed values are read strictly: ASCII digits only (int() also takes "١٢٣", "1_000" and " 12 "), a
# day only as YYYY-MM-DD (date.fromisoformat also takes "20270301" and "2027-W09-1")
_WHOLE = re.compile(r"[+-]?[0-9]{1,19}", re.ASCII)
_NUMBER = re.compile(r"[+-]?[0-9]{1,30}(\.[0-9]{1,30})?", re.ASCII)
_DAY = re.compile(r"[0-9]{4}-[0-9]{2}-[0-9]{2}", re.ASCII)
_LONG_RANGE = (-(2**63), 2**63 - 1)  # what the database can hold


def _c(tag: str) -> str:
    return f"{{{CAMUNDA_NS}}}{tag}"


class FormError(ValueError):
    """A form definition problem, with the form field's id."""

    def __init__(self, field: str, message: str):
        super().__init__(message)
        self.field = field


def parse_form(task_node) -> list[dict[str, Any]]:
    """The form fields of a user task element (lxml), in order. Raises FormError."""
    fields = []
    for node in task_node.iter(_c("formField")):
        field_id = node.get("id") or ""
        if not field_id.isidentifier():
            raise FormError(field_id, _("form field id {field_id!r} is not a valid variable name").format(
                                          field_id=field_id))
        kind = node.get("type") or "string"
        if kind not in TYPES:
            raise FormError(field_id, _("form field {field_id} has type {kind!r}; use one of {types}").format(
                                          field_id=field_id, kind=kind, types=', '.join(TYPES)))
        field: dict[str, Any] = {
            "id": field_id,
            "label": node.get("label") or field_id,
            "type": kind,
            "required": False,
            "readonly": False,
        }
        if node.get("defaultValue") is not None:
            field["default"] = node.get("defaultValue")
        for constraint in node.iter(_c("constraint")):
            name, config = constraint.get("name"), constraint.get("config")
            if name not in CONSTRAINTS:
                raise FormError(field_id, _("form field {field_id} has unknown constraint {name!r}").format(
                                              field_id=field_id, name=name))
            if name in ("required", "readonly"):
                field[name] = True
                continue
            if name == "requiredIf":  # e.g. a comment required when the decision is a rejection
                field["required_if"] = config or ""
                continue
            try:
                field[name] = str(Decimal(config)) if kind == "decimal" else int(config)
            except (TypeError, ValueError, InvalidOperation):
                raise FormError(field_id, _("form field {field_id}: constraint {name} needs a number").format(
                                              field_id=field_id, name=name)) from None
        if kind == "enum":
            field["options"] = [
                {"id": value.get("id"), "name": value.get("name") or value.get("id")}
                for value in node.iter(_c("value"))
            ]
            if not field["options"]:
                raise FormError(field_id, _("enum form field {field_id} has no values").format(field_id=field_id))
        fields.append(field)
    return fields


def coerce(field: dict[str, Any], raw: Any, *, max_text: int = MAX_TEXT_LENGTH) -> Any:
    """One value of one field, as typed; raises ValueError with the reason. A text field without a maxlength
    of its own holds at most `max_text` characters."""
    kind = field["type"]
    text = raw.strip() if isinstance(raw, str) else raw
    if isinstance(text, str) and not _utf8(text):
        raise ValueError(_("the value is not valid UTF-8 text"))
    if kind == "string":
        if not isinstance(text, str):
            raise ValueError(_("expected text, got {raw!r}").format(raw=raw))
        value: Any = text
        length = len(value)
        if "maxlength" not in field and length > max_text:
            raise ValueError(_("at most {maxlength} characters allowed, got {length}").format(
                                 maxlength=max_text, length=length))
        if "minlength" in field and length < field["minlength"]:
            raise ValueError(_("at least {minlength} characters needed, got {length}").format(
                                 minlength=field['minlength'], length=length))
        if "maxlength" in field and length > field["maxlength"]:
            raise ValueError(_("at most {maxlength} characters allowed, got {length}").format(
                                 maxlength=field['maxlength'], length=length))
        return value
    if kind == "boolean":
        if isinstance(text, bool):
            return text
        if isinstance(text, str) and text.lower() in _TRUE:
            return True
        if isinstance(text, str) and text.lower() in _FALSE:
            return False
        raise ValueError(_("expected true or false, got {raw!r}").format(raw=raw))
    if kind == "enum":
        allowed = [option["id"] for option in field["options"]]
        if not isinstance(text, str):
            raise ValueError(_("{raw!r} is not one of {allowed}").format(raw=raw, allowed=', '.join(allowed)))
        if text not in allowed:
            names = {option["name"]: option["id"] for option in field["options"]}
            if text in names:
                return names[text]
            raise ValueError(_("{raw!r} is not one of {allowed}").format(raw=raw, allowed=', '.join(allowed)))
        return text
    if kind == "date":
        if isinstance(text, date):
            return text
        try:
            if not isinstance(text, str) or not _DAY.fullmatch(text):
                raise ValueError
            return date.fromisoformat(text)
        except ValueError:
            raise ValueError(_("expected a date as YYYY-MM-DD, got {raw!r}").format(raw=raw)) from None
    if kind == "long":
        if isinstance(text, bool) or not isinstance(text, int | str):
            raise ValueError(_("expected a whole number, got {raw!r}").format(raw=raw))
        if isinstance(text, str) and not _WHOLE.fullmatch(text):
            raise ValueError(_("expected a whole number, got {raw!r}").format(raw=_short(raw)))
        value = int(text)
        if not _LONG_RANGE[0] <= value <= _LONG_RANGE[1]:
            raise ValueError(_("expected a whole number, got {raw!r}").format(raw=_short(raw)))
    else:  # decimal
        if isinstance(text, bool) or not isinstance(text, int | float | str | Decimal):
            raise ValueError(_("expected a number, got {raw!r}").format(raw=raw))
        if isinstance(text, str) and not _NUMBER.fullmatch(text):
            raise ValueError(_("expected a number, got {raw!r}").format(raw=_short(raw)))
        try:
            value = Decimal(str(text))
        except InvalidOperation:
            raise ValueError(_("expected a number, got {raw!r}").format(raw=_short(raw))) from None
        if not value.is_finite():
            raise ValueError(_("expected a number, got {raw!r}").format(raw=raw))
    limit = Decimal if kind == "decimal" else int
    if "min" in field and value < limit(field["min"]):
        raise ValueError(_("{value} is below the minimum {min}").format(value=value, min=field['min']))
    if "max" in field and value > limit(field["max"]):
        raise ValueError(_("{value} is above the maximum {max}").format(value=value, max=field['max']))
    return value


def _utf8(text: str) -> bool:
    """Text that can be stored: no lone surrogates (what a non-UTF-8 terminal's bytes decode to)."""
    try:
        text.encode("utf-8")
    except UnicodeEncodeError:
        return False
    return True


def _short(raw: Any) -> Any:
    """A refused value as the message shows it: its first 40 characters."""
    return raw[:40] + "…" if isinstance(raw, str) and len(raw) > 40 else raw


def validate(task: str, fields: list[dict[str, Any]], values: dict[str, Any], *,
             max_text: int = MAX_TEXT_LENGTH) -> dict[str, Any]:
    """Check a completion's values against the form; return them typed.

    Unknown fields are refused (a typo must not pass silently); a required field must be
    given unless it has a default; read-only fields cannot be set; an optional field left
    out is None, so that a value from an earlier pass of a loop does not pass for this one.
    Refused with the first problem in the message and every problem, by field id, in
    `InvalidFormValue.problems` (the web shows each beside its field).
    """
    typed, problems = check(fields, values, max_text=max_text)
    if problems:
        shown, reason = next(iter(problems.values()))
        raise InvalidFormValue(task, shown, reason,
                               problems={name: message for name, (_shown, message) in problems.items()})
    return typed


def check(fields: list[dict[str, Any]], values: dict[str, Any], *,
          max_text: int = MAX_TEXT_LENGTH) -> tuple[dict[str, Any], dict[str, tuple[str, str]]]:
    """The typed values, and every problem: field id -> (the field as people see it, the reason)."""
    by_id = {field["id"]: field for field in fields}
    problems: dict[str, tuple[str, str]] = {}
    for name in values:
        if name not in by_id:
            known = ", ".join(by_id) or "no fields"
            problems[name] = (name, _("the form has no such field (it has {known})").format(known=known))
    typed: dict[str, Any] = {}
    for field in fields:
        name = field["id"]
        if field["readonly"]:
            if name in values:
                problems[name] = (_name(field), _("the field is read-only"))
            continue
        raw = values.get(name)
        if raw is None or (isinstance(raw, str) and not raw.strip()):
            if "default" in field:
                raw = field["default"]
            elif field["required"]:
                problems[name] = (_name(field), _("a value is required"))
                continue
            else:
                typed[name] = None  # a submission sets every field of its form: no stale value survives
                continue
        try:
            typed[name] = coerce(field, raw, max_text=max_text)
        except ValueError as exc:
            problems[name] = (_name(field), str(exc))
    for field in fields:
        condition = field.get("required_if")
        if not condition or field["id"] in problems or typed.get(field["id"]) not in (None, ""):
            continue
        try:
            applies = expressions.evaluate(condition, typed)
        except OpsqaError:  # it names a field that is itself refused above: that problem is shown first
            continue
        if applies:
            problems[field["id"]] = (_name(field), _("a value is required when {condition}").format(
                                                        condition=expressions.unwrap(condition)))
    return typed, problems


def prefilled(fields: list[dict[str, Any]], variables: dict[str, Any], values: dict[str, Any]) -> dict[str, Any]:
    """The values of a task whose form starts from what it was given (camunda:property prefill=true, such as
    a revision's draft, which starts from the issued plan): a field left out of `values` takes the value its
    task's variables hold. A field given empty stays empty (a required one is then refused); read-only fields
    are never set."""
    merged = dict(values)
    for field in fields:
        name = field["id"]
        if name not in merged and not field["readonly"] and variables.get(name) not in (None, ""):
            merged[name] = variables[name]
    return merged


def _name(field: dict[str, Any]) -> str:
    """The field as people see it: its id and, when it says more, its label."""
    return field["id"] if field["label"] == field["id"] else f"{field['id']} ({field['label']})"


def missing_required(fields: list[dict[str, Any]], values: dict[str, Any]) -> list[dict[str, Any]]:
    """The required fields without a value or default (what a terminal prompt asks for)."""
    return [
        field
        for field in fields
        if field["required"]
        and not field["readonly"]
        and "default" not in field
        and (values.get(field["id"]) is None or values.get(field["id"]) == "")
    ]


def shown(field: dict[str, Any], value: Any) -> str:
    """A field's value as a form shows it (the text a person would type): its default when it has none."""
    if value is None or value == "":
        return str(field.get("default", ""))
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, date):
        return value.isoformat()
    if isinstance(value, str) and field["type"] == "date":
        return value[:10]
    return str(value)
