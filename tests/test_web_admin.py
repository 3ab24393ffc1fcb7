"""Administration over HTTP: users, roles, passwords and status; processes, their versions, differences
and a migration's dry run before it is applied; settings — each change with its reason, each refusal a 403
with nothing changed."""

from __future__ import annotations

import pytest
from helpers import ADMIN, linear, user_task
from starlette.testclient import TestClient
from test_web import csrf_of, events, sign_in

import web


@pytest.fixture
def client(site):
    with TestClient(web.create_app(site)) as client:
        yield client


def test_everyone_reads_only_admins_change(site, client):
    sign_in(client, "qmd1")
    for path in ("/admin", "/admin/users", "/admin/users/pm1", "/admin/processes", "/admin/processes/chore",
                 "/admin/settings"):
        page = client.get(path)
        assert page.status_code == 200, path
        assert "/change" not in page.text and 'action="/admin/settings"' not in page.text
    refused = client.post("/admin/users", data={"csrf": csrf_of(page), "name": "mallory", "roles": "admin"})
    assert refused.status_code == 403
    assert "mallory" not in [u["name"] for u in site.users()]
    assert [e["action"] for e in events(site, "security.denied")] == ["users"]


def test_an_admin_adds_a_user_gives_a_role_sets_a_password_and_disables(site, client):
    sign_in(client, ADMIN)
    page = client.get("/admin/users")
    token = csrf_of(page)
    added = client.post("/admin/users", data={"csrf": token, "name": "wang5", "display": "王五", "roles": "pm, ops",
                                              "department": "ops", "email": "wang5@example.com"},
                        follow_redirects=False)
    assert added.status_code == 303 and added.headers["location"] == "/admin/users/wang5"
    bad = client.post("/admin/users", data={"csrf": token, "name": "bad name", "roles": "pm"})
    assert bad.status_code == 400 and "bad name" in bad.text and 'value="bad name"' in bad.text

    def change(**form):
        return client.post("/admin/users/wang5/change", data={"csrf": token, **form}, follow_redirects=False)

    assert change(change="grant", role="qmd").status_code == 400  # a role change needs a reason
    assert change(change="grant", role="qmd", reason="兼任质量专员").status_code == 303
    assert change(change="revoke", role="ops", reason="调离运维部").status_code == 303
    assert change(change="passwd", password="a long enough password").status_code == 303
    assert change(change="disable", reason="离职").status_code == 303
    assert change(change="nonsense").status_code == 400
    person = client.get("/admin/users/wang5", headers={"accept-language": "en"}).text
    assert "pm, qmd" in person and "Enable again" in person
    kinds = [e for e in events(site, "user.roles_added") if e["user"] == "wang5"]
    assert kinds[0]["reason"] == "兼任质量专员"


def test_a_process_its_versions_differences_and_a_migration(site, client, tmp_path):
    path = tmp_path / "chore.bpmn"
    first = user_task("handle").replace('name="handle"', 'name="处理 &lt;b&gt;事项&lt;/b&gt;" camunda:dueDate="${due}"')
    path.write_text(linear("chore", ("handle", first), ("check", user_task("check")), ("extra", user_task("extra")),
                           lane="qmd"), encoding="utf-8")
    instance = site.start("chore", actor=site.actor(ADMIN), business_key="K-1",
                          variables={"due": "2027-02-01T18:00:00+08:00"})
    site.deploy([str(path)], actor=site.actor(ADMIN))
    sign_in(client, ADMIN)
    page = client.get("/admin/processes/chore", headers={"accept-language": "en"})
    assert page.status_code == 200 and 'data-bpmn="/definitions/' in page.text
    assert "added userTask extra" in page.text  # v1 -> v2 in the words of `processes diff`
    token = csrf_of(page)
    dry = client.post("/admin/processes/chore/migrate", data={"csrf": token, "to": "2"},
                      headers={"accept-language": "en"})
    assert dry.status_code == 200, dry.text
    assert "Dry run: nothing was moved" in dry.text and "would move" in dry.text, dry.text[dry.text.find("<main>"):]
    assert site.instance(instance)["version"] == 1
    moved = client.post("/admin/processes/chore/migrate", data={"csrf": token, "to": "2", "apply": "1",
                                                                "reason": "增加一步"})
    assert moved.status_code == 200 and site.instance(instance)["version"] == 2
    client.cookies.clear()
    sign_in(client, "pm1")
    refused = client.post("/admin/processes/chore/migrate", data={"csrf": csrf_of(client.get("/")), "to": "1"})
    assert refused.status_code == 403


def test_settings_change_with_a_reason(site, client):
    sign_in(client, ADMIN)
    page = client.get("/admin/settings")
    token = csrf_of(page)
    assert 'id="setting-web_idle_minutes"' in page.text
    missing = client.post("/admin/settings", data={"csrf": token, "key": "web_idle_minutes", "value": "15"})
    assert missing.status_code == 400 and "settings" in missing.text
    bad = client.post("/admin/settings", data={"csrf": token, "key": "web_idle_minutes", "value": "x",
                                               "reason": "缩短"})
    assert bad.status_code == 400
    done = client.post("/admin/settings", data={"csrf": token, "key": "web_idle_minutes", "value": "15",
                                                "reason": "缩短空闲时间"}, follow_redirects=False)
    assert done.status_code == 303
    [changed] = events(site, "setting.changed")
    assert (changed["key"], changed["old"], changed["new"], changed["reason"]) == (
        "web_idle_minutes", "30", "15", "缩短空闲时间")
