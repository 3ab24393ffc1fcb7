#!/usr/bin/env bash
# The demo: a small O&M company lives through 2027 in a couple of seconds (demo/year.yaml, on a
# simulated clock, in a fresh SQLite database), then its year's documents are written and the
# records summed up. Things go wrong as they do in life: a rejected plan, overdue findings
# escalated to the management representative, a major complaint, a missed indicator, a late survey.
set -euo pipefail
cd "$(dirname "$0")/.."

out=demo-out
rm -rf "$out" && mkdir -p "$out"
db="$out/opsqa.db"
step() { printf '\n\033[1m== %s\033[0m\n' "$*"; }
show() { printf '$ %s\n' "$*"; "$@"; }

step "2027, simulated: the company, its processes and a year of work (demo/year.yaml)"
show opsqa --db "$db" simulate --from 2026-12-20 --to 2028-01-02 --scenario demo/year.yaml --out "$db"

step "The year's documents: issued by the quality department during the year and again at its end (demo/year.yaml)"
ls "$out/reports/2027"
show opsqa --db "$db" --lang zh_CN documents --year 2027

step "Where the year ended"
show opsqa --db "$db" indicators year 2027
show opsqa --db "$db" findings --as-of 2028-01-02
show opsqa --db "$db" complaints list
show opsqa --db "$db" improvement list --year 2027
show opsqa --db "$db" history verify

step "For the people who use it: Chinese, spreadsheets, diagrams"
show opsqa --db "$db" --lang zh_CN improvement list --year 2027
show opsqa --db "$db" findings --as-of 2028-01-02 --xlsx "$out/reports/2027/findings-2027.xlsx"
show opsqa --db "$db" complaints list --xlsx "$out/reports/2027/complaints-2027.xlsx"
show opsqa --db "$db" processes show annual_cycle --diagram "$out/reports/2027/annual-cycle.svg"

printf '\nThe reports are in %s/reports/2027 (start with management-review-report-2027.html).\n' "$out"
printf 'The database is %s; try: opsqa --db %s instances\n' "$db" "$db"
printf 'In a browser: make serve (passwords for the demo users, then http://127.0.0.1:8080/ — on a phone too)\n'
