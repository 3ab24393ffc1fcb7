"""The errors people see. Each renders as one line saying what was wrong and where."""

from __future__ import annotations

from datetime import datetime, tzinfo

from i18n import _


class OpsqaError(Exception):
    """opsqa refused the request."""

    def __init__(self, message: str | None = None):
        super().__init__(message or _((self.__doc__ or "").strip()))


class InvalidProcess(OpsqaError):
    """A BPMN file cannot be deployed."""

    def __init__(self, message: str, *, file: str, element: str | None = None, line: int | None = None):
        where = file
        if line:
            where += f":{line}"
        if element:
            where += f" [{element}]"
        super().__init__(f"{where}: {message}")
        self.file, self.element, self.line, self.message = file, element, line, message


class ProcessNotFound(OpsqaError):
    """No such process is deployed."""


class InstanceNotFound(OpsqaError):
    """No such instance."""


class DuplicateBusinessKey(OpsqaError):
    """An instance with this business key already exists."""


class InstanceChanged(OpsqaError):
    """Another writer saved the instance between this one's load and save (the optimistic lock)."""


class InstanceNotRunning(OpsqaError):
    """The instance is not running."""


class TaskNotFound(OpsqaError):
    """No such task."""


class TaskNotReady(OpsqaError):
    """The task is not ready."""


class TaskAlreadyCompleted(OpsqaError):
    """Someone else completed the task first."""

    def __init__(self, task: str, by: str | None, at: datetime | None, *, zone: tzinfo):
        from .clock import local_time

        by = by or _("someone else")
        if at:
            message = _("task {task} was already completed by {by} at {at}").format(
                task=task, by=by, at=local_time(at, zone))
        else:
            message = _("task {task} was already completed by {by}").format(task=task, by=by)
        super().__init__(message)
        self.by, self.at = by, at




class InvalidFormValue(OpsqaError):
    """A form value is not acceptable."""

    def __init__(self, task: str, field: str, reason: str, *, problems: dict[str, str] | None = None):
        super().__init__(_("task {task}, field {field}: {reason}").format(task=task, field=field, reason=reason))
        self.task, self.field = task, field
        self.problems = problems or {}  # every problem of the form: field id -> reason


class UnknownUser(OpsqaError):
    """No such opsqa user."""


class NotPermitted(OpsqaError):
    """You may not do that."""


class Denied(NotPermitted):
    """The permission policy does not let this user take this action (engine/policy.py)."""

    def __init__(self, message: str, *, action: str):
        super().__init__(message)
        self.action = action


class NotYourTask(Denied):
    """The task belongs to someone else."""


class HandlerFailed(OpsqaError):
    """A service-task handler failed."""


class InvalidExpression(OpsqaError):
    """An expression cannot be evaluated."""


class RunawayStep(OpsqaError):
    """A step that would not come to rest: a loop with no user task, timer or message in it, or one that
    builds more tasks than an instance can hold. Nothing of the step is kept; the instance gets an incident."""
