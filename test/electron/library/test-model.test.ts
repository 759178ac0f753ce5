import { readFileSync } from 'node:fs';
import { describe, expect, it } from 'vitest';
import { startFakeHub } from '../../helpers/fake-hub';
import { tempDir } from '../../helpers/temp';
import { ensureTestModel, testModelPath } from '../../helpers/test-model';

describe('test model helper', () => {
  it("downloads the model once through the app's own downloader when it is nowhere on disk, verified", async () => {
    const data = readFileSync(testModelPath());
    const hub = await startFakeHub([
      {
        id: 'ggml-org/models',
        author: 'ggml-org',
        downloads: 1,
        likes: 1,
        lastModified: '2026-01-01T00:00:00.000Z',
        sha: 'abc',
        files: [{ path: 'tinyllamas/stories260K.gguf', data }],
      },
    ]);
    const cacheDir = tempDir();
    try {
      const cwd = process.cwd();
      process.chdir(tempDir()); // no ../shared/models from here
      try {
        const file = await ensureTestModel({ env: { HF_ENDPOINT: hub.url }, cacheDir });
        expect(file.startsWith(cacheDir)).toBe(true);
        expect(readFileSync(file).equals(data)).toBe(true);
        const downloads = hub.requests.filter((r) => r.url.includes('/resolve/') && !/^bytes=\d+-\d+$/.test(r.range ?? ''));
        expect(downloads).toHaveLength(1);
        // A second call finds the cached copy and downloads nothing.
        const again = await ensureTestModel({ env: { HF_ENDPOINT: hub.url }, cacheDir });
        expect(again).toBe(file);
        expect(hub.requests.filter((r) => r.url.includes('/resolve/') && !/^bytes=\d+-\d+$/.test(r.range ?? ''))).toHaveLength(1);
      } finally {
        process.chdir(cwd);
      }
    } finally {
      await hub.close();
    }
  });

  it('fails with instructions when the model is missing and no hub answers', async () => {
    const cwd = process.cwd();
    process.chdir(tempDir());
    try {
      await expect(ensureTestModel({ env: { HF_ENDPOINT: 'http://127.0.0.1:9' }, cacheDir: tempDir() })).rejects.toThrow(
        /stories260K\.gguf was not found .*Set FREEHOLD_TEST_MODEL .*Downloading it also failed/s,
      );
    } finally {
      process.chdir(cwd);
    }
  });
});
