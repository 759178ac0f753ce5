import { useCallback, useState, type DragEvent } from 'react';
import type { FreeholdBridge } from '../../../shared/bridge';
import { displayFileName } from '../../../shared/file-names';
import type { ImportResult } from '../../../shared/library';
import { useHostApi } from '../../app/host-context';
import { describeFailure } from '../../app/problems';

export interface DropStatus {
  busy: boolean;
  lines: Array<{ ok: boolean; text: string }>;
}

const TOKEN_KEY = 'freehold.token';

/**
 * Dropping .gguf files (or a folder) imports them. The desktop app gets real
 * paths from the preload and links the files in place (or copies them, if
 * asked); a browser cannot give paths, so there each file is uploaded as a
 * stream into the library.
 */
export function useDropImport(mode: 'reference' | 'copy') {
  const api = useHostApi();
  const [status, setStatus] = useState<DropStatus>({ busy: false, lines: [] });
  const [over, setOver] = useState(false);
  const bridge = (window as unknown as { freehold?: FreeholdBridge }).freehold;

  const report = useCallback((results: ImportResult[]) => {
    setStatus({
      busy: false,
      lines: results.map((r) =>
        r.ok
          ? { ok: true, text: `Imported ${r.model?.name ?? r.path}` }
          : { ok: false, text: `${r.path.split(/[\\/]/).pop()}: ${r.error}` },
      ),
    });
  }, []);

  const onDrop = useCallback(
    async (event: DragEvent) => {
      event.preventDefault();
      setOver(false);
      const files = [...event.dataTransfer.files];
      if (files.length === 0) return;
      setStatus({ busy: true, lines: [{ ok: true, text: `Importing ${files.length} item${files.length === 1 ? '' : 's'}…` }] });
      if (bridge) {
        const paths = files.map((f) => bridge.pathForFile(f)).filter(Boolean);
        report(await api['models.import']({ paths, mode }).catch((e: Error) => [{ path: paths.join(', '), ok: false, error: e.message }]));
        return;
      }
      const token = window.sessionStorage.getItem(TOKEN_KEY) ?? '';
      const results: ImportResult[] = [];
      for (const file of files) {
        const name = displayFileName(file.name);
        try {
          // The host refuses a file that is not GGUF on its first bytes; saying so here spares sending it at all.
          const magic = new TextDecoder().decode(await file.slice(0, 4).arrayBuffer());
          if (magic !== 'GGUF') {
            results.push({ path: name, ok: false, error: 'This is not a GGUF model file: it does not start with "GGUF".' });
            continue;
          }
          const res = await fetch(`/api/upload?name=${encodeURIComponent(file.name)}`, {
            method: 'POST',
            body: file,
            headers: { 'X-Freehold-Token': token },
          });
          const body = (await res.json()) as { ok: boolean; error?: string; model?: ImportResult['model'] };
          results.push(
            body.ok ? { path: name, ok: true, model: body.model } : { path: name, ok: false, error: body.error ?? `HTTP ${res.status}` },
          );
        } catch (error) {
          results.push({ path: name, ok: false, error: (error as Error).message });
        }
      }
      report(results);
    },
    [api, bridge, mode, report],
  );

  return {
    status,
    over,
    inDesktop: Boolean(bridge),
    handlers: {
      onDragOver: (event: DragEvent) => {
        event.preventDefault();
        setOver(true);
      },
      onDragLeave: () => setOver(false),
      onDrop: (event: DragEvent) =>
        void onDrop(event).catch((error: unknown) =>
          setStatus({ busy: false, lines: [{ ok: false, text: describeFailure(error, 'Could not import') }] }),
        ),
    },
  };
}
