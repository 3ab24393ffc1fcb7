#!/usr/bin/env node
// Import check: "opens in the modeler".
//
// Loads each BPMN file given on the command line into bpmn-js's Modeler (the
// engine of bpmn.io and Camunda Modeler, with the Camunda 7 moddle extension
// as the modeler uses it) inside headless Debian Chromium, and exits non-zero
// if any import throws or returns warnings. No network: the prebuilt UMD
// bundle is injected from node_modules and every request is aborted.
//
// Usage: node check.mjs FILE.bpmn [FILE.bpmn ...]
// Env:   CHROMIUM (default /usr/bin/chromium)

import { readFile } from 'node:fs/promises';
import { existsSync } from 'node:fs';
import { createRequire } from 'node:module';
import path from 'node:path';
import { chromium } from 'playwright-core';

const require = createRequire(import.meta.url);

const CHROMIUM = process.env.CHROMIUM || '/usr/bin/chromium';
const CHROMIUM_ARGS = [
  '--headless',
  '--no-sandbox',
  '--disable-gpu',
  '--disable-quic',
  '--no-first-run',
  '--disable-background-networking',
  '--disable-component-update',
  '--disable-sync',
];

const files = process.argv.slice(2);
if (files.length === 0) {
  console.error('usage: node check.mjs FILE.bpmn [FILE.bpmn ...]');
  process.exit(2);
}
if (!existsSync(CHROMIUM)) {
  console.error(`bpmn-check: no Chromium at ${CHROMIUM} (apt-get install -y chromium, or set CHROMIUM)`);
  process.exit(2);
}

const bundlePath = require.resolve('bpmn-js/dist/bpmn-modeler.development.js');
const camundaModdle = JSON.parse(
  await readFile(require.resolve('camunda-bpmn-moddle/resources/camunda.json'), 'utf8'),
);

const browser = await chromium.launch({
  executablePath: CHROMIUM,
  headless: true,
  args: CHROMIUM_ARGS,
});

let failed = 0;
try {
  const context = await browser.newContext({ offline: true });
  const page = await context.newPage();
  // Nothing may come from the network; the bundle is injected inline below.
  await page.route('**/*', (route) => route.abort());

  const pageErrors = [];
  // bpmn-js also logs each failed element to the console, with a stack trace:
  // keep the first line, the warnings already say the rest.
  const firstLine = (text) => String(text).split('\n')[0];
  page.on('pageerror', (err) => pageErrors.push(`page error: ${firstLine(err.message)}`));
  page.on('console', (msg) => {
    if (msg.type() === 'error') pageErrors.push(`console error: ${firstLine(msg.text())}`);
  });

  await page.setContent(
    '<!DOCTYPE html><html><head><meta charset="utf-8"></head>' +
      '<body><div id="canvas" style="width:1600px;height:900px"></div></body></html>',
  );
  await page.addScriptTag({ path: bundlePath });
  if (!(await page.evaluate(() => typeof window.BpmnJS === 'function'))) {
    throw new Error(`bpmn-js bundle did not define window.BpmnJS (${bundlePath})`);
  }

  for (const file of files) {
    const problems = [];
    let xml;
    try {
      xml = await readFile(file, 'utf8');
    } catch (err) {
      problems.push(`cannot read: ${err.message}`);
    }

    if (xml !== undefined) {
      pageErrors.length = 0;
      const result = await page.evaluate(
        async ({ xml, camunda }) => {
          const modeler = new window.BpmnJS({
            container: '#canvas',
            moddleExtensions: { camunda },
          });
          const out = { warnings: [], error: null, elements: 0 };
          try {
            const { warnings } = await modeler.importXML(xml);
            out.warnings = warnings.map((w) => w.message);
            out.elements = modeler.get('elementRegistry').getAll().length;
          } catch (err) {
            out.error = err.message;
            out.warnings = (err.warnings || []).map((w) => w.message);
          } finally {
            modeler.destroy();
          }
          return out;
        },
        { xml, camunda: camundaModdle },
      );

      if (result.error) problems.push(`import failed: ${result.error}`);
      for (const w of result.warnings) problems.push(`warning: ${w}`);
      for (const e of pageErrors) problems.push(e);
      if (!result.error && result.elements <= 1) {
        problems.push('nothing was drawn (no BPMNDI diagram?)');
      }
    }

    if (problems.length > 0) {
      failed += 1;
      console.error(`FAIL ${file}`);
      for (const p of problems) console.error(`  ${p}`);
    } else {
      console.log(`ok   ${file}`);
    }
  }
} finally {
  await browser.close();
}

if (failed > 0) {
  console.error(`bpmn-check: ${failed} of ${files.length} file(s) failed to import cleanly`);
  process.exit(1);
}
