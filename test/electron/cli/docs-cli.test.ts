/**
 * `freehold docs add|list|search|remove` and `freehold chat --collection`,
 * the built CLI on a data folder: indexing with progress, the passages with
 * their scores, and a reply that lists the passages it was given.
 */
import { execFile } from 'node:child_process';
import { mkdirSync, writeFileSync } from 'node:fs';
import path from 'node:path';
import { describe, expect, it } from 'vitest';
import type { DocsSnapshot, SearchResult } from '../../../shared/documents';
import { tempDir } from '../../helpers/temp';
import { testModelPath } from '../../helpers/test-model';

function cli(env: NodeJS.ProcessEnv, ...args: string[]): Promise<{ status: number; stdout: string; stderr: string }> {
  return new Promise((resolve) => {
    execFile(process.execPath, ['dist/electron/cli.mjs', ...args], { env, encoding: 'utf8', timeout: 120_000 }, (error, stdout, stderr) =>
      resolve({ status: error ? Number((error as { code?: number }).code ?? 1) : 0, stdout, stderr }),
    );
  });
}

describe('freehold docs', () => {
  it('adds a folder to a collection, lists and searches it, answers from it, and removes a document', async () => {
    const dir = tempDir();
    const env = { ...process.env, FREEHOLD_DATA_DIR: path.join(dir, 'data') };
    const folder = path.join(dir, 'zoo');
    mkdirSync(folder);
    writeFileSync(path.join(folder, 'animals.md'), '# Whales\n\nBlue whales eat krill.\n\n## Owls\n\nOwls hunt mice at night.\n');
    writeFileSync(path.join(folder, 'plants.txt'), 'Cacti store water in their stems.');
    writeFileSync(path.join(folder, 'broken.pdf'), '%PDF-1.7 not really');

    const added = await cli(env, 'docs', 'add', folder, '--collection', 'Zoo');
    expect(added.status).toBe(1); // one file failed, and the exit says so
    expect(added.stdout).toMatch(/animals\.md {2}2 chunks, 0\/2 embedded/);
    expect(added.stdout).toMatch(/broken\.pdf {2}failed: broken\.pdf could not be read/);
    expect(added.stdout).toContain('3 document(s) in the collection "Zoo"');
    expect(added.stderr).toMatch(/animals\.md: 2 chunks/);

    const listed = JSON.parse((await cli(env, 'docs', 'list', '--collection', 'Zoo', '--json')).stdout) as DocsSnapshot;
    expect(listed.documents.map((d) => [d.name, d.status]).sort()).toEqual([
      ['animals.md', 'indexed'],
      ['broken.pdf', 'failed'],
      ['plants.txt', 'indexed'],
    ]);

    const found = JSON.parse(
      (await cli(env, 'docs', 'search', 'what do owls hunt', '--collection', 'Zoo', '--json')).stdout,
    ) as SearchResult[];
    expect(found[0]).toMatchObject({ name: 'animals.md', heading: 'Whales › Owls', text: 'Owls hunt mice at night.' });
    expect(found[0]!.score).toBeGreaterThan(0);

    const chat = await cli(
      env,
      'chat',
      '--model',
      testModelPath(),
      '--collection',
      'Zoo',
      '--max-tokens',
      '8',
      '--temperature',
      '0',
      'What do whales eat?',
    );
    expect(chat.status).toBe(0);
    expect(chat.stdout).toMatch(/^3 passages from 2 file\(s\) \(given whole\)$/m);

    const animals = listed.documents.find((d) => d.name === 'animals.md')!;
    expect((await cli(env, 'docs', 'remove', animals.id)).stdout).toContain(`Removed ${animals.id}`);
    expect(JSON.parse((await cli(env, 'docs', 'search', 'owls', '--collection', 'Zoo', '--json')).stdout)).toEqual([]);
    expect((await cli(env, 'docs', 'search', 'owls', '--collection', 'Nope')).stderr).toMatch(/No collection named "Nope"/);
  }, 180_000);
});
