import type { DocumentRecord, IndexProgress, ReplySources, SearchResult } from '../../../shared/documents';
import {
  choosePassages,
  documentsPrompt,
  passagePlace,
  replyReserve,
  replySources,
  estimateTokens,
  type Decision,
} from '../../docs/docs-context';
import type { HostServices } from '../../services/host-services';
import { numberOption, UsageError, type CliIo, type Command } from '../command';

function describe(doc: DocumentRecord): string {
  const where = doc.pages ? `${doc.pages} pages, ` : '';
  const state =
    doc.status === 'indexed'
      ? `${where}${doc.chunks} chunks, ${doc.embedded}/${doc.chunks} embedded`
      : doc.status === 'failed' || doc.status === 'cancelled'
        ? `${doc.status}: ${doc.error ?? ''}`
        : doc.status;
  return `${doc.id}  ${doc.name}  ${state}`;
}

/** Indexing progress on stderr, a line per file as it finishes (and pages as a PDF is read). */
function showProgress(host: HostServices, io: CliIo, json: boolean): () => void {
  let lastPages = '';
  return host.events.subscribeAll((event, payload) => {
    if (event !== 'onDocsProgress' || json) return;
    const p = payload as IndexProgress;
    if (p.status === 'indexing' && p.pages) {
      const line = `${p.name}: page ${p.pagesRead ?? 0}/${p.pages}`;
      if (line !== lastPages && ((p.pagesRead ?? 0) % 10 === 0 || p.pagesRead === p.pages)) io.err((lastPages = line));
    } else if (p.status === 'indexed' && p.embedded === 0) io.err(`${p.name}: ${p.chunks} chunks`);
    else if (p.status === 'failed' || p.status === 'cancelled') io.err(`${p.name}: ${p.error ?? p.status}`);
  });
}

export const docsCommand: Command = {
  summary: 'Documents for chat: add files or folders to a collection, list, remove, search',
  usage:
    'docs add <file|folder>... [--collection NAME] | list [--collection NAME] [--json] | remove <id> | search "query" [--collection NAME] [--limit N] [--json]',
  options: { collection: { type: 'string' }, limit: { type: 'string' } },
  async run({ io, json, args, values, services, program }) {
    const [action, ...rest] = args;
    const host = await services();
    const docs = host.docs;
    const named = typeof values.collection === 'string' ? values.collection : undefined;
    if (action === 'add') {
      if (rest.length === 0) throw new UsageError('docs add needs files or folders.');
      const name = named ?? 'Documents';
      let collection;
      try {
        collection = docs.collectionNamed(name);
      } catch {
        collection = await docs.createCollection(name);
      }
      const off = showProgress(host, io, json);
      try {
        const added = await docs.add(rest, { collectionId: collection.id });
        await docs.idle();
        const ids = new Set(added.map((d) => d.id));
        const result = (await docs.snapshot()).documents.filter((d) => ids.has(d.id));
        if (json) io.out(JSON.stringify({ collection: collection.name, documents: result }));
        else {
          for (const doc of result) io.out(describe(doc));
          io.out(
            `${result.length} document(s) in the collection "${collection.name}". Chat with it: ${program} chat --model <model> --collection "${collection.name}" "…"`,
          );
        }
        return result.some((d) => d.status === 'failed') ? 1 : 0;
      } finally {
        off();
      }
    }
    if (action === 'list') {
      const snapshot = await docs.snapshot();
      const collection = named ? docs.collectionNamed(named) : undefined;
      const documents = collection ? snapshot.documents.filter((d) => d.collectionId === collection.id) : snapshot.documents;
      if (json) {
        io.out(JSON.stringify({ ...snapshot, documents }));
        return 0;
      }
      for (const c of collection ? [collection] : snapshot.collections) {
        io.out(`${c.name} (${c.documents} documents, ${c.chunks} chunks${c.folders.length ? `, watching ${c.folders.join(', ')}` : ''})`);
        for (const doc of documents.filter((d) => d.collectionId === c.id)) io.out(`  ${describe(doc)}`);
      }
      const attached = documents.filter((d) => d.conversationId);
      if (attached.length && !collection) {
        io.out('Attached to chats:');
        for (const doc of attached) io.out(`  ${describe(doc)}`);
      }
      const e = snapshot.embedding;
      io.out(
        e.modelId
          ? `Embedding model: ${e.name ?? e.modelId} (${e.dims} dimensions, ${e.missing} chunks waiting)`
          : 'No embedding model: documents are found by keywords.',
      );
      return 0;
    }
    if (action === 'remove') {
      const [id] = rest;
      if (!id) throw new UsageError('docs remove needs a document id (docs list shows them).');
      if (!(await docs.snapshot()).documents.some((d) => d.id === id)) throw new Error(`No document ${id}.`);
      docs.remove(id);
      io.out(`Removed ${id} and its chunks.`);
      return 0;
    }
    if (action === 'search') {
      const query = rest.join(' ').trim();
      if (!query) throw new UsageError('docs search needs a query.');
      const limit = numberOption(values, 'limit', true) ?? 5;
      const scope = named ? { collectionIds: [docs.collectionNamed(named).id] } : { everything: true as const };
      const results = await docs.search(query, scope, limit);
      if (json) io.out(JSON.stringify(results));
      else for (const r of results) io.out(formatResult(r));
      if (!json && results.length === 0) io.out('No passage matches.');
      return 0;
    }
    throw new UsageError(`docs: unknown action "${action ?? ''}" (add, list, remove, search).`);
  },
};

function formatResult(r: SearchResult): string {
  const text = r.text.replace(/\s+/g, ' ').trim();
  return `${r.score.toFixed(4)}  ${passagePlace(r)}\n    ${text.length > 300 ? `${text.slice(0, 297)}…` : text}`;
}

/** `chat --collection`: the passages for the prompt, chosen for the loaded model's context, as a system prompt; and what to print after the reply. */
export async function collectionContext(
  host: HostServices,
  collection: string,
  prompt: string,
  system: string | undefined,
  contextSize: number,
): Promise<{ system: string; sources: (reply: string) => ReplySources; decision: Decision }> {
  const docs = host.docs;
  const found = docs.collectionNamed(collection);
  const scope = { collectionIds: [found.id] };
  const results = await docs.search(prompt, scope, 24);
  const whole = docs.wholeChunks(scope);
  const decision = choosePassages(
    whole,
    results.map((r) => ({ ...r, tokens: estimateTokens(r.text) })),
    { contextSize, conversationTokens: estimateTokens(`${system ?? ''}${prompt}`) + 16, replyTokens: replyReserve(contextSize) },
  );
  const prompted = documentsPrompt(decision);
  return {
    system: system ? `${system}\n\n${prompted}` : prompted,
    decision,
    sources: (reply) => replySources(decision, reply, prompt),
  };
}

/** The passages a reply cites, for the terminal: "[1] guide.pdf, page 3". */
export function citedLines(sources: ReplySources): string[] {
  const lines = [
    `${sources.passages.length} passages from ${sources.files} file(s) (${sources.mode === 'whole' ? 'given whole' : 'retrieved'})`,
  ];
  for (const n of sources.cited) {
    const p = sources.passages.find((x) => x.n === n);
    if (p) lines.push(`[${n}] ${passagePlace(p)}`);
  }
  return lines;
}
