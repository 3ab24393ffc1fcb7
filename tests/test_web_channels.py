"""Message channels over HTTP: the list, masked; a channel added, tested, set anew and removed; a role's
group channel; each user's channel and mention on their page — every change the same use case as
`opsqa channels` and `opsqa users set`, a refusal beside its form with nothing stored, a 403 for those the
policy does not allow."""

from __future__ import annotations

import pytest
from helpers import ADMIN
from starlette.testclient import TestClient
from test_web import csrf_of, events, sign_in

import usecases
import web

SECRET = "SEC0123456789abcdef"


@pytest.fixture
def client(site):
    with TestClient(web.create_app(site)) as client:
        yield client


def channel_names(site) -> list[str]:
    return [row["name"] for row in usecases.channels.channels(site) if row["set_up"]]


def test_an_admin_adds_tests_and_removes_a_robot_and_the_page_never_shows_its_secrets(site, client, chat_server):
    chat_server.now = site.clock.now()
    sign_in(client, ADMIN)
    page = client.get("/admin/channels")
    assert page.status_code == 200 and "消息通道" in page.text
    token = csrf_of(page)
    url = chat_server.url("dingtalk")
    added = client.post("/admin/channels/add", data={"csrf": token, "name": "ding-qmd", "kind": "dingtalk",
                                                     "url": url, "secret": SECRET}, follow_redirects=False)
    assert added.status_code == 303 and added.headers["location"] == "/admin/channels"
    listed = client.get("/admin/channels").text
    assert "ding-qmd" in listed and "钉钉" in listed
    assert chat_server.token not in listed and SECRET not in listed and "TOKE…" in listed

    tested = client.post("/admin/channels/ding-qmd/change", data={"csrf": token, "change": "test"})
    assert tested.status_code == 200 and "测试消息已通过 ding-qmd 发出" in tested.text
    [delivery] = chat_server.delivered
    assert delivery.robot == "dingtalk" and delivery.reference in tested.text
    assert [e["error"] for e in events(site, "channel.tested")] == [None]

    removed = client.post("/admin/channels/ding-qmd/change", data={"csrf": token, "change": "remove"},
                          follow_redirects=False)
    assert removed.status_code == 303 and channel_names(site) == []
    assert [e["name"] for e in events(site, "channel.removed")] == ["ding-qmd"]


def test_a_test_that_fails_shows_the_robots_errmsg_and_is_recorded(site, client, chat_server):
    chat_server.now = site.clock.now()
    usecases.channels.add(site, usecases.Caller(ADMIN), name="wx-ops", kind="wecom",
                          url=chat_server.url("wecom", token="WRONGTOKEN12345"))
    sign_in(client, ADMIN)
    token = csrf_of(client.get("/admin/channels"))
    failed = client.post("/admin/channels/wx-ops/change", data={"csrf": token, "change": "test"})
    assert failed.status_code == 400 and "invalid webhook url" in failed.text
    assert chat_server.delivered == []
    assert "invalid webhook url" in events(site, "channel.tested")[0]["error"]
    unknown = client.post("/admin/channels/nope/change", data={"csrf": token, "change": "test"})
    assert unknown.status_code == 400 and "nope" in unknown.text


@pytest.mark.parametrize("form, words", [
    ({"name": "ftp", "kind": "wecom", "url": "ftp://example.com/hook"}, "url"),
    ({"name": "ding", "kind": "dingtalk", "url": "https://oapi.dingtalk.com/robot/send?access_token=abc"}, "secret"),
    ({"name": "bad name!", "kind": "wecom", "url": "https://qyapi.weixin.qq.com/cgi-bin/webhook/send?key=k"}, "name"),
    ({"name": "mail2", "kind": "email", "host": "smtp.example.com", "port": "99999"}, "port"),
    ({"name": "mail3", "kind": "email", "host": "smtp.example.com", "port": "abc"}, "port"),
    ({"name": "sms", "kind": "sms", "url": "https://example.com"}, "kind"),
])
def test_a_bad_channel_is_refused_beside_the_form_keeping_what_was_typed_but_not_the_secret(site, client, form,
                                                                                              words):
    sign_in(client, ADMIN)
    token = csrf_of(client.get("/admin/channels"))
    refused = client.post("/admin/channels/add", data={"csrf": token, "password": "typed-secret-xyz", **form},
                          headers={"accept-language": "en"})
    assert refused.status_code == 400
    error = refused.text.split('class="error" role="alert">', 1)[1].split("</p>", 1)[0]
    assert words in error.lower() and "\n" not in error.strip()
    assert f'value="{form["name"]}"' in refused.text and "typed-secret-xyz" not in refused.text
    assert channel_names(site) == [] and events(site, "channel.added") == []


def test_a_roles_group_channel_is_set_and_cleared(site, client, chat_server):
    usecases.channels.add(site, usecases.Caller(ADMIN), name="wx-qmd", kind="wecom", url=chat_server.url("wecom"))
    sign_in(client, ADMIN)
    token = csrf_of(client.get("/admin/channels"))
    assert client.post("/admin/channels/roles", data={"csrf": token, "role": "qmd", "channel": "wx-qmd"},
                       follow_redirects=False).status_code == 303
    assert {r["role"]: r["channel"] for r in usecases.channels.role_channels(site)}["qmd"] == "wx-qmd"
    in_use = client.post("/admin/channels/wx-qmd/change", data={"csrf": token, "change": "remove"})
    assert in_use.status_code == 400 and "@qmd" in in_use.text and channel_names(site) == ["wx-qmd"]
    nobody = client.post("/admin/channels/roles", data={"csrf": token, "role": "auditor", "channel": "wx-qmd"})
    assert nobody.status_code == 400 and "auditor" in nobody.text
    assert client.post("/admin/channels/roles", data={"csrf": token, "role": "qmd", "channel": ""},
                       follow_redirects=False).status_code == 303
    assert {r["role"]: r["channel"] for r in usecases.channels.role_channels(site)}["qmd"] is None
    assert [e["channel"] for e in events(site, "channel.role")] == ["wx-qmd", None]


def test_a_user_sets_their_own_channel_and_mention_but_not_anothers(site, client, chat_server):
    usecases.channels.add(site, usecases.Caller(ADMIN), name="ding-qmd", kind="dingtalk",
                          url=chat_server.url("dingtalk"), secret=SECRET)
    sign_in(client, "qmd1")
    own = client.get("/admin/users/qmd1")
    assert 'id="route"' in own.text and 'value="ding-qmd"' in own.text
    token = csrf_of(own)
    wrong = client.post("/admin/users/qmd1/change", data={"csrf": token, "change": "route", "channel": "ding-qmd",
                                                          "mention": "zhangsan"})
    assert wrong.status_code == 400 and "zhangsan" in wrong.text and "13800138000" in wrong.text
    assert 'value="zhangsan"' in wrong.text  # what was typed comes back beside the refusal
    assert usecases.admin.user(site, "qmd1")["channel"] is None
    saved = client.post("/admin/users/qmd1/change", data={"csrf": token, "change": "route", "channel": "ding-qmd",
                                                          "mention": "13800138000"}, follow_redirects=False)
    assert saved.status_code == 303 and saved.headers["location"] == "/admin/users/qmd1#route"
    person = usecases.admin.user(site, "qmd1")
    assert (person["channel"], person["mention"]) == ("ding-qmd", "13800138000")
    assert "ding-qmd · 13800138000" in client.get("/admin/users/qmd1").text

    other = client.get("/admin/users/pm1")
    assert 'id="route"' not in other.text
    denied = client.post("/admin/users/pm1/change", data={"csrf": token, "change": "route", "channel": "ding-qmd",
                                                          "mention": "13900139000"})
    assert denied.status_code == 403 and usecases.admin.user(site, "pm1")["channel"] is None
    assert [e["user"] for e in events(site, "user.route")] == ["qmd1"]


def test_only_admins_change_channels(site, client, chat_server):
    usecases.channels.add(site, usecases.Caller(ADMIN), name="wx-qmd", kind="wecom", url=chat_server.url("wecom"))
    sign_in(client, "qmd1")
    page = client.get("/admin/channels")
    assert page.status_code == 200 and "wx-qmd" in page.text
    assert 'action="/admin/channels/add"' not in page.text and 'name="change"' not in page.text
    token = csrf_of(page)
    for path, form in (("/admin/channels/add", {"name": "mine", "kind": "wecom", "url": chat_server.url("wecom")}),
                       ("/admin/channels/wx-qmd/change", {"change": "test"}),
                       ("/admin/channels/wx-qmd/change", {"change": "remove"}),
                       ("/admin/channels/roles", {"role": "qmd", "channel": "wx-qmd"})):
        assert client.post(path, data={"csrf": token, **form}).status_code == 403, path
    assert channel_names(site) == ["wx-qmd"] and chat_server.delivered == []
    assert len(events(site, "security.denied")) == 4
