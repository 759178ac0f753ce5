/**
 * Models → Options → Placement in the browser against `npm run serve`: the
 * GPUs llama.cpp's server sees, the plan for a placement before saving it,
 * saving it, and the loaded model's share per device in Hardware. The test
 * machine's llama.cpp (the build `npm test` makes) sees no GPU, so a second
 * test shows the form with GPUs: the page's socket answers placement.devices
 * with two, and placement.plan with the real planner on them.
 */
import os from 'node:os';
import path from 'node:path';
import AxeBuilder from '@axe-core/playwright';
import type { Page, WebSocketRoute } from '@playwright/test';
import { modelShape, PlacementError, planPlacement } from '../../electron/engines/placement-plan';
import { headerOf } from '../../electron/engines/server-model';
import { RpcError } from '../../shared/errors';
import { engineChoiceOf } from '../../shared/inference';
import { AUTO_PLACEMENT, type ComputeDevice, type PlanInput } from '../../shared/placement';
import { createHostClient } from '../../shared/rpc/client';
import { testModelPath } from '../helpers/test-model';
import { openSocket } from '../helpers/ws-client';
import { expect, launchHost, screenshot, stopHost, test, uploadTestModel, watchConsole, type HostFixture } from './fixtures';

// The llama.cpp build `npm test` makes before the tests (scripts/test-engines.mjs): plans and the server engine use its llama-server.
const engines = {
  FREEHOLD_ENGINES_DIR: process.env.FREEHOLD_ENGINES_DIR ?? path.join(os.homedir(), '.cache', 'freehold-test', 'engines'),
  FREEHOLD_IGNORE_PATH_ENGINES: '1',
};
const MiB = 1024 ** 2;

let host: HostFixture;

test.beforeEach(async () => {
  host = await launchHost({ env: engines });
});

test.afterEach(async () => {
  await stopHost(host);
});

/** No serious or critical WCAG 2.1 A/AA violations in what is shown. */
async function noSeriousViolations(page: Page) {
  const { violations } = await new AxeBuilder({ page }).withTags(['wcag2a', 'wcag2aa', 'wcag21a', 'wcag21aa']).analyze();
  expect(violations.filter((v) => v.impact === 'serious' || v.impact === 'critical').map((v) => `${v.id}: ${v.nodes[0]?.html}`)).toEqual(
    [],
  );
}

/** The library with stories260K in it, its options open: the options group. */
async function openOptions(page: Page) {
  await page.goto(host.url);
  await uploadTestModel(page, host);
  const row = page.getByRole('listitem', { name: 'stories260K' });
  await row.getByRole('button', { name: 'Options for stories260K' }).click();
  return row.getByRole('group', { name: 'Options for stories260K' });
}

test('placement on this machine: plan it CPU only, save it, load the model on llama.cpp’s server and see its share', async ({ page }) => {
  test.setTimeout(180_000);
  const problems = watchConsole(page);
  // Tall enough for the library's list to show a row with its options open whole.
  await page.setViewportSize({ width: 1200, height: 1500 });
  const options = await openOptions(page);
  // Saving an inference setting restarts the engine: let its first start finish.
  await expect(page.getByText(/^Inference: ready/)).toBeVisible({ timeout: 60_000 });
  // The engine that places layers: llama.cpp's server.
  await options.getByRole('combobox', { name: 'Engine for stories260K' }).selectOption({ label: 'llama.cpp’s server' });
  await options.getByRole('button', { name: 'Save the engine for stories260K' }).click();
  await expect(options.getByRole('status').filter({ hasText: /^Saved: stories260K runs on llama\.cpp’s server/ })).toBeVisible();

  // The test build of llama.cpp sees no GPU: Automatic and CPU only, no GPU to choose.
  await expect(options.getByText('llama.cpp sees no GPU here: the model runs on the CPU.')).toBeVisible({ timeout: 30_000 });
  await expect(options.getByRole('radio')).toHaveCount(2);
  await options.getByRole('radio', { name: 'CPU only for stories260K' }).check();
  await options.getByRole('button', { name: 'Show plan for stories260K' }).click();
  const table = options.getByRole('table', { name: /^Plan for stories260K: 0 of \d+ layers on GPUs, [\d,]+-token context$/ });
  await expect(table).toBeVisible({ timeout: 30_000 });
  await expect(table.getByRole('row')).toHaveCount(2);
  await expect(table.getByRole('rowheader')).toHaveText(['CPU CPU (RAM)']);
  await expect(options.getByText(/^CPU only; \d+-token context/)).toBeVisible();
  await expect(options.getByText(/^Engine: llama\.cpp’s server \(Chosen for this model in its options/)).toBeVisible();
  await expect(options.getByRole('alert')).toHaveCount(0);
  await options.getByRole('button', { name: 'Save the placement for stories260K' }).click();
  await expect(options.getByRole('status').filter({ hasText: /^Saved: stories260K is placed CPU only\./ })).toBeVisible();
  await noSeriousViolations(page);
  await options.scrollIntoViewIfNeeded();
  await screenshot(page, 'placement-cpu-plan');

  // Saved: the options show it after a reload.
  await page.reload();
  const row = page.getByRole('listitem', { name: 'stories260K' });
  await row.getByRole('button', { name: 'Options for stories260K' }).click();
  await expect(row.getByRole('radio', { name: 'CPU only for stories260K' })).toBeChecked();

  // Loaded: Hardware shows where its layers went, planned and as llama.cpp reported them.
  const url = new URL(host.url);
  const { transport } = await openSocket(`ws://${url.host}/rpc?token=${encodeURIComponent(url.searchParams.get('token')!)}`);
  const client = createHostClient(transport);
  try {
    const { models } = await client.api['models.list']();
    const loaded = await client.api['models.load']({ id: models[0]!.id });
    expect(loaded.engine).toBe('server');
    expect(loaded.placement?.plan.placement).toEqual({ devices: 'cpu' });
  } finally {
    client.close();
  }
  await page.getByRole('link', { name: 'Hardware' }).click();
  const placed = page.getByRole('region', { name: 'Inference engine' }).getByRole('group', { name: 'Placement' });
  await expect(placed.getByRole('table', { name: /^Placement: 0 of \d+ layers on GPUs$/ })).toBeVisible({ timeout: 30_000 });
  await expect(placed.getByRole('img', { name: /^CPU: [\d.]+ [MG]B (in use|planned) of [\d.]+ GB$/ })).toBeVisible();
  await expect(placed.getByRole('note')).toHaveText(/^(As planned: on the CPU\.|Not as planned: .*)$/);
  await noSeriousViolations(page);
  await placed.scrollIntoViewIfNeeded();
  await screenshot(page, 'placement-hardware-cpu');
  expect(problems).toEqual([]);
});

/** Two GPUs as llama.cpp's server would list them on a machine that has them. */
const gpus: ComputeDevice[] = [
  { id: 'CUDA0', name: 'NVIDIA GeForce RTX 4090', backend: 'cuda', totalBytes: 24 * 1024 * MiB, freeBytes: 22 * 1024 * MiB },
  { id: 'CUDA1', name: 'NVIDIA GeForce RTX 3060', backend: 'cuda', totalBytes: 12 * 1024 * MiB, freeBytes: 11 * 1024 * MiB },
];

/** The page's socket to the host, with placement.devices answered by `gpus` and placement.plan by the planner on them. */
async function withGpus(page: Page) {
  const { header } = await headerOf(testModelPath());
  const shape = modelShape([header]);
  await page.routeWebSocket(/\/rpc\b/, (ws: WebSocketRoute) => {
    const server = ws.connectToServer();
    ws.onMessage((raw) => {
      const message = JSON.parse(String(raw)) as { t: string; m?: string; i?: string; a?: unknown[] };
      if (message.t !== 'q' || !message.i || (message.m !== 'placement.devices' && message.m !== 'placement.plan')) return server.send(raw);
      const answer = (body: { r: unknown } | { e: unknown }) => ws.send(JSON.stringify({ t: 's', i: message.i, ...body }));
      if (message.m === 'placement.devices') return answer({ r: gpus });
      const input = message.a![0] as PlanInput;
      try {
        const placement = input.placement ?? AUTO_PLACEMENT;
        const plan = planPlacement({ shape, devices: gpus, placement, autoContext: 2048, parallel: 1, ramFreeBytes: 8 * 1024 * MiB });
        const choice = engineChoiceOf(undefined, {}, placement);
        answer({ r: { id: input.id, plan, engine: choice.engine, engineReason: choice.why, devices: gpus } });
      } catch (error) {
        if (!(error instanceof PlacementError)) throw error;
        answer({ e: new RpcError('invalid_input', error.message).toWire() });
      }
    });
  });
}

test('placement with GPUs: two chosen in order, a cap on each, the plan per GPU, saved', async ({ page }) => {
  test.setTimeout(120_000);
  const problems = watchConsole(page);
  await page.setViewportSize({ width: 1200, height: 1500 });
  await withGpus(page);
  const options = await openOptions(page);
  await expect(page.getByText(/^Inference: ready/)).toBeVisible({ timeout: 60_000 });
  const cuda0 = options.getByRole('checkbox', { name: 'Use CUDA0 for stories260K' });
  const cuda1 = options.getByRole('checkbox', { name: 'Use CUDA1 for stories260K' });
  // Automatic: every GPU, each listed with its memory.
  await expect(cuda0).toBeChecked();
  await expect(cuda0).toBeDisabled();
  await expect(options.getByText('NVIDIA GeForce RTX 4090 · 22.00 GB free of 24.00 GB')).toBeVisible();
  await screenshot(page, 'placement-gpus-automatic');

  // CUDA1 first (the main GPU), then CUDA0, capped at 100 and 200 MiB: room for the tiny model and llama.cpp's scratch buffers.
  await options.getByRole('radio', { name: 'Chosen GPUs for stories260K' }).check();
  await cuda1.check();
  await cuda0.check();
  await options.getByRole('spinbutton', { name: 'Max memory on CUDA1 for stories260K (MiB)' }).fill('100');
  await options.getByRole('spinbutton', { name: 'Max memory on CUDA0 for stories260K (MiB)' }).fill('200');
  await expect(options.getByText('main GPU', { exact: true })).toBeVisible();
  await options.getByRole('button', { name: 'Show plan for stories260K' }).click();
  const table = options.getByRole('table', { name: /^Plan for stories260K: \d+ of \d+ layers on GPUs/ });
  await expect(table).toBeVisible({ timeout: 30_000 });
  await expect(table.getByRole('rowheader')).toHaveText([
    'CUDA1 NVIDIA GeForce RTX 3060',
    'CUDA0 NVIDIA GeForce RTX 4090',
    'CPU CPU (RAM)',
  ]);
  await expect(table.getByRole('row').nth(1)).toContainText('100.0 MB (cap)');
  await expect(options.getByText(/^Engine: llama\.cpp’s server \(Auto: its placement/)).toBeVisible();
  await noSeriousViolations(page);
  await options.scrollIntoViewIfNeeded();
  await screenshot(page, 'placement-gpus-plan');

  await options.getByRole('button', { name: 'Save the placement for stories260K' }).click();
  await expect(options.getByRole('status').filter({ hasText: /^Saved: stories260K is placed CUDA1, CUDA0 by layers/ })).toBeVisible();
  // The host keeps it as sent.
  const url = new URL(host.url);
  const { transport } = await openSocket(`ws://${url.host}/rpc?token=${encodeURIComponent(url.searchParams.get('token')!)}`);
  const client = createHostClient(transport);
  try {
    const settings = await client.api['settings.get']();
    expect(Object.values(settings.inference.placements ?? {})).toEqual([
      { devices: ['CUDA1', 'CUDA0'], maxMemory: { CUDA1: 100 * MiB, CUDA0: 200 * MiB } },
    ]);
  } finally {
    client.close();
  }

  // A cap too small for anything: the plan says which GPU is short, in an alert.
  await options.getByRole('spinbutton', { name: 'Max memory on CUDA1 for stories260K (MiB)' }).fill('');
  await options.getByRole('spinbutton', { name: 'Max memory on CUDA0 for stories260K (MiB)' }).fill('1');
  await cuda1.uncheck();
  await options.getByRole('button', { name: 'Show plan for stories260K' }).click();
  await expect(options.getByRole('alert')).toHaveText(/^It does not fit: CUDA0 is [\d.]+ MB short/, { timeout: 30_000 });
  await noSeriousViolations(page);
  await options.scrollIntoViewIfNeeded();
  await screenshot(page, 'placement-gpus-short');
  expect(problems).toEqual([]);
});
