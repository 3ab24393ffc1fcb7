"""The workflow runtime on SpiffWorkflow. The public API is re-exported here.

Kept light on purpose: SpiffWorkflow is imported only by what steps an instance, and SQLAlchemy only by what
opens a database, so that reading commands (listing tasks, say) start fast. The names are loaded on first
use (PEP 562): `from engine.clock import local_time` does not load the runtime.
"""

from __future__ import annotations

import importlib

_WHERE = {"Engine": "app", "Clock": "clock", "SimulatedClock": "clock", "SystemClock": "clock",
          "OpsqaError": "errors", "HandlerContext": "registry", "Registry": "registry", "Actor": "users"}

__all__ = ["Actor", "Clock", "Engine", "HandlerContext", "OpsqaError", "Registry", "SimulatedClock", "SystemClock"]


def __getattr__(name: str):
    if name in _WHERE:
        return getattr(importlib.import_module(f".{_WHERE[name]}", __name__), name)
    raise AttributeError(f"module 'engine' has no attribute {name!r}")
