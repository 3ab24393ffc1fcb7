"""The web face over HTTP (Starlette's TestClient, in-process, a real SQLite file): signing in and out, the
lockout, the idle timeout, CSRF, the security headers, the language, the error page, and the inbox."""

from __future__ import annotations

import json
import logging
import re
from datetime import timedelta

import pytest
from helpers import ADMIN, PASSWORD, start_chore
from starlette.testclient import TestClient

import usecases
import web
from store import Event, Task


@pytest.fixture
def client(site):
    with TestClient(web.create_app(site)) as client:
        yield client


def sign_in(client: TestClient, username: str = "qmd1", password: str = PASSWORD, *, next: str = "/"):
    page = client.get("/login", params={"next": next})
    token = re.search(r'name="csrf" value="([^"]+)"', page.text).group(1)
    return client.post("/login", data={"csrf": token, "username": username, "password": password, "next": next},
                       follow_redirects=False)


def csrf_of(page) -> str:
    return re.search(r'name="csrf" value="([^"]+)"', page.text).group(1)


def events(engine, kind: str) -> list[dict]:
    with engine.database.reading() as session:
        rows = session.query(Event).filter(Event.kind == kind).order_by(Event.id).all()
        return [{"actor": row.actor, **json.loads(row.payload)} for row in rows]


# -- signing in


def test_a_person_signs_in_sees_their_tasks_and_signs_out(site, client):
    assert client.get("/", follow_redirects=False).headers["location"] == "/login?next=%2F"
    signed = sign_in(client)
    assert signed.status_code == 303 and signed.headers["location"] == "/"
    cookie = signed.headers["set-cookie"]
    assert "opsqa_session=" in cookie and "HttpOnly" in cookie and "SameSite=strict" in cookie
    assert "Secure" not in cookie  # served over plain HTTP here
    home = client.get("/")
    assert home.status_code == 200 and "我的待办" in home.text and "张三" in home.text
    [login] = events(site, "security.login")
    assert (login["user"], login["source"], login["result"]) == ("qmd1", "testclient", "success")

    assert client.post("/logout", data={"csrf": "forged"}, follow_redirects=False).status_code == 403
    out = client.post("/logout", data={"csrf": csrf_of(home)}, follow_redirects=False)
    assert (out.status_code, out.headers["location"]) == (303, "/login")
    assert client.get("/", follow_redirects=False).status_code == 303
    assert [e["user"] for e in events(site, "security.logout")] == ["qmd1"]


def test_a_wrong_password_is_refused_in_one_line_and_recorded(site, client):
    for name, password in (("qmd1", "wrong password"), ("nobody", PASSWORD), ("gm1", PASSWORD)):
        refused = sign_in(client, name, password)
        assert refused.status_code == 401
        assert "用户名或密码错误" in refused.text  # the same words whether the user exists or not
        assert "opsqa_session" not in refused.headers.get("set-cookie", "")
    causes = [(e["user"], e["cause"], e["source"]) for e in events(site, "security.login_failed")]
    assert causes == [("qmd1", "bad_password", "testclient"), ("nobody", "unknown_user", "testclient"),
                      ("gm1", "no_password", "testclient")]


def test_five_failures_lock_the_account_for_fifteen_minutes(site, client, clock):
    for _ in range(4):
        assert sign_in(client, "qmd1", "wrong password").status_code == 401
    locked = sign_in(client, "qmd1", "wrong password")
    assert "登录失败次数过多" in locked.text and "09:15 +08:00" in locked.text
    assert sign_in(client, "qmd1").status_code == 401  # the right password, but locked
    [lock] = events(site, "security.locked")
    assert (lock["user"], lock["source"]) == ("qmd1", "testclient")
    clock.advance(timedelta(minutes=15, seconds=1))
    assert sign_in(client, "qmd1").status_code == 303


def test_the_sign_in_form_needs_its_own_token(site, client):
    client.get("/login")
    forged = client.post("/login", data={"csrf": "x", "username": "qmd1", "password": PASSWORD})
    assert forged.status_code == 403 and "opsqa_session" not in forged.headers.get("set-cookie", "")
    assert events(site, "security.login") == []


def test_a_session_ends_after_the_idle_timeout(site, client, clock):
    sign_in(client)
    clock.advance(timedelta(minutes=29))
    assert client.get("/", follow_redirects=False).status_code == 200
    clock.advance(timedelta(minutes=29))  # the last use was written a minute after sign-in: still live
    assert client.get("/", follow_redirects=False).status_code == 200
    clock.advance(timedelta(minutes=31))
    assert client.get("/", follow_redirects=False).headers["location"] == "/login?next=%2F"


def test_a_new_password_ends_the_other_sessions(site, client):
    sign_in(client)
    usecases.auth.set_password(site, usecases.Caller(ADMIN), "qmd1", "another long password")
    assert client.get("/", follow_redirects=False).status_code == 303


def test_no_redirect_leaves_the_site(site, client):
    for target in ("//evil.example/x", "https://evil.example/", "/\\evil.example", "javascript:alert(1)"):
        assert sign_in(client, next=target).headers["location"] == "/"
        client.cookies.clear()
    assert sign_in(client, next="/tasks/done?page=2").headers["location"] == "/tasks/done?page=2"
    lang = client.get("/lang", params={"to": "en", "next": "//evil.example"}, follow_redirects=False)
    assert lang.headers["location"] == "/"


def test_users_passwd_reads_stdin_and_the_policy_decides(site, run):
    result = run("users", "passwd", "pm1", input="a long enough password\n", login="pm1")
    assert result.exit_code == 0, result.output
    refused = run("users", "passwd", "qmd1", input="a long enough password\n", login="pm1")
    assert refused.exit_code == 1
    assert refused.stderr == "opsqa: users.passwd needs the user themselves, or role admin; pm1 holds pm\n"
    short = run("users", "passwd", "pm1", input="short\n", login=ADMIN)
    assert short.stderr == "opsqa: a password has at least 10 characters\n"
    named = run("users", "passwd", "pm1", input="pm1\n", login=ADMIN)
    assert named.exit_code == 1
    assert [e["user"] for e in events(site, "user.password_set")][-1] == "pm1"
    assert not any("password" in json.dumps(e).replace("password_set", "") for e in events(site, "user.password_set"))


# -- every response


def test_every_response_carries_the_security_headers(client):
    for path in ("/login", "/static/app.css", "/healthz", "/no/such/page"):
        response = client.get(path)
        headers = response.headers
        assert "script-src 'self'" in headers["content-security-policy"], path
        assert "'unsafe-inline'" not in headers["content-security-policy"]
        assert headers["x-frame-options"] == "DENY" and headers["x-content-type-options"] == "nosniff"
        assert "server" not in headers
    assert client.get("/login").headers["cache-control"] == "no-store"


def test_pages_are_chinese_first_and_english_on_request(client):
    assert "登录" in client.get("/login").text
    assert "Sign in" in client.get("/login", headers={"accept-language": "en-US,en;q=0.9"}).text
    switched = client.get("/lang", params={"to": "en", "next": "/login"}, follow_redirects=False)
    assert switched.headers["location"] == "/login" and "opsqa_lang=en" in switched.headers["set-cookie"]
    assert "Sign in" in client.get("/login").text


def test_an_unexpected_error_shows_an_id_the_log_has_and_no_traceback(site, client, monkeypatch, caplog):
    sign_in(client)

    def broken(*args, **kwargs):
        raise RuntimeError("secret internals")

    monkeypatch.setattr(usecases.tasks, "inbox", broken)
    with caplog.at_level(logging.ERROR, logger="opsqa.web"):
        page = client.get("/")
    assert page.status_code == 500
    error_id = re.search(r"<code>([0-9a-f]{12})</code>", page.text).group(1)
    assert "secret internals" not in page.text and "Traceback" not in page.text
    assert any(error_id in record.getMessage() for record in caplog.records)


def test_hostile_text_is_escaped(site, client):
    usecases.admin.add_user(site, usecases.Caller(ADMIN), "evil", ["qmd"], display_name=None)
    start_chore(site, "2027-01-05T18:00:00+08:00", "<script>alert(1)</script>")
    sign_in(client)
    page = client.get("/")
    assert "<script>alert(1)</script>" not in page.text and "&lt;script&gt;alert(1)&lt;/script&gt;" in page.text
    assert "处理 &lt;b&gt;事项&lt;/b&gt;" in page.text


def test_healthz_without_a_scheduler_here(client):
    assert client.get("/healthz").json() == {"status": "ok", "scheduler": None}


# -- the inbox


def test_the_inbox_shows_mine_and_my_roles_most_urgent_first(site, client, clock):
    late = start_chore(site, "2027-01-01T08:00:00+08:00", "K-LATE")
    soon = start_chore(site, "2027-01-02T18:00:00+08:00", "K-SOON")
    later = start_chore(site, "2027-01-09T18:00:00+08:00", "K-LATER")
    taken = start_chore(site, "2027-01-03T18:00:00+08:00", "K-TAKEN")
    with site.database.transaction() as session:  # one claimed by someone else: no longer the role's
        session.query(Task).filter(Task.instance_id == taken).update({"claimed_by": "qmd2"})
    sign_in(client)
    page = client.get("/")
    keys = re.findall(r"chore · (K-[A-Z]+)", page.text)
    assert keys == ["K-LATE", "K-SOON", "K-LATER"]
    assert page.text.count('class="row overdue"') == 1 and "已逾期" in page.text
    assert "K-LATE" in client.get("/", params={"overdue": "1"}).text
    assert "K-SOON" not in client.get("/", params={"overdue": "1"}).text

    task = site.tasks(instance_id=soon)[0]
    site.complete(task["id"], {}, actor=site.actor("qmd1"))
    done = client.get("/tasks/done")
    assert re.findall(r"chore · (K-[A-Z]+)", done.text) == ["K-SOON"]
    client.cookies.clear()
    sign_in(client, "qmd2")
    # qmd2's: the task they claimed, and the role's; K-SOON's next task has no due date: last
    assert re.findall(r"chore · (K-[A-Z]+)", client.get("/").text) == ["K-LATE", "K-TAKEN", "K-LATER", "K-SOON"]
    del late, later


def test_the_inbox_pages_fifty_at_a_time(site, client):
    for n in range(53):
        start_chore(site, "2027-02-01T18:00:00+08:00", f"K-{n:03d}")
    sign_in(client)
    first = client.get("/")
    assert first.text.count('<li class="row') == 50 and "第 1 / 2 页" in first.text
    second = client.get("/", params={"page": "2"})
    assert second.text.count('<li class="row') == 3
    assert client.get("/", params={"page": "x"}).status_code == 200
    assert client.get("/", params={"page": "999"}).text.count('<li class="row') == 3  # the last page


def test_started_by_me_lists_my_instances(site, client):
    start_chore(site, "2027-02-01T18:00:00+08:00", "K-1")
    sign_in(client, ADMIN)
    page = client.get("/tasks/started")
    assert "K-1" in page.text and "/instances/" in page.text


def test_a_one_time_code_is_asked_for_once_set_and_signs_in_once(site, client, clock, run):
    import pyotp

    uri = usecases.auth.set_totp(site, usecases.Caller("qmd1"), "qmd1")
    secret = re.search(r"secret=([A-Z2-7]+)", uri).group(1)
    assert uri.startswith("otpauth://totp/opsqa:qmd1?")
    now = clock.now()
    code = pyotp.TOTP(secret).at(now)
    without = sign_in(client)
    assert without.status_code == 401 and "动态口令错误或已用过" in without.text

    def with_code(code: str):
        page = client.get("/login")
        return client.post("/login", data={"csrf": csrf_of(page), "username": "qmd1", "password": PASSWORD,
                                           "code": code}, follow_redirects=False)

    wrong = f"{(int(code) + 1) % 1_000_000:06d}"
    assert with_code(wrong).status_code == 401
    assert with_code(code).status_code == 303
    client.cookies.clear()
    assert with_code(code).status_code == 401  # the same code again: refused
    clock.advance(timedelta(seconds=30))
    assert with_code(pyotp.TOTP(secret).at(clock.now())).status_code == 303
    causes = [e["cause"] for e in events(site, "security.login_failed")]
    assert causes == ["bad_code", "bad_code", "bad_code"]

    refused = run("users", "totp", "qmd1", "--off", "--reason", "换手机", login="qmd1")
    assert refused.exit_code == 1 and refused.stderr.startswith("opsqa: users.totp_off needs role admin")
    assert run("users", "totp", "qmd1", "--off", "--reason", "换手机").exit_code == 0
    client.cookies.clear()
    assert sign_in(client).status_code == 303


def test_admins_need_a_one_time_code_when_the_setting_says_so(site, client, run):
    assert run("settings", "web_admin_totp", "on", "--reason", "等保要求").exit_code == 0
    refused = sign_in(client, ADMIN)
    assert refused.status_code == 401 and "opsqa users totp admin1" in refused.text
    assert sign_in(client, "qmd1").status_code == 303  # not an admin
    printed = run("users", "totp", ADMIN)
    assert printed.exit_code == 0 and printed.stdout.startswith("otpauth://totp/opsqa:admin1?secret=")


def test_a_forwarded_address_is_believed_only_when_told(site):
    """Behind a reverse proxy the security events name the client's real address — with --proxy-headers,
    from the proxies trusted; without it, a forged X-Forwarded-For changes nothing."""
    from web.server import config

    forged = {"x-forwarded-for": "203.0.113.7"}
    for proxy_headers, trusted, expected in ((False, None, "testclient"), (True, "127.0.0.1", "testclient"),
                                             (True, "*", "203.0.113.7")):
        settings = config(web.create_app(site), proxy_headers=proxy_headers, forwarded_allow_ips=trusted)
        settings.load()
        with TestClient(settings.loaded_app) as client:
            page = client.get("/login")
            client.post("/login", data={"csrf": csrf_of(page), "username": "qmd1", "password": PASSWORD},
                        headers=forged)
        assert events(site, "security.login")[-1]["source"] == expected, (proxy_headers, trusted)
