import { existsSync } from 'node:fs';
import path from 'node:path';

/**
 * The browser the end-to-end tests drive: $FREEHOLD_CHROMIUM, else a Chromium or
 * Chrome on the PATH (Debian: `apt-get install chromium`). Undefined lets
 * Playwright use its own download (`npx playwright install chromium`), where
 * that is possible.
 */
export function findChromium(): string | undefined {
  if (process.env.FREEHOLD_CHROMIUM) return process.env.FREEHOLD_CHROMIUM;
  const names = ['chromium', 'chromium-browser', 'google-chrome', 'google-chrome-stable'];
  for (const dir of (process.env.PATH ?? '').split(path.delimiter)) {
    for (const name of names) {
      const candidate = path.join(dir, name);
      if (existsSync(candidate)) return candidate;
    }
  }
  return undefined;
}
