/**
 * Library benchmarks: download throughput against curl from the same loopback
 * server (sha256 included on our side), and importing a multi-gigabyte model by
 * reference.
 */
import { spawn, execFile } from 'node:child_process';
import { createHash, randomBytes } from 'node:crypto';
import { closeSync, copyFileSync, mkdtempSync, openSync, readFileSync, rmSync, statSync, truncateSync, writeSync } from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import { promisify } from 'node:util';
import { createHostServices } from '../services/host-services';
import type { DownloadJob } from '../../shared/hub';
import { median } from './bench-host';

const here = path.dirname(fileURLToPath(import.meta.url));
const run = promisify(execFile);

/** A valid GGUF header (the reference model) followed by random bytes, `sizeMb` in all. */
function makeBenchFile(modelPath: string, dir: string, sizeMb: number): { file: string; sha256: string } {
  const file = path.join(dir, 'bench.gguf');
  const fd = openSync(file, 'w');
  const hash = createHash('sha256');
  const head = readFileSync(modelPath);
  writeSync(fd, head);
  hash.update(head);
  let written = head.length;
  const chunk = randomBytes(4 * 1024 * 1024);
  while (written < sizeMb * 1024 * 1024) {
    const part = chunk.subarray(0, Math.min(chunk.length, sizeMb * 1024 * 1024 - written));
    writeSync(fd, part);
    hash.update(part);
    written += part.length;
  }
  closeSync(fd);
  return { file, sha256: hash.digest('hex') };
}

export async function downloadBench(modelPath: string, rounds: number, sizeMb: number): Promise<void> {
  const dir = mkdtempSync(path.join(os.tmpdir(), 'freehold-bench-dl-'));
  try {
    const { file, sha256 } = makeBenchFile(modelPath, dir, sizeMb);
    const size = statSync(file).size;
    const server = spawn(process.execPath, [path.join(here, '..', '..', 'electron', 'bench', 'bench-server.mjs'), file, sha256], {
      stdio: ['ignore', 'pipe', 'inherit'],
    });
    const port = await new Promise<number>((resolve) => server.stdout.once('data', (d: Buffer) => resolve(Number(d.toString().trim()))));
    const endpoint = `http://127.0.0.1:${port}`;
    const url = `${endpoint}/bench/model/resolve/benchrev/bench-Q8_0.gguf`;
    try {
      const curlTimes: number[] = [];
      const appTimes: number[] = [];
      const curlRound = async () => {
        const out = path.join(dir, 'curl.out');
        const start = performance.now();
        await run('curl', ['-s', '-f', '-o', out, url]);
        curlTimes.push(performance.now() - start);
        rmSync(out, { force: true });
      };
      const appRound = async () => {
        const dataDir = mkdtempSync(path.join(dir, 'app-'));
        const services = await createHostServices({
          dataDir,
          host: 'cli',
          log: () => undefined,
          env: { HF_ENDPOINT: endpoint },
          workerLauncher: () => {
            throw new Error('no inference in this benchmark');
          },
        });
        try {
          // The repo page (ranged header read) is not part of the transfer: fetch it first.
          await services.hub.repo('bench/model');
          const start = performance.now();
          const job = await services.downloads.start('bench/model', undefined, 'bench-Q8_0.gguf', undefined);
          const done = await new Promise<DownloadJob>((resolve) => {
            const check = (j: DownloadJob) => (j.state === 'done' || j.state === 'failed') && resolve(j);
            services.events.subscribeAll(
              (event, payload) => event === 'onDownloadProgress' && (payload as DownloadJob).id === job.id && check(payload as DownloadJob),
            );
          });
          if (done.state !== 'done') throw new Error(`download failed: ${done.error}`);
          appTimes.push(performance.now() - start);
        } finally {
          await services.close();
          rmSync(dataDir, { recursive: true, force: true });
        }
      };
      await curlRound();
      await appRound();
      curlTimes.length = 0;
      appTimes.length = 0;
      for (let i = 0; i < rounds; i += 1) {
        if (i % 2 === 0) {
          await curlRound();
          await appRound();
        } else {
          await appRound();
          await curlRound();
        }
      }
      const curlMbps = size / 1024 ** 2 / (median(curlTimes) / 1000);
      const appMbps = size / 1024 ** 2 / (median(appTimes) / 1000);
      console.log(
        `download ${sizeMb} MB over loopback: curl ${curlMbps.toFixed(0)} MB/s, app ${appMbps.toFixed(0)} MB/s (sha256 verified, fsynced, registered)`,
      );
      console.log(
        `bench download: ratio ${(appMbps / curlMbps).toFixed(3)} app_mbps ${appMbps.toFixed(0)} curl_mbps ${curlMbps.toFixed(0)}`,
      );
    } finally {
      server.kill();
    }
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
}

export async function importBench(modelPath: string, rounds: number, sizeGb: number): Promise<void> {
  const dir = mkdtempSync(path.join(os.tmpdir(), 'freehold-bench-import-'));
  try {
    // A sparse file: the reference model's header and tensors, then holes up to sizeGb.
    const file = path.join(dir, 'huge.gguf');
    copyFileSync(modelPath, file);
    truncateSync(file, sizeGb * 1024 ** 3);
    const times: number[] = [];
    for (let i = 0; i < rounds + 1; i += 1) {
      const dataDir = mkdtempSync(path.join(dir, 'lib-'));
      const services = await createHostServices({
        dataDir,
        host: 'cli',
        log: () => undefined,
        workerLauncher: () => {
          throw new Error('no inference in this benchmark');
        },
      });
      const start = performance.now();
      const [result] = await services.handlers['models.import']({ paths: [file], mode: 'reference' });
      const ms = performance.now() - start;
      if (!result?.ok) throw new Error(`import failed: ${result?.error}`);
      if (i > 0) times.push(ms);
      await services.close();
    }
    console.log(`bench import: ms ${median(times).toFixed(1)} size_gb ${sizeGb}`);
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
}
