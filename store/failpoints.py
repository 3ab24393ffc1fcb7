"""Crash points for the reliability tests: with OPSQA_CRASH=name:n in the environment, the process
dies at once (os._exit, like kill -9: no cleanup, no rollback of its own) the n-th time it passes
the point `name`. Without the variable a point costs one dictionary lookup.

Points: claim.after (jobs leased, nothing done), handler.before, handler.after (the handler's writes
made, not committed), commit.before, commit.after (committed, the caller not yet told).
"""

from __future__ import annotations

import os

_SPEC = os.environ.get("OPSQA_CRASH")
_passes: dict[str, int] = {}


def point(name: str) -> None:
    if _SPEC is None:
        return
    target, _, count = _SPEC.partition(":")
    if name != target:
        return
    _passes[name] = _passes.get(name, 0) + 1
    if _passes[name] >= int(count or 1):
        os._exit(137)
