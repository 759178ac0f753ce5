/**
 * Documents that arrive in pieces from a UI (the contract carries at most
 * 1 MiB a message): written to a file under the uploads folder as they come,
 * in order, never past the size announced or the documents' limit, then
 * handed to the documents service. One cancelled or left idle leaves nothing.
 */
import { randomBytes } from 'node:crypto';
import { mkdir, open, rm, type FileHandle } from 'node:fs/promises';
import path from 'node:path';
import { RpcError } from '../../shared/errors';
import { DOC_LIMITS, type DocumentRecord } from '../../shared/documents';
import { DocParseError, formatOf } from './parse';

const IDLE_MS = 5 * 60 * 1000;

interface Upload {
  dir: string;
  file: string;
  handle: FileHandle;
  size: number;
  received: number;
  target: { collectionId?: string; conversationId?: string };
  idle: NodeJS.Timeout;
}

export class DocsUploads {
  private readonly uploads = new Map<string, Upload>();

  constructor(
    private readonly uploadsDir: string,
    private readonly add: (file: string, target: Upload['target']) => Promise<DocumentRecord>,
    private readonly idleMs = IDLE_MS,
  ) {}

  async begin(name: string, size: number, target: Upload['target']): Promise<{ uploadId: string }> {
    const safe = path.basename(name).replace(/[\\/:*?"<>|\0]/g, '_');
    if (!formatOf(safe))
      throw new DocParseError(
        `${safe} is not a document Freehold reads (PDF, DOCX, Markdown, text, HTML, CSV, source code).`,
        'unsupported',
      );
    if (size > DOC_LIMITS.maxFileBytes)
      throw new DocParseError(
        `${safe} is ${(size / 1024 / 1024).toFixed(1)} MB; the limit is ${DOC_LIMITS.maxFileBytes / 1024 / 1024} MB`,
        'too_large',
      );
    const uploadId = randomBytes(12).toString('base64url');
    const dir = path.join(this.uploadsDir, `${Date.now().toString(36)}-${uploadId.slice(0, 8)}`);
    await mkdir(dir, { recursive: true });
    const file = path.join(dir, safe);
    const handle = await open(`${file}.partial`, 'w');
    this.uploads.set(uploadId, { dir, file, handle, size, received: 0, target, idle: this.timer(uploadId) });
    return { uploadId };
  }

  private timer(uploadId: string): NodeJS.Timeout {
    const timer = setTimeout(() => void this.cancel(uploadId), this.idleMs);
    timer.unref();
    return timer;
  }

  private upload(uploadId: string): Upload {
    const upload = this.uploads.get(uploadId);
    if (!upload) throw new RpcError('not_found', 'No such upload (it finished, was cancelled, or sat idle for 5 minutes).');
    return upload;
  }

  async chunk(uploadId: string, offset: number, data: Buffer): Promise<{ receivedBytes: number }> {
    const upload = this.upload(uploadId);
    if (offset !== upload.received) throw new RpcError('invalid_input', `Expected the piece at byte ${upload.received}, not ${offset}.`);
    if (upload.received + data.length > upload.size) {
      await this.cancel(uploadId);
      throw new RpcError('invalid_input', 'More arrived than the size announced; the upload was dropped.');
    }
    clearTimeout(upload.idle);
    try {
      await upload.handle.write(data, 0, data.length, offset);
    } catch (error) {
      await this.cancel(uploadId);
      throw new RpcError('conflict', `The document could not be stored: ${(error as Error).message}`);
    }
    upload.received += data.length;
    upload.idle = this.timer(uploadId);
    return { receivedBytes: upload.received };
  }

  async finish(uploadId: string): Promise<DocumentRecord> {
    const upload = this.upload(uploadId);
    if (upload.received !== upload.size) throw new RpcError('invalid_input', `Only ${upload.received} of ${upload.size} bytes arrived.`);
    clearTimeout(upload.idle);
    this.uploads.delete(uploadId);
    await upload.handle.close();
    const { rename } = await import('node:fs/promises');
    await rename(`${upload.file}.partial`, upload.file);
    try {
      return await this.add(upload.file, upload.target);
    } catch (error) {
      // Not taken (its conversation deleted meanwhile, say): the copy goes.
      await rm(upload.dir, { recursive: true, force: true });
      throw error;
    }
  }

  async cancel(uploadId: string): Promise<{ cancelled: boolean }> {
    const upload = this.uploads.get(uploadId);
    if (!upload) return { cancelled: false };
    this.uploads.delete(uploadId);
    clearTimeout(upload.idle);
    await upload.handle.close().catch(() => undefined);
    await rm(upload.dir, { recursive: true, force: true });
    return { cancelled: true };
  }

  async close(): Promise<void> {
    for (const id of [...this.uploads.keys()]) await this.cancel(id);
  }
}
