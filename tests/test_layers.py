"""Imports flow one way: faces (cli, web) -> usecases -> handlers -> engine -> store; a face opens no
transaction, imports nothing of ours but the use cases, and tests no role."""

from __future__ import annotations

import ast

import pytest
from helpers import ROOT

FACES = ("cli", "web")
FORBIDDEN = {
    "store": {"engine", "handlers", "usecases", *FACES, "bench"},
    "engine": {"handlers", "usecases", *FACES, "bench"},
    "handlers": {"usecases", *FACES, "bench"},
    "usecases": {*FACES, "bench"},
    "i18n": {"engine", "store", "handlers", "usecases", *FACES, "bench"},
    **{face: {"store", "engine", "handlers", "bench"} for face in FACES},
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
        for path in sorted((ROOT / package).rglob("*.py")) if (ROOT / package).is_dir()
        for name in _imports(path)
        if name in FORBIDDEN[package]
    ]
    assert offenders == []


def _face_modules():
    return sorted(path for face in FACES if (ROOT / face).is_dir() for path in (ROOT / face).rglob("*.py"))


@pytest.mark.parametrize("path", _face_modules(), ids=lambda path: str(path.relative_to(ROOT)))
def test_a_face_opens_no_transaction_and_tests_no_role(path):
    """Transactions, the policy and roles live below the faces, so that the CLI and the web never disagree."""
    tree = ast.parse(path.read_text(encoding="utf-8"))
    offenders = []
    for node in ast.walk(tree):
        if isinstance(node, ast.Attribute) and node.attr in {"transaction", "reading", "reading_driver", "roles",
                                                             "is_admin", "database", "session", "clock"}:
            offenders.append(f"line {node.lineno}: .{node.attr}")
        if isinstance(node, ast.Name) and node.id in {"Session", "policy"}:
            offenders.append(f"line {node.lineno}: {node.id}")
    assert offenders == []


@pytest.mark.parametrize("path", sorted((ROOT / "cli").glob("*.py")), ids=lambda path: path.name)
def test_cli_imports_only_click_at_start(path):
    tree = ast.parse(path.read_text(encoding="utf-8"))
    top = {alias.name for node in tree.body if isinstance(node, ast.Import) for alias in node.names}
    top |= {node.module for node in tree.body if isinstance(node, ast.ImportFrom) and node.level == 0}
    assert top <= {"__future__", "contextlib", "functools", "inspect", "json", "os", "sys", "unicodedata", "datetime",
                   "decimal", "pathlib", "typing", "click", "i18n", "usecases"}, top


def test_the_layers_test_catches_a_face_that_opens_a_transaction(tmp_path):
    bad = tmp_path / "bad.py"
    bad.write_text("def command(state):\n    with state.engine.database.transaction() as session:\n"
                   "        if 'qmd' in state.actor.roles:\n            pass\n", encoding="utf-8")
    with pytest.raises(AssertionError):
        test_a_face_opens_no_transaction_and_tests_no_role(bad)


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
