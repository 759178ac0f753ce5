/**
 * Documents in chat: files attached to a conversation or gathered in
 * collections, indexed into the chat database (chunks, FTS5 keywords and
 * vectors from an embedding model), and the passages a reply was given.
 */
import { z } from 'zod';

export type DocFormat = 'pdf' | 'docx' | 'markdown' | 'text' | 'html' | 'code' | 'csv';

/** A piece of a parsed document, in reading order, with where it is. */
export interface DocSection {
  text: string;
  /** 1-based page (PDF). */
  page?: number;
  /** The headings above it, outermost first ("Setup › Linux"). */
  heading?: string;
  /** Code and tables are kept whole where they fit a chunk. */
  kind?: 'text' | 'code' | 'table';
}

export interface ParsedDocument {
  format: DocFormat;
  /** The document's own title where it has one, else the file name. */
  title: string;
  /** Pages (PDF). */
  pages?: number;
  sections: DocSection[];
}

/** A chunk to store: its text and where it is in the document. */
export interface ChunkInput {
  ordinal: number;
  text: string;
  page?: number;
  heading?: string;
  /** Estimated tokens. */
  tokens: number;
}

export type DocStatus = 'queued' | 'indexing' | 'indexed' | 'failed' | 'cancelled';

export interface DocumentRecord {
  id: string;
  name: string;
  path: string | null;
  format: DocFormat;
  bytes: number;
  status: DocStatus;
  error: string | null;
  /** Where it belongs: a collection, or a conversation it was attached to. */
  collectionId: string | null;
  conversationId: string | null;
  pages: number | null;
  chunks: number;
  /** Chunks with a vector from the current embedding model. */
  embedded: number;
  tokens: number;
  addedAt: string;
}

export interface CollectionRecord {
  id: string;
  name: string;
  /** Folders watched for this collection. */
  folders: string[];
  documents: number;
  chunks: number;
  createdAt: string;
}

/** A passage given to the model for a reply: the number it is cited by, and where it came from. */
export interface Passage {
  n: number;
  documentId: string;
  chunkId: number;
  name: string;
  page?: number;
  heading?: string;
  text: string;
  /** Fused score (higher is better); absent for a document given whole. */
  score?: number;
}

/** What a reply was given from the documents, stored with it. */
export interface ReplySources {
  mode: 'whole' | 'retrieved';
  passages: Passage[];
  /** Passage numbers the reply cites that were given to it, in order of first use. */
  cited: number[];
  files: number;
  /** The query used for retrieval (recent turns). */
  query?: string;
  /** Documents of the chat still being read when the reply was made (not given). */
  pending?: number;
}

export interface IndexProgress {
  documentId: string;
  name: string;
  status: DocStatus;
  pagesRead?: number;
  pages?: number;
  chunks: number;
  embedded: number;
  error?: string | null;
}

export interface SearchResult {
  chunkId: number;
  documentId: string;
  name: string;
  page?: number;
  heading?: string;
  text: string;
  score: number;
  vectorRank?: number;
  keywordRank?: number;
}

export const DOC_LIMITS = {
  /** Largest file accepted. */
  maxFileBytes: 100 * 1024 * 1024,
  /** Largest text taken out of one file (a DOCX that decompresses without bound stops here). */
  maxTextChars: 20_000_000,
  /** Files taken from one folder. */
  maxFolderFiles: 10_000,
  /** Passages retrieved per reply. */
  passages: 6,
} as const;

/** A document sent in pieces (a file over 512 KiB): announced, sent in order, finished. */
export const DOC_UPLOAD_PIECE_BYTES = 512 * 1024;

const id = z.string().min(1).max(64);
const filePath = z.string().min(1).max(4096);

export const docsAddSchema = z
  .object({
    paths: z.array(filePath).min(1).max(1000),
    collectionId: id.optional(),
    conversationId: id.optional(),
  })
  .strict();

export const docsUploadSchema = z
  .object({
    name: z.string().min(1).max(255),
    /** base64, a file of at most DOC_UPLOAD_PIECE_BYTES (larger ones go in pieces) */
    data: z.string().max(Math.ceil(DOC_UPLOAD_PIECE_BYTES / 3) * 4),
    conversationId: id.optional(),
    collectionId: id.optional(),
  })
  .strict();

export const docsUploadBeginSchema = z
  .object({
    name: z.string().min(1).max(255),
    size: z.number().int().min(1).max(DOC_LIMITS.maxFileBytes),
    conversationId: id.optional(),
    collectionId: id.optional(),
  })
  .strict();
export const docsUploadChunkSchema = z
  .object({
    uploadId: id,
    offset: z.number().int().min(0),
    data: z
      .string()
      .min(1)
      .max(Math.ceil(DOC_UPLOAD_PIECE_BYTES / 3) * 4),
  })
  .strict();
export const docsUploadIdSchema = z.object({ uploadId: id }).strict();

export const docsListSchema = z.object({ collectionId: id.optional(), conversationId: id.optional() }).strict();
export const docsSearchSchema = z
  .object({
    query: z.string().min(1).max(4000),
    collectionId: id.optional(),
    conversationId: id.optional(),
    limit: z.number().int().min(1).max(50).optional(),
  })
  .strict();
export const collectionCreateSchema = z
  .object({ name: z.string().trim().min(1).max(100), folders: z.array(filePath).max(20).optional() })
  .strict();
export const conversationCollectionsSchema = z.object({ conversationId: id, collectionIds: z.array(id).max(20) }).strict();

const passageSchema = z.object({
  n: z.number().int().min(1).max(10_000),
  documentId: z.string().max(64),
  chunkId: z.number().int(),
  name: z.string().max(500),
  page: z.number().int().min(0).optional(),
  heading: z.string().max(2000).optional(),
  text: z.string().max(200_000),
  score: z.number().optional(),
});

/** Stored with a reply and carried by export/import. */
export const replySourcesSchema = z.object({
  mode: z.enum(['whole', 'retrieved']),
  passages: z.array(passageSchema).max(10_000),
  cited: z.array(z.number().int()).max(10_000),
  files: z.number().int().min(0),
  query: z.string().max(10_000).optional(),
  pending: z.number().int().min(0).optional(),
});

/** The embedding model documents use: chosen, or none yet (keywords only until one is). */
export interface EmbeddingStatus {
  modelId: string | null;
  name: string | null;
  dims: number | null;
  /** Chunks still waiting for a vector. */
  missing: number;
  /** Library models that embed (to choose from). */
  choices: Array<{ id: string; name: string }>;
  /** Why vectors are not being made now, if they are not. */
  problem: string | null;
}

export interface DocsSnapshot {
  documents: DocumentRecord[];
  collections: CollectionRecord[];
  embedding: EmbeddingStatus;
}

/** The documents a conversation uses: attached to it, and the collections turned on for it. */
export interface ChatDocuments {
  documents: DocumentRecord[];
  collectionIds: string[];
}

export const docIdSchema = z.object({ id }).strict();
export const embeddingChoiceSchema = z.object({ modelId: id.nullable() }).strict();
export const chatDocsSchema = z.object({ conversationId: id }).strict();
