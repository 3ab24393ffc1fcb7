"""The `opsqa` command line: parse, call the engine once, render. No SQL or SpiffWorkflow here.

Data goes to stdout, messages to stderr. Exit 0 ok, 1 refused (one line saying what and where,
nothing changed), 2 usage. Heavy imports happen inside commands, so `--help` is quick.

`base` holds the group and what every command shares, `terminal` what the operator types and sees;
the commands live by subject: admin, processes, tasks, scheduling, and the quality cycle's plans,
audits, customers and review.
"""

from . import admin, audits, customers, documents, drafts, plans, processes, review, scheduling, tasks, web  # noqa: F401  (their commands)
from .base import cli, main

__all__ = ["cli", "main"]
