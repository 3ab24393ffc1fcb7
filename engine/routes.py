"""Where messages go: the channels (group robots and e-mail), each user's channel and the id it mentions,
and each role's group channel. Every change is one use case's transaction, asked of the policy, recorded in
the history without its secrets; `channels list` shows a channel masked (engine/channels.py)."""

from __future__ import annotations

import re
from datetime import datetime

from sqlalchemy import func, select
from sqlalchemy.orm import Session

from i18n import N_, _
from store import Channel, Job, RoleChannel, User, UserRole, append_event

from . import channels, policy, settings
from .errors import OpsqaError
from .outbox import EMAIL, counts, stored_channel
from .users import Actor, get_user

# What each kind mentions: DingTalk a mobile number, WeCom a user id, Feishu an open_id, e-mail an address.
_MENTIONS = {"dingtalk": (re.compile(r"\+?[0-9][0-9-]{4,19}"), N_("a mobile number such as 13800138000")),
             "wecom": (re.compile(r"[A-Za-z0-9_.@-]{1,64}"), N_("a WeCom user id such as ZhangSan")),
             "feishu": (re.compile(r"ou_[A-Za-z0-9]{1,64}"), N_("a Feishu open_id such as ou_7d8a6e6df76215")),
             "email": (re.compile(r"[^@\s,;<>\"]+@[^@\s,;<>\"]+"), N_("an e-mail address"))}


def add_channel(session: Session, channel: channels.Channel, *, replace: bool, now: datetime,
                actor: Actor) -> dict:
    """Add a channel, or with `replace` set an existing one anew (its users and roles keep it)."""
    policy.require(actor, "channels")
    channels.validate(channel)
    if channel.name == EMAIL and channel.kind != "email":
        raise OpsqaError(_("the channel email is the e-mail channel; give a robot another name"))
    row = session.get(Channel, channel.name)
    if row is not None and not replace:
        raise OpsqaError(_("there is a channel {name} already; add --replace to set it anew").format(
                             name=channel.name))
    if row is not None and row.kind != channel.kind:
        users = _users_of(session, channel.name)
        if users:
            raise OpsqaError(_("channel {name} is {kind}; {users} mention ids of that kind: map them to another "
                               "channel before changing its kind").format(name=channel.name, kind=row.kind,
                                                                          users=", ".join(users[:10])))
    if row is None:
        row = Channel(name=channel.name, created_by=actor.name, created_at=now, recent="[]")
        session.add(row)
    row.kind, row.url, row.secret, row.host, row.port = (channel.kind, channel.url, channel.secret, channel.host,
                                                         channel.port)
    row.sender, row.login, row.password, row.starttls = (channel.sender, channel.user, channel.password,
                                                         channel.starttls)
    shown = channels.masked(channel)
    append_event(session, at=now, kind="channel.changed" if replace else "channel.added", actor=actor.name,
                 real_actor=actor.real, payload=shown)
    return shown


def remove_channel(session: Session, name: str, *, now: datetime, actor: Actor) -> None:
    """Remove a channel nobody uses: refused while users or roles are mapped to it or messages wait for it."""
    policy.require(actor, "channels")
    row = _get(session, name)
    users, roles = _users_of(session, name), _roles_of(session, name)
    if users or roles:
        raise OpsqaError(_("channel {name} is used by {who}; map them to another channel first").format(
                             name=name, who=", ".join([*users[:10], *(f"@{role}" for role in roles)])))
    waiting = session.scalar(select(func.count()).select_from(Job).where(
        Job.kind == "message", Job.key.startswith(f"msg:{name}:", autoescape=True)))
    if waiting:
        raise OpsqaError(_("{count} messages wait to go through channel {name}; they would be lost").format(
                             count=waiting, name=name))
    session.delete(row)
    append_event(session, at=now, kind="channel.removed", actor=actor.name, real_actor=actor.real,
                 payload={"name": name, "kind": row.kind})


def list_channels(session: Session) -> list[dict]:
    """Every channel, masked, with who uses it and how many messages wait for it; the e-mail channel always
    (users with an address and no channel get it), as `not set up` until it is."""
    waiting = counts(session)
    rows = {row.name: row for row in session.scalars(select(Channel).order_by(Channel.name))}
    listed = []
    for name in sorted(set(rows) | {EMAIL}):
        row = rows.get(name)
        shown = channels.masked(stored_channel(row)) if row is not None else {"name": EMAIL, "kind": "email"}
        shown["set_up"] = row is not None
        shown["users"] = _users_of(session, name)
        if name == EMAIL:
            shown["users"] += sorted(session.scalars(select(User.name).where(
                User.channel.is_(None), User.email.is_not(None), User.disabled_at.is_(None))))
        shown["roles"] = _roles_of(session, name)
        shown["waiting"] = waiting.get(name, 0)
        listed.append(shown)
    return listed


def role_channels(session: Session) -> list[dict]:
    """Every role someone holds, with how many hold it and its group channel (None: told one by one)."""
    members = dict(session.execute(select(UserRole.role, func.count()).group_by(UserRole.role)).all())
    chosen = dict(session.execute(select(RoleChannel.role, RoleChannel.channel)).all())
    return [{"role": role, "members": members[role], "channel": chosen.get(role)} for role in sorted(members)]


def set_role_channel(session: Session, role: str, channel: str | None, *, now: datetime, actor: Actor) -> None:
    """A role's group channel (None: its members are told one by one)."""
    policy.require(actor, "channels")
    if not session.scalar(select(UserRole.role).where(UserRole.role == role).limit(1)):
        raise OpsqaError(_("nobody holds role {role}; see `opsqa users list`").format(role=role))
    row = session.get(RoleChannel, role)
    if channel is None:
        if row is None:
            raise OpsqaError(_("role {role} has no group channel").format(role=role))
        session.delete(row)
    else:
        target = _get(session, channel)
        if target.kind == "email":
            raise OpsqaError(_("a role's group channel is a robot; {name} is e-mail").format(name=channel))
        if row is None:
            session.add(RoleChannel(role=role, channel=channel))
        else:
            row.channel = channel
    append_event(session, at=now, kind="channel.role", actor=actor.name, real_actor=actor.real,
                 payload={"role": role, "channel": channel, "old": row.channel if row is not None else None})


def set_user_route(session: Session, name: str, channel: str | None, mention: str | None, *, now: datetime,
                   actor: Actor) -> dict:
    """Where a user's messages go: a channel and the id it mentions ("" for the channel: back to e-mail)."""
    user = get_user(session, name)
    old = {"channel": user.channel, "mention": user.mention}
    if channel is not None:
        user.channel = channel.strip() or None
    if mention is not None:
        user.mention = mention.strip() or None
    if user.channel is not None:
        row = session.get(Channel, user.channel)
        kind = row.kind if row is not None else "email" if user.channel == EMAIL else _get(session, user.channel).kind
        if kind == "email" and user.mention is None:
            user.mention = user.email
        pattern, example = _MENTIONS[kind]
        if user.mention is None:
            raise OpsqaError(_("give --mention: the id channel {channel} mentions {name} by ({example})").format(
                                 channel=user.channel, name=name, example=_(example)))
        if not pattern.fullmatch(user.mention):
            raise OpsqaError(_("mention {mention!r} is not {example}, which channel {channel} needs").format(
                                 mention=user.mention[:80], example=_(example), channel=user.channel))
    else:
        user.mention = None
    new = {"channel": user.channel, "mention": user.mention}
    if new != old:
        append_event(session, at=now, kind="user.route", actor=actor.name, real_actor=actor.real,
                     payload={"user": name, "old": old, "new": new})
    return new


def channel_of(session: Session, name: str) -> channels.Channel:
    return stored_channel(_get(session, name))


def test_message(session: Session, name: str, to: str | None, *, now: datetime) -> tuple[channels.Channel,
                                                                                          channels.Message]:
    """The channel and a test message for it (mentioning `to` by their id on it), refused on a simulated
    database, which never reaches real people."""
    if settings.simulated_time(session) is not None:
        raise OpsqaError(_("this database runs a simulated year: it sends nothing, not even a test message"))
    channel = channel_of(session, name)
    mention = ""
    if to is not None:
        user = get_user(session, to)
        mention = (user.mention if user.channel == name else user.email if channel.kind == "email" else None) or ""
        if not mention:
            raise OpsqaError(_("{user} is not reached through channel {name}").format(user=to, name=name))
    elif channel.kind == "email":
        raise OpsqaError(_("name who receives the test e-mail: --to USER"))
    base_url = settings.get(session, "base_url")
    return channel, channels.Message(key=f"test:{name}:{now.isoformat()}", title="opsqa 测试消息",
                                     lines=("收到这条消息，说明此通道可以使用。",), mention=mention,
                                     link=f"{base_url}/" if base_url else "")


def record_test(session: Session, name: str, to: str | None, error: str | None, reference: str, *, now: datetime,
                actor: Actor) -> None:
    append_event(session, at=now, kind="channel.tested", actor=actor.name, real_actor=actor.real,
                 payload={"name": name, "to": to, "error": error, "reference": reference})


def _get(session: Session, name: str) -> Channel:
    row = session.get(Channel, name)
    if row is None:
        raise OpsqaError(_("no channel {name!r}; see `opsqa channels list`").format(name=name[:64]))
    return row


def _users_of(session: Session, name: str) -> list[str]:
    return sorted(session.scalars(select(User.name).where(User.channel == name)))


def _roles_of(session: Session, name: str) -> list[str]:
    return sorted(session.scalars(select(RoleChannel.role).where(RoleChannel.channel == name)))
