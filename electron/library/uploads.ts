import { randomBytes } from 'node:crypto';
import { once } from 'node:events';
import { displayFileName } from '../../shared/file-names';
import { RpcError } from '../../shared/errors';
import type { ModelEntry } from '../../shared/library';
import { UploadGuard } from '../platform/upload-guard';
import type { EventBus } from '../platform/events';
import type { ModelLibrary } from './model-library';

/** An upload nobody has sent to for this long is given up, and what came of it removed. */
const IDLE_MS = 5 * 60 * 1000;

interface Upload {
  name: string;
  sizeBytes: number;
  received: number;
  guard: UploadGuard;
  result: Promise<ModelEntry>;
  failure: Error | null;
  idle: NodeJS.Timeout;
}

/**
 * Model files that arrive in pieces (a paired machine importing onto this
 * one): each is checked as it arrives (GGUF magic, room on the disk, the size
 * announced) and stored as a copy in the library, hashed on the way; one that
 * is cancelled, cut off or left idle leaves nothing behind.
 */
export class UploadSessions {
  private readonly uploads = new Map<string, Upload>();

  constructor(
    private readonly library: ModelLibrary,
    private readonly events: EventBus,
    private readonly idleMs = IDLE_MS,
  ) {}

  async begin(given: string, sizeBytes: number): Promise<{ uploadId: string }> {
    const name = displayFileName(given);
    if (!/.\.gguf$/i.test(name)) throw new RpcError('invalid_model', 'Only .gguf files can be imported.');
    const dir = this.library.modelsDirectory();
    await this.library.ensureSpace(dir, sizeBytes);
    const uploadId = randomBytes(18).toString('base64url');
    const guard = new UploadGuard({
      ensureSpace: (bytes) => this.library.ensureSpace(dir, bytes),
      expectedBytes: sizeBytes,
      spaceCheckBytes: 64 * 1024 * 1024,
    });
    const upload: Upload = {
      name,
      sizeBytes,
      received: 0,
      guard,
      failure: null,
      idle: setTimeout(() => this.drop(uploadId, new Error('The import was given up: nothing arrived for 5 minutes.')), this.idleMs),
      // These come from another machine (`machines import`): a projector is attached only by this machine's user.
      result: this.library.importStream(
        name,
        guard,
        (bytes) => this.events.emit('onImportProgress', { path: name, bytes, totalBytes: sizeBytes }),
        { projectors: false },
      ),
    };
    upload.result.catch((error: Error) => (upload.failure ??= error));
    // A refusal (not a GGUF, no room) is kept for the next call to report, never thrown at the process.
    guard.on('error', (error) => (upload.failure ??= error));
    this.uploads.set(uploadId, upload);
    return { uploadId };
  }

  private get(uploadId: string): Upload {
    const upload = this.uploads.get(uploadId);
    if (!upload) throw new RpcError('not_found', 'No such import in progress (it finished, was cancelled, or was given up).');
    if (upload.failure) {
      this.uploads.delete(uploadId);
      throw new RpcError('invalid_model', upload.failure.message);
    }
    return upload;
  }

  async chunk(uploadId: string, offset: number, data: string): Promise<{ receivedBytes: number }> {
    const upload = this.get(uploadId);
    if (offset !== upload.received)
      throw new RpcError('invalid_input', `Pieces must come in order: expected the one at byte ${upload.received}, not ${offset}.`);
    const bytes = Buffer.from(data, 'base64');
    if (upload.received + bytes.length > upload.sizeBytes)
      throw new RpcError('invalid_input', `More bytes than the ${upload.sizeBytes} announced.`);
    upload.received += bytes.length;
    upload.idle.refresh();
    if (!upload.guard.write(bytes)) {
      // Backpressure: the next piece is asked for once the disk has taken this one.
      await Promise.race([once(upload.guard, 'drain'), upload.result.catch(() => undefined)]);
    }
    if (upload.failure) return this.get(uploadId) as never;
    return { receivedBytes: upload.received };
  }

  async finish(uploadId: string): Promise<ModelEntry> {
    const upload = this.get(uploadId);
    if (upload.received !== upload.sizeBytes) {
      this.drop(uploadId, new Error('cut off'));
      throw new RpcError('invalid_input', `Only ${upload.received} of ${upload.sizeBytes} bytes arrived: the import was not stored.`);
    }
    this.uploads.delete(uploadId);
    clearTimeout(upload.idle);
    upload.guard.end();
    try {
      return await upload.result;
    } catch (error) {
      throw error instanceof RpcError ? error : new RpcError('invalid_model', (error as Error).message);
    }
  }

  cancel(uploadId: string): { cancelled: boolean } {
    if (!this.uploads.has(uploadId)) return { cancelled: false };
    this.drop(uploadId, new Error('The import was cancelled.'));
    return { cancelled: true };
  }

  private drop(uploadId: string, reason: Error): void {
    const upload = this.uploads.get(uploadId);
    if (!upload) return;
    this.uploads.delete(uploadId);
    clearTimeout(upload.idle);
    // The library removes the partial copy when its stream fails.
    upload.guard.destroy(reason);
  }

  close(): void {
    for (const id of [...this.uploads.keys()]) this.drop(id, new Error('Freehold is shutting down.'));
  }
}
