#!/usr/bin/env bash
# "Opens in the modeler" check for every BPMN file of the repository:
#   1. bpmnlint 11 with the repository's .bpmnlintrc (bpmnlint:recommended),
#      failing on any error or warning;
#   2. tools/bpmn-check/check.mjs: import into bpmn-js in headless Chromium,
#      failing on any import warning or error.
# Needs node/npm and Chromium (/usr/bin/chromium: apt-get install -y chromium,
# or set CHROMIUM). Usage: tools/check-bpmn.sh [FILE.bpmn ...]
# (default: processes/*.bpmn and bench/processes/*.bpmn, relative to the repo root).
set -euo pipefail

here="$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)"
root="$(cd "$here/.." && pwd)"
checker="$here/bpmn-check"
cd "$root"

# Install the pinned tools quietly (npm ci when there is a lock file).
(
  cd "$checker"
  if [ -f package-lock.json ]; then
    npm ci --no-audit --no-fund --loglevel=error >/dev/null
  else
    npm install --no-audit --no-fund --loglevel=error >/dev/null
  fi
) || { echo "check-bpmn: npm install failed in tools/bpmn-check" >&2; exit 1; }

if [ "$#" -gt 0 ]; then
  files=("$@")
else
  shopt -s nullglob
  files=(processes/*.bpmn bench/processes/*.bpmn)
  shopt -u nullglob
fi
if [ "${#files[@]}" -eq 0 ]; then
  echo "check-bpmn: no BPMN files found under processes/ or bench/processes/" >&2
  exit 1
fi

status=0

echo "== bpmnlint (${#files[@]} files)"
# bpmnlint exits 0 on warnings unless told otherwise.
if "$checker/node_modules/.bin/bpmnlint" --max-warnings=0 "${files[@]}"; then
  echo "bpmnlint: no problems"
else
  status=1
fi

echo "== bpmn-js import"
node "$checker/check.mjs" "${files[@]}" || status=1

if [ "$status" -ne 0 ]; then
  echo "check-bpmn: FAILED" >&2
fi
exit "$status"
