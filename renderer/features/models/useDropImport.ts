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

const ARCHITECTURE_KEY = new TextEncoder().encode('general.architecture');

/**
 * Whether a dropped file is a projector (an mmproj GGUF, general.architecture
 * "clip"), from its first bytes, where that key is written: the key, then the
 * string type (8) and length (4) as little-endian numbers, then "clip".
 */
export async function isProjectorBlob(file: Blob): Promise<boolean> {
  const head = new Uint8Array(await file.slice(0, 256 * 1024).arrayBuffer());
  const key = ARCHITECTURE_KEY;
  search: for (let i = 0; i + key.length + 16 <= head.length; i += 1) {
    for (let k = 0; k < key.length; k += 1) if (head[i + k] !== key[k]) continue search;
    const view = new DataView(head.buffer, head.byteOffset + i + key.length, 16);
    if (view.getUint32(0, true) !== 8 || view.getBigUint64(4, true) !== 4n) return false;
    return new TextDecoder().decode(head.subarray(i + key.length + 12, i + key.length + 16)) === 'clip';
  }
  return false;
}

/** What an import came to, in words: a model in, a projector attached to its model, or the reason it was refused. */
function lineOf(result: ImportResult): { ok: boolean; text: string } {
  const name = result.path.split(/[\\/]/).pop();
  if (!result.ok) return { ok: false, text: `${name}: ${result.error}` };
  if (result.attachedTo && result.model) {
    const takes = [result.model.projector?.vision ? 'sees images' : null, result.model.projector?.audio ? 'hears audio' : null]
      .filter(Boolean)
      .join(' and ');
    return { ok: true, text: `${name}: attached to ${result.model.name}${takes ? `, which now ${takes}` : ''}` };
  }
  return { ok: true, text: `Imported ${result.model?.name ?? result.path}` };
}

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
    setStatus({ busy: false, lines: results.map(lineOf) });
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
      // One file at a time, models first: a projector dropped with its model is attached to it once it is in.
      const projector = new Map<File, boolean>();
      for (const file of files) projector.set(file, await isProjectorBlob(file).catch(() => false));
      files.sort((a, b) => Number(projector.get(a)) - Number(projector.get(b)));
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
          // An uploaded projector comes back as the model it was attached to.
          const attached = projector.get(file) && body.model?.projector ? { attachedTo: body.model.id } : {};
          results.push(
            body.ok
              ? { path: name, ok: true, model: body.model, ...attached }
              : { path: name, ok: false, error: body.error ?? `HTTP ${res.status}` },
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
