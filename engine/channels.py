"""Where a message goes: group robots of WeCom (企业微信), DingTalk (钉钉) and Feishu (飞书), and e-mail.

This module knows each channel's wire format and nothing of the database: `request` builds the exact HTTP
request a robot expects (signed from the `now` it is given), `interpret` reads the robot's answer, and
`send` does both over the network. The outbox decides what to send, when, and how often to retry.

Chat has no Message-ID, so every chat text ends with `消息编号 <12 hex>`, made from the message's
idempotency key: a copy sent again after a worker died between sending and recording reads the same, and
people can tell it is the same message. An e-mail carries the Message-ID instead, from the same key.

Wire formats, as the vendors document them:
- WeCom: POST {"msgtype": "markdown", "markdown": {"content": ...}}, content at most 4096 bytes, `<@userid>`
  mentions; 20 messages a minute per robot; errcode 45009 when exceeded.
- DingTalk: the webhook URL gains `timestamp` (ms) and `sign` = urlencode(base64(HMAC-SHA256(secret,
  "timestamp\\nsecret"))); a mention needs both `at.atMobiles` and `@mobile` in the text; 20 a minute,
  and a robot over it is stopped for 10 minutes (errcode 130101).
- Feishu: the body carries `timestamp` (s) and `sign` = base64(HMAC-SHA256(key="timestamp\\nsecret", msg=""));
  the body is at most 20 KB; 100 a minute and 5 a second per robot (9499, 11232 when exceeded).
"""

from __future__ import annotations

import base64
import hashlib
import hmac
import http.client
import json
import re
import smtplib
import ssl
import urllib.error
import urllib.parse
import urllib.request
from dataclasses import dataclass, fields
from datetime import datetime
from email.message import EmailMessage

from .errors import OpsqaError

KINDS = ("wecom", "dingtalk", "feishu", "email")
ROBOTS = ("wecom", "dingtalk", "feishu")
SIGNED = ("dingtalk", "feishu")

# (seconds, messages) windows per robot, from the vendors' documents.
LIMITS = {"wecom": ((60, 20),), "dingtalk": ((60, 20),), "feishu": ((60, 100), (1, 5)), "email": ()}
# Where the vendor counts bytes: WeCom and DingTalk the text, Feishu the whole request body.
_TEXT_BYTES = {"wecom": 4096, "dingtalk": 20000}
_FEISHU_BODY_BYTES = 20000
_RESPONSE_BYTES = 64 * 1024

# Rate-limit answers, and how long to keep off: DingTalk stops a robot for ten minutes once it is over.
_THROTTLED = {"wecom": {45009: 60}, "dingtalk": {130101: 600, 660026: 600}, "feishu": {9499: 60, 11232: 60}}
# Answers that say the channel is set up wrong (signature, token, keyword, IP list): the same request cannot
# succeed later, whoever retries it.
_MISCONFIGURED = {"wecom": {93000}, "dingtalk": {300001, 310000, 400102}, "feishu": {19001, 19021, 19022, 19024}}

_CONTROL = re.compile(r"[\x00-\x1f\x7f-\x9f\u2028\u2029]")
_NAME = re.compile(r"[\w.-]{1,64}")
_MENTION = re.compile(r"[\w.@+-]{1,128}")
_URL_TOKENS = {"key", "access_token", "token"}
_ADDRESS = re.compile(r"[^@\s,;<>\"]+@[^@\s,;<>\"]+")  # one address: a comma would add recipients


class ChannelError(OpsqaError, ValueError):
    """The channel is not set up correctly."""


class DeliveryFailed(Exception):
    """A message was not delivered: `error` one line, `retry_after` the seconds the channel asked to wait
    (or None), `permanent` when the channel's set-up is wrong and retrying the same request cannot help."""

    def __init__(self, error: str, *, retry_after: float | None = None, permanent: bool = False):
        super().__init__(error)
        self.error, self.retry_after, self.permanent = error, retry_after, permanent


@dataclass(frozen=True)
class Channel:
    name: str
    kind: str
    url: str = ""
    secret: str = ""
    host: str = ""
    port: int = 25
    sender: str = ""
    user: str = ""
    password: str = ""
    starttls: bool = False


@dataclass(frozen=True)
class Message:
    key: str
    title: str
    lines: tuple[str, ...] = ()
    mention: str = ""
    link: str = ""


def reference(key: str) -> str:
    """The 消息编号 a chat text ends with: the first 12 hex of the Message-ID an e-mail gets from the key."""
    return hashlib.sha256(key.encode()).hexdigest()[:12]


def message_id(key: str) -> str:
    """The e-mail Message-ID of a key (the formula of engine.outbox.message_id)."""
    return f"<{hashlib.sha256(key.encode()).hexdigest()[:32]}@opsqa>"


def one_line(text: str) -> str:
    """Text a person wrote, on one line: a task name with a line break must not forge lines of its own."""
    return " ".join(_CONTROL.sub(" ", text).split())


def validate(channel: Channel) -> None:
    """Raise ChannelError, naming the field, unless the channel could be used as set."""
    for field in fields(channel):
        value = getattr(channel, field.name)
        if isinstance(value, str) and _CONTROL.search(value):
            raise ChannelError(f"通道的 {field.name} 含有控制字符（换行、制表符等）")
    if not _NAME.fullmatch(channel.name):
        raise ChannelError("通道的 name 须为 1 到 64 个字母、数字、汉字、点、下划线或连字符")
    if channel.kind not in KINDS:
        raise ChannelError(f"通道的 kind 未知：{channel.kind}；应为 wecom、dingtalk、feishu 或 email")
    if channel.kind in ROBOTS:
        parts = urllib.parse.urlsplit(channel.url)
        if parts.scheme not in ("http", "https") or not parts.hostname:
            raise ChannelError("通道的 url 须为 http:// 或 https:// 开头、带主机名的机器人 Webhook 地址")
        if channel.kind in SIGNED and not channel.secret:
            raise ChannelError(f"通道的 secret 缺失：{_LABEL[channel.kind]}机器人须加签，请给出机器人安全设置里的密钥")
        if channel.kind == "wecom" and channel.secret:
            raise ChannelError("通道的 secret 多余：企业微信群机器人不加签，密钥就是 url 里的 key")
        return
    if not channel.host:
        raise ChannelError("通道的 host 缺失：邮件通道须给出 SMTP 服务器")
    if not isinstance(channel.port, int) or not 1 <= channel.port <= 65535:
        raise ChannelError(f"通道的 port 超出范围：{channel.port}；应在 1 到 65535 之间")
    if "@" not in channel.sender:
        raise ChannelError("通道的 sender 缺失或不是邮件地址：邮件通道须给出发件地址")
    if channel.password and not channel.user:
        raise ChannelError("通道的 user 缺失：给了 password 却没有登录用户名")


_LABEL = {"wecom": "企业微信", "dingtalk": "钉钉", "feishu": "飞书", "email": "邮件"}


def masked(channel: Channel) -> dict:
    """The channel as `channels list` shows it: no secret or password, and the token in a robot URL cut."""
    shown = {"name": channel.name, "kind": channel.kind}
    if channel.kind in ROBOTS:
        shown |= {"url": _masked_url(channel.url, last_segment=channel.kind == "feishu"),
                  "secret": "******" if channel.secret else ""}
    else:
        shown |= {"host": channel.host, "port": channel.port, "sender": channel.sender, "user": channel.user,
                  "password": "******" if channel.password else "", "starttls": channel.starttls}
    return shown


def _mask(token: str) -> str:
    return token[:4] + "…" if token else token


def _masked_url(url: str, *, last_segment: bool) -> str:
    parts = urllib.parse.urlsplit(url)
    query = "&".join(f"{name}={_mask(value) if name.lower() in _URL_TOKENS else value}"
                     for name, value in urllib.parse.parse_qsl(parts.query, keep_blank_values=True))
    path = parts.path
    if last_segment and "/" in path.rstrip("/"):
        head, _, token = path.rstrip("/").rpartition("/")
        path = f"{head}/{_mask(token)}"
    netloc = parts.hostname or ""
    if parts.port:
        netloc += f":{parts.port}"
    return urllib.parse.urlunsplit((parts.scheme, netloc, path, query, ""))  # user:password@ and #fragment dropped


def request(channel: Channel, message: Message, now: datetime) -> tuple[str, bytes, dict]:
    """The (url, body, headers) a robot channel expects for this message, signed from `now`."""
    if channel.kind not in ROBOTS:
        raise ChannelError(f"通道的 kind 为 {channel.kind}，不是群机器人")
    if now.tzinfo is None:
        raise ValueError("now must be an aware datetime")
    if message.mention and not _MENTION.fullmatch(message.mention):
        raise ChannelError(f"提醒对象 {one_line(message.mention)!r} 含有不允许的字符")
    headers = {"Content-Type": "application/json; charset=utf-8"}
    if channel.kind == "wecom":
        content = _fit(_parts(channel.kind, message), lambda text: len(text.encode()), _TEXT_BYTES["wecom"])
        return channel.url, _json({"msgtype": "markdown", "markdown": {"content": content}}), headers
    if channel.kind == "dingtalk":
        timestamp = str(int(now.timestamp() * 1000))
        digest = hmac.new(channel.secret.encode(), f"{timestamp}\n{channel.secret}".encode(), hashlib.sha256)
        query = urllib.parse.urlencode({"timestamp": timestamp, "sign": base64.b64encode(digest.digest()).decode()})
        url = f"{channel.url}{'&' if urllib.parse.urlsplit(channel.url).query else '?'}{query}"
        text = _fit(_parts(channel.kind, message), lambda text: len(text.encode()), _TEXT_BYTES["dingtalk"])
        body = {"msgtype": "markdown", "markdown": {"title": one_line(message.title)[:64], "text": text},
                "at": {"atMobiles": [message.mention] if message.mention else [], "isAtAll": False}}
        return url, _json(body), headers
    timestamp = str(int(now.timestamp()))
    key = f"{timestamp}\n{channel.secret}".encode()
    sign = base64.b64encode(hmac.new(key, b"", hashlib.sha256).digest()).decode()

    def feishu(text: str) -> dict:
        return {"timestamp": timestamp, "sign": sign, "msg_type": "text", "content": {"text": text}}

    text = _fit(_parts(channel.kind, message), lambda text: len(_json(feishu(text))), _FEISHU_BODY_BYTES)
    return channel.url, _json(feishu(text)), headers


def _json(body: dict) -> bytes:
    return json.dumps(body, ensure_ascii=False, separators=(",", ":")).encode()


def _chat(text: str) -> str:
    """A line a person wrote, for a chat text: on one line, and with no angle brackets, which WeCom's
    `<@userid>` and Feishu's `<at user_id="all">` would read as a mention the sender never meant."""
    return one_line(text).replace("<", "＜").replace(">", "＞")


def _parts(kind: str, message: Message) -> tuple[str, str, str]:
    """The text as (head, body, tail): the body is what may be cut; the tail keeps the link and 消息编号."""
    title = _chat(message.title)
    lines = [_chat(line) for line in message.lines]
    link = _link(message.link)
    if kind == "feishu":
        head = f'<at user_id="{message.mention}"></at> {title}' if message.mention else title
        tail = ([f"在 opsqa 中查看：{link}"] if link else []) + [f"消息编号 {reference(message.key)}"]
        return head + "\n", "\n".join(lines), ("\n" if lines else "") + "\n".join(tail)
    # Markdown joins single line breaks on DingTalk; a blank line between lines shows them on both.
    sep = "\n" if kind == "wecom" else "\n\n"
    mention = (f"<@{message.mention}>" if kind == "wecom" else f"@{message.mention}") if message.mention else ""
    head = f"**{title}**" + (f"{sep}{mention}" if mention else "")
    tail = ([f"[在 opsqa 中查看]({link})"] if link else []) + [f"消息编号 {reference(message.key)}"]
    return head + sep, sep.join(lines), (sep if lines else "") + sep.join(tail)


def _link(url: str) -> str:
    """The task's address if it is an absolute http(s) URL on one line, with the parentheses that would end a
    markdown link escaped; anything else is left out rather than sent as a link."""
    parts = urllib.parse.urlsplit(url)
    if parts.scheme not in ("http", "https") or not parts.hostname or _CONTROL.search(url) or re.search(r"\s", url):
        return ""
    return url.replace("(", "%28").replace(")", "%29")


def _fit(parts: tuple[str, str, str], size, limit: int) -> str:
    """head + body + tail, the body cut on a character boundary and ended with "…" when `size` is over
    `limit`; the head and tail (the mention, the link and the 消息编号) always go whole."""
    head, body, tail = parts
    if size(head + body + tail) <= limit:
        return head + body + tail
    low, high = 0, len(body)  # the longest prefix that fits: size grows with the prefix
    while low < high:
        middle = (low + high + 1) // 2
        if size(head + body[:middle] + "…" + tail) <= limit:
            low = middle
        else:
            high = middle - 1
    return head + body[:low] + "…" + tail


def interpret(channel: Channel, status: int, body: bytes, headers: dict) -> None:
    """Raise DeliveryFailed unless the robot's answer says the message was taken."""
    headers = {name.lower(): value for name, value in headers.items()}
    retry_after = _seconds(headers.get("retry-after") or headers.get("x-ogw-ratelimit-reset"))
    snippet = one_line(body[:200].decode("utf-8", "replace"))
    if status == 429:
        raise DeliveryFailed(f"HTTP 429：请求过于频繁 {snippet}".rstrip(), retry_after=retry_after or 60)
    if not 200 <= status < 300:
        raise DeliveryFailed(f"HTTP {status}：{snippet}".rstrip(), retry_after=retry_after,
                             permanent=400 <= status < 500 and status != 408)
    try:
        answer = json.loads(body)
    except ValueError:
        raise DeliveryFailed(f"应答不是 JSON：{snippet}".rstrip()) from None
    if not isinstance(answer, dict):
        raise DeliveryFailed(f"应答不是 JSON 对象：{snippet}")
    if channel.kind == "feishu":  # newer answers carry code/msg, older ones StatusCode/StatusMessage
        name, code = ("code", answer.get("code")) if "code" in answer else ("StatusCode", answer.get("StatusCode"))
        text = answer.get("msg") if "msg" in answer else answer.get("StatusMessage")
    else:
        name, code, text = "errcode", answer.get("errcode"), answer.get("errmsg")
    if not isinstance(code, int) or isinstance(code, bool):
        raise DeliveryFailed(f"应答缺少 {name}：{snippet}")
    if code == 0:
        return
    error = f"{name} {code}: {one_line(str(text or ''))[:200]}".rstrip(": ")
    throttled = _THROTTLED[channel.kind].get(code)
    if throttled:
        raise DeliveryFailed(error, retry_after=max(retry_after or 0, throttled))
    raise DeliveryFailed(error, retry_after=retry_after, permanent=code in _MISCONFIGURED[channel.kind])


def _seconds(value: str | None) -> float | None:
    try:
        seconds = float(value) if value is not None else None
    except ValueError:
        return None  # an HTTP date: the channel's own back-off applies
    return seconds if seconds is not None and 0 <= seconds <= 86400 else None


class _NoRedirect(urllib.request.HTTPRedirectHandler):
    """A webhook that redirects is misconfigured; following it would re-send the body as a GET, elsewhere."""

    def redirect_request(self, req, fp, code, msg, headers, newurl):
        return None


_opener = urllib.request.build_opener(_NoRedirect)


def send(channel: Channel, message: Message, now: datetime, *, timeout: float = 10) -> None:
    """Deliver one message; raise DeliveryFailed when the channel did not take it."""
    validate(channel)
    if channel.kind == "email":
        _send_mail(channel, message, timeout)
        return
    url, body, headers = request(channel, message, now)
    host = urllib.parse.urlsplit(url).hostname
    try:
        with _opener.open(urllib.request.Request(url, data=body, headers=headers, method="POST"),
                          timeout=timeout) as response:
            status, answer, answer_headers = response.status, response.read(_RESPONSE_BYTES), dict(response.headers)
    except urllib.error.HTTPError as exc:
        with exc:
            status, answer, answer_headers = exc.code, exc.read(_RESPONSE_BYTES), dict(exc.headers or {})
    except (OSError, http.client.HTTPException) as exc:
        reason = getattr(exc, "reason", None) or exc
        if isinstance(reason, TimeoutError):
            raise DeliveryFailed(f"{host} 在 {timeout:g} 秒内没有应答") from None
        raise DeliveryFailed(f"无法连接 {host}：{one_line(str(reason))}") from None
    interpret(channel, status, answer, answer_headers)


def _send_mail(channel: Channel, message: Message, timeout: float) -> None:
    if not message.mention:
        raise DeliveryFailed("没有收件地址", permanent=True)
    if not _ADDRESS.fullmatch(message.mention):
        raise DeliveryFailed(f"收件地址无效：{one_line(message.mention)[:100]}", permanent=True)
    mail = EmailMessage()
    mail["From"], mail["To"] = one_line(channel.sender), one_line(message.mention)
    mail["Subject"] = one_line(message.title)[:200]
    mail["Message-ID"] = message_id(message.key)
    mail.set_content("\n".join([*(one_line(line) for line in message.lines),
                                *([f"在 opsqa 中查看：{_link(message.link)}"] if _link(message.link) else [])]) + "\n")
    try:
        with smtplib.SMTP(channel.host, channel.port, timeout=timeout) as smtp:
            if channel.starttls:
                smtp.starttls(context=ssl.create_default_context())
            if channel.user:
                smtp.login(channel.user, channel.password)
            smtp.send_message(mail)
    except (smtplib.SMTPNotSupportedError, smtplib.SMTPAuthenticationError, smtplib.SMTPRecipientsRefused,
            smtplib.SMTPSenderRefused, ssl.SSLCertVerificationError) as exc:
        raise DeliveryFailed(_mail_error(exc), permanent=True) from None
    except (OSError, smtplib.SMTPException, ValueError) as exc:
        raise DeliveryFailed(_mail_error(exc)) from None


def _mail_error(exc: Exception) -> str:
    return f"{type(exc).__name__}: {(one_line(str(exc)) or '')[:200]}".rstrip(": ")


def wait(kind: str, recent: list[datetime], now: datetime) -> tuple[float, list[datetime]]:
    """The vendor's rate limit for a robot of `kind` that sent at the times `recent`: (seconds to wait before
    it may take a message at `now`, 0 when it may; the sends still inside the longest window)."""
    limits = LIMITS.get(kind, ())
    if not limits:
        return 0.0, []
    longest = max(seconds for seconds, _ in limits)
    kept = sorted(at for at in recent if (now - at).total_seconds() < longest)
    wait = 0.0
    for seconds, most in limits:
        inside = [at for at in kept if (now - at).total_seconds() < seconds]
        if len(inside) >= most:
            wait = max(wait, seconds - (now - inside[-most]).total_seconds())
    return wait, kept
