import { Transform, type TransformCallback } from 'node:stream';

const GGUF_MAGIC = Buffer.from('GGUF');

/** An upload turned away while it arrives, with the HTTP status to answer. */
export class UploadRefused extends Error {
  constructor(
    readonly status: number,
    message: string,
  ) {
    super(message);
  }
}

export interface UploadGuardOptions {
  /** Throws if `bytes` more would not fit on the disk (ModelLibrary.ensureSpace). */
  ensureSpace(bytes: number): Promise<void>;
  /** The Content-Length, when the client sent one. */
  expectedBytes: number | null;
  /** Room is checked again each time this many bytes have arrived. */
  spaceCheckBytes: number;
}

/**
 * Sits between an upload and the file it is written to, so that a bad upload
 * is refused as it arrives rather than once it has been written: the first
 * four bytes must be GGUF's magic, and before each `spaceCheckBytes` the disk
 * must have room for them (a chunked upload has no Content-Length to check
 * first). Nothing passes until both hold.
 */
export class UploadGuard extends Transform {
  private head: Buffer | null = Buffer.alloc(0);
  private received = 0;
  private checkedUpTo = 0;

  constructor(private readonly options: UploadGuardOptions) {
    super();
  }

  override _transform(chunk: Buffer, _encoding: BufferEncoding, callback: TransformCallback): void {
    this.accept(chunk).then(() => callback(), callback);
  }

  override _flush(callback: TransformCallback): void {
    if (this.head !== null) callback(notGguf());
    else callback();
  }

  private async accept(chunk: Buffer): Promise<void> {
    if (this.head !== null) {
      // The magic may come split over chunks: hold what came until there are four bytes.
      const head = Buffer.concat([this.head, chunk]);
      if (head.length < GGUF_MAGIC.length) {
        if (!GGUF_MAGIC.subarray(0, head.length).equals(head)) throw notGguf();
        this.head = head;
        return;
      }
      if (!head.subarray(0, GGUF_MAGIC.length).equals(GGUF_MAGIC)) throw notGguf();
      this.head = null;
      chunk = head;
    }
    this.received += chunk.length;
    while (this.received > this.checkedUpTo) {
      const { expectedBytes, spaceCheckBytes } = this.options;
      const ahead = expectedBytes === null ? spaceCheckBytes : Math.min(spaceCheckBytes, Math.max(expectedBytes - this.checkedUpTo, 0));
      try {
        await this.options.ensureSpace(Math.max(ahead, this.received - this.checkedUpTo));
      } catch (error) {
        throw new UploadRefused(507, (error as Error).message);
      }
      this.checkedUpTo += Math.max(spaceCheckBytes, this.received - this.checkedUpTo);
    }
    this.push(chunk);
  }
}

function notGguf(): UploadRefused {
  return new UploadRefused(422, 'This is not a GGUF model file: it does not start with "GGUF".');
}
