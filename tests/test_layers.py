"""Imports flow one way: cli -> engine -> store; handlers use engine and store; nothing imports cli."""

from __future__ import annotations

import ast

import pytest
from helpers import ROOT

FORBIDDEN = {
    "store": {"engine", "handlers", "cli", "bench"},
    "engine": {"handlers", "cli", "bench"},
    "handlers": {"cli", "bench"},
    "i18n": {"engine", "store", "handlers", "cli", "bench"},
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


@pytest.mark.parametrize("path", sorted((ROOT / "cli").glob("*.py")), ids=lambda path: path.name)
def test_cli_imports_only_click_at_start(path):
    tree = ast.parse(path.read_text(encoding="utf-8"))
    top = {alias.name for node in tree.body if isinstance(node, ast.Import) for alias in node.names}
    top |= {node.module for node in tree.body if isinstance(node, ast.ImportFrom) and node.level == 0}
    assert top <= {"__future__", "contextlib", "functools", "inspect", "json", "os", "sys", "unicodedata", "datetime",
                   "decimal", "pathlib", "typing", "click", "i18n", "usecases"}, top


def test_driving_the_engine_does_not_load_the_domain():
    """A completion that runs no service task or check imports neither the handlers nor the domain's
    tables (the CLI's time to answer); asking the registry for a handler loads them."""
    import subprocess
    import sys

    code = ("import sys, handlers, engine.app, store\n"
            "store.Task; store.Instance\n"
            "assert 'handlers.audits' not in sys.modules and 'store.domain' not in sys.modules\n"
            "assert handlers.registry.get('audit.create') is not None\n"
            "assert 'handlers.audits' in sys.modules and 'store.domain' in sys.modules\n")
    done = subprocess.run([sys.executable, "-c", code], cwd=ROOT, capture_output=True, text=True)
    assert done.returncode == 0, done.stderr
