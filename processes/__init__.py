"""The standard processes of the O&M quality-management system (BPMN 2.0, Camunda 7 flavour), shipped
inside the package so that `pip install opsqa`, `opsqa init` and `opsqa deploy` work without a checkout.
Process owners edit the files in a modeler; `opsqa deploy` takes ./processes when it exists, else these."""

from __future__ import annotations

from pathlib import Path

FOLDER = Path(__file__).resolve().parent


def default_folder() -> str:
    """./processes when the working directory has one (a process owner's edited copy), else the shipped one."""
    local = Path("processes")
    if local.is_dir() and any(local.glob("*.bpmn")):
        return str(local)
    return str(FOLDER)
