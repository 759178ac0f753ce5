// Runs Doyensec's Electronegativity over the Electron code and the UI's HTML,
// offline, and fails on any high-severity finding.
//
// The tool's CLI is unusable offline (its option names come from translations
// it downloads), and it always exits 0, so this script uses its runner API,
// stubs its two network lookups (translations; Electron release notes, whose
// check is excluded), and judges the findings itself.
'use strict';
const Module = require('node:module');
const fs = require('node:fs');
const os = require('node:os');
const path = require('node:path');

const originalLoad = Module._load;
Module._load = function load(request, ...rest) {
  if (request === 'got') {
    const offline = () => Promise.reject(new Error('offline: no network lookups during the scan'));
    return Object.assign(offline, { head: offline, get: offline, default: offline });
  }
  return originalLoad.call(this, request, ...rest);
};

const root = path.resolve(__dirname, '..');
const stage = fs.mkdtempSync(path.join(os.tmpdir(), 'freehold-electronegativity-'));
const inputFlag = process.argv.indexOf('--input');
if (inputFlag > 0) {
  // Scan another folder instead (the test suite proves the scan can fail).
  fs.cpSync(path.resolve(process.argv[inputFlag + 1]), stage, { recursive: true });
} else {
  fs.cpSync(path.join(root, 'electron'), path.join(stage, 'electron'), { recursive: true });
  fs.mkdirSync(path.join(stage, 'renderer'));
  fs.copyFileSync(path.join(root, 'renderer', 'index.html'), path.join(stage, 'renderer', 'index.html'));
  fs.copyFileSync(path.join(root, 'package.json'), path.join(stage, 'package.json'));
}

const run = require('@doyensec/electronegativity');
const electronVersion = require('electron/package.json').version;

(run.default || run)(
  {
    input: stage,
    output: undefined,
    isSarif: false,
    customScan: [],
    excludeFromScan: ['availablesecurityfixesglobalcheck'],
    severitySet: undefined,
    confidenceSet: undefined,
    isRelative: true,
    isVerbose: false,
    electronUpgrade: undefined,
    electronVersionOverride: electronVersion,
    parserPlugins: [],
  },
  false,
)
  .then((result) => {
    fs.rmSync(stage, { recursive: true, force: true });
    const issues = result.issues || [];
    const errors = (result.errors || []).filter((e) => !e.tolerable);
    const rows = issues.map((i) => ({
      id: i.id,
      severity: i.severity && i.severity.name,
      confidence: i.confidence && i.confidence.name,
      file: (i.file || '').split(/[\\/](?=(?:electron|renderer)[\\/]|package\.json$)/).pop(),
      line: i.location && i.location.line,
      manualReview: Boolean(i.manualReview),
    }));
    const high = rows.filter((r) => r.severity === 'HIGH' && !r.manualReview);
    const report = { electron: electronVersion, findings: rows, high, parseErrors: errors.map((e) => `${e.file}: ${e.message}`) };
    if (process.argv.includes('--json')) console.log(JSON.stringify(report));
    else {
      for (const r of rows)
        console.log(`${r.severity}/${r.confidence}${r.manualReview ? ' (review)' : ''} ${r.id} ${r.file}:${r.line ?? ''}`);
      console.log(`electronegativity: ${rows.length} findings, ${high.length} high severity, ${errors.length} parse errors`);
    }
    process.exitCode = high.length > 0 || errors.length > 0 ? 1 : 0;
  })
  .catch((error) => {
    console.error(error);
    process.exitCode = 2;
  });
