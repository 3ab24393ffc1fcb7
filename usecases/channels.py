"""Where messages go: the channels (WeCom, DingTalk and Feishu robots, e-mail), each user's channel and
mention, each role's group channel, and a test message (engine/routes.py; sending in engine/channels.py)."""

from __future__ import annotations

from typing import Any

from engine import Engine

from .base import acting, authorized, reading
from .caller import Caller


def channels(engine: Engine) -> list[dict[str, Any]]:
    """Every channel, masked (never a secret, a password or a robot's token), with its users, roles and
    waiting messages."""
    from engine.routes import list_channels

    with reading(engine) as session:
        return list_channels(session)


def role_channels(engine: Engine) -> list[dict[str, Any]]:
    """Every role someone holds, with its number of members and its group channel, if any."""
    from engine import routes

    with reading(engine) as session:
        return routes.role_channels(session)


def add(engine: Engine, caller: Caller, *, name: str, kind: str, url: str = "", secret: str = "", host: str = "",
        port: int = 25, sender: str = "", user: str = "", password: str = "", starttls: bool = False,
        replace: bool = False) -> dict[str, Any]:
    """Add a channel (admins), or set one anew with `replace`; refused in one line when it could not work."""
    from engine.channels import Channel
    from engine.routes import add_channel

    channel = Channel(name=name.strip(), kind=kind.strip(), url=url.strip(), secret=secret.strip(), host=host.strip(),
                      port=port, sender=sender.strip(), user=user.strip(), password=password, starttls=starttls)
    with acting(engine, caller, "channels") as act:
        return add_channel(act.session, channel, replace=replace, now=act.now, actor=act.actor)


def remove(engine: Engine, caller: Caller, name: str) -> None:
    """Remove a channel nobody uses and no message waits for (admins)."""
    from engine.routes import remove_channel

    with acting(engine, caller, "channels") as act:
        remove_channel(act.session, name.strip(), now=act.now, actor=act.actor)


def role(engine: Engine, caller: Caller, role_name: str, channel: str | None) -> None:
    """A role's group channel, or none (admins)."""
    from engine.routes import set_role_channel

    with acting(engine, caller, "channels") as act:
        set_role_channel(act.session, role_name.strip(), channel.strip() if channel else None, now=act.now,
                         actor=act.actor)


def route(engine: Engine, caller: Caller, name: str, *, channel: str | None, mention: str | None) -> dict[str, Any]:
    """Where a user's messages go (the user themselves, or an admin)."""
    from engine.routes import set_user_route

    with acting(engine, caller, "users.channel", user=name) as act:
        return set_user_route(act.session, name, channel, mention, now=act.now, actor=act.actor)


def test(engine: Engine, caller: Caller, name: str, *, to: str | None = None) -> dict[str, Any]:
    """Send a test message through a channel now (admins), outside the outbox: {"ok", "error", "reference"}.
    Recorded in the history either way."""
    from engine.channels import ChannelError, DeliveryFailed, reference, send
    from engine.routes import record_test, test_message

    authorized(engine, caller, "channels")
    now = engine.clock.now()
    with reading(engine) as session:
        channel, message = test_message(session, name.strip(), to, now=now)
    error = None
    try:
        send(channel, message, now)
    except (DeliveryFailed, ChannelError) as exc:
        error = str(exc)
    with acting(engine, caller, "channels") as act:
        record_test(act.session, channel.name, to, error, reference(message.key), now=act.now, actor=act.actor)
    return {"ok": error is None, "error": error, "reference": reference(message.key)}
