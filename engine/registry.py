"""Service-task handlers: registered by topic, called with a context, returning variables."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from datetime import datetime
from typing import Any

from sqlalchemy.orm import Session

from i18n import _


@dataclass(frozen=True)
class HandlerContext:
    """What a handler gets: the step's session (its writes commit with the step), the time,
    who caused the step, the instance and a copy of the task's variables."""

    session: Session
    now: datetime
    actor: str
    instance_id: int
    business_key: str
    process_id: str
    task: str  # the service task's BPMN id
    variables: dict[str, Any]
    # Starts another process's instance in this step's transaction (work that outlives its caller,
    # such as a finding's follow-up, is its own instance): (process, business key, variables) -> id.
    start_instance: Callable[[str, str, dict[str, Any]], int] | None = None
    # Queues an e-mail to a user (delivered by a worker, at least once): (user, subject, body) -> queued?
    notify: Callable[..., bool] | None = None  # (user, subject, body, path=the record's web page)
    # Who caused the step with their roles, for a check that asks the permission policy (engine/policy.py)
    person: Any = None
    # Changes variables another waiting instance's date timers are computed from and re-arms them, in this
    # step's transaction (a revised plan moves its year's cycle): (instance id, variables, reason) -> timers.
    rearm_instance: Callable[[int, dict[str, Any], str], list[dict[str, Any]]] | None = None


Handler = Callable[[HandlerContext], "dict[str, Any] | None"]


class Registry:
    """Topic -> handler. `@registry.handler("plan.issue")` registers a function."""

    def __init__(self, loader: Callable[[], None] | None = None):
        """`loader`, when given, registers the handlers on first use (imports their modules): a command
        that runs no service task and no check never pays for importing the domain."""
        self._handlers: dict[str, Handler] = {}
        self._checks: dict[str, Handler] = {}
        self._owned: dict[str, str] = {}
        self._on_cancel: dict[str, Callable[..., None]] = {}
        self._before_start: dict[str, Callable[..., None]] = {}
        self._loader = loader

    def _load(self) -> None:
        if self._loader is not None:
            loader, self._loader = self._loader, None
            loader()

    def handler(self, topic: str) -> Callable[[Handler], Handler]:
        def register(function: Handler) -> Handler:
            if topic in self._handlers:
                raise ValueError(_("handler topic {topic!r} is registered twice").format(topic=topic))
            self._handlers[topic] = function
            return function

        return register

    def check(self, name: str) -> Callable[[Handler], Handler]:
        """Register a completion check: a user task naming it (camunda:property check=NAME) is refused
        when the check raises, with the check's message; nothing is changed."""

        def register(function: Handler) -> Handler:
            if name in self._checks:
                raise ValueError(_("check {name!r} is registered twice").format(name=name))
            self._checks[name] = function
            return function

        return register

    def owns(self, process_id: str, command: str) -> None:
        """Declare that instances of `process_id` belong to a domain record and start only through its
        domain path, `command` (the pointer a refused `opsqa start` gives). The engine's own start —
        handlers, the scheduler, scenarios, tests — is not refused."""
        self._owned[process_id] = command

    def on_cancel(self, process_id: str):
        """Register what closes the domain record of a cancelled `process_id` instance, in the cancelling
        transaction: `function(session, instance_id, now=, actor=, reason=)`. No record is left stranded
        (a finding open for ever, with no reminder and no escalation)."""

        def register(function):
            if process_id in self._on_cancel:  # as for handlers and checks: a second one would replace the first
                raise ValueError(_("a cancel hook for {process_id!r} is registered twice").format(
                                     process_id=process_id))
            self._on_cancel[process_id] = function
            return function

        return register

    def cancel_hook(self, process_id: str):
        self._load()
        return self._on_cancel.get(process_id)

    def before_start(self, process_id: str):
        """Register what every start of `process_id` must pass — the engine's own start too (handlers, the
        scheduler, scenarios, tests) — in the starting transaction: `function(session, business_key=,
        variables=)` raises DuplicateBusinessKey naming the record that exists already (a year's quality plan
        is made once, whichever way its instance was started)."""

        def register(function):
            self._before_start[process_id] = function
            return function

        return register

    def start_guard(self, process_id: str):
        self._load()
        return self._before_start.get(process_id)

    def owner_command(self, process_id: str) -> str | None:
        """The domain command that starts `process_id`, if a domain record owns its instances."""
        self._load()
        return self._owned.get(process_id)

    def get(self, topic: str) -> Handler | None:
        self._load()
        return self._handlers.get(topic)

    def get_check(self, name: str) -> Handler | None:
        self._load()
        return self._checks.get(name)

    @property
    def topics(self) -> set[str]:
        self._load()
        return set(self._handlers)

    @property
    def checks(self) -> set[str]:
        self._load()
        return set(self._checks)
