import { execSync } from 'node:child_process';
import { ensureTestModel } from '../helpers/test-model';

/** The suite drives the real built app: build it once; find (or download once) the test model. */
export default async function globalSetup(): Promise<void> {
  if (!process.env.FREEHOLD_SKIP_BUILD) execSync('npm run build --silent', { stdio: 'inherit' });
  try {
    process.env.FREEHOLD_TEST_MODEL = await ensureTestModel();
  } catch (error) {
    console.error(`\n${(error as Error).message}\n`);
  }
}
