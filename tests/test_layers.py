"""Imports flow one way: cli.py -> engine -> store; handlers use engine and store; nothing imports cli."""

from __future__ import annotations

import ast

import pytest
from helpers import ROOT

FORBIDDEN = {
    "store": {"engine", "handlers", "cli", "bench"},
    "engine": {"handlers", "cli", "bench"},
    "handlers": {"cli", "bench"},
}


def _imports(path):
    tree = ast.parse(path.read_text(encoding="utf-8"))
    for node in ast.walk(tree):
        if isinstance(node, ast.Import):
            yield from (alias.name.split(".")[0] for alias in node.names)
        elif isinstance(node, ast.ImportFrom) and node.level == 0 and node.module:
            yield node.module.split(".")[0]


@pytest.mark.parametrize("package", sorted(FORBIDDEN))
def test_imports_flow_one_way(package):
    offenders = [
        f"{path.relative_to(ROOT)} imports {name}"
        for path in sorted((ROOT / package).rglob("*.py"))
        for name in _imports(path)
        if name in FORBIDDEN[package]
    ]
    assert offenders == []


def test_cli_imports_only_click_at_start():
    tree = ast.parse((ROOT / "cli.py").read_text(encoding="utf-8"))
    top = {alias.name for node in tree.body if isinstance(node, ast.Import) for alias in node.names}
    top |= {node.module for node in tree.body if isinstance(node, ast.ImportFrom)}
    assert top <= {"__future__", "json", "os", "sys", "unicodedata", "datetime", "decimal", "pathlib", "typing",
                   "click"}, top
