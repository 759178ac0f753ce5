import { ESLint } from 'eslint';
import { describe, expect, it } from 'vitest';

const eslint = new ESLint();

async function restrictedImports(filePath: string, code: string): Promise<string[]> {
  const [result] = await eslint.lintText(code, { filePath });
  return (result?.messages ?? []).filter((m) => m.ruleId === 'no-restricted-imports').map((m) => m.message);
}

describe('import boundaries are enforced by lint', () => {
  it('shared/ imports no Electron, no Node built-ins, no React and neither side', async () => {
    for (const source of ['electron', 'node:fs', 'fs', 'path', 'react', '../electron/services/events', '../renderer/app/App']) {
      expect(await restrictedImports('shared/example.ts', `import x from '${source}';\nexport default x;\n`), source).toHaveLength(1);
    }
    expect(await restrictedImports('shared/example.ts', "import { z } from 'zod';\nexport default z;\n")).toEqual([]);
  });

  it('the renderer imports only shared/ from this project, and no Node or Electron', async () => {
    for (const source of ['electron', 'node:child_process', 'os', '../../electron/services/settings-store']) {
      expect(await restrictedImports('renderer/features/x.tsx', `import x from '${source}';\nexport default x;\n`), source).toHaveLength(1);
    }
    expect(
      await restrictedImports('renderer/features/x.tsx', "import { methods } from '../../shared/contract';\nexport default methods;\n"),
    ).toEqual([]);
  });

  it('only the Electron shell imports electron; services never import the UI', async () => {
    expect(await restrictedImports('electron/services/x.ts', "import { app } from 'electron';\nexport default app;\n")).toHaveLength(1);
    expect(
      await restrictedImports('electron/host/x.ts', "import { App } from '../../renderer/app/App';\nexport default App;\n"),
    ).toHaveLength(1);
    expect(await restrictedImports('electron/main/x.ts', "import { app } from 'electron';\nexport default app;\n")).toEqual([]);
    expect(
      await restrictedImports('electron/preload/x.ts', "import { ipcRenderer } from 'electron';\nexport default ipcRenderer;\n"),
    ).toEqual([]);
  });
});
