"""A fake group-robot server on loopback for WeCom, DingTalk and Feishu: it checks each robot's token,
signature and body as the real ones do, answers failures on a seeded schedule, and records what it took.

Paths (TOKEN is `chat.token`, the signing secret `chat.secret`):
    /moved                  (answers 302 to the WeCom path)
    /wecom/send?key=TOKEN
    /dingtalk/robot/send?access_token=TOKEN&timestamp=MS&sign=SIGN
    /feishu/hook/TOKEN
Signed timestamps are checked against `chat.now` (set by the test to the `now` it signs with), never the
wall clock, so a test does not depend on when it runs.
"""

from __future__ import annotations

import base64
import hashlib
import hmac
import json
import random
import re
import threading
import urllib.parse
from dataclasses import dataclass
from datetime import datetime, timedelta
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from zoneinfo import ZoneInfo

import pytest

NOW = datetime(2027, 1, 4, 9, 0, tzinfo=ZoneInfo("Asia/Shanghai"))
REFERENCE = re.compile(r"消息编号 ([0-9a-f]{12})")

# The real robots' answers.
OK = {"wecom": {"errcode": 0, "errmsg": "ok"}, "dingtalk": {"errcode": 0, "errmsg": "ok"},
      "feishu": {"code": 0, "data": {}, "msg": "success"}}
THROTTLED = {"wecom": {"errcode": 45009, "errmsg": "api freq out of limit"},
             "dingtalk": {"errcode": 130101, "errmsg": "send too fast, exceed 20 times per minute"},
             "feishu": {"code": 9499, "data": {}, "msg": "Too Many Request"}}
BAD_TOKEN = {"wecom": {"errcode": 93000, "errmsg": "invalid webhook url"},
             "dingtalk": {"errcode": 300001, "errmsg": "token is not exist"},
             "feishu": {"code": 19001, "data": {}, "msg": "param invalid: incoming webhook access token invalid"}}
BAD_SIGN = {"dingtalk": {"errcode": 310000, "errmsg": "sign not match"},
            "feishu": {"code": 19021, "data": {},
                       "msg": "sign match fail or timestamp is not within one hour from current time"}}
OUTCOMES = ("ok", "429", "500", "errcode")


@dataclass(frozen=True)
class Delivery:
    """A message a robot took: its path, the parsed body, and the 消息编号 its text carried."""

    robot: str
    path: str
    body: dict
    reference: str | None


class Schedule:
    """Each request fails with probability `failure_rate`, with 429 (Retry-After), 500 or the robot's
    rate-limit errcode, drawn from `random.Random(seed)`: the same seed, the same answers."""

    def __init__(self, seed: int, failure_rate: float = 0.5):
        self._random, self._failure_rate = random.Random(seed), failure_rate

    def next(self) -> str:
        if self._random.random() >= self._failure_rate:
            return "ok"
        return self._random.choice(OUTCOMES[1:])


class ChatServer:
    def __init__(self, *, token: str = "TOKEN0123456789", secret: str = "SEC0123456789abcdef"):
        self.token, self.secret, self.now = token, secret, NOW
        self.delivered: list[Delivery] = []
        self.arrivals: list[tuple[str, str]] = []  # (robot, outcome) in arrival order
        self.rejected: list[tuple[str, str]] = []  # (robot, why) of bodies of a wrong shape
        self._schedule: Schedule | None = None
        self._lock = threading.Lock()
        self.httpd = ThreadingHTTPServer(("127.0.0.1", 0), _handler(self))
        self.port = self.httpd.server_address[1]
        self._thread = threading.Thread(target=self.httpd.serve_forever, kwargs={"poll_interval": 0.02},
                                        daemon=True)

    def url(self, robot: str, *, token: str | None = None) -> str:
        token = token or self.token
        base = f"http://127.0.0.1:{self.port}"
        return {"wecom": f"{base}/wecom/send?key={token}",
                "dingtalk": f"{base}/dingtalk/robot/send?access_token={token}",
                "feishu": f"{base}/feishu/hook/{token}"}[robot]

    def schedule(self, seed: int, *, failure_rate: float = 0.5) -> None:
        """From now on, answer on a seeded Schedule (until then, every request that passes its checks is taken)."""
        self._schedule = Schedule(seed, failure_rate)

    def start(self) -> ChatServer:
        self._thread.start()
        return self

    def stop(self) -> None:
        self.httpd.shutdown()
        self.httpd.server_close()
        self._thread.join()

    def answer(self, path: str, body: bytes) -> tuple[int, dict, object]:
        """(status, headers, answer) for one request, recording it."""
        parts = urllib.parse.urlsplit(path)
        query = dict(urllib.parse.parse_qsl(parts.query))
        robot = next((name for name, prefix in (("wecom", "/wecom/send"), ("dingtalk", "/dingtalk/robot/send"),
                                                ("feishu", "/feishu/hook/")) if parts.path.startswith(prefix)), None)
        if parts.path == "/moved":  # a webhook that redirects: a client must not follow it
            return 302, {"Location": f"/wecom/send?key={self.token}"}, {"errcode": 302, "errmsg": "moved"}
        if robot is None:
            return 404, {}, {"errcode": 404, "errmsg": "no such robot"}
        token = parts.path.rpartition("/")[2] if robot == "feishu" else query.get(
            "key" if robot == "wecom" else "access_token")
        try:
            parsed = json.loads(body)
        except ValueError:
            parsed = None
        with self._lock:
            if token != self.token:
                return 200, {}, BAD_TOKEN[robot]
            if robot == "dingtalk" and not self._signed(query.get("timestamp", ""), query.get("sign", ""), 1000,
                                                        lambda ts: (self.secret.encode(), f"{ts}\n{self.secret}")):
                return 200, {}, BAD_SIGN[robot]
            if robot == "feishu" and not (isinstance(parsed, dict) and self._signed(
                    str(parsed.get("timestamp", "")), str(parsed.get("sign", "")), 1,
                    lambda ts: (f"{ts}\n{self.secret}".encode(), ""))):
                return 200, {}, BAD_SIGN[robot]
            outcome = self._schedule.next() if self._schedule else "ok"
            self.arrivals.append((robot, outcome))
            if outcome == "429":
                return 429, {"Retry-After": "7"}, {"errcode": 429, "errmsg": "too many requests"}
            if outcome == "500":
                return 500, {}, "internal error"
            if outcome == "errcode":
                return 200, {}, THROTTLED[robot]
            why = _shape(robot, parsed, body)
            if why:
                self.rejected.append((robot, why))
                return 400, {}, {"errcode": 40000, "errmsg": why}
            text = _text(robot, parsed)
            found = REFERENCE.findall(text)
            self.delivered.append(Delivery(robot, parts.path, parsed, found[-1] if found else None))
            return 200, {}, OK[robot]

    def _signed(self, timestamp: str, sign: str, per_second: int, key_and_message) -> bool:
        if not timestamp.isdigit():
            return False
        at = datetime.fromtimestamp(int(timestamp) / per_second, tz=self.now.tzinfo)
        if abs(at - self.now) > timedelta(hours=1):
            return False
        key, message = key_and_message(timestamp)
        expected = base64.b64encode(hmac.new(key, message.encode(), hashlib.sha256).digest()).decode()
        return hmac.compare_digest(expected, sign)


def _text(robot: str, body: dict) -> str:
    if robot == "wecom":
        return body["markdown"]["content"]
    if robot == "dingtalk":
        return body["markdown"]["text"]
    return body["content"]["text"]


def _shape(robot: str, body, raw: bytes) -> str | None:
    """Why a body would be refused by the real robot, or None."""
    if not isinstance(body, dict):
        return "body is not a JSON object"
    if robot == "wecom":
        content = (body.get("markdown") or {}).get("content") if body.get("msgtype") == "markdown" else None
        if not isinstance(content, str) or not content:
            return "markdown.content missing"
        if len(content.encode()) > 4096:
            return "markdown.content exceeds 4096 bytes"
        return None
    if robot == "dingtalk":
        markdown, at = body.get("markdown") or {}, body.get("at") or {}
        if body.get("msgtype") != "markdown" or not isinstance(markdown.get("title"), str) \
                or not isinstance(markdown.get("text"), str):
            return "markdown.title and markdown.text required"
        if len(markdown["text"].encode()) > 20000:
            return "markdown.text exceeds 20000 bytes"
        mobiles = at.get("atMobiles", [])
        if not isinstance(mobiles, list) or at.get("isAtAll") not in (False, None):
            return "at is malformed"
        if any(f"@{mobile}" not in markdown["text"] for mobile in mobiles):
            return "an at mobile is missing from the text"  # DingTalk would not show the mention
        return None
    if body.get("msg_type") != "text" or not isinstance((body.get("content") or {}).get("text"), str):
        return "msg_type text with content.text required"
    if len(raw) > 20000:
        return "body exceeds 20 KB"
    return None


def _handler(server: ChatServer):
    class Handler(BaseHTTPRequestHandler):
        def do_POST(self):  # noqa: N802 (http.server's hook name)
            length = int(self.headers.get("Content-Length") or 0)
            status, headers, answer = server.answer(self.path, self.rfile.read(length))
            payload = answer.encode() if isinstance(answer, str) else json.dumps(answer).encode()
            self.send_response(status)
            self.send_header("Content-Type", "text/plain" if isinstance(answer, str) else "application/json")
            self.send_header("Content-Length", str(len(payload)))
            for name, value in headers.items():
                self.send_header(name, value)
            self.end_headers()
            self.wfile.write(payload)

        def log_message(self, format, *args):  # the test's output is for the test
            pass

    return Handler


@pytest.fixture
def chat_server():
    """A fake WeCom/DingTalk/Feishu robot server on a free loopback port (see ChatServer)."""
    server = ChatServer().start()
    yield server
    server.stop()
