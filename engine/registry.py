"""Service-task handlers: registered by topic, called with a context, returning variables."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from datetime import datetime
from typing import Any

from sqlalchemy.orm import Session


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


Handler = Callable[[HandlerContext], "dict[str, Any] | None"]


class Registry:
    """Topic -> handler. `@registry.handler("plan.issue")` registers a function."""

    def __init__(self):
        self._handlers: dict[str, Handler] = {}

    def handler(self, topic: str) -> Callable[[Handler], Handler]:
        def register(function: Handler) -> Handler:
            if topic in self._handlers:
                raise ValueError(f"handler topic {topic!r} is registered twice")
            self._handlers[topic] = function
            return function

        return register

    def get(self, topic: str) -> Handler | None:
        return self._handlers.get(topic)

    @property
    def topics(self) -> set[str]:
        return set(self._handlers)
