import { execSync } from 'node:child_process';

/** The suite drives the real built app: build it once before the tests. */
export default function globalSetup(): void {
  execSync('npm run build --silent', { stdio: 'inherit' });
}
