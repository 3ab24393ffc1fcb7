"""Setting up and looking after a database: init, upgrade, copy and backup; users; settings; the history."""

from __future__ import annotations

import sys

import click

import usecases
from i18n import N_, _

from .base import ID, FilePath, State, cli, force_option, forced, json_option, pass_state
from .terminal import _cell, _print_json, _render, _summary

# -- set-up --------------------------------------------------------------------------------


@cli.command()
@pass_state
def init(state: State):
    """Create a new database; the OS user running this becomes its admin.

    Example: opsqa --db /srv/opsqa/opsqa.db init
    """
    where = usecases.admin.init(state.db, state.login)
    click.echo(_("created opsqa database at {url}; {login} is its admin").format(url=where, login=state.login),
               err=True)


@cli.group()
def db():
    """Database maintenance."""


@db.command("copy")
@click.option("--to", "target", required=True, metavar="URL", help=N_("An empty database, e.g. postgresql+psycopg://…"))
@pass_state
def db_copy(state: State, target: str):
    """Copy this database whole into an empty one (moving from SQLite to PostgreSQL), then verify its
    row counts and its history's hash chain. Stop the scheduler first.

    Example: opsqa --db opsqa.db db copy --to postgresql+psycopg://opsqa@db.example.com/opsqa
    """
    report = usecases.admin.copy(state.engine, state.caller, target)
    click.echo(_("copied {rows:,} rows in {tables} tables to {target}; history verified: {events:,} events, "
                 "head {head}").format(rows=report["rows"], tables=len(report["tables"]), target=report["target"],
                                       events=report["events"], head=report["head"][:12]))


@db.command("backup")
@click.argument("file", type=FilePath(dir_okay=False))
@force_option
@pass_state
def db_backup(state: State, file: str):
    """A consistent copy of the SQLite database, safe while the scheduler runs (SQLite's backup API).

    Example: opsqa db backup /backups/opsqa-2027-12-31.db
    """
    usecases.admin.backup(state.engine, state.caller, file, force=forced())
    click.echo(_("backed up to {file}").format(file=file), err=True)


@db.command("upgrade")
@pass_state
def db_upgrade(state: State):
    """Apply pending schema migrations (back the database up first).

    Example: opsqa db upgrade
    """
    before, after = usecases.admin.upgrade(state.db, state.caller)
    if before == after:
        message = _("schema already at revision {revision}").format(revision=after)
    else:
        message = _("schema upgraded {before} -> {after}").format(before=before, after=after)
    click.echo(message, err=True)


@db.command("check")
@pass_state
def db_check(state: State):
    """Check the database without changing it: SQLite's integrity check of the file and of the references
    between rows, then the history's hash chain. Prints "ok", or each problem; exit 1 on any. Works on a
    read-only file or a copy.

    Example: opsqa --db /backups/opsqa-2027-12-31.db db check
    """
    report = usecases.admin.check(state.db)
    if not report["problems"]:
        click.echo(_("{database}: ok (integrity check passed; history intact: {events} events)").format(
                       database=report["database"], events=report["events"]))
        return
    for problem in report["problems"]:
        click.echo(_("opsqa: {database}: {problem}").format(database=report["database"], problem=problem), err=True)
    sys.exit(1)


@cli.group()
def users():
    """opsqa users and the roles they hold (lane ids: qmd, gm, ops, pm, ...)."""


@users.command("add")
@click.argument("name")
@click.option("--role", "roles", multiple=True, required=True, help=N_("A role code; repeat for several."))
@click.option("--name", "display_name", help=N_("The person's name as shown."))
@click.option("--department", help=N_("The department the person belongs to (a role code: qmd, ops, ...)."))
@click.option("--email", help=N_("Where notifications go (new tasks, reminders, escalations)."))
@click.option("--reason", help=N_("Why (kept in the history); needed to give an existing user another role."))
@pass_state
def users_add(state: State, name: str, roles: tuple[str, ...], display_name: str | None, department: str | None,
              email: str | None, reason: str | None):
    """Add a user, or roles to an existing user (admins only; a role change takes a reason).

    Example: opsqa users add zhangsan --role qmd --name 张三 --department qmd
    """
    usecases.admin.add_user(state.engine, state.caller, name, list(roles), display_name=display_name,
                            department=department, email=email, reason=reason)
    click.echo(_("user {name} holds {roles}").format(name=name, roles=', '.join(roles)), err=True)


@users.command("passwd")
@click.argument("name")
@pass_state
def users_passwd(state: State, name: str):
    """Set a user's password for the web face (admins, or the user themselves). At a terminal it asks twice
    without echoing; otherwise it reads one line from standard input. The user's other web sessions end.

    Example: opsqa users passwd zhangsan < password.txt
    """
    if sys.stdin.isatty():
        password = click.prompt(_("New password for {name}").format(name=name), hide_input=True,
                                confirmation_prompt=_("Again"))
    else:
        password = sys.stdin.readline(2048).rstrip("\r\n")
    usecases.auth.set_password(state.engine, state.caller, name, password)
    click.echo(_("password of {name} set").format(name=name), err=True)


@users.command("totp")
@click.argument("name")
@click.option("--off", is_flag=True, help=N_("Remove the user's one-time code (admins, with a reason)."))
@click.option("--reason", help=N_("Why (kept in the history); needed with --off."))
@pass_state
def users_totp(state: State, name: str, off: bool, reason: str | None):
    """Give a user a one-time code for the web sign-in (admins, or the user themselves): prints the
    otpauth:// address to enter in an authenticator app, once. The user's other web sessions end.

    Example: opsqa users totp zhangsan
    """
    uri = usecases.auth.set_totp(state.engine, state.caller, name, off=off, reason=reason)
    if off:
        click.echo(_("one-time code of {name} removed").format(name=name), err=True)
        return
    click.echo(uri)
    click.echo(_("enter this address (or its secret) in an authenticator app; {name} then signs in with its "
                 "six-digit code").format(name=name), err=True)


@users.command("list")
@json_option
@pass_state
def users_list(state: State, as_json: bool):
    """List users and their roles.

    Example: opsqa users list --json
    """
    rows = usecases.admin.users(state.engine)
    columns = [("name", _("USER")), ("display_name", _("NAME")), ("department", _("DEPT")), ("roles", _("ROLES")),
               ("status", _("STATUS"))]
    if not as_json:
        if any(row["away"] for row in rows):  # who is away today, and who stands in
            columns.append(("away", _("AWAY")))
        for row in rows:
            row["roles"] = ", ".join(row["roles"])
            away = row.pop("away")
            row["away"] = _("away until {until}, {substitute} stands in").format(**away) if away else ""
    _render(rows, columns, as_json)


@users.command("show")
@click.argument("name")
@json_option
@pass_state
def users_show(state: State, name: str, as_json: bool):
    """Show a user: name, department, e-mail, roles, status, and the open tasks and findings they hold.

    Example: opsqa users show zhangsan
    """
    view = usecases.admin.user(state.engine, name)
    if as_json:
        _print_json(view)
        return
    click.echo(_("user {name}  {display_name}  department {department}  e-mail {email}").format(
        name=view["name"], display_name=_cell(view["display_name"]), department=_cell(view["department"]),
        email=_cell(view["email"])))
    click.echo(_("roles: {roles}").format(roles=", ".join(view["roles"]) or "-"))
    if view["disabled_at"]:
        click.echo(_("status: disabled since {at}").format(at=_cell(view["disabled_at"])))
    else:
        click.echo(_("status: active"))
    click.echo(_("open findings: {codes}").format(codes=", ".join(view["open_findings"]) or "-"))
    if view["open_tasks"]:
        click.echo(_("open tasks:"))
        _render(view["open_tasks"], [("id", _("TASK")), ("instance", _("INST")), ("name", _("NAME")),
                                     ("due_at", _("DUE"))], False)


@users.command("set")
@click.argument("name")
@click.option("--name", "display_name", help=N_("The person's name as shown (\"\" clears it)."))
@click.option("--department", help=N_("The department the person belongs to (a role code; \"\" clears it)."))
@click.option("--email", help=N_("Where notifications go (\"\" clears it: no notifications)."))
@click.option("--channel", help=N_("The channel their messages go through (\"\" clears it: e-mail)."))
@click.option("--mention", help=N_("The id that channel mentions them by: a mobile number (DingTalk), a user id "
                                   "(WeCom), an open_id (Feishu)."))
@click.option("--reason", help=N_("Why (kept in the history; needed for --name, --department and --email)."))
@pass_state
def users_set(state: State, name: str, display_name: str | None, department: str | None, email: str | None,
              channel: str | None, mention: str | None, reason: str | None):
    """Correct a user's name, department or e-mail address (admins; the old and new values are recorded); or
    set where their messages go, --channel and --mention (the user themselves, or an admin).

    Example: opsqa users set zhangsan --channel dingtalk-qa --mention 13800138000
    """
    if channel is not None or mention is not None:
        if display_name is not None or department is not None or email is not None:
            raise click.UsageError(_("--channel and --mention are set on their own, without --name, --department "
                                     "or --email"))
        route = usecases.channels.route(state.engine, state.caller, name, channel=channel, mention=mention)
        click.echo(_("user {name}: messages go through {channel} ({mention})").format(
            name=name, channel=route["channel"] or "email", mention=route["mention"] or "-"), err=True)
        return
    if display_name is None and department is None and email is None:
        raise click.UsageError(_("give --name, --department, --email, or --channel and --mention to change"))
    changed = usecases.admin.change_user(state.engine, state.caller, name, display_name=display_name,
                                         department=department, email=email, reason=reason)
    if not changed["new"]:
        click.echo(_("user {name} unchanged").format(name=name), err=True)
        return
    click.echo(_("user {name}: {changes}").format(name=name, changes="; ".join(
        f"{key} {_cell(changed['old'][key])} -> {_cell(value)}" for key, value in changed["new"].items())), err=True)


@users.command("revoke")
@click.argument("name")
@click.option("--role", required=True, help=N_("The role to take away."))
@click.option("--reason", required=True, help=N_("Why (kept in the history)."))
@pass_state
def users_revoke(state: State, name: str, role: str, reason: str):
    """Revoke a role from a user (admins). The user stays; `users add NAME --role ROLE` gives it back.

    Example: opsqa users revoke zhangsan --role qmd --reason "调离质量管理部"
    """
    left = usecases.admin.revoke_role(state.engine, state.caller, name, role, reason=reason)
    click.echo(_("user {name} no longer holds {role}; roles left: {roles}").format(
        name=name, role=role, roles=", ".join(left) or "-"), err=True)


@users.command("away")
@click.argument("name")
@click.option("--substitute", required=True, metavar="USER", help=N_("Who does NAME's tasks meanwhile."))
@click.option("--from", "starts", required=True, type=click.DateTime(["%Y-%m-%d"]), metavar="YYYY-MM-DD",
              help=N_("The first day away."))
@click.option("--to", "ends", required=True, type=click.DateTime(["%Y-%m-%d"]), metavar="YYYY-MM-DD",
              help=N_("The last day away."))
@click.option("--process", "processes", multiple=True, metavar="P",
              help=N_("Only the tasks of this process; repeatable (default: all)."))
@click.option("--reason", help=N_("Why (kept in the history)."))
@pass_state
def users_away(state: State, name: str, substitute: str, starts, ends, processes: tuple[str, ...],
               reason: str | None):
    """Record that NAME is away (代理): USER does NAME's tasks meanwhile, recorded as "USER for NAME".
    NAME still sees them. By NAME, qmd or an admin.

    Example: opsqa users away gm1 --substitute gm2 --from 2027-03-01 --to 2027-03-07 --reason 出差
    """
    result = usecases.admin.away(state.engine, state.caller, name, substitute, starts.date(), ends.date(),
                                 list(processes), reason=reason)
    click.echo(_("{user} away from {from_} to {to}: {substitute} stands in").format(
                   user=result["user"], from_=result["from"], to=result["to"], substitute=result["substitute"]),
               err=True)


@users.command("back")
@click.argument("name")
@pass_state
def users_back(state: State, name: str):
    """End NAME's absence: the substitute no longer stands in.

    Example: opsqa users back gm1
    """
    usecases.admin.back(state.engine, state.caller, name)
    click.echo(_("{name} is back").format(name=name), err=True)


@users.command("disable")
@click.argument("name")
@click.option("--reason", required=True, help=N_("Why (kept in the history)."))
@pass_state
def users_disable(state: State, name: str, reason: str):
    """Disable a user, who can then no longer act (admins). Users are never deleted; refused while the user
    holds open tasks or owns open findings, which the refusal lists. `users enable` undoes it.

    Example: opsqa users disable zhangsan --reason "离职"
    """
    usecases.admin.disable_user(state.engine, state.caller, name, reason=reason)
    click.echo(_("user {name} disabled").format(name=name), err=True)


@users.command("enable")
@click.argument("name")
@click.option("--reason", required=True, help=N_("Why (kept in the history)."))
@pass_state
def users_enable(state: State, name: str, reason: str):
    """Let a disabled user act again (admins).

    Example: opsqa users enable zhangsan --reason "返聘"
    """
    usecases.admin.enable_user(state.engine, state.caller, name, reason=reason)
    click.echo(_("user {name} enabled").format(name=name), err=True)


@cli.command()
@click.argument("key", required=False)
@click.argument("value", required=False)
@click.option("--reason", help=N_("Why (kept in the history); needed to change a setting."))
@json_option
@pass_state
def settings(state: State, key: str | None, value: str | None, reason: str | None, as_json: bool):
    """Show the settings, or change one (admins, with a reason; recorded with the old and new value).

    Example: opsqa settings timezone Asia/Shanghai --reason "总部迁至上海"
    """
    if key is not None:
        if value is None:
            raise click.UsageError(_("give a value to set, or no key to list the settings"))
        usecases.admin.change_setting(state.engine, state.caller, key, value, reason=reason)
        click.echo(f"{key} = {value}", err=True)
        return
    rows = usecases.admin.settings(state.engine)
    if not as_json:
        for row in rows:
            meaning = row["description"]  # written in engine/settings.py
            row["description"] = _(meaning)
    _render(rows, [("key", _("KEY")), ("value", _("VALUE")), ("default", _("DEFAULT")),
                   ("description", _("MEANING"))], as_json)


# -- history -------------------------------------------------------------------------------


@cli.group(invoke_without_command=True)
@click.option("--instance", "instance_id", type=ID, help=N_("Only this instance's history."))
@click.option("--limit", type=click.IntRange(1, 1_000_000), help=N_("Only the newest N events."))
@click.option("--kind", metavar="KIND", help=N_("Only events of this kind or family, e.g. security or finding."))
@json_option
@click.pass_context
def history(ctx: click.Context, instance_id: int | None, limit: int | None, kind: str | None, as_json: bool):
    """The history of changes: who did what, when. `history verify` checks it was not altered.

    Example: opsqa history --kind security
    """
    if ctx.invoked_subcommand is not None:
        return
    state: State = ctx.obj
    rows = usecases.admin.history(state.engine, instance_id=instance_id, limit=limit, kind=kind)
    if not as_json:
        for row in rows:
            if row["real_actor"]:
                row["actor"] = _("{real_actor} as {actor}").format(real_actor=row["real_actor"], actor=row["actor"])
            row["payload"] = _summary(row["payload"])
    _render(rows, [("id", "#"), ("at", _("AT")), ("instance", _("INST")), ("kind", _("EVENT")), ("actor", _("BY")),
                   ("payload", _("DETAIL"))], as_json)


@history.command("verify")
@click.option("--public-key", "public_keys", metavar="FILE", multiple=True,
              help=N_("Trust only these public keys (the copies the auditor keeps; repeat for each key the service "
                      "has had), not the keys the database records."))
@click.option("--checkpoint", metavar="FILE", help=N_("A checkpoint file kept outside the database; the history "
                                                      "must still reach it."))
@json_option
@click.pass_context
def history_verify(ctx: click.Context, public_keys: tuple[str, ...], checkpoint: str | None, as_json: bool):
    """Check the history: its hash chain, the signed checkpoints, the order of its times, and that every
    record and instance is as the history left it. Opens the database read-only (works on a copy or a
    read-only file system); exit 1 on any problem. Names the last valid checkpoint: what someone able to
    write the database could still cut unseen is the events after it.

    Example: opsqa --db copy.db history verify --public-key opsqa.pub --checkpoint 2027-12-31.checkpoint
    """
    report = usecases.admin.verify_history(ctx.obj.db, public_keys=list(public_keys), checkpoint=checkpoint)
    if as_json:
        _print_json({"intact": report.intact, "events": report.count, "records": report.records,
                     "problems": list(report.problems), "checkpoint": report.checkpoint,
                     "checkpoints": report.checkpoints, "unsigned": report.unsigned, "keys": list(report.keys)})
    else:
        for problem in report.problems:
            click.echo(_("opsqa: history: {problem}").format(problem=problem), err=True)
        if report.intact:
            click.echo(_("history intact: {count} events, {records} records").format(
                           count=report.count, records=report.records))
        if report.checkpoint:
            click.echo(_("last valid checkpoint: event {seq}, signed {at} by key {key_id}; {unsigned} events after "
                         "it").format(seq=report.checkpoint["seq"], at=report.checkpoint["at"].isoformat(
                             timespec="seconds"), key_id=report.checkpoint["key_id"], unsigned=report.unsigned))
        else:
            click.echo(_("no signed checkpoint: whoever can write the database could have rewritten all of it "
                         "(an admin sets up signing with `opsqa history keygen`)"))
    if not report.intact:
        sys.exit(1)


@history.command("keygen")
@click.option("--key", "key_file", metavar="FILE", help=N_("Where to write the private key (default: "
                                                           "$OPSQA_SIGNING_KEY, else beside a SQLite database)."))
@pass_state
def history_keygen(state: State, key_file: str | None):
    """Make the key that signs the history's checkpoints. Run it as the service account (the private key is
    readable by its owner only); give the public key (FILE.pub) to the auditor. A new key retires the last.

    Example: opsqa history keygen --key /etc/opsqa/signing.key
    """
    result = usecases.admin.history_keygen(state.engine, state.caller, key_file)
    click.echo(_("signing key {key_id} written to {key_file} (keep it readable by the service account only); "
                 "its public key: {public_key_file}").format(**result))
    if result["retired"]:
        click.echo(_("retired: {keys}").format(keys=", ".join(result["retired"])))
    click.echo(_("first checkpoint: event {seq}").format(seq=result["checkpoint"]["seq"]))


@history.command("checkpoint")
@click.option("--key", "key_file", metavar="FILE", help=N_("The private key (default: where keygen put it)."))
@click.option("--out", metavar="FILE", help=N_("Write the checkpoint to this file, for the auditor to keep."))
@click.option("--force", is_flag=True, help=N_("Replace an existing --out file."))
@json_option
@pass_state
def history_checkpoint(state: State, key_file: str | None, out: str | None, force: bool, as_json: bool):
    """Sign a checkpoint of the history as it stands with the service's key; with --out, export it.
    Without access to the key, --out exports the newest checkpoint the service signed.

    Example: opsqa history checkpoint --out /media/audit/opsqa-2027-12-31.checkpoint
    """
    result = usecases.admin.history_checkpoint(state.engine, state.caller, key_file=key_file, out=out, force=force)
    if as_json:
        _print_json(result)
        return
    click.echo(_("checkpoint: event {seq}, {head}, signed {at} by key {key_id}").format(
                   seq=result["seq"], head=result["head_hash"][:16], at=result["at"].isoformat(timespec="seconds"),
                   key_id=result["key_id"]))
    if out:
        click.echo(_("written to {file}").format(file=out))


@cli.command()
@json_option
def permissions(as_json: bool):
    """Who may do what: every action, the roles or people it needs, and whether it takes a reason.
    Reading (listings, show, reports, history verify) is open to every opsqa user.

    Example: opsqa permissions --json
    """
    rows = usecases.admin.permissions()
    if not as_json:
        for row in rows:
            row["reason"] = _("required") if row["reason"] else "-"
    _render(rows, [("action", _("ACTION")), ("who", _("WHO MAY")), ("reason", _("REASON")),
                   ("summary", _("WHAT"))], as_json)


# -- channels: where messages go


@cli.group()
def channels():
    """Where messages go: WeCom, DingTalk and Feishu group robots, and e-mail (the channel `email`)."""


def _secret(value: str | None, what: str) -> str:
    """A secret given on the command line, or read from standard input when it is `-` (kept out of the
    shell's history and the process list)."""
    if value != "-":
        return value or ""
    line = sys.stdin.readline()
    if not line.strip():
        raise click.UsageError(_("{what}: standard input gave nothing").format(what=what))
    return line.strip()


@channels.command("list")
@json_option
@pass_state
def channels_list(state: State, as_json: bool):
    """The channels, masked: no secret, password or robot token is ever shown.

    Example: opsqa channels list
    """
    rows = usecases.channels.channels(state.engine)
    if as_json:
        return _print_json(rows)
    for row in rows:
        row["where"] = row.get("url") or (f"{row['host']}:{row['port']}" if row.get("host") else "-")
        row["who"] = ", ".join([*row["users"], *(f"@{role}" for role in row["roles"])]) or "-"
        row["state"] = _("set up") if row["set_up"] else _("not set up")
    _render(rows, [("name", _("NAME")), ("kind", _("KIND")), ("state", _("STATE")), ("where", _("WHERE")),
                   ("who", _("WHO")), ("waiting", _("WAITING"))], False)


@channels.command("add")
@click.argument("name")
@click.option("--kind", required=True, type=click.Choice(["wecom", "dingtalk", "feishu", "email"]),
              help=N_("What the channel is."))
@click.option("--url", default="", help=N_("A robot's webhook URL."))
@click.option("--secret", help=N_("A DingTalk or Feishu robot's signing secret (- reads it from standard input)."))
@click.option("--host", default="", help=N_("E-mail: the SMTP server."))
@click.option("--port", type=click.IntRange(1, 65535), default=25, show_default=True, help=N_("E-mail: its port."))
@click.option("--from", "sender", default="", help=N_("E-mail: the sender's address."))
@click.option("--user", default="", help=N_("E-mail: the login, when the server asks for one."))
@click.option("--password", help=N_("E-mail: the login's password (- reads it from standard input)."))
@click.option("--starttls", is_flag=True, help=N_("E-mail: encrypt with STARTTLS."))
@click.option("--replace", is_flag=True, help=N_("Set an existing channel anew (its users keep it)."))
@pass_state
def channels_add(state: State, name: str, kind: str, url: str, secret: str | None, host: str, port: int, sender: str,
                 user: str, password: str | None, starttls: bool, replace: bool):
    """Add a channel (admins): a group robot, or e-mail through an SMTP server.

    Example: opsqa channels add qa --kind dingtalk --url https://oapi.dingtalk.com/robot/send?access_token=… --secret -
    """
    shown = usecases.channels.add(state.engine, state.caller, name=name, kind=kind, url=url,
                                  secret=_secret(secret, "--secret"), host=host, port=port, sender=sender, user=user,
                                  password=_secret(password, "--password"), starttls=starttls, replace=replace)
    click.echo(_("channel {name} ({kind}) {done}: {where}").format(
        name=shown["name"], kind=shown["kind"], done=_("set anew") if replace else _("added"),
        where=shown.get("url") or f"{shown.get('host')}:{shown.get('port')}"), err=True)


@channels.command("remove")
@click.argument("name")
@pass_state
def channels_remove(state: State, name: str):
    """Remove a channel nobody uses and no message waits for (admins).

    Example: opsqa channels remove wecom-old
    """
    usecases.channels.remove(state.engine, state.caller, name)
    click.echo(_("channel {name} removed").format(name=name), err=True)


@channels.command("role")
@click.argument("role")
@click.option("--channel", help=N_("The group robot the role's messages go to."))
@click.option("--none", "clear", is_flag=True, help=N_("No group channel: tell the members one by one."))
@pass_state
def channels_role(state: State, role: str, channel: str | None, clear: bool):
    """Set a role's group channel: its unheld tasks are posted there once instead of to each member (admins).

    Example: opsqa channels role qmd --channel wecom-qmd
    """
    if (channel is None) == (not clear):
        raise click.UsageError(_("give --channel NAME or --none"))
    usecases.channels.role(state.engine, state.caller, role, None if clear else channel)
    click.echo(_("role {role}: {channel}").format(role=role, channel=channel or _("no group channel")), err=True)


@channels.command("test")
@click.argument("name")
@click.option("--to", metavar="USER", help=N_("Mention this user (for e-mail: send to them)."))
@pass_state
def channels_test(state: State, name: str, to: str | None):
    """Send a test message through a channel now, and say whether it arrived (admins).

    Example: opsqa channels test dingtalk-qa --to zhangsan
    """
    result = usecases.channels.test(state.engine, state.caller, name, to=to)
    if not result["ok"]:
        raise usecases.OpsqaError(_("channel {name}: the test message failed: {error}").format(
            name=name, error=result["error"]))
    click.echo(_("channel {name}: the test message went out (消息编号 {reference})").format(
        name=name, reference=result["reference"]), err=True)
