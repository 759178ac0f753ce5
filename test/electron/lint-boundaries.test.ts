import { readdirSync } from 'node:fs';
import { ESLint } from 'eslint';
import { describe, expect, it } from 'vitest';
import { LAYERS } from '../../eslint.config.js';

const eslint = new ESLint();

async function restrictedImports(filePath: string, code: string): Promise<string[]> {
  const [result] = await eslint.lintText(code, { filePath });
  return (result?.messages ?? []).filter((m) => m.ruleId === 'no-restricted-imports').map((m) => m.message);
}

describe('import boundaries are enforced by lint', () => {
  it('shared/ imports no Electron, no Node built-ins, no React and neither side', async () => {
    for (const source of ['electron', 'node:fs', 'fs', 'path', 'react', '../electron/platform/events', '../renderer/app/App']) {
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

  it('electron/ is in layers, and a planted upward import fails lint at every step up; downward and sideways pass', async () => {
    // Every folder of electron/ is in exactly one layer (a new folder must be placed).
    const folders = readdirSync('electron', { withFileTypes: true })
      .filter((d) => d.isDirectory())
      .map((d) => d.name);
    expect(folders.sort()).toEqual(LAYERS.flatMap((layer) => layer.folders).sort());
    const planted = async (from: string, to: string) =>
      restrictedImports(`electron/${from}/planted.ts`, `import { x } from '../${to}/module';\nexport default x;\n`);
    for (const [index, layer] of LAYERS.entries()) {
      for (const higher of LAYERS.slice(index + 1)) {
        const messages = await planted(layer.folders[0]!, higher.folders[0]!);
        expect(messages, `${layer.name} → ${higher.name}`).toEqual([
          `'../${higher.folders[0]}/module' import is restricted from being used by a pattern. The ${layer.name} layer sits below the ${higher.name} layer: it never imports from electron/${higher.folders[0]}/ (docs/architecture.md).`,
        ]);
      }
      for (const lower of LAYERS.slice(0, index + 1))
        expect(await planted(layer.folders.at(-1)!, lower.folders[0]!), `${layer.name} → ${lower.name}`).toEqual([]);
    }
    // The moves this rule keeps in place: a domain reaching into the services or the API's host, a format into a domain.
    expect(
      await restrictedImports('electron/library/x.ts', "import { EventBus } from '../services/events';\nexport default EventBus;\n"),
    ).toHaveLength(1);
    expect(
      await restrictedImports('electron/machines/x.ts', "import { t } from '../host/ws-transport';\nexport default t;\n"),
    ).toHaveLength(1);
    expect(
      await restrictedImports('electron/formats/x.ts', "import { m } from '../library/model-library';\nexport default m;\n"),
    ).toHaveLength(1);
    expect(
      await restrictedImports('electron/services/handlers/x.ts', "import { s } from '../../host/server';\nexport default s;\n"),
    ).toHaveLength(1);
  });
});
