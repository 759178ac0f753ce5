/**
 * The library view with 500 models, in Chromium through the headless host:
 * time until the list shows, how many rows the DOM holds (virtualized), and
 * long tasks while scrolling to the end.
 */
import { copyFileSync, existsSync, mkdirSync, mkdtempSync, rmSync, truncateSync, writeFileSync } from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import { startHeadlessHost } from '../host/server';
import { createHostServices } from '../services/host-services';
import type { ModelEntry } from '../../shared/library';

const here = path.dirname(fileURLToPath(import.meta.url));

export function chromiumPath(): string | undefined {
  if (process.env.FREEHOLD_CHROMIUM) return process.env.FREEHOLD_CHROMIUM;
  for (const dir of (process.env.PATH ?? '').split(path.delimiter)) {
    for (const name of ['chromium', 'chromium-browser', 'google-chrome']) if (existsSync(path.join(dir, name))) return path.join(dir, name);
  }
  return undefined;
}

/** Chromium with the flags a closed machine needs, and a page that counts long tasks (> 50 ms). */
export async function benchPage(executablePath: string) {
  const { chromium } = await import('@playwright/test');
  const browser = await chromium.launch({
    executablePath,
    args: ['--no-sandbox', '--disable-gpu', '--disable-background-networking', '--disable-component-update', '--no-first-run'],
  });
  const page = await browser.newPage({ viewport: { width: 1200, height: 800 } });
  // Runs in the page (DOM types are not in this file's Node typecheck, hence the casts).
  await page.addInitScript(() => {
    const g = globalThis as unknown as { longTasks: number[] };
    g.longTasks = [];
    new PerformanceObserver((list) => {
      for (const entry of list.getEntries()) g.longTasks.push(entry.duration);
    }).observe({ type: 'longtask' as never, buffered: true });
  });
  const longTasks = {
    reset: () => page.evaluate(() => ((globalThis as unknown as { longTasks: number[] }).longTasks = [])),
    count: () => page.evaluate(() => (globalThis as unknown as { longTasks: number[] }).longTasks.length),
  };
  return { browser, page, longTasks };
}

export async function libraryUiBench(modelPath: string, count = 500): Promise<void> {
  const executablePath = chromiumPath();
  if (!executablePath) {
    console.log('bench library-ui: skipped (no Chromium: install chromium or set FREEHOLD_CHROMIUM)');
    return;
  }
  const dataDir = mkdtempSync(path.join(os.tmpdir(), 'freehold-bench-ui-'));
  // One real file per entry (the library keeps one entry per file), sparse to the size listed, so the
  // start-up check against the disk finds each as recorded.
  const files = path.join(dataDir, 'bench-models');
  mkdirSync(files);
  const fileOf = (i: number) => {
    const file = path.join(files, `m${i}.gguf`);
    copyFileSync(modelPath, file);
    truncateSync(file, 4_000_000_000 + i);
    return file;
  };
  const models: ModelEntry[] = Array.from({ length: count }, (_, i) => ({
    id: `m${i}`,
    name: `Model ${String(i).padStart(3, '0')} Instruct`,
    publisher: 'bench',
    architecture: 'llama',
    parameterCount: 7_000_000_000 + i,
    quantization: 'Q4_K_M',
    sizeBytes: 4_000_000_000 + i,
    contextLength: 8192,
    hasChatTemplate: true,
    license: 'apache-2.0',
    baseModel: null,
    files: [fileOf(i)],
    origin: 'referenced',
    owned: false,
    folderId: null,
    source: null,
    sha256: null,
    duplicateOf: null,
    addedAt: new Date(Date.UTC(2026, 0, 1, 0, 0, i)).toISOString(),
  }));
  writeFileSync(path.join(dataDir, 'library.json'), JSON.stringify({ version: 1, models, folders: [] }));
  const services = await createHostServices({
    dataDir,
    host: 'web',
    log: () => undefined,
    workerLauncher: () => {
      throw new Error('no inference in this benchmark');
    },
  });
  const host = await startHeadlessHost({ services, rendererDir: path.join(here, '..', 'renderer'), port: 0 });
  const { browser, page, longTasks: tasks } = await benchPage(executablePath);
  try {
    const opens: number[] = [];
    for (let round = 0; round < 5; round += 1) {
      const start = performance.now();
      await page.goto(host.url);
      await page.getByRole('listitem', { name: 'Model 499 Instruct' }).waitFor();
      opens.push(performance.now() - start);
    }
    const rows = await page.getByRole('listitem').count();
    await tasks.reset();
    const scroller = page.getByRole('list', { name: 'Models in your library' });
    for (let i = 0; i < 40; i += 1)
      await scroller.evaluate((el) => (el as unknown as { scrollBy(x: number, y: number): void }).scrollBy(0, 1000));
    await page.getByRole('listitem', { name: 'Model 000 Instruct' }).waitFor();
    const longTasks = await tasks.count();
    opens.sort((a, b) => a - b);
    console.log(`bench library-ui: open_${count}_ms ${opens[2]!.toFixed(0)} rows_in_dom ${rows} scroll_longtasks ${longTasks}`);
  } finally {
    await browser.close();
    await host.close();
    await services.close();
    rmSync(dataDir, { recursive: true, force: true });
  }
}
