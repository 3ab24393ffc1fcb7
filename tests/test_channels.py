"""The chat and e-mail channels' wire formats (engine/channels.py), unit by unit and through a fake robot
server on loopback (tests/chatserver.py) and a real SMTP server (aiosmtpd)."""

from __future__ import annotations

import json
import os
import re
import socket
import urllib.parse
from datetime import timedelta

import pytest
from chatserver import NOW, ChatServer, Schedule

from engine import outbox
from engine.channels import (
    Channel,
    ChannelError,
    DeliveryFailed,
    Message,
    interpret,
    masked,
    reference,
    request,
    send,
    validate,
    wait,
)

KEY = "opsqa:task.ready:abc"
KEY_REFERENCE = "d10548054383"  # printf 'opsqa:task.ready:abc' | sha256sum
TASK = Message(key=KEY, title="待办：审批年度质量计划", lines=("业务编号 QP-2027", "期限 2027-01-10 18:00"),
               link="https://qa.example.com/tasks/0f3a")
WECOM = Channel("ops-wecom", "wecom", url="https://qyapi.weixin.qq.com/cgi-bin/webhook/send?key=693a91f6-7xxx")
DINGTALK = Channel("ops-ding", "dingtalk", url="https://oapi.dingtalk.com/robot/send?access_token=ff6cd723bdb4",
                   secret="SECtest")
FEISHU = Channel("ops-feishu", "feishu", url="https://open.feishu.cn/open-apis/bot/v2/hook/2b4f6d8e-aaaa",
                 secret="SECtest")
MAIL = Channel("email", "email", host="smtp.example.com", port=587, sender="opsqa@example.com", user="opsqa",
               password="hunter2", starttls=True)


def text_of(body: bytes) -> str:
    body = json.loads(body)
    return body.get("markdown", {}).get("content") or body.get("markdown", {}).get("text") or body["content"]["text"]


# --- validate -------------------------------------------------------------------------------------------------------

@pytest.mark.parametrize("channel, field", [
    (Channel("a", "wecom", url="ftp://example.com/hook"), "url"),
    (Channel("a", "wecom", url="https:///send?key=x"), "url"),
    (Channel("a", "wecom", url="qyapi.weixin.qq.com/cgi-bin/webhook/send?key=x"), "url"),
    (Channel("a", "slack", url="https://example.com/hook"), "kind"),
    (Channel("a", "dingtalk", url="https://oapi.dingtalk.com/robot/send?access_token=x"), "secret"),
    (Channel("a", "feishu", url="https://open.feishu.cn/open-apis/bot/v2/hook/x"), "secret"),
    (Channel("a", "wecom", url="https://qyapi.weixin.qq.com/cgi-bin/webhook/send?key=x", secret="s"), "secret"),
    (Channel("a", "email", sender="opsqa@example.com"), "host"),
    (Channel("a", "email", host="smtp.example.com"), "sender"),
    (Channel("a", "email", host="smtp.example.com", sender="opsqa@example.com", port=0), "port"),
    (Channel("a", "email", host="smtp.example.com", sender="opsqa@example.com", port=65536), "port"),
    (Channel("a", "email", host="smtp.example.com", sender="opsqa@example.com", password="p"), "user"),
    (Channel("a", "dingtalk", url="https://oapi.dingtalk.com/robot/send?access_token=x", secret="SEC\nx"), "secret"),
    (Channel("a", "wecom", url="https://qyapi.weixin.qq.com/send?key=x\r\nHost: evil"), "url"),
    (Channel("", "wecom", url="https://qyapi.weixin.qq.com/cgi-bin/webhook/send?key=x"), "name"),
    (Channel("a b", "wecom", url="https://qyapi.weixin.qq.com/cgi-bin/webhook/send?key=x"), "name"),
])
def test_a_bad_channel_is_refused_in_one_chinese_line_naming_the_field(channel, field):
    with pytest.raises(ChannelError) as refused:
        validate(channel)
    message = str(refused.value)
    assert f"通道的 {field} " in message and "\n" not in message
    assert "SEC" not in message and "key=x" not in message  # neither secret nor token echoed


@pytest.mark.parametrize("channel", [WECOM, DINGTALK, FEISHU, MAIL, Channel("质量部", "email", host="h", sender="a@b")])
def test_a_good_channel_passes(channel):
    validate(channel)


# --- masked ---------------------------------------------------------------------------------------------------------

def test_masked_never_shows_a_secret_a_password_or_a_robot_token():
    assert masked(WECOM) == {"name": "ops-wecom", "kind": "wecom", "secret": "",
                             "url": "https://qyapi.weixin.qq.com/cgi-bin/webhook/send?key=693a…"}
    assert masked(DINGTALK) == {"name": "ops-ding", "kind": "dingtalk", "secret": "******",
                                "url": "https://oapi.dingtalk.com/robot/send?access_token=ff6c…"}
    assert masked(FEISHU)["url"] == "https://open.feishu.cn/open-apis/bot/v2/hook/2b4f…"
    assert masked(MAIL) == {"name": "email", "kind": "email", "host": "smtp.example.com", "port": 587,
                            "sender": "opsqa@example.com", "user": "opsqa", "password": "******", "starttls": True}
    credentials = Channel("c", "wecom", url="https://bob:pw@qyapi.weixin.qq.com/send?key=693a91f6#frag")
    assert masked(credentials)["url"] == "https://qyapi.weixin.qq.com/send?key=693a…"
    shown = json.dumps([masked(c) for c in (WECOM, DINGTALK, FEISHU, MAIL, credentials)], ensure_ascii=False)
    for secret in ("SECtest", "hunter2", "693a91f6", "ff6cd723", "2b4f6d8e", "bob", ":pw"):
        assert secret not in shown


# --- request: the wire formats --------------------------------------------------------------------------------------

def test_wecom_markdown_with_mention_link_and_message_reference():
    url, body, headers = request(WECOM, Message(**{**TASK.__dict__, "mention": "zhangsan"}), NOW)
    assert url == WECOM.url and headers == {"Content-Type": "application/json; charset=utf-8"}
    assert json.loads(body) == {"msgtype": "markdown", "markdown": {"content": (
        "**待办：审批年度质量计划**\n<@zhangsan>\n业务编号 QP-2027\n期限 2027-01-10 18:00\n"
        "[在 opsqa 中查看](https://qa.example.com/tasks/0f3a)\n消息编号 d10548054383")}}
    assert reference(KEY) == KEY_REFERENCE and outbox.message_id(KEY).startswith(f"<{KEY_REFERENCE}")


def test_dingtalk_is_signed_from_now_and_mentions_by_mobile_in_the_text_too():
    url, body, _ = request(DINGTALK, Message(**{**TASK.__dict__, "mention": "13800000000"}), NOW)
    # printf '1799024400000\nSECtest' | openssl dgst -sha256 -hmac SECtest -binary | base64
    assert url == (DINGTALK.url + "&timestamp=1799024400000&sign=yazzh3%2FH9L%2FXi6StxVegGFk7A%2FMBz8qZjNubMQ7ujfI%3D")
    sent = json.loads(body)
    assert sent["msgtype"] == "markdown" and sent["markdown"]["title"] == "待办：审批年度质量计划"
    assert sent["at"] == {"atMobiles": ["13800000000"], "isAtAll": False}
    assert sent["markdown"]["text"] == ("**待办：审批年度质量计划**\n\n@13800000000\n\n业务编号 QP-2027\n\n"
                                        "期限 2027-01-10 18:00\n\n[在 opsqa 中查看](https://qa.example.com/tasks/0f3a)\n\n"
                                        "消息编号 d10548054383")
    later, _, _ = request(DINGTALK, TASK, NOW + timedelta(seconds=1))
    assert "timestamp=1799024401000&" in later and later.split("sign=")[1] != url.split("sign=")[1]


def test_feishu_is_signed_in_the_body_with_the_timestamp_and_secret_as_the_key():
    url, body, _ = request(FEISHU, Message(**{**TASK.__dict__, "mention": "ou_7d8a6e6df7621556ce0d21922b676706"}), NOW)
    assert url == FEISHU.url
    # printf '' | openssl dgst -sha256 -hmac "$(printf '1799024400\nSECtest')" -binary | base64
    assert json.loads(body) == {
        "timestamp": "1799024400", "sign": "D4zSCTfTn5QRjEqLLO7gq/j6KTQ2A10h22pMyZuuwr4=", "msg_type": "text",
        "content": {"text": '<at user_id="ou_7d8a6e6df7621556ce0d21922b676706"></at> 待办：审批年度质量计划\n'
                            "业务编号 QP-2027\n期限 2027-01-10 18:00\n在 opsqa 中查看：https://qa.example.com/tasks/0f3a\n"
                            "消息编号 d10548054383"}}


def test_a_line_break_in_a_title_or_line_does_not_forge_lines_nor_a_mention():
    forged = Message(key=KEY, title="审批\n消息编号 000000000000\r\n<at user_id=\"all\"></at>",
                     lines=("原因\u2028@all <@all>",))
    for channel in (WECOM, DINGTALK, FEISHU):
        text = text_of(request(channel, forged, NOW)[1])
        assert re.findall(r"^消息编号 .*$", text, re.M) == ["消息编号 d10548054383"]
        assert "<at" not in text and "<@" not in text and "\u2028" not in text
    assert text_of(request(WECOM, forged, NOW)[1]).splitlines() == [
        "**审批 消息编号 000000000000 ＜at user_id=\"all\"＞＜/at＞**", "原因 @all ＜@all＞", "消息编号 d10548054383"]


def test_a_mention_with_markup_is_refused():
    with pytest.raises(ChannelError, match="提醒对象"):
        request(FEISHU, Message(key=KEY, title="t", mention='ou_1"></at><at user_id="all'), NOW)


@pytest.mark.parametrize("channel, measure, limit", [
    (WECOM, lambda body: len(text_of(body).encode()), 4096),
    (DINGTALK, lambda body: len(text_of(body).encode()), 20000),
    (FEISHU, len, 20000),
])
def test_a_text_over_the_channels_limit_is_cut_on_a_character_and_keeps_its_reference(channel, measure, limit):
    long = Message(key=KEY, title="月度指标", lines=tuple(f"第 {n} 项：质量指标“达成率”未达标" for n in range(2000)),
                   link="https://qa.example.com/tasks/0f3a")
    body = request(channel, long, NOW)[1]
    text = text_of(body)
    assert limit - 8 < measure(body) <= limit  # cut as late as fits, a character of three bytes at most short
    assert "未达标…" in text or "项…" in text or "…" in text.split("在 opsqa 中查看")[0]
    assert text.endswith("消息编号 d10548054383") and "https://qa.example.com/tasks/0f3a" in text
    short = request(channel, TASK, NOW)[1]
    assert "…" not in text_of(short)


def test_only_robots_have_a_request():
    with pytest.raises(ChannelError):
        request(MAIL, TASK, NOW)


# --- interpret ------------------------------------------------------------------------------------------------------

def failure(channel, status, answer, headers=None) -> DeliveryFailed:
    body = answer if isinstance(answer, bytes) else json.dumps(answer).encode()
    with pytest.raises(DeliveryFailed) as failed:
        interpret(channel, status, body, headers or {})
    assert "\n" not in failed.value.error and str(failed.value) == failed.value.error
    return failed.value


def test_a_robots_ok_is_success():
    interpret(WECOM, 200, b'{"errcode":0,"errmsg":"ok"}', {})
    interpret(DINGTALK, 200, b'{"errcode":0,"errmsg":"ok"}', {})
    interpret(FEISHU, 200, b'{"code":0,"data":{},"msg":"success"}', {})
    interpret(FEISHU, 200, b'{"Extra":null,"StatusCode":0,"StatusMessage":"success"}', {})


def test_an_errcode_is_a_failure_with_the_robots_errmsg():
    failed = failure(DINGTALK, 200, {"errcode": 310000, "errmsg": "sign not match"})
    assert (failed.error, failed.permanent, failed.retry_after) == ("errcode 310000: sign not match", True, None)
    failed = failure(FEISHU, 200, {"code": 19021, "msg": "sign match fail or timestamp is not within one hour"})
    assert failed.error.startswith("code 19021: sign match fail") and failed.permanent
    failed = failure(FEISHU, 200, {"StatusCode": 19024, "StatusMessage": "Key Words Not Found"})
    assert failed.error == "StatusCode 19024: Key Words Not Found" and failed.permanent
    failed = failure(WECOM, 200, {"errcode": -1, "errmsg": "system busy\nretry"})
    assert (failed.error, failed.permanent) == ("errcode -1: system busy retry", False)


@pytest.mark.parametrize("channel, answer, wait", [
    (WECOM, {"errcode": 45009, "errmsg": "api freq out of limit"}, 60),
    (DINGTALK, {"errcode": 130101, "errmsg": "send too fast, exceed 20 times per minute"}, 600),
    (DINGTALK, {"errcode": 660026, "errmsg": "send too fast"}, 600),
    (FEISHU, {"code": 9499, "msg": "Too Many Request"}, 60),
    (FEISHU, {"code": 11232, "msg": "frequency limited"}, 60),
])
def test_a_rate_limit_code_is_retried_after_a_back_off(channel, answer, wait):
    failed = failure(channel, 200, answer)
    assert failed.retry_after == wait and not failed.permanent


def test_http_failures_and_unreadable_answers():
    failed = failure(WECOM, 429, b"", {"Retry-After": "7"})
    assert (failed.retry_after, failed.permanent) == (7, False) and failed.error.startswith("HTTP 429")
    assert failure(FEISHU, 429, {"code": 99991400}, {"x-ogw-ratelimit-reset": "52"}).retry_after == 52
    assert failure(WECOM, 429, b"", {"Retry-After": "Wed, 21 Oct 2026 07:28:00 GMT"}).retry_after == 60
    failed = failure(DINGTALK, 500, b"<html>\nBad Gateway</html>")
    assert (failed.error, failed.permanent, failed.retry_after) == ("HTTP 500：<html> Bad Gateway</html>", False, None)
    assert failure(DINGTALK, 503, b"", {"retry-after": "30"}).retry_after == 30
    assert failure(WECOM, 404, b"not found").permanent
    assert failure(WECOM, 200, b"<html>ok</html>").error == "应答不是 JSON：<html>ok</html>"
    assert failure(WECOM, 200, b"[]").error == "应答不是 JSON 对象：[]"
    assert failure(WECOM, 200, {"errmsg": "ok"}).error.startswith("应答缺少 errcode")
    assert failure(FEISHU, 200, {"data": {}}).error.startswith("应答缺少 StatusCode")


# --- through the fake robot server ----------------------------------------------------------------------------------

def robots(chat: ChatServer, *, secret: str | None = None) -> list[Channel]:
    return [Channel("w", "wecom", url=chat.url("wecom")),
            Channel("d", "dingtalk", url=chat.url("dingtalk"), secret=secret or chat.secret),
            Channel("f", "feishu", url=chat.url("feishu"), secret=secret or chat.secret)]


def test_every_robot_takes_a_message(chat_server):
    mentions = {"wecom": "zhangsan", "dingtalk": "13800000000", "feishu": "ou_7d8a6e6df7621556ce0d21922b676706"}
    for channel in robots(chat_server):
        send(channel, Message(**{**TASK.__dict__, "mention": mentions[channel.kind]}), NOW)
    assert [(d.robot, d.reference) for d in chat_server.delivered] == [
        ("wecom", KEY_REFERENCE), ("dingtalk", KEY_REFERENCE), ("feishu", KEY_REFERENCE)]
    assert chat_server.rejected == []


def test_a_wrong_secret_or_token_fails_in_one_line_with_the_robots_errmsg(chat_server):
    _, dingtalk, feishu = robots(chat_server, secret="SECwrong")
    with pytest.raises(DeliveryFailed) as failed:
        send(dingtalk, TASK, NOW)
    assert (failed.value.error, failed.value.permanent) == ("errcode 310000: sign not match", True)
    with pytest.raises(DeliveryFailed) as failed:
        send(feishu, TASK, NOW)
    assert failed.value.error == "code 19021: sign match fail or timestamp is not within one hour from current time"
    with pytest.raises(DeliveryFailed, match="errcode 93000: invalid webhook url"):
        send(Channel("w", "wecom", url=chat_server.url("wecom", token="other")), TASK, NOW)
    assert chat_server.delivered == []


def test_a_signature_more_than_an_hour_old_is_refused(chat_server):
    _, dingtalk, feishu = robots(chat_server)
    send(dingtalk, TASK, NOW - timedelta(minutes=59))
    for channel in (dingtalk, feishu):
        with pytest.raises(DeliveryFailed, match="sign"):
            send(channel, TASK, NOW - timedelta(hours=1, seconds=1))
    assert len(chat_server.delivered) == 1


def test_failures_on_a_seeded_schedule_are_retried_until_each_message_arrives_once_by_reference(chat_server):
    chat_server.schedule(seed=19, failure_rate=0.6)
    messages = [Message(key=f"opsqa:task.ready:{n}", title=f"待办 {n}") for n in range(8)]
    failures: dict[str, list[DeliveryFailed]] = {"wecom": [], "dingtalk": [], "feishu": []}
    for channel in robots(chat_server):
        for message in messages:
            for _attempt in range(20):
                try:
                    send(channel, message, NOW)
                    break
                except DeliveryFailed as failed:
                    failures[channel.kind].append(failed)
    assert [d.reference for d in chat_server.delivered] == [reference(m.key) for m in messages] * 3
    outcomes = [outcome for _, outcome in chat_server.arrivals]
    assert {"429", "500", "errcode"} <= set(outcomes)  # the seed exercises each failure
    assert len(outcomes) == 24 + sum(len(f) for f in failures.values())
    everything = [f for kind in failures.values() for f in kind]
    assert {f.retry_after for f in everything if f.error.startswith("HTTP 429")} == {7}
    assert all(f.retry_after is None and not f.permanent for f in everything if f.error.startswith("HTTP 500"))
    assert {f.error for f in failures["dingtalk"] if f.error.startswith("errcode")} == {
        "errcode 130101: send too fast, exceed 20 times per minute"}
    assert {f.retry_after for f in failures["feishu"] if f.error.startswith("code")} == {60}
    again = Schedule(seed=19, failure_rate=0.6)
    assert [again.next() for _ in outcomes] == outcomes  # the same seed, the same answers


def test_a_cut_message_is_taken_by_the_robot(chat_server):
    long = Message(key=KEY, title="周报", lines=tuple("质量指标未达标" for _ in range(3000)), mention="13800000000")
    for channel in robots(chat_server):
        send(channel, long, NOW)
    assert chat_server.rejected == [] and [d.reference for d in chat_server.delivered] == [KEY_REFERENCE] * 3


def test_a_redirect_is_not_followed(chat_server):
    with pytest.raises(DeliveryFailed) as failed:
        send(Channel("w", "wecom", url=f"http://127.0.0.1:{chat_server.port}/moved"), TASK, NOW)
    assert failed.value.error.startswith("HTTP 302：") and failed.value.permanent is False
    assert chat_server.delivered == []


def test_a_link_that_is_not_an_absolute_web_address_is_left_out():
    for link in ("javascript:alert(1)", "/tasks/0f3a", "https://qa.example.com/a b", "https://qa.example.com/\n"):
        assert "在 opsqa 中查看" not in text_of(request(WECOM, Message(key=KEY, title="t", link=link), NOW)[1])
    text = text_of(request(WECOM, Message(key=KEY, title="t", link="https://qa.example.com/t/(1)"), NOW)[1])
    assert "[在 opsqa 中查看](https://qa.example.com/t/%281%29)" in text


def test_an_unreachable_or_silent_robot_is_a_delivery_failure():
    with socket.socket() as silent:
        silent.bind(("127.0.0.1", 0))
        silent.listen()  # accepts the connection, never answers
        port = silent.getsockname()[1]
        with pytest.raises(DeliveryFailed, match="没有应答"):
            send(Channel("w", "wecom", url=f"http://127.0.0.1:{port}/wecom/send?key=x"), TASK, NOW, timeout=0.2)
    with pytest.raises(DeliveryFailed, match=r"^无法连接 127\.0\.0\.1："):
        send(Channel("w", "wecom", url=f"http://127.0.0.1:{port}/wecom/send?key=x"), TASK, NOW)


# --- the rate limit -------------------------------------------------------------------------------------------------

class RateLimit:
    """What the outbox does under each channel row's lock: `wait` on the channel's recent sends, then record."""

    def __init__(self):
        self.sent: dict[str, list] = {}

    def allow(self, channel: Channel, now) -> float:
        seconds, kept = wait(channel.kind, self.sent.get(channel.name, []), now)
        if not seconds:
            self.sent[channel.name] = [*kept, now]
        return seconds


def test_wecom_keeps_20_a_minute_on_a_driven_clock(chat_server):
    wecom, limit, now, sent_at = robots(chat_server)[0], RateLimit(), NOW, []
    for n in range(45):
        message = Message(key=f"k{n}", title=f"待办 {n}")
        while (wait := limit.allow(wecom, now)) > 0:
            now += timedelta(seconds=wait)
        send(wecom, message, now)
        sent_at.append(now)
        now += timedelta(seconds=1)
    assert len(chat_server.delivered) == 45
    assert max(sum(1 for at in sent_at if start <= at < start + timedelta(minutes=1)) for start in sent_at) == 20
    assert sent_at[20] == sent_at[0] + timedelta(minutes=1)  # the 21st waits exactly until the 1st leaves


def test_rate_limits_per_kind_and_per_channel():
    limit = RateLimit()
    assert [limit.allow(WECOM, NOW) for _ in range(20)] == [0] * 20
    assert limit.allow(WECOM, NOW) == 60 and limit.allow(WECOM, NOW + timedelta(seconds=45)) == 15
    assert limit.allow(Channel("other", "wecom", url=WECOM.url), NOW) == 0  # per robot
    assert limit.allow(WECOM, NOW + timedelta(seconds=60)) == 0
    assert [limit.allow(FEISHU, NOW) for _ in range(6)] == [0] * 5 + [1]
    later = NOW + timedelta(seconds=1)
    assert [limit.allow(FEISHU, later + timedelta(seconds=n // 5)) for n in range(95)].count(0) == 95
    assert limit.allow(FEISHU, later + timedelta(seconds=19)) == 40  # the 101st in a minute: the first leaves at 60 s
    assert all(limit.allow(MAIL, NOW) == 0 for _ in range(500))


# --- e-mail ---------------------------------------------------------------------------------------------------------

def mail_channel(port: int, **settings) -> Channel:
    return Channel("email", "email", host="127.0.0.1", port=port, sender="opsqa@example.com", **settings)


def test_an_email_carries_the_outbox_message_id_and_the_link(smtp):
    send(mail_channel(smtp.port), Message(**{**TASK.__dict__, "title": "待办：\n审批", "mention": "zs@example.com"}),
         NOW)
    [mail] = smtp.messages
    assert (mail["To"], mail["Subject"], mail["Message-ID"]) == ("zs@example.com", "待办： 审批",
                                                                 outbox.message_id(KEY))
    assert mail.get_content().splitlines() == ["业务编号 QP-2027", "期限 2027-01-10 18:00",
                                               "在 opsqa 中查看：https://qa.example.com/tasks/0f3a"]


def test_starttls_is_required_when_set_and_a_message_without_address_is_not_sent(smtp):
    with pytest.raises(DeliveryFailed) as failed:
        send(mail_channel(smtp.port, starttls=True), Message(**{**TASK.__dict__, "mention": "zs@example.com"}), NOW)
    assert failed.value.error == "SMTPNotSupportedError: STARTTLS extension not supported by server."
    assert failed.value.permanent and smtp.messages == []
    with pytest.raises(DeliveryFailed, match="没有收件地址"):
        send(mail_channel(smtp.port), TASK, NOW)
    with pytest.raises(DeliveryFailed, match="收件地址无效"):
        send(mail_channel(smtp.port), Message(**{**TASK.__dict__, "mention": "zs@example.com, all@example.com"}), NOW)
    assert smtp.messages == []


@pytest.fixture
def smtp_auth():
    """An SMTP server that takes AUTH LOGIN/PLAIN as opsqa / secret, over plain TCP (tests only)."""
    from aiosmtpd.controller import Controller
    from aiosmtpd.smtp import AuthResult
    from conftest import Inbox

    def authenticate(server, session, envelope, mechanism, auth_data):
        # handled=False: aiosmtpd answers 235 or 535 itself
        return AuthResult(success=(auth_data.login, auth_data.password) == (b"opsqa", b"secret"), handled=False)

    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        port = probe.getsockname()[1]
    inbox = Inbox()
    controller = Controller(inbox, hostname="127.0.0.1", port=port, authenticator=authenticate,
                            auth_require_tls=False, auth_required=True)
    controller.start()
    inbox.port = port
    yield inbox
    controller.stop()


@pytest.mark.filterwarnings("ignore:Requiring AUTH while not requiring TLS:UserWarning")
def test_an_email_logs_in_when_a_user_is_set(smtp_auth):
    message = Message(**{**TASK.__dict__, "mention": "zs@example.com"})
    with pytest.raises(DeliveryFailed) as failed:
        send(mail_channel(smtp_auth.port, user="opsqa", password="wrong"), message, NOW)
    assert failed.value.permanent and failed.value.error.startswith("SMTPAuthenticationError: (535")
    with pytest.raises(DeliveryFailed):
        send(mail_channel(smtp_auth.port), message, NOW)  # no login: the server refuses the mail
    send(mail_channel(smtp_auth.port, user="opsqa", password="secret"), message, NOW)
    assert [m["Message-ID"] for m in smtp_auth.messages] == [outbox.message_id(KEY)]


@pytest.fixture
def smtp_tls(tmp_path, monkeypatch):
    """An SMTP server that requires STARTTLS, with a certificate for 127.0.0.1 made here by openssl and
    trusted through SSL_CERT_FILE (read by the default context that opsqa's STARTTLS uses)."""
    import shutil
    import ssl
    import subprocess

    from aiosmtpd.controller import Controller
    from conftest import Inbox

    if shutil.which("openssl") is None:
        if os.environ.get("CI", "").lower() == "true":
            pytest.fail("openssl is missing: .ci/run installs it")
        pytest.skip("openssl is not installed (.ci/run installs it)")
    cert, key = tmp_path / "cert.pem", tmp_path / "key.pem"
    subprocess.run(["openssl", "req", "-x509", "-newkey", "rsa:2048", "-nodes", "-keyout", str(key), "-out",
                    str(cert), "-days", "2", "-subj", "/CN=127.0.0.1", "-addext", "subjectAltName=IP:127.0.0.1"],
                   check=True, capture_output=True)
    context = ssl.create_default_context(ssl.Purpose.CLIENT_AUTH)
    context.load_cert_chain(cert, key)
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        port = probe.getsockname()[1]
    inbox = Inbox()
    controller = Controller(inbox, hostname="127.0.0.1", port=port, tls_context=context, require_starttls=True)
    controller.start()
    inbox.port, inbox.cert = port, cert
    yield inbox
    controller.stop()


def test_starttls_sends_over_a_verified_connection_and_refuses_a_certificate_it_cannot_trust(smtp_tls, monkeypatch):
    message = Message(**{**TASK.__dict__, "mention": "zs@example.com"})
    with pytest.raises(DeliveryFailed):
        send(mail_channel(smtp_tls.port), message, NOW)  # the server wants STARTTLS first
    monkeypatch.setenv("SSL_CERT_FILE", "/nonexistent")  # no trusted authority: the certificate is refused
    with pytest.raises(DeliveryFailed) as untrusted:
        send(mail_channel(smtp_tls.port, starttls=True), message, NOW)
    assert untrusted.value.permanent and "CERTIFICATE_VERIFY_FAILED" in untrusted.value.error
    assert smtp_tls.messages == []
    monkeypatch.setenv("SSL_CERT_FILE", str(smtp_tls.cert))
    send(mail_channel(smtp_tls.port, starttls=True), message, NOW)
    assert [m["Message-ID"] for m in smtp_tls.messages] == [outbox.message_id(KEY)]


def test_the_dingtalk_sign_survives_the_url_query():
    url, _, _ = request(DINGTALK, TASK, NOW)
    query = dict(urllib.parse.parse_qsl(urllib.parse.urlsplit(url).query))
    assert query == {"access_token": "ff6cd723bdb4", "timestamp": "1799024400000",
                     "sign": "yazzh3/H9L/Xi6StxVegGFk7A/MBz8qZjNubMQ7ujfI="}
