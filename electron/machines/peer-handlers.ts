import path from 'node:path';
import { methods, type EventName, type Events, type HostHandlers, type InferenceStatus, type MethodName } from '../../shared/contract';
import { RpcError } from '../../shared/errors';
import type { DownloadJob } from '../../shared/hub';
import type { LibrarySnapshot } from '../../shared/library';

/**
 * What a paired machine may ask of this one: its hardware, its models (by id
 * and name, never a path), replies on them, hub searches and downloads. Not
 * the data folder, not file paths, not this machine's chats or settings, not
 * pairing, not imports by path.
 */
const allowed = new Set<MethodName>([
  'app.info',
  'system.info',
  'inference.status',
  'inference.hardware',
  'hardware.fit',
  'hardware.watch',
  'models.list',
  'models.generate',
  'chat.abort',
  'hub.search',
  'hub.repo',
  'hub.recommended',
  'downloads.list',
  'downloads.start',
  'downloads.pause',
  'downloads.resume',
  'downloads.cancel',
  'uploads.begin',
  'uploads.chunk',
  'uploads.finish',
  'uploads.cancel',
  'split.helperStart',
  'split.helperStop',
]);

const fileName = (file: string) => path.basename(file);

function redactStatus(status: InferenceStatus): InferenceStatus {
  return {
    ...status,
    model: status.model ? { ...status.model, path: fileName(status.model.path) } : null,
    loading: status.loading ? { ...status.loading, modelPath: fileName(status.loading.modelPath) } : null,
    embeddingModel: status.embeddingModel ? fileName(status.embeddingModel) : null,
  };
}

function redactLibrary(snapshot: LibrarySnapshot): LibrarySnapshot {
  return {
    models: snapshot.models.map((m) => ({
      ...m,
      files: m.files.map(fileName),
      folderId: null,
      ...(m.projector ? { projector: { ...m.projector, file: fileName(m.projector.file) } } : {}),
    })),
    folders: [],
    totalBytes: snapshot.totalBytes,
    ownedBytes: snapshot.ownedBytes,
  };
}

/** Error text that names no path on this machine (a library error may quote one). */
function redactMessage(message: string, hidden: string[]): string {
  let out = message;
  for (const prefix of hidden) if (prefix.length > 1) out = out.split(prefix).join('…');
  return out;
}

export interface PeerSession {
  handlers: HostHandlers;
  filterEvent: <E extends EventName>(event: E, payload: Events[E]) => Events[E] | undefined;
  /** Stops this peer's replies still running (the link closed). */
  abortAll(): void;
}

/**
 * The handlers one paired connection is served, over the host's own. Reply
 * request ids are namespaced per pairing, so that a peer can neither see nor
 * stop another client's reply, and deltas go back under the peer's own ids.
 */
export function peerSession(
  base: HostHandlers,
  options: {
    pairingId: string;
    hiddenPaths: string[];
    /** This pairing's RPC helper (a split model), reachable only through its link's tunnels. */
    helpers?: { start(pairingId: string): Promise<unknown>; stop(pairingId: string): boolean };
    /** Starts a download, saying whether this call made the job (or joined one already under way). */
    startDownload?: (input: Parameters<HostHandlers['downloads.start']>[0]) => Promise<{ job: DownloadJob; created: boolean }>;
    /** The downloads this pairing started (kept across its links): the only ones it sees and controls. */
    downloads?: Set<string>;
    /** This pairing's replies running or waiting (kept across its links), and how many it may have at once. */
    replies?: { count: number };
    maxReplies?: number;
    /** Replies for paired machines (bounded, on the model as loaded): used instead of the host's own `models.generate`. */
    generate?: HostHandlers['models.generate'];
  },
): PeerSession {
  const prefix = `peer-${options.pairingId.slice(0, 12)}-`;
  const mine = new Map<string, string>(); // internal id → the peer's id
  const handlers = {} as Record<MethodName, (input: unknown) => unknown>;
  const call = base as unknown as Record<MethodName, (input: unknown) => Promise<unknown>>;
  const guarded =
    (fn: (input: unknown) => Promise<unknown>) =>
    async (input: unknown): Promise<unknown> => {
      try {
        return await fn(input);
      } catch (error) {
        const e = error instanceof RpcError ? error : new RpcError('internal', (error as Error)?.message ?? String(error));
        throw new RpcError(
          e.code,
          redactMessage(e.message, options.hiddenPaths),
          e.code === 'context_length_exceeded' ? e.details : undefined,
        );
      }
    };
  for (const name of Object.keys(methods) as MethodName[]) {
    handlers[name] = allowed.has(name)
      ? guarded((input) => Promise.resolve(call[name](input)))
      : () => {
          throw new RpcError('forbidden', `${name} is not available to paired machines.`);
        };
  }
  handlers['app.info'] = guarded(async () => ({ ...(await base['app.info'](undefined)), dataDir: '' }));
  handlers['inference.status'] = guarded(async () => redactStatus(await base['inference.status'](undefined)));
  handlers['models.list'] = guarded(async () => redactLibrary(await base['models.list'](undefined)));
  handlers['models.generate'] = guarded(async (input) => {
    const request = input as Parameters<HostHandlers['models.generate']>[0];
    const internal = prefix + request.requestId;
    if (mine.has(internal)) throw new RpcError('busy', 'A reply with that request id is already running.');
    const replies = options.replies ?? { count: 0 };
    const most = options.maxReplies ?? Number.POSITIVE_INFINITY;
    if (replies.count >= most)
      throw new RpcError('busy', `This machine is already running or holding ${most} replies for yours; send more when one has finished.`);
    replies.count += 1;
    mine.set(internal, request.requestId);
    try {
      const result = await (options.generate ?? base['models.generate'])({ ...request, requestId: internal });
      return { ...result, requestId: request.requestId };
    } finally {
      replies.count -= 1;
      mine.delete(internal);
    }
  });
  handlers['chat.abort'] = guarded(async (input) => {
    const internal = prefix + (input as { requestId: string }).requestId;
    if (!mine.has(internal)) return { aborted: false };
    return base['chat.abort']({ requestId: internal });
  });

  handlers['split.helperStart'] = guarded(async () => {
    if (!options.helpers) throw new RpcError('unavailable', 'This machine cannot hold part of a split model.');
    await options.helpers.start(options.pairingId);
    return { ready: true };
  });
  handlers['split.helperStop'] = guarded(async () => ({ stopped: options.helpers?.stop(options.pairingId) ?? false }));

  // A peer sees and controls only the downloads it started, never this machine's own.
  const downloads = options.downloads ?? new Set<string>();
  const ownDownload = (input: unknown) => {
    const id = (input as { id: string }).id;
    if (!downloads.has(id)) throw new RpcError('not_found', 'No such download.');
    return input;
  };
  handlers['downloads.list'] = guarded(async () => (await base['downloads.list'](undefined)).filter((job) => downloads.has(job.id)));
  handlers['downloads.start'] = guarded(async (input) => {
    if (!options.startDownload) throw new RpcError('unavailable', 'This machine cannot download for others.');
    // The same file already coming down for someone else stays theirs: only a job made for this call is the peer's.
    const { job, created } = await options.startDownload(input as Parameters<HostHandlers['downloads.start']>[0]);
    if (created) downloads.add(job.id);
    return job;
  });
  for (const name of ['downloads.pause', 'downloads.resume', 'downloads.cancel'] as const) {
    handlers[name] = guarded(async (input) => call[name](ownDownload(input)));
  }

  // A peer may send pieces only to the imports it began.
  const uploads = new Set<string>();
  const ownUpload = (input: unknown) => {
    const id = (input as { uploadId: string }).uploadId;
    if (!uploads.has(id)) throw new RpcError('not_found', 'No such import in progress.');
    return id;
  };
  handlers['uploads.begin'] = guarded(async (input) => {
    const result = await base['uploads.begin'](input as Parameters<HostHandlers['uploads.begin']>[0]);
    uploads.add(result.uploadId);
    return result;
  });
  handlers['uploads.chunk'] = guarded(async (input) => {
    ownUpload(input);
    return base['uploads.chunk'](input as Parameters<HostHandlers['uploads.chunk']>[0]);
  });
  handlers['uploads.finish'] = guarded(async (input) => {
    const id = ownUpload(input);
    uploads.delete(id);
    const model = await base['uploads.finish']({ uploadId: id });
    return { ...model, files: model.files.map(fileName), folderId: null };
  });
  handlers['uploads.cancel'] = guarded(async (input) => {
    const id = ownUpload(input);
    uploads.delete(id);
    return base['uploads.cancel']({ uploadId: id });
  });

  const filterEvent = <E extends EventName>(event: E, payload: Events[E]): Events[E] | undefined => {
    switch (event) {
      case 'onChatDelta': {
        const delta = payload as Events['onChatDelta'];
        const theirs = mine.get(delta.requestId);
        return theirs === undefined ? undefined : ({ ...delta, requestId: theirs } as Events[E]);
      }
      case 'onInferenceStatus':
        return redactStatus(payload as InferenceStatus) as Events[E];
      case 'onLoadProgress': {
        const progress = payload as Events['onLoadProgress'];
        return { ...progress, modelPath: fileName(progress.modelPath) } as Events[E];
      }
      case 'onImportProgress': {
        const progress = payload as Events['onImportProgress'];
        return { ...progress, path: fileName(progress.path) } as Events[E];
      }
      case 'onDownloadProgress':
        return downloads.has((payload as Events['onDownloadProgress']).id) ? payload : undefined;
      case 'onLibraryChanged':
      case 'onHardwareSample':
        return payload;
      default:
        return undefined;
    }
  };

  return {
    handlers: handlers as unknown as HostHandlers,
    filterEvent,
    abortAll() {
      for (const id of uploads) void Promise.resolve(base['uploads.cancel']({ uploadId: id })).catch(() => undefined);
      uploads.clear();
      for (const internal of mine.keys()) void Promise.resolve(base['chat.abort']({ requestId: internal })).catch(() => undefined);
    },
  };
}
