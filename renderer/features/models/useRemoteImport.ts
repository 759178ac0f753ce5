import { useCallback, useMemo, useState, useSyncExternalStore, type DragEvent } from 'react';
import type { HostApi } from '../../../shared/contract';
import { displayFileName } from '../../../shared/file-names';
import { UPLOAD_CHUNK_BYTES } from '../../../shared/machines';
import { useHostApi } from '../../app/host-context';
import { describeFailure } from '../../app/problems';

/** The file being sent now. */
export interface RemoteImportProgress {
  fileName: string;
  sentBytes: number;
  totalBytes: number;
  startedAt: number;
  /** Since it began; 0 until the first chunk is through. */
  bytesPerSecond: number;
  /** Cancel was pressed: the chunk on its way finishes, then the machine is told to drop what it has. */
  cancelling: boolean;
}

/** How an import ended; the words are made when shown, with the machine's name then. */
export type RemoteImportOutcome =
  | { kind: 'done'; fileName: string; modelName: string }
  | { kind: 'failed'; fileName: string; message: string }
  | { kind: 'cancelled'; fileName: string; skipped: number };

export interface RemoteImportState {
  current: RemoteImportProgress | null;
  /** Files waiting their turn after the current one. */
  waiting: number;
  /** What the imports since the machine was last idle came to. */
  outcomes: RemoteImportOutcome[];
}

const idle: RemoteImportState = { current: null, waiting: 0, outcomes: [] };

/**
 * Bytes as base64, without one giant string: the binary string is built from
 * pieces small enough for `String.fromCharCode(...)`, then encoded once.
 * Uses `Uint8Array.prototype.toBase64` where the engine has it.
 */
export function bytesToBase64(bytes: Uint8Array): string {
  const native = (bytes as Uint8Array & { toBase64?: () => string }).toBase64;
  if (typeof native === 'function') return native.call(bytes);
  const pieces: string[] = [];
  const step = 0x8000;
  for (let i = 0; i < bytes.length; i += step) pieces.push(String.fromCharCode(...bytes.subarray(i, i + step)));
  return btoa(pieces.join(''));
}

/** A name the machine accepts (at most 255 characters), keeping its .gguf ending. */
function uploadName(file: File): string {
  const name = displayFileName(file.name) || 'model.gguf';
  if (name.length <= 255) return name;
  const ending = /\.gguf$/i.test(name) ? name.slice(-5) : '';
  return name.slice(0, 255 - ending.length) + ending;
}

/** Thrown inside a run when Cancel was pressed: not a failure to show. */
class Cancelled extends Error {}

/**
 * One machine's imports: files sent one after another, each in chunks of
 * UPLOAD_CHUNK_BYTES in order (the next chunk read while the last is on its
 * way). Kept outside the view, per connection and machine, so an import goes
 * on, and shows again, when the Library is left and opened again.
 */
class RemoteImportQueue {
  private state: RemoteImportState = idle;
  private readonly listeners = new Set<() => void>();
  private readonly files: File[] = [];
  private running = false;
  private cancelRequested = false;

  constructor(
    private readonly api: HostApi,
    private readonly machineId: string,
  ) {}

  subscribe = (listener: () => void) => {
    this.listeners.add(listener);
    return () => void this.listeners.delete(listener);
  };

  getState = () => this.state;

  private set(patch: Partial<RemoteImportState>) {
    this.state = { ...this.state, ...patch };
    for (const listener of this.listeners) listener();
  }

  add(files: File[]) {
    if (files.length === 0) return;
    this.files.push(...files);
    if (this.running) {
      this.set({ waiting: this.files.length });
      return;
    }
    this.running = true;
    this.cancelRequested = false;
    this.set({ outcomes: [], waiting: this.files.length });
    void this.run();
  }

  cancel() {
    if (!this.running || !this.state.current) return;
    this.cancelRequested = true;
    this.set({ current: { ...this.state.current, cancelling: true } });
  }

  private async run() {
    try {
      for (let file = this.files.shift(); file; file = this.files.shift()) {
        const fileName = displayFileName(file.name) || 'file';
        this.set({
          current: { fileName, sentBytes: 0, totalBytes: file.size, startedAt: Date.now(), bytesPerSecond: 0, cancelling: false },
          waiting: this.files.length,
        });
        let outcome: RemoteImportOutcome;
        try {
          const model = await this.send(file);
          outcome = { kind: 'done', fileName, modelName: model.name };
        } catch (error) {
          if (!(error instanceof Cancelled)) outcome = { kind: 'failed', fileName, message: describeFailure(error) };
          else {
            outcome = { kind: 'cancelled', fileName, skipped: this.files.length };
            this.files.length = 0;
          }
        }
        this.set({ current: null, outcomes: [...this.state.outcomes, outcome] });
      }
    } finally {
      this.running = false;
      this.set({ current: null, waiting: 0 });
    }
  }

  private checkCancelled() {
    if (this.cancelRequested) throw new Cancelled();
  }

  private async send(file: File) {
    const { api, machineId } = this;
    const size = file.size;
    if (size === 0) throw new Error('The file is empty.');
    // The machine refuses a file that is not GGUF on its first bytes; saying so here spares sending it at all.
    const magic = new TextDecoder().decode(await file.slice(0, 4).arrayBuffer());
    if (magic !== 'GGUF') throw new Error('This is not a GGUF model file: it does not start with "GGUF".');
    this.checkCancelled();
    const { uploadId } = await api['machines.uploadBegin']({ machineId, name: uploadName(file), sizeBytes: size });
    try {
      const read = (offset: number) =>
        file
          .slice(offset, Math.min(offset + UPLOAD_CHUNK_BYTES, size))
          .arrayBuffer()
          .then((buffer) => bytesToBase64(new Uint8Array(buffer)));
      let next: Promise<string> | null = read(0);
      for (let offset = 0; offset < size;) {
        this.checkCancelled();
        const data: string = await next!;
        const end = Math.min(offset + UPLOAD_CHUNK_BYTES, size);
        next = end < size ? read(end) : null;
        // Read ahead while this chunk is on its way; a failure there is seen when it is awaited.
        next?.catch(() => undefined);
        const { receivedBytes } = await api['machines.uploadChunk']({ machineId, uploadId, offset, data });
        offset = end;
        const current = this.state.current;
        if (current) {
          const sentBytes = Math.min(receivedBytes, size);
          const seconds = (Date.now() - current.startedAt) / 1000;
          this.set({ current: { ...current, sentBytes, bytesPerSecond: seconds > 0 ? sentBytes / seconds : 0 } });
        }
      }
      this.checkCancelled();
      return await api['machines.uploadFinish']({ machineId, uploadId });
    } catch (error) {
      // The machine drops what it has of the file: asked for on Cancel, and after a failure in case it kept it.
      // Not awaited: a machine that went offline may take its time to fail, and the outcome is known already.
      void api['machines.uploadCancel']({ machineId, uploadId }).catch(() => undefined);
      throw error;
    }
  }
}

const queues = new WeakMap<HostApi, Map<string, RemoteImportQueue>>();

function queueFor(api: HostApi, machineId: string): RemoteImportQueue {
  let byMachine = queues.get(api);
  if (!byMachine) queues.set(api, (byMachine = new Map()));
  let queue = byMachine.get(machineId);
  if (!queue) byMachine.set(machineId, (queue = new RemoteImportQueue(api, machineId)));
  return queue;
}

/**
 * Importing .gguf files onto another Freehold machine, from a file picker or
 * dropped on that machine's section: the state of its imports, a way to add
 * files and to cancel, and drop handlers that keep the drop from the page's
 * own import into this machine's library.
 */
export function useRemoteImport(machineId: string, canImport: boolean) {
  const api = useHostApi();
  const queue = useMemo(() => queueFor(api, machineId), [api, machineId]);
  const state = useSyncExternalStore(queue.subscribe, queue.getState);
  const [over, setOver] = useState(false);
  // A machine that does not answer takes nothing (its drop is refused as it is dragged over).
  const add = useCallback(
    (files: File[]) => {
      if (canImport) queue.add(files);
    },
    [queue, canImport],
  );
  const cancel = useCallback(() => queue.cancel(), [queue]);
  const handlers = useMemo(
    () => ({
      onDragOver: (event: DragEvent) => {
        event.preventDefault();
        event.stopPropagation();
        event.dataTransfer.dropEffect = canImport ? 'copy' : 'none';
        setOver(canImport);
      },
      onDragLeave: (event: DragEvent) => {
        if (!event.currentTarget.contains(event.relatedTarget as Node | null)) setOver(false);
      },
      onDrop: (event: DragEvent) => {
        event.preventDefault();
        event.stopPropagation();
        setOver(false);
        add([...event.dataTransfer.files]);
      },
    }),
    [add, canImport],
  );
  return { state, add, cancel, over, handlers };
}
