"""Babel's extractor for the cli package (development only; `make messages`): the `_()` calls as Babel's own
Python extractor finds them, and the help texts click reads from the commands' docstrings, cleaned
as click cleans them (the CLI translates them as a help page is drawn)."""

from __future__ import annotations

import ast
import inspect
import io

from babel.messages.extract import extract_python


def extract_cli(fileobj, keywords, comment_tags, options):
    source = fileobj.read()
    yield from extract_python(io.BytesIO(source), keywords, comment_tags, options)
    for node in ast.walk(ast.parse(source)):
        if isinstance(node, ast.FunctionDef) and any(_is_command(d) for d in node.decorator_list):
            docstring = ast.get_docstring(node, clean=False)
            if docstring:
                yield node.lineno, None, inspect.cleandoc(docstring), []


def _is_command(decorator: ast.expr) -> bool:
    """`@cli.command(...)`, `@users.group()` and the like."""
    call = decorator.func if isinstance(decorator, ast.Call) else decorator
    return isinstance(call, ast.Attribute) and call.attr in {"command", "group"}
