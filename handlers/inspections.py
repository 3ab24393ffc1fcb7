"""The service quality inspection (6.2.2): which projects a random spot check visits.

The sample is drawn as `random.Random(seed).sample(sorted(active project codes), k)`; the seed
and k are recorded with the inspection, so anyone can draw the same sample again.
"""

from __future__ import annotations

import random

from sqlalchemy import select
from sqlalchemy.orm import Session

from engine import OpsqaError
from store import Project

TRIGGERS = {"oms": "random_oms", "qmd": "qmd_as_needed", "plan": "planned"}


def draw_sample(session: Session, *, seed: int, size: int = 1) -> list[str]:
    """The projects a random inspection visits: reproducible from (seed, size) and the register."""
    codes = sorted(session.scalars(select(Project.code).where(Project.status == "active")))
    if not codes:
        raise OpsqaError("there are no active projects to inspect; see `opsqa projects list`")
    if not 1 <= size <= len(codes):
        raise OpsqaError(f"sample size {size} must be between 1 and the {len(codes)} active projects")
    return random.Random(seed).sample(codes, size)
