/**
 * The typed contract between the services (main process, headless host) and
 * every client (renderer, browser UI, tests). Each method is declared once with
 * a runtime schema for its input; outputs and events are plain JSON-safe types.
 *
 * This file is imported by both sides: it must import no Electron, no Node
 * built-ins and no React (enforced by lint).
 */
import { z } from 'zod';
import {
  chatDocsSchema,
  collectionCreateSchema,
  conversationCollectionsSchema,
  docIdSchema,
  docsAddSchema,
  docsSearchSchema,
  docsUploadBeginSchema,
  docsUploadChunkSchema,
  docsUploadIdSchema,
  docsUploadSchema,
  embeddingChoiceSchema,
  type ChatDocuments,
  type CollectionRecord,
  type DocsSnapshot,
  type DocumentRecord,
  type IndexProgress,
  type SearchResult,
} from './documents';
import { planInputSchema, type ComputeDevice, type PlanView } from './placement';
import { settingsPatchSchema, type Settings } from './settings';
import { apiKeyIdSchema, createApiKeySchema, type ApiKeyInfo, type ApiStatus, type CreatedApiKey } from './api';
import {
  generateInputSchema,
  loadInputSchema,
  type ChatDelta,
  type GenerateResult,
  type HardwareReport,
  type LoadedModel,
  type LoadProgress,
  type BenchmarkResult,
} from './inference';
import {
  addFolderSchema,
  importInputSchema,
  modelIdSchema,
  type FolderSuggestion,
  type ImportResult,
  type LibrarySnapshot,
  type ModelEntry,
  type ModelFolder,
} from './library';
import {
  downloadIdSchema,
  downloadInputSchema,
  repoInputSchema,
  searchInputSchema,
  tokenInputSchema,
  type DownloadJob,
  type HubTokenStatus,
  type HubModel,
  type RecommendedModel,
  type StarterChoice,
  type RepoDetails,
} from './hub';
import {
  attachmentIdSchema,
  chatIdSchema,
  createChatSchema,
  exportSchema,
  regenerateSchema,
  sendSchema,
  updateChatSchema,
  type AttachmentData,
  type ChatMessageRecord,
  type Conversation,
  type ConversationDetail,
  type ConversationSummary,
  type SearchHit,
} from './chat';
import { splitPlanSchema, type EnginesInfo, type SplitPlan, type SplitStatus } from './split';
import {
  addServerSchema,
  importConfigSchema,
  serverRefSchema,
  setServerEnabledSchema,
  setToolSchema,
  toolDecisionSchema,
  type ImportResult as ServerImportResult,
  type ToolsSnapshot,
} from './tools';
import {
  addMachineSchema,
  generateOnModelSchema,
  machineDownloadIdSchema,
  machineDownloadSchema,
  machineIdSchema,
  machineUploadBeginSchema,
  machineUploadChunkSchema,
  machineUploadIdSchema,
  uploadBeginSchema,
  uploadChunkSchema,
  uploadIdSchema,
  shareSchema,
  updateMachineSchema,
  type MachineInfo,
  type SharingStatus,
} from './machines';

export type HostKind = 'electron' | 'web' | 'cli';

export interface AppInfo {
  name: string;
  version: string;
  host: HostKind;
  dataDir: string;
  platform: string;
  arch: string;
  versions: { node: string; electron?: string; chrome?: string };
}

export interface Notice {
  id: string;
  level: 'info' | 'warning' | 'error';
  message: string;
  at: string;
}

/** Whether a library model fits this machine now. */
export interface ModelFit {
  modelId: string;
  name: string;
  sizeBytes: number;
  fit: import('./hub').Fit;
}

/** One live reading for the hardware panel (about every 2 s while it is open). */
export interface HardwareSample {
  at: string;
  ramTotalBytes: number;
  ramFreeBytes: number;
  vramTotalBytes: number;
  vramUsedBytes: number;
  /** The inference worker's own memory. */
  workerRssBytes: number | null;
  model: { name: string; gpuLayers: number; totalLayers: number; contextSize: number; parallel: number } | null;
  tokensPerSecond: number | null;
  /** Replies generating now, at most model.parallel at once. */
  running: number;
}

export interface SystemInfo {
  os: string;
  cpuModel: string;
  logicalCores: number;
  memoryTotalBytes: number;
  memoryFreeBytes: number;
}

export type InferenceState = 'not-started' | 'starting' | 'ready' | 'crashed' | 'stopped';

export interface InferenceStatus {
  state: InferenceState;
  /** The llama.cpp backend in use ("cuda", "vulkan", "metal", "cpu"), null until known. */
  backend: string | null;
  detail: string;
  model: LoadedModel | null;
  loading: { modelPath: string; progress: number } | null;
  /** Generation work: which side is running now (the UI or the local API), and how many wait. */
  queue: { running: 'ui' | 'api' | null; waiting: number; active?: number; parallel?: number };
  /** The model in the separate embedding slot (local API), if one is loaded. */
  embeddingModel: string | null;
}

interface MethodDef<I extends z.ZodType, O> {
  input: I;
  /** Phantom: carries the output type only. */
  output?: O;
}

function method<O>() {
  return <I extends z.ZodType>(input: I): MethodDef<I, O> => ({ input });
}

const noInput = z.undefined();

export const methods = {
  'app.info': method<AppInfo>()(noInput),
  'app.notices': method<Notice[]>()(noInput),
  'app.dismissNotice': method<Notice[]>()(z.object({ id: z.string().min(1).max(200) }).strict()),
  'settings.get': method<Settings>()(noInput),
  'settings.update': method<Settings>()(settingsPatchSchema),
  'system.info': method<SystemInfo>()(noInput),
  'inference.status': method<InferenceStatus>()(noInput),
  'inference.hardware': method<HardwareReport>()(noInput),
  'inference.load': method<LoadedModel>()(loadInputSchema),
  'inference.unload': method<InferenceStatus>()(noInput),
  /** Where a library model's layers would go (placed as given, else as its placement says), without loading it. */
  'placement.plan': method<PlanView>()(planInputSchema),
  /** The GPUs llama.cpp's server sees now, with their memory. */
  'placement.devices': method<ComputeDevice[]>()(noInput),
  'chat.generate': method<GenerateResult>()(generateInputSchema),
  'chat.abort': method<{ aborted: boolean }>()(z.object({ requestId: z.string().min(1).max(100) }).strict()),
  'models.list': method<LibrarySnapshot>()(noInput),
  'models.import': method<ImportResult[]>()(importInputSchema),
  'models.remove': method<{ deletedFiles: string[] }>()(modelIdSchema),
  'models.reveal': method<{ shown: boolean }>()(modelIdSchema),
  /** A reply on a library model by id, loading it first if need be (what a paired machine asks of this one). */
  'models.generate': method<GenerateResult>()(generateOnModelSchema),
  /** A model file sent in pieces (what a paired machine does to import onto this one): begin, chunks in order, finish. */
  'uploads.begin': method<{ uploadId: string }>()(uploadBeginSchema),
  'uploads.chunk': method<{ receivedBytes: number }>()(uploadChunkSchema),
  'uploads.finish': method<ModelEntry>()(uploadIdSchema),
  'uploads.cancel': method<{ cancelled: boolean }>()(uploadIdSchema),
  'models.load': method<LoadedModel>()(
    modelIdSchema
      .extend({
        gpuLayers: z.union([z.literal('auto'), z.number().int().min(0).max(10_000)]).optional(),
        contextSize: z.union([z.literal('auto'), z.number().int().min(64).max(1_048_576)]).optional(),
      })
      .strict(),
  ),
  'folders.add': method<ModelFolder>()(addFolderSchema),
  'folders.remove': method<LibrarySnapshot>()(modelIdSchema),
  'folders.rescan': method<LibrarySnapshot>()(modelIdSchema),
  'folders.suggestions': method<FolderSuggestion[]>()(noInput),
  'hub.search': method<HubModel[]>()(searchInputSchema),
  'hub.recommended': method<RecommendedModel[]>()(noInput),
  'hub.starter': method<StarterChoice>()(noInput),
  /** The embedding model to offer when documents are first used (one Download button). */
  'hub.embeddingStarter': method<StarterChoice>()(noInput),
  'hub.repo': method<RepoDetails>()(repoInputSchema),
  'hub.tokenStatus': method<HubTokenStatus>()(noInput),
  'hub.setToken': method<HubTokenStatus>()(tokenInputSchema),
  'downloads.list': method<DownloadJob[]>()(noInput),
  'downloads.start': method<DownloadJob>()(downloadInputSchema),
  'downloads.pause': method<DownloadJob>()(downloadIdSchema),
  'downloads.resume': method<DownloadJob>()(downloadIdSchema),
  'downloads.cancel': method<DownloadJob>()(downloadIdSchema),
  'chats.list': method<ConversationSummary[]>()(noInput),
  'chats.create': method<Conversation>()(createChatSchema),
  'chats.get': method<ConversationDetail>()(chatIdSchema),
  'chats.update': method<Conversation>()(updateChatSchema),
  'chats.delete': method<{ deleted: boolean }>()(chatIdSchema),
  'chats.search': method<SearchHit[]>()(z.object({ query: z.string().min(1).max(500) }).strict()),
  'chats.export': method<{ content: string; fileName: string }>()(exportSchema),
  'chats.import': method<Conversation>()(z.object({ data: z.unknown() }).strict()),
  'chats.send': method<{ userMessage: ChatMessageRecord; reply: ChatMessageRecord }>()(sendSchema),
  'chats.regenerate': method<ChatMessageRecord>()(regenerateSchema),
  'chats.stop': method<{ stopped: boolean }>()(chatIdSchema),
  'chats.deleteMessage': method<ConversationDetail>()(chatIdSchema),
  /** An image's or audio clip's bytes (a message's attachment), for the thread. */
  'chats.attachment': method<AttachmentData>()(attachmentIdSchema),
  'hardware.fit': method<ModelFit[]>()(noInput),
  /** Keeps live samples coming for the next 10 s; the open panel renews it. */
  'hardware.watch': method<{ untilMs: number }>()(noInput),
  'hardware.benchmark': method<BenchmarkResult[]>()(
    z.object({ modelId: z.string().min(1).max(100), allBackends: z.boolean().optional() }).strict(),
  ),
  'hardware.benchmarks': method<BenchmarkResult[]>()(noInput),
  'api.status': method<ApiStatus>()(noInput),
  /** Other machines: paired Freehold hosts and OpenAI-compatible servers. */
  'machines.list': method<MachineInfo[]>()(noInput),
  'machines.add': method<MachineInfo>()(addMachineSchema),
  'machines.update': method<MachineInfo>()(updateMachineSchema),
  /** Forgets the machine; a paired Freehold is also asked to revoke the pairing's key. */
  'machines.remove': method<{ removed: boolean; revoked: boolean }>()(machineIdSchema),
  'machines.reconnect': method<MachineInfo>()(machineIdSchema),
  'machines.download': method<DownloadJob>()(machineDownloadSchema),
  /** Importing a file onto another machine: the UI sends it in pieces, which go on to that machine's uploads.*. */
  'machines.uploadBegin': method<{ uploadId: string }>()(machineUploadBeginSchema),
  'machines.uploadChunk': method<{ receivedBytes: number }>()(machineUploadChunkSchema),
  'machines.uploadFinish': method<ModelEntry>()(machineUploadIdSchema),
  'machines.uploadCancel': method<{ cancelled: boolean }>()(machineUploadIdSchema),
  'machines.downloadControl': method<DownloadJob>()(
    machineDownloadIdSchema.extend({ action: z.enum(['pause', 'resume', 'cancel']) }).strict(),
  ),
  /** Sharing this machine with paired ones. */
  'machines.sharing': method<SharingStatus>()(noInput),
  'machines.share': method<SharingStatus>()(shareSchema),
  'machines.newCode': method<SharingStatus>()(noInput),
  /** llama.cpp's own programs (for split models): which are used and why, and a build from source. */
  'engines.status': method<EnginesInfo>()(noInput),
  /** Builds them for this machine's GPU backend (or the one named) unless that build is there already. */
  'engines.build': method<EnginesInfo>()(
    z
      .object({ backend: z.enum(['cuda', 'vulkan', 'metal', 'cpu']).optional() })
      .strict()
      .optional(),
  ),
  /** One model split across machines (llama.cpp RPC): the proposal, loading it, unloading, where it stands. */
  'split.plan': method<SplitPlan>()(splitPlanSchema),
  'split.load': method<SplitStatus>()(splitPlanSchema),
  'split.unload': method<SplitStatus>()(noInput),
  'split.status': method<SplitStatus>()(noInput),
  /** Asked by a paired machine: run (or stop) an RPC helper for it here, reachable only through its link. */
  'split.helperStart': method<{ ready: boolean }>()(noInput),
  'split.helperStop': method<{ stopped: boolean }>()(noInput),
  /** Revokes a paired machine's key (its id from SharingStatus.clients). */
  'machines.revoke': method<SharingStatus>()(machineIdSchema),
  'api.regenerateKey': method<ApiStatus>()(noInput),
  /** The local API's named keys: name, dates and use, never the keys themselves. */
  'api.keys.list': method<ApiKeyInfo[]>()(noInput),
  /** A new named key; its secret is in this answer only (only the hash is kept). Local UI and CLI only. */
  'api.keys.create': method<CreatedApiKey>()(createApiKeySchema),
  /** Revokes a key: its requests get 401 from now on, and its streams still open end with an error. Local UI and CLI only. */
  'api.keys.revoke': method<ApiKeyInfo[]>()(apiKeyIdSchema),
  /** MCP servers and their tools (Settings → Tools), kept in <dataDir>/mcp.json. */
  'tools.list': method<ToolsSnapshot>()(noInput),
  'tools.add': method<ToolsSnapshot>()(addServerSchema),
  'tools.remove': method<ToolsSnapshot>()(serverRefSchema),
  'tools.setEnabled': method<ToolsSnapshot>()(setServerEnabledSchema),
  'tools.setTool': method<ToolsSnapshot>()(setToolSchema),
  'tools.restart': method<ToolsSnapshot>()(serverRefSchema),
  /** Servers from an mcp.json file (Claude Desktop, Cursor, LM Studio, VS Code). */
  'tools.import': method<ServerImportResult>()(importConfigSchema),
  /** The user's answer to a tool call waiting in a reply: allow once, always allow the tool, or deny. */
  'chats.toolDecision': method<{ decided: boolean }>()(toolDecisionSchema),
  /** Documents (chat attachments and collections), their indexing and the embedding model they use. */
  'docs.list': method<DocsSnapshot>()(noInput),
  /** Files and folders on this computer (local UI and CLI), into a collection or a conversation. */
  'docs.add': method<DocumentRecord[]>()(docsAddSchema),
  /** A file's bytes (the browser UI's drop), into a conversation or a collection. */
  'docs.upload': method<DocumentRecord>()(docsUploadSchema),
  /** A larger file in pieces of at most 512 KiB: begin, the pieces in order, finish (or cancel). */
  'docs.uploadBegin': method<{ uploadId: string }>()(docsUploadBeginSchema),
  'docs.uploadChunk': method<{ receivedBytes: number }>()(docsUploadChunkSchema),
  'docs.uploadFinish': method<DocumentRecord>()(docsUploadIdSchema),
  'docs.uploadCancel': method<{ cancelled: boolean }>()(docsUploadIdSchema),
  'docs.remove': method<DocsSnapshot>()(docIdSchema),
  'docs.cancel': method<DocsSnapshot>()(docIdSchema),
  'docs.search': method<SearchResult[]>()(docsSearchSchema),
  'docs.forChat': method<ChatDocuments>()(chatDocsSchema),
  'docs.setChatCollections': method<ChatDocuments>()(conversationCollectionsSchema),
  'docs.createCollection': method<CollectionRecord>()(collectionCreateSchema),
  'docs.removeCollection': method<DocsSnapshot>()(docIdSchema),
  /** The embedding model documents use (null: keywords only); a change re-embeds every chunk. */
  'docs.setEmbedding': method<DocsSnapshot>()(embeddingChoiceSchema),
} as const;

export type Methods = typeof methods;
export type MethodName = keyof Methods;
export type MethodInput<M extends MethodName> = z.input<Methods[M]['input']>;
export type MethodParsedInput<M extends MethodName> = z.output<Methods[M]['input']>;
export type MethodOutput<M extends MethodName> = NonNullable<Methods[M]['output']>;

/** Events pushed from the host to every connected client; streams are events, never polling. */
export interface Events {
  onSettingsChanged: Settings;
  onNotice: Notice;
  onInferenceStatus: InferenceStatus;
  onLoadProgress: LoadProgress;
  onChatDelta: ChatDelta;
  onLibraryChanged: { revision: number };
  onImportProgress: { path: string; bytes: number; totalBytes: number };
  onDownloadProgress: DownloadJob;
  onConversationChanged: { id: string };
  onHardwareSample: HardwareSample;
  onApiStatus: ApiStatus;
  onApiKeys: ApiKeyInfo[];
  onMachinesChanged: MachineInfo[];
  onSharingChanged: SharingStatus;
  onEngines: EnginesInfo;
  onSplitStatus: SplitStatus;
  onToolsChanged: ToolsSnapshot;
  onDocsChanged: DocsSnapshot;
  onDocsProgress: IndexProgress;
}
export type EventName = keyof Events;
// A key for every event, so the compiler names any event of `Events` missing here (or any extra).
const everyEvent: { [E in EventName]: true } = {
  onSettingsChanged: true,
  onNotice: true,
  onInferenceStatus: true,
  onLoadProgress: true,
  onChatDelta: true,
  onLibraryChanged: true,
  onImportProgress: true,
  onDownloadProgress: true,
  onConversationChanged: true,
  onHardwareSample: true,
  onApiStatus: true,
  onApiKeys: true,
  onMachinesChanged: true,
  onSharingChanged: true,
  onEngines: true,
  onSplitStatus: true,
  onToolsChanged: true,
  onDocsChanged: true,
  onDocsProgress: true,
};
export const eventNames = Object.keys(everyEvent) as readonly EventName[];

/** What a client calls: one async function per method, input as declared. */
export type HostApi = {
  [M in MethodName]: MethodInput<M> extends undefined
    ? () => Promise<MethodOutput<M>>
    : (input: MethodInput<M>) => Promise<MethodOutput<M>>;
};

/** What a service implements: it receives input already validated. */
export type HostHandlers = {
  [M in MethodName]: (input: MethodParsedInput<M>) => Promise<MethodOutput<M>> | MethodOutput<M>;
};

/** What the host calls on each client. */
export type ClientEvents = { [E in EventName]: (payload: Events[E]) => void };

export function isMethodName(name: unknown): name is MethodName {
  return typeof name === 'string' && Object.hasOwn(methods, name);
}

export function isEventName(name: unknown): name is EventName {
  return typeof name === 'string' && (eventNames as readonly string[]).includes(name);
}
