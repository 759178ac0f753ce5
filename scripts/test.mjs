// `npm test`: typecheck (node and web sides), lint, llama.cpp's programs for the
// split-model tests (built once and cached outside the checkout), unit and integration tests
// (Vitest), then end-to-end tests (Playwright driving the built app). Ends with
// one summary line, and exits non-zero if any stage failed.
import { spawnSync } from 'node:child_process';
import { existsSync, mkdirSync, readFileSync, rmSync } from 'node:fs';

const npx = process.platform === 'win32' ? 'npx.cmd' : 'npx';
mkdirSync('test-results', { recursive: true });
rmSync('test-results/vitest-report.json', { force: true });
rmSync('test-results/e2e-report.json', { force: true });

const stages = [
  ['typecheck (node)', npx, ['tsc', '-p', 'tsconfig.json']],
  ['typecheck (web)', npx, ['tsc', '-p', 'tsconfig.web.json']],
  ['typecheck (end-to-end tests)', npx, ['tsc', '-p', 'tsconfig.e2e.json']],
  ['lint', npx, ['eslint', '.']],
  ['formatting', npx, ['prettier', '--check', '.']],
  ['llama.cpp for the split-model tests (built once, then cached)', process.execPath, ['scripts/test-engines.mjs']],
  [
    'unit and integration',
    npx,
    ['vitest', 'run', '--reporter=default', '--reporter=json', '--outputFile.json=test-results/vitest-report.json'],
  ],
  ['end-to-end', npx, ['playwright', 'test']],
];

const failedStages = [];
for (const [name, command, args] of stages) {
  console.log(`\n=== ${name}: ${[command, ...args].join(' ')}`);
  const result = spawnSync(command, args, { stdio: 'inherit' });
  if (result.status !== 0) failedStages.push(name);
}

let passed = 0;
let failed = 0;
let skipped = 0;
if (existsSync('test-results/vitest-report.json')) {
  const report = JSON.parse(readFileSync('test-results/vitest-report.json', 'utf8'));
  passed += report.numPassedTests;
  failed += report.numFailedTests;
  skipped += report.numPendingTests + report.numTodoTests;
}
if (existsSync('test-results/e2e-report.json')) {
  const { stats } = JSON.parse(readFileSync('test-results/e2e-report.json', 'utf8'));
  passed += stats.expected + stats.flaky;
  failed += stats.unexpected;
  skipped += stats.skipped;
}

console.log('');
if (failedStages.length > 0) console.log(`Failed stages: ${failedStages.join(', ')}`);
console.log(`${passed} passed, ${failed} failed, ${skipped} skipped`);
process.exitCode = failedStages.length > 0 || failed > 0 ? 1 : 0;
