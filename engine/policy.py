"""Who may do what: one table of every action a person takes, and the one function that asks it.

Faces never test a role; use cases ask `require(actor, action, **facts)` and the domain asks it where the
facts live (a finding's owner, an audit's team). A refusal is `Denied`, one line naming the action and
the rule: `deploy needs role po or admin; pm1 holds pm`. The table is printed by `opsqa permissions`.

Reading (listings, `show`, reports, `history verify`) is open to every opsqa user and is not listed.
"""

from __future__ import annotations

from collections.abc import Collection
from dataclasses import dataclass
from typing import Any

from i18n import N_, _

from .errors import Denied, NotYourTask, OpsqaError

ADMIN = "admin"

# Facts a rule may name: the people a record points at. The label says who they are, in a rule's words.
PEOPLE = {
    "owner": N_("the finding's owner"),
    "auditor": N_("the unit's auditor on the audit team"),
    "claimer": N_("whoever claimed the task"),
    "holder": N_("whoever holds the task (its assignee, or whoever claimed it)"),
    "starter": N_("whoever started the task's instance"),
    "delegate": N_("whoever the task was delegated to"),
    "completer": N_("whoever completed the task"),
    "signer": N_("a user asked to sign the task who has not yet decided"),
    "inspector": N_("the inspection's inspector"),
    "user": N_("the user themselves"),
}


@dataclass(frozen=True)
class Rule:
    """Who may take an action: anyone holding one of `roles`, or the person a fact in `people` names;
    never the person a fact in `never` names, whatever their roles. `reason`: a reason is required.
    `task`: the task's own rule (its assignee; else whoever claimed it; else its lane's role)."""

    summary: str
    roles: tuple[str, ...] = ()
    people: tuple[str, ...] = ()
    never: tuple[str, ...] = ()
    reason: bool = False
    task: bool = False
    anyone: bool = False


POLICY: dict[str, Rule] = {
    # processes and instances
    "deploy": Rule(N_("deploy a new version of a process"), ("po", ADMIN), reason=True),
    "drafts": Rule(N_("save, check, try or discard a draft of a process in the browser (deploying it is deploy)"),
                   ("po", ADMIN)),
    "instance.migrate": Rule(N_("move running instances to another version, or back (a dry run needs no reason)"),
                             ("po", ADMIN), reason=True),
    "instance.cancel": Rule(N_("cancel a running instance"), (ADMIN, "qmd"), reason=True),
    "instance.retry": Rule(N_("re-run a failed service task"), (ADMIN, "qmd"), reason=True),
    "start": Rule(N_("start an instance of a process no domain record owns"), anyone=True),
    # time
    "tick.now": Rule(N_("run a scheduler pass at a given time (never ahead of the real clock)"), (ADMIN,)),
    # administration
    "users": Rule(N_("add a user"), (ADMIN,)),
    "users.grant": Rule(N_("give an existing user another role"), (ADMIN,), reason=True),
    "users.fix": Rule(N_("correct a user's name, department or e-mail address"), (ADMIN,), reason=True),
    "users.revoke": Rule(N_("revoke a role from a user"), (ADMIN,), reason=True),
    "users.disable": Rule(N_("disable a user (never deleted), or enable them again"), (ADMIN,), reason=True),
    "users.passwd": Rule(N_("set a user's password or one-time code for the web face"), (ADMIN,), people=("user",)),
    "users.totp_off": Rule(N_("remove a user's one-time code"), (ADMIN,), reason=True),
    "users.away": Rule(N_("record who stands in for someone away (代理), or end it"), (ADMIN, "qmd"),
                       people=("user",)),
    "users.channel": Rule(N_("set where a user's messages go: their channel and the id it mentions"), (ADMIN,),
                          people=("user",)),
    "channels": Rule(N_("add, change or remove a message channel (robot or e-mail), set a role's group channel, or "
                        "send a test message"), (ADMIN,)),
    "settings": Rule(N_("change a setting"), (ADMIN,), reason=True),
    "documents.issue": Rule(N_("issue the controlled copies of documents (registered, numbered and versioned)"),
                            ("qmd",)),
    "db": Rule(N_("upgrade, copy or back up the database"), (ADMIN,)),
    "history.keygen": Rule(N_("make the key that signs the history's checkpoints (retiring the last)"), (ADMIN,)),
    "history.checkpoint": Rule(N_("sign a checkpoint of the history with the service's key, or export one"),
                               (ADMIN, "qmd")),
    # tasks
    "task.complete": Rule(N_("complete a user task"), task=True),
    "task.claim": Rule(N_("claim a role task"), task=True),
    "task.unclaim": Rule(N_("release a claimed task"), (ADMIN,), people=("claimer",)),
    "task.transfer": Rule(N_("hand a task over to another user who may do it (转办)"), ("qmd", ADMIN),
                          people=("holder",), reason=True),
    "task.remind": Rule(N_("remind whoever holds a task, at most once a day (催办)"), ("qmd", ADMIN),
                        people=("starter",)),
    "task.delegate": Rule(N_("delegate a task you hold: the other does the work and hands it back to you (委派)"),
                          people=("holder",)),
    "task.resolve": Rule(N_("hand a delegated task back to whoever delegated it"), people=("delegate",)),
    "task.send_back": Rule(N_("send an instance back from this task to an earlier step it passed (退回)"), task=True,
                           reason=True),
    "task.withdraw": Rule(N_("take back a task you completed while the next step has not moved (撤回)"),
                          people=("completer",)),
    "task.add_signer": Rule(N_("ask other users to sign a task before it counts as done (加签)"), ("qmd", ADMIN),
                            task=True, reason=True),
    "task.sign": Rule(N_("approve or reject a task you were asked to sign (加签)"), people=("signer",)),
    "task.cc": Rule(N_("copy a task to users who should know (抄送): they see it read-only and are told"),
                    ("qmd", ADMIN), people=("holder", "starter")),
    # findings
    "finding.raise": Rule(N_("raise a finding by hand"), ("qmd", ADMIN)),
    "finding.attach": Rule(N_("attach evidence to a finding"), ("qmd", ADMIN), people=("owner",)),
    "finding.extend": Rule(N_("extend a finding's due date"), ("qmd", ADMIN), reason=True),
    "finding.verify": Rule(N_("verify a finding's rectification"), ("qmd",), never=("owner",)),
    # audits and inspections
    "auditor.add": Rule(N_("register a qualified internal auditor"), ("qmd", ADMIN)),
    "auditor.renew": Rule(N_("renew or correct an auditor's qualification"), ("qmd", ADMIN), reason=True),
    "audit.plan": Rule(N_("plan an internal audit"), ("qmd", ADMIN)),
    "audit.record": Rule(N_("record a checklist result of an audit"), people=("auditor",)),
    "inspection.start": Rule(N_("start a random service inspection"), ("oms", "qmd", ADMIN)),
    "inspection.name": Rule(N_("start a service inspection of named projects"), ("qmd", ADMIN)),
    "inspection.record": Rule(N_("record a check point of a service inspection"), people=("inspector",)),
    # plans and projects
    "project.edit": Rule(N_("add, import or change O&M projects"), ("ops", "qmd", ADMIN)),
    "project.fix": Rule(N_("correct a project of the register"), ("ops", "qmd", ADMIN), reason=True),
    "project.plan": Rule(N_("start a project's quality control for a year"), ("ops", ADMIN)),
    "cycle.start": Rule(N_("start a year's annual cycle by hand"), ("qmd", ADMIN)),
    "plan.revise": Rule(N_("revise an issued quality plan (a new edition, approved again)"), ("qmd", ADMIN),
                        reason=True),
    # customers
    "complaint.add": Rule(N_("register a complaint"), ("pm", "ops", "qmd", "ogm", "oms", ADMIN)),
    "complaint.close_major": Rule(N_("close a major complaint after the callback"), ("ogm", ADMIN)),
    "survey.start": Rule(N_("start a year's satisfaction survey"), ("qmd", ADMIN)),
    "survey.responses": Rule(N_("invite customers and import or enter their answers"), ("qmd", "ops", ADMIN)),
    # review and improvement
    "review.start": Rule(N_("initiate the management review"), ("mr", ADMIN)),
    "indicator.define": Rule(N_("define an indicator and its target"), ("qmd", ADMIN)),
    "indicator.record": Rule(N_("record an indicator's value"), ("qmd", "ops", "pm", ADMIN)),
    "improvement.set": Rule(N_("plan an improvement item (cause, measure, owner, due date)"), ("ops", "qmd", ADMIN)),
}


def rule(action: str) -> Rule:
    try:
        return POLICY[action]
    except KeyError:  # a use case naming an action the table lacks is a bug, not a refusal
        raise KeyError(f"no rule for action {action!r} in engine/policy.py") from None


def allows(actor, action: str, **facts: Any) -> bool:
    try:
        require(actor, action, **facts)
    except Denied:
        return False
    return True


def require(actor, action: str, **facts: Any) -> None:
    """Refuse (`Denied`) unless the table lets `actor` take `action`. Facts name the people a rule
    refers to (owner=..., auditor=[...]) and, for task rules, the task (task=the task row)."""
    entry = rule(action)
    for fact in entry.never:
        if actor.name in _names(facts.get(fact)):
            raise Denied(_("{action}: {who} may never do it, and {name} is").format(
                action=action, who=_(PEOPLE[fact]), name=actor.name), action=action)
    if entry.anyone or set(entry.roles) & actor.roles:
        return
    if any(actor.name in _names(facts.get(fact)) for fact in entry.people):
        return
    if entry.task:
        _require_task(actor, facts["task"], action)
        return
    raise Denied(_("{action} needs {who}; {name} {holds}").format(
        action=action, who=describe(entry), name=actor.name, holds=_holding(actor)), action=action)


def require_reason(action: str, reason: str | None) -> str | None:
    """The reason, stripped; refused when the table says the action needs one and none is given."""
    reason = (reason or "").strip() or None
    if reason is None and rule(action).reason:
        raise OpsqaError(_("{action} needs a reason (why, kept in the history)").format(action=action))
    return reason


def describe(entry: Rule) -> str:
    """Who a rule lets act, in words: `role po or admin`, `the finding's owner, or role qmd or admin`."""
    if entry.anyone:
        return _("every opsqa user")
    if entry.task:
        text = _("the task's assignee; else whoever claimed it; else a holder of its lane's role")
        return text + (_(", or role {roles}").format(roles=_(" or ").join(entry.roles)) if entry.roles else "")
    parts = [_(PEOPLE[fact]) for fact in entry.people]
    if entry.roles:
        parts.append(_("role {roles}").format(roles=_(" or ").join(entry.roles)))
    text = _(", or ").join(parts)
    for fact in entry.never:
        text += _(", never {who}").format(who=_(PEOPLE[fact]))
    return text


def table() -> list[dict[str, Any]]:
    """The policy as rows, for `opsqa permissions` (English ids; `who` and `summary` in the chosen language)."""
    return [{"action": action, "summary": _(entry.summary), "who": describe(entry), "roles": list(entry.roles),
             "people": list(entry.people), "never": list(entry.never), "task_rule": entry.task,
             "anyone": entry.anyone, "reason": entry.reason}
            for action, entry in POLICY.items()]


def standing_in_for(actor, task) -> str | None:
    """代理: the person away for whom `actor` may do `task` today (the task theirs by its own rule, of a
    process the absence names), when `actor` may not do it themselves; else None."""
    if _task_refusal(actor, task) is None:
        return None
    for name, roles, processes in getattr(actor, "stands_in", ()):
        if processes is not None and task.process_id not in processes:
            continue
        if _task_refusal(type(actor)(name, roles), task) is None:
            return name
    return None


def _require_task(actor, task, action: str) -> None:
    why = _task_refusal(actor, task)
    if why is None or standing_in_for(actor, task) is not None:
        return
    raise NotYourTask(f"{action}: {why}", action=action)


def _task_refusal(actor, task) -> str | None:
    """Why the task's own rule does not let `actor` do it (its assignee; else whoever claimed it; else its
    lane's role), or None."""
    if task.assignee and task.assignee != actor.name:
        why = _("task {id} ({name}) is assigned to {assignee}").format(id=task.id, name=task.name,
                                                                        assignee=task.assignee)
    elif task.claimed_by and task.claimed_by != actor.name:
        why = _("task {id} ({name}) is claimed by {claimed_by}").format(id=task.id, name=task.name,
                                                                         claimed_by=task.claimed_by)
    elif not task.assignee and task.role is not None and task.role not in actor.roles:
        why = _("task {id} ({name}) needs role {role}, which {user} does not hold").format(
            id=task.id, name=task.name, role=task.role, user=actor.name)
    elif not task.assignee and task.role is None and ADMIN not in actor.roles:
        why = _("task {id} ({name}) has no role; only an admin may complete it").format(id=task.id, name=task.name)
    else:
        return None
    return why


def _names(value) -> Collection[str]:
    if value is None:
        return ()
    return (value,) if isinstance(value, str) else value


def _holding(actor) -> str:
    if not actor.roles:
        return _("holds no role")
    return _("holds {roles}").format(roles=", ".join(sorted(actor.roles)))
