import { execFileSync } from 'node:child_process';
import { ensureTestModel } from './test-model';

/**
 * Tests that spawn the real hosts need the Node bundles (built in well under a
 * second), and the inference tests need the test model: found, or downloaded
 * once through the app's own downloader. Its path reaches the test workers
 * through FREEHOLD_TEST_MODEL.
 */
export default async function setup(): Promise<void> {
  // llama.cpp's programs: the CPU build unless a test asks for another (the GPU rig's ask for Vulkan).
  process.env.FREEHOLD_ENGINES_BACKEND ??= 'cpu';
  execFileSync(process.execPath, ['scripts/build-node.mjs', '--quiet'], { stdio: 'inherit' });
  // The chat store's crash test kills a real writer process; bundle it.
  const { build } = await import('esbuild');
  await build({
    entryPoints: ['test/helpers/store-harness.ts'],
    outfile: '.test-output/store-harness.mjs',
    bundle: true,
    platform: 'node',
    format: 'esm',
    packages: 'external',
    logLevel: 'error',
  });
  try {
    process.env.FREEHOLD_TEST_MODEL = await ensureTestModel();
  } catch (error) {
    // Not fatal here: the tests that need the model fail with this explanation.
    console.error(`\n${(error as Error).message}\n`);
  }
}
