import { execFileSync } from 'node:child_process';

/** Tests that spawn the real hosts need the Node bundles; building them takes well under a second. */
export default function setup(): void {
  execFileSync(process.execPath, ['scripts/build-node.mjs', '--quiet'], { stdio: 'inherit' });
}
