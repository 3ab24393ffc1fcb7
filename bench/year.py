"""The demo's year (demo/year.yaml) scaled to a company of N O&M projects, for the benchmark.

Projects P-001..P-N (the demo's P-01..P-03 become P-001..P-003, so the codes of findings, complaints
and improvement items are the same); the audit covers every project, each auditor half of them;
every project's customer is invited to the survey and four in five answer.
"""

from __future__ import annotations

from pathlib import Path

import yaml

DEMO = Path(__file__).resolve().parent.parent / "demo"


def scenario_for(folder: Path, projects: int) -> Path:
    codes = [f"P-{n:03d}" for n in range(1, projects + 1)]
    half = codes[: projects // 2]
    rows = ["code,name,customer,pm,oms,kind,status,members"]
    for n, code in enumerate(codes, start=1):
        pm, members = ("pm1" if n % 2 else "pm2"), ("ops_aud" if code == "P-001" else "")
        rows.append(f"{code},项目{code},客户{code},{pm},oms1,safe_city,active,{members}")
    (folder / "projects.csv").write_text("\n".join(rows) + "\n", encoding="utf-8")
    invitations = ["customer,project,channel"]
    responses = ["customer,project,channel,overall,q_om_service,q_service_desk,issues"]
    issue_at = 9 if projects > 9 else 1  # one customer raises a problem (a rectification, as in the demo)
    for n, code in enumerate(codes):
        channel = ("phone", "form", "visit")[n % 3]
        invitations.append(f"客户{code},{code},{channel}")
        if n % 5:
            score = 3 + n % 3
            responses.append(f"客户{code},{code},{channel},{score},{score},{min(5, score + 1)},"
                             + ("夜间报修响应慢" if n == issue_at else ""))
    (folder / "invitations.csv").write_text("\n".join(invitations) + "\n", encoding="utf-8")
    (folder / "responses.csv").write_text("\n".join(responses) + "\n", encoding="utf-8")
    for name in ("kpi-2027-Q1.csv", "kpi-2027-Q2.csv", "kpi-2027-Q3.csv", "kpi-2027.csv", "evidence.txt"):
        (folder / name).write_bytes((DEMO / name).read_bytes())

    scenario = yaml.safe_load((DEMO / "year.yaml").read_text(encoding="utf-8"))
    runs = []
    for entry in scenario["run"]:
        command = entry["command"]
        text = command if isinstance(command, str) else " ".join(command)
        if text.startswith("audit record"):
            continue  # replaced below, for every project
        if text.startswith("documents issue"):
            continue  # the year's work alone: rendering its documents (PDF above all) is not the engine's pace
        if isinstance(command, list):
            command = [part.replace("P-01", "P-001") for part in command]
        runs.append({**entry, "command": command})
    audit_day = "2027-06-09T10:00:00+08:00"
    for item, unit, evidence in (("PRC-c", "P-001", "3起重大事件超时未解决"), ("PRC-e", "P-002", "配置项与台账不一致"),
                                 ("RES-d", "P-003", "备件库缺少关键备件")):
        runs.append({"at": audit_day, "as": "qmd2" if unit in half else "ops_aud",
                     "command": ["audit", "record", "IA-2027-01", "--item", item, "--unit", unit, "--result",
                                 "nonconform", "--evidence", evidence]})
    for code in codes:
        runs.append({"at": "2027-06-09T11:00:00+08:00", "as": "qmd2" if code in half else "ops_aud",
                     "command": ["audit", "record", "IA-2027-01", "--rest", "--unit", code, "--result", "conform",
                                 "--evidence", "抽查记录"]})
    scenario["run"] = runs
    team = f"qmd2={','.join(half)}; ops_aud={','.join(codes[len(half):])}"
    scenario["answers"]["annual_cycle.plan_audit"]["values"]["audit_team"] = team
    path = folder / "year.yaml"
    path.write_text(yaml.safe_dump(scenario, allow_unicode=True, sort_keys=False), encoding="utf-8")
    return path
