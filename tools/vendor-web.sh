#!/usr/bin/env bash
# Vendors the web face's browser libraries from their npm packages at pinned versions into
# web/static/vendor (no CDN, no Node at run time, no bundler), with their licences, and writes
# web/static/vendor/VERSIONS with each file's SHA-256. Run it to update a version, then commit the files.
set -euo pipefail
cd "$(dirname "$0")/.."
HTMX=2.0.11
BPMN_JS=18.31.1
out=web/static/vendor
work=$(mktemp -d)
trap 'rm -rf "$work"' EXIT
(cd "$work" && npm pack --silent "htmx.org@$HTMX" "bpmn-js@$BPMN_JS" >/dev/null)
mkdir -p "$work/htmx" "$work/bpmn-js" "$out"
tar xzf "$work/htmx.org-$HTMX.tgz" -C "$work/htmx"
tar xzf "$work/bpmn-js-$BPMN_JS.tgz" -C "$work/bpmn-js"
rm -f "$out"/*
cp "$work/htmx/package/dist/htmx.min.js" "$out/htmx-$HTMX.min.js"
cp "$work/htmx/package/LICENSE" "$out/htmx-$HTMX.LICENSE"
cp "$work/bpmn-js/package/dist/bpmn-navigated-viewer.production.min.js" "$out/bpmn-navigated-viewer-$BPMN_JS.min.js"
cp "$work/bpmn-js/package/dist/assets/diagram-js.css" "$out/diagram-js-$BPMN_JS.css"
cp "$work/bpmn-js/package/dist/assets/bpmn-js.css" "$out/bpmn-js-$BPMN_JS.css"
cp "$work/bpmn-js/package/LICENSE" "$out/bpmn-js-$BPMN_JS.LICENSE"
{
  echo "# npm htmx.org@$HTMX and bpmn-js@$BPMN_JS, copied by tools/vendor-web.sh; sha256 of each file"
  (cd "$out" && sha256sum -- *.js *.css *.LICENSE)
} > "$out/VERSIONS"
