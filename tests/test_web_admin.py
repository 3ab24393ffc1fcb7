"""Administration over HTTP: users, roles, passwords and status; processes, their versions, differences,
deploying by upload and a migration's dry run before it is applied; settings — each change with its reason,
each refusal a 403 with nothing changed."""

from __future__ import annotations

import html
import re

import pytest
from helpers import ADMIN, PASSWORD, PROCESSES, linear, user_task
from starlette.testclient import TestClient
from test_hostile_diagrams import HOSTILE
from test_web import csrf_of, events, sign_in

import usecases
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
        changes = set(re.findall(r'name="change" value="(\w+)"', page.text))
        assert changes <= {"away"} and 'action="/admin/settings"' not in page.text  # qmd records absences (代理)
        assert bool(changes) == (path == "/admin/users/pm1")
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


# -- deploying by upload

EN = {"accept-language": "en"}


def _process_owner(site) -> None:
    admin = usecases.Caller(ADMIN)
    usecases.admin.add_user(site, admin, "po1", ["po"])
    usecases.auth.set_password(site, admin, "po1", PASSWORD)


def _check(client, token: str, *files: tuple[str, bytes]):
    return client.post("/admin/processes/check", data={"csrf": token}, headers=EN,
                       files=[("files", (name, content, "application/octet-stream")) for name, content in files])


def _checked(page) -> list[str]:
    return re.findall(r'name="sha256" value="([0-9a-f]{64})"', page.text)


def _refusals(page) -> list[str]:
    found = re.search(r'<ul class="refusals error"[^>]*>(.*?)</ul>', page.text, re.S)
    return [html.unescape(line) for line in re.findall(r"<li>(.*?)</li>", found.group(1), re.S)] if found else []


def test_a_process_owner_checks_sees_the_changes_and_deploys_with_a_reason(site, client, tmp_path):
    _process_owner(site)
    site.deploy([str(PROCESSES / "quality_plan.bpmn")], actor=site.actor(ADMIN))
    running = site.start("quality_plan", actor=site.actor(ADMIN), business_key="2027")
    plan = (PROCESSES / "quality_plan.bpmn").read_text(encoding="utf-8")
    changed = plan.replace('name="编制组织级质量管理计划"', 'name="编制年度质量计划"', 1)
    errand = linear("errand", ("run", user_task("run")), lane="qmd")
    sign_in(client, "po1")
    page = client.get("/admin/processes", headers=EN)
    assert 'action="/admin/processes/check#deploy"' in page.text and 'name="sha256"' not in page.text

    checked = _check(client, csrf_of(page), ("quality_plan.bpmn", changed.encode()),
                     ("chore.bpmn", (tmp_path / "chore.bpmn").read_bytes()), ("errand.bpmn", errand.encode()))
    assert checked.status_code == 200, _refusals(checked)
    text = html.unescape(checked.text)
    # the words of `processes diff`
    assert "draft_plan renamed from '编制组织级质量管理计划' to '编制年度质量计划'" in text
    assert "version 2 follows version 1" in text and "no change: version 1 stays" in text
    assert "new process: version 1" in text and "opsqa-uploads" not in text
    hashes = _checked(checked)
    assert len(hashes) == 3 and [v["version"] for v in site.versions("quality_plan")] == [1]  # nothing deployed
    with pytest.raises(usecases.OpsqaError):
        site.versions("errand")

    token = csrf_of(checked)
    missing = client.post("/admin/processes/deploy", data={"csrf": token, "sha256": hashes, "reason": " "},
                          headers=EN)
    assert missing.status_code == 400
    beside = re.search(r'<p class="field-error" id="deploy-problem" role="alert">([^<]*)</p>', missing.text)
    assert beside and "needs a reason" in beside.group(1) and _checked(missing) == hashes
    assert [v["version"] for v in site.versions("quality_plan")] == [1]

    done = client.post("/admin/processes/deploy", data={"csrf": token, "sha256": hashes, "reason": "计划改名"},
                       headers=EN)
    assert done.status_code == 200, done.text
    text = html.unescape(done.text)
    assert "version 2" in text and "unchanged (version 1)" in text
    assert '<a href="/admin/processes/quality_plan">1 running instance stays on an older version' in text
    assert [v["version"] for v in site.versions("quality_plan")] == [1, 2]
    assert [v["version"] for v in site.versions("errand")] == [1] and site.instance(running)["version"] == 1
    deployed = [(e["process"], e["version"], e["reason"], e["actor"]) for e in events(site, "definition.deployed")]
    assert deployed[-2:] == [("quality_plan", 2, "计划改名", "po1"), ("errand", 1, "计划改名", "po1")]
    assert not any(usecases.processes.upload_folder(site).iterdir())  # the checked files are let go
    again = client.post("/admin/processes/deploy", data={"csrf": token, "sha256": hashes, "reason": "再来"},
                        headers=EN)
    assert again.status_code == 400 and "no longer kept" in html.unescape(again.text)


def test_a_hostile_diagram_is_refused_in_one_line_beside_the_form_and_nothing_is_deployed(site, client):
    _process_owner(site)
    [(name, text)] = HOSTILE["start timer in year 9999"][0].items()
    sign_in(client, "po1")
    before = site.processes()
    token = csrf_of(client.get("/admin/processes"))
    checked = _check(client, token, (name, text.encode()), ("broken.bpmn", b"<bpmn:definitions"),
                     ("errand.bpmn", linear("errand", ("run", user_task("run"))).encode()))
    assert checked.status_code == 400
    hostile, broken = sorted(_refusals(checked), key=lambda line: not line.startswith(name))
    assert hostile.startswith("hostile.bpmn:") and "[start_def]" in hostile
    assert "outside the years 2000 to 2100" in hostile
    assert broken.startswith("broken.bpmn") and "malformed XML" in broken
    assert "\n" not in hostile + broken and "opsqa-uploads" not in checked.text
    assert "Nothing was deployed" in checked.text and _checked(checked) == []  # no deploy offered
    assert site.processes() == before


def test_a_user_without_the_role_gets_403_for_both_steps_and_nothing_changes(site, client, tmp_path):
    _process_owner(site)
    errand = linear("errand", ("run", user_task("run"))).encode()
    sign_in(client, "po1")
    hashes = _checked(_check(client, csrf_of(client.get("/admin/processes")), ("errand.bpmn", errand)))
    assert len(hashes) == 1
    client.cookies.clear()
    sign_in(client, "qmd1")
    page = client.get("/admin/processes")
    assert page.status_code == 200 and "/admin/processes/check" not in page.text
    kept = sorted(path.name for path in usecases.processes.upload_folder(site).iterdir())
    refused = _check(client, csrf_of(page), ("errand2.bpmn", linear("errand2", ("run", user_task("run"))).encode()))
    assert refused.status_code == 403
    confirm = client.post("/admin/processes/deploy", data={"csrf": csrf_of(page), "sha256": hashes, "reason": "试试"})
    assert confirm.status_code == 403
    assert [e["action"] for e in events(site, "security.denied")] == ["deploy", "deploy"]
    assert sorted(path.name for path in usecases.processes.upload_folder(site).iterdir()) == kept
    assert [p["process"] for p in site.processes()] == ["chore"] and not events(site, "definition.deployed")[1:]


def test_uploads_are_bounded_in_type_size_and_number(site, client):
    _process_owner(site)
    sign_in(client, "po1")
    token = csrf_of(client.get("/admin/processes"))
    assert _check(client, "forged", ("errand.bpmn", linear("errand", ("run", user_task("run"))).encode())
                  ).status_code == 403
    limit = usecases.processes.UPLOAD_LIMIT
    refused = _check(client, token, ("plan.txt", b"<x/>"), ("big.bpmn", b" " * (limit + 1)),
                     ("../../etc/empty.bpmn", b""))
    assert refused.status_code == 400
    assert _refusals(refused) == ["plan.txt: only BPMN diagrams (.bpmn files) can be deployed",
                                  "big.bpmn: larger than 5 MB; a diagram uploaded here is at most 5 MB",
                                  "empty.bpmn: the file is empty"]
    many = _check(client, token, *[(f"p{n}.bpmn", b"<x/>") for n in range(51)])
    assert many.status_code == 400
    assert _refusals(many) == ["51 files were chosen; at most 50 are checked at once"]
    broken = _refusals(_check(client, token, *[(f"p{n:02}.bpmn", b"<x%d" % n) for n in range(12)]))
    assert len(broken) == 11 and all(line.startswith(f"p{n:02}.bpmn") for n, line in enumerate(broken[:10]))
    assert broken[10] == "the check stopped after 10 refused files; correct them and check again"
    none = client.post("/admin/processes/check", data={"csrf": token}, headers=EN)
    assert none.status_code == 400 and _refusals(none) == ["choose one or more .bpmn files to check"]
    assert len(list(usecases.processes.upload_folder(site).iterdir())) == 12  # only .bpmn files within the bounds
    assert [p["process"] for p in site.processes()] == ["chore"]
