#!/usr/bin/env bash
# The demo: a fresh SQLite database, the quality-plan process deployed, and the plan walked
# through draft -> rejected -> redraft -> approved -> issued from the CLI, as operators would.
set -euo pipefail
cd "$(dirname "$0")/.."

out=demo-out
rm -rf "$out" && mkdir -p "$out"
export OPSQA_DB="$out/opsqa.db"

step() { printf '\n\033[1m== %s\033[0m\n' "$*"; }
show() { printf '$ %s\n' "$*"; "$@"; }
first_task() { opsqa tasks --json | python3 -c 'import json,sys; print(json.load(sys.stdin)[0]["id"][:8])'; }

step "Set up: a database, its users, the processes"
show opsqa init
show opsqa users add zhangsan --role qmd --name 张三
show opsqa users add lisi --role gm --name 李四
show opsqa users list
show opsqa deploy processes
show opsqa processes

step "The quality management department starts the 2027 plan (6.1.2)"
show opsqa start quality_plan --key 2027 --set year=2027
show opsqa tasks --role qmd
draft=$(first_task)
show opsqa task show "$draft"
show opsqa --as zhangsan task complete "$draft" \
  --set objectives="客户满意度不低于90%；重大故障24小时内恢复" \
  --set verification="内部审核与现场抽查" \
  --set resources="质量专员2名；每季度培训一次" \
  --set audit_schedule="6月全面内审；12月管理评审" \
  --set audit_start=2027-06-01 \
  --set survey_start=2027-09-01 \
  --set indicator_cycle=monthly \
  --set spot_check_plan="每季度每个项目抽查一次" \
  --set spot_check_frequency=spot_quarterly \
  --set spot_check_sample=1

step "The general manager sends it back"
show opsqa tasks --role gm
approval=$(first_task)
show opsqa --as lisi task complete "$approval" --set decision=rejected --set comment="质量目标需量化到各项目"

step "The department sees why, and redrafts"
redraft=$(first_task)
show opsqa task show "$redraft"
cat > "$out/plan-2027.yaml" <<'YAML'
objectives: 各项目客户满意度不低于90%；重大故障24小时内恢复率100%
verification: 内部审核与现场抽查
resources: 质量专员2名；每季度培训一次
audit_schedule: 6月全面内审；12月管理评审
audit_start: 2027-06-01
survey_start: 2027-09-01
indicator_cycle: monthly
spot_check_plan: 每季度每个项目抽查一次
spot_check_frequency: 每季度
spot_check_sample: 1
YAML
show opsqa --as zhangsan task complete "$redraft" --data "$out/plan-2027.yaml"

step "Approved: the plan is issued to the departments"
approval=$(first_task)
show opsqa --as lisi task complete "$approval" --set decision=approved --set comment="同意下发"
show opsqa instance show 1
show opsqa plans
show opsqa history --instance 1
show opsqa history verify
printf '\nThe demo database is %s; try: OPSQA_DB=%s opsqa instances\n' "$OPSQA_DB" "$OPSQA_DB"
