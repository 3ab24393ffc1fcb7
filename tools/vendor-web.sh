#!/usr/bin/env bash
# Vendors the web face's browser libraries from their npm packages at pinned versions into
# web/static/vendor (no CDN, no Node at run time, no bundler), with their licences, and writes
# web/static/vendor/VERSIONS with each file's SHA-256. Run it to update a version, then commit the files.
#
# camunda-bpmn-js ships the bpmn-js Modeler with the Camunda 7 moddle and the properties panel prebuilt
# (the panel alone would need a bundler). Its files keep their dist/ layout under camunda-bpmn-js-X/ so
# the relative @import and url() paths of its CSS keep working; its bpmn-js must be of the same
# generation as BPMN_JS (5.35.0 depends on bpmn-js ^18.29.1).
set -euo pipefail
cd "$(dirname "$0")/.."
HTMX=2.0.11
BPMN_JS=18.31.1
CAMUNDA_BPMN_JS=5.35.0
# What the Camunda 7 modeler's stylesheet imports (assets/camunda-platform-modeler.css and base-modeler.css),
# and the icon font both ways: embedded (what base-modeler.css imports) and as files (bpmn.css, for a
# Content-Security-Policy whose font-src refuses data: URLs).
MODELER_ASSETS="camunda-platform-modeler.css base-modeler.css element-templates.css popup-menu.css bpmn-js.css
  diagram-js.css diagram-js-minimap.css color-picker.css properties-panel.css
  bpmn-font/css/bpmn-embedded.css bpmn-font/css/bpmn.css
  bpmn-font/font/bpmn.woff2 bpmn-font/font/bpmn.woff bpmn-font/font/bpmn.ttf bpmn-font/font/bpmn.eot
  bpmn-font/font/bpmn.svg"
out=web/static/vendor
work=$(mktemp -d)
trap 'rm -rf "$work"' EXIT
(cd "$work" && npm pack --silent "htmx.org@$HTMX" "bpmn-js@$BPMN_JS" "camunda-bpmn-js@$CAMUNDA_BPMN_JS" >/dev/null)
mkdir -p "$work/htmx" "$work/bpmn-js" "$work/camunda-bpmn-js" "$out"
tar xzf "$work/htmx.org-$HTMX.tgz" -C "$work/htmx"
tar xzf "$work/bpmn-js-$BPMN_JS.tgz" -C "$work/bpmn-js"
tar xzf "$work/camunda-bpmn-js-$CAMUNDA_BPMN_JS.tgz" -C "$work/camunda-bpmn-js"
rm -rf "${out:?}"/*
cp "$work/htmx/package/dist/htmx.min.js" "$out/htmx-$HTMX.min.js"
cp "$work/htmx/package/LICENSE" "$out/htmx-$HTMX.LICENSE"
cp "$work/bpmn-js/package/dist/bpmn-navigated-viewer.production.min.js" "$out/bpmn-navigated-viewer-$BPMN_JS.min.js"
cp "$work/bpmn-js/package/dist/assets/diagram-js.css" "$out/diagram-js-$BPMN_JS.css"
cp "$work/bpmn-js/package/dist/assets/bpmn-js.css" "$out/bpmn-js-$BPMN_JS.css"
cp "$work/bpmn-js/package/LICENSE" "$out/bpmn-js-$BPMN_JS.LICENSE"
modeler="$out/camunda-bpmn-js-$CAMUNDA_BPMN_JS"
mkdir -p "$modeler"
cp "$work/camunda-bpmn-js/package/dist/camunda-platform-modeler.production.min.js" "$modeler/"
cp "$work/camunda-bpmn-js/package/LICENSE" "$modeler/LICENSE"
for asset in $MODELER_ASSETS; do
  mkdir -p "$modeler/assets/$(dirname "$asset")"
  cp "$work/camunda-bpmn-js/package/dist/assets/$asset" "$modeler/assets/$asset"
done
{
  echo "# npm htmx.org@$HTMX, bpmn-js@$BPMN_JS and camunda-bpmn-js@$CAMUNDA_BPMN_JS, copied by tools/vendor-web.sh;"
  echo "# sha256 of each file"
  (cd "$out" && sha256sum -- *.js *.css *.LICENSE && find "${modeler#"$out"/}" -type f | LC_ALL=C sort | xargs sha256sum --)
} > "$out/VERSIONS"
