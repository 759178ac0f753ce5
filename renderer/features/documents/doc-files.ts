/**
 * Files attached as documents (read for a conversation's replies), told apart
 * from images and audio (sent with one message) by their extension. The host
 * checks each file again when it reads it.
 */
import type { HostApi } from '../../../shared/contract';
import { DOC_LIMITS, DOC_UPLOAD_PIECE_BYTES, type DocumentRecord, type IndexProgress } from '../../../shared/documents';

const CODE = [
  'ts', 'tsx', 'js', 'jsx', 'mjs', 'cjs', 'py', 'rs', 'go', 'java', 'c', 'h', 'cc', 'cpp', 'hpp', 'cs', 'rb', 'php', 'swift', 'kt',
  'scala', 'lua', 'r', 'dart', 'sh', 'bash', 'ps1', 'sql', 'json', 'yaml', 'yml', 'toml', 'ini', 'css', 'scss', 'xml', 'vue', 'svelte',
]; // prettier-ignore

/** Extensions read as documents: text formats first, then common source code. */
export const DOCUMENT_EXTENSIONS = ['pdf', 'docx', 'md', 'markdown', 'mdx', 'txt', 'log', 'rst', 'html', 'htm', 'csv', 'tsv', ...CODE];

/** What the "Attach documents" picker offers. */
export const DOCUMENT_ACCEPT = DOCUMENT_EXTENSIONS.map((ext) => `.${ext}`).join(',');

export function isDocumentFile(file: Pick<File, 'name'>): boolean {
  const dot = file.name.lastIndexOf('.');
  return dot > 0 && DOCUMENT_EXTENSIONS.includes(file.name.slice(dot + 1).toLowerCase());
}

/** Base64 of bytes, in pieces small enough for the call stack. */
function base64(bytes: Uint8Array): string {
  let binary = '';
  for (let i = 0; i < bytes.length; i += 0x8000) binary += String.fromCharCode(...bytes.subarray(i, i + 0x8000));
  return btoa(binary);
}

/**
 * Sends a document to the host: whole when it is small, else in pieces of
 * 512 KiB (one call carries at most 1 MiB); refused here when it is over the
 * host's limit. Where it goes: a conversation or a collection.
 */
export async function uploadDocument(
  api: Pick<HostApi, 'docs.upload' | 'docs.uploadBegin' | 'docs.uploadChunk' | 'docs.uploadFinish' | 'docs.uploadCancel'>,
  file: File,
  target: { conversationId?: string; collectionId?: string },
): Promise<DocumentRecord> {
  if (file.size > DOC_LIMITS.maxFileBytes)
    throw new Error(
      `${file.name} is ${Math.round(file.size / 1024 / 1024)} MB; the most for one document is ${DOC_LIMITS.maxFileBytes / 1024 / 1024} MB`,
    );
  if (file.size <= DOC_UPLOAD_PIECE_BYTES)
    return api['docs.upload']({ name: file.name, data: base64(new Uint8Array(await file.arrayBuffer())), ...target });
  const { uploadId } = await api['docs.uploadBegin']({ name: file.name, size: file.size, ...target });
  try {
    for (let offset = 0; offset < file.size; offset += DOC_UPLOAD_PIECE_BYTES) {
      const piece = new Uint8Array(await file.slice(offset, offset + DOC_UPLOAD_PIECE_BYTES).arrayBuffer());
      await api['docs.uploadChunk']({ uploadId, offset, data: base64(piece) });
    }
  } catch (error) {
    await api['docs.uploadCancel']({ uploadId }).catch(() => undefined);
    throw error;
  }
  return api['docs.uploadFinish']({ uploadId });
}

export const plural = (n: number, one: string, many = `${one}s`) => `${n.toLocaleString('en-US')} ${n === 1 ? one : many}`;

const settled: DocumentRecord['status'][] = ['indexed', 'failed', 'cancelled'];

/** A document as it stands now: its record with the latest progress the host told (progress after a stale record wins). */
export function withProgress(doc: DocumentRecord, progress: IndexProgress | undefined): DocumentRecord & { pagesRead?: number } {
  if (!progress) return doc;
  if (settled.includes(doc.status) && !settled.includes(progress.status)) return doc;
  return {
    ...doc,
    status: progress.status,
    chunks: progress.chunks || doc.chunks,
    embedded: Math.max(progress.embedded, progress.status === doc.status ? doc.embedded : 0),
    pages: progress.pages ?? doc.pages,
    error: progress.error ?? (progress.status === 'failed' ? doc.error : null),
    ...(progress.pagesRead !== undefined ? { pagesRead: progress.pagesRead } : {}),
  };
}

/** Where a document stands, in words: "reading page 3 of 12", "42 chunks · embedded 30/42", "failed: …". */
export function statusText(doc: DocumentRecord & { pagesRead?: number }, vectors: boolean): string {
  switch (doc.status) {
    case 'queued':
      return 'queued';
    case 'indexing':
      return doc.pages && doc.pagesRead !== undefined ? `reading page ${doc.pagesRead} of ${doc.pages}` : 'reading…';
    case 'failed':
      return `failed: ${doc.error ?? 'it could not be read'}`;
    case 'cancelled':
      return 'cancelled';
    case 'indexed': {
      const chunks = plural(doc.chunks, 'chunk');
      if (!vectors || doc.chunks === 0) return chunks;
      return doc.embedded >= doc.chunks ? `${chunks}, all embedded` : `${chunks} · embedded ${doc.embedded}/${doc.chunks}`;
    }
  }
}

/** How far along it is (0-1) while it is read or embedded; null when there is nothing to show. */
export function fractionDone(doc: DocumentRecord & { pagesRead?: number }, vectors: boolean): number | null {
  if (doc.status === 'indexing' && doc.pages && doc.pagesRead !== undefined) return doc.pagesRead / doc.pages;
  if (doc.status === 'indexed' && vectors && doc.chunks > 0 && doc.embedded < doc.chunks) return doc.embedded / doc.chunks;
  return null;
}
