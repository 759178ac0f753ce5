/**
 * The inference worker: its own process (an Electron utilityProcess in the
 * desktop app, a forked Node process in the headless host and the CLI), so
 * that a llama.cpp abort costs one request, never the app.
 */
import type { z } from 'zod';
import { RpcError } from '../../shared/errors';
import { completeInputSchema, embedInputSchema, generateInputSchema, loadInputSchema } from '../../shared/inference';
import { createPeer } from '../../shared/rpc/peer';
import { MAX_TRUSTED_MESSAGE_BYTES } from '../../shared/rpc/protocol';
import { InferenceEngine, type EngineOptions } from './engine';
import { ParentTransport } from './process-transports';
import { workerEventNames, type WorkerEvents, type WorkerFunctions } from './worker-api';

const transport = new ParentTransport();
let engine: InferenceEngine | undefined;
let starting: Promise<InferenceEngine> | undefined;

/** The host checks inputs first; one that still fails here is refused as bad input, not as a crash of ours. */
function valid<S extends z.ZodType>(schema: S, input: unknown): z.infer<S> {
  const result = schema.safeParse(input);
  if (result.success) return result.data;
  const issue = result.error.issues[0];
  throw new RpcError('invalid_input', issue ? `${issue.path.map(String).join('.') || 'input'}: ${issue.message}` : 'Invalid input.');
}

function requireEngine(): InferenceEngine {
  if (!engine) throw new RpcError('unavailable', 'The inference worker has not been initialised.');
  return engine;
}

const functions: WorkerFunctions = {
  async init(options: EngineOptions) {
    starting ??= InferenceEngine.start(options).then(async (started) => {
      // Tests squeeze memory to exercise the out-of-memory path on any machine.
      const cap = Number(process.env.FREEHOLD_WORKER_RAM_CAP_BYTES);
      if (process.env.FREEHOLD_WORKER_TEST_HOOKS === '1' && cap > 0) await started.llama.setRamCap(cap);
      return started;
    });
    engine = await starting;
    return engine.hardware();
  },
  hardware: () => requireEngine().hardware(),
  load: (input) =>
    requireEngine().load(valid(loadInputSchema, input), (progress) => {
      void host.onLoadProgress.asEvent({ modelPath: input.modelPath, progress }).catch(() => undefined);
    }),
  unload: () => requireEngine().unload(),
  generate: (input) =>
    requireEngine().generate(valid(generateInputSchema, input), (delta) => {
      void host.onDelta.asEvent(delta).catch(() => undefined);
    }),
  complete: (input) =>
    requireEngine().complete(valid(completeInputSchema, input), (delta) => {
      void host.onDelta.asEvent(delta).catch(() => undefined);
    }),
  embed: (input) => requireEngine().embed(valid(embedInputSchema, input)),
  unloadEmbedder: () => requireEngine().unloadEmbedder(),
  abort: async ({ requestId }) => requireEngine().abort(requestId),
  ping: async () => 'pong',
  sample: () => requireEngine().sample(),
  benchmark: ({ promptTokens, generateTokens }) =>
    requireEngine().benchmark(Math.min(4096, Math.max(16, promptTokens)), Math.min(1024, Math.max(8, generateTokens))),
  async misbehave({ kind }) {
    if (process.env.FREEHOLD_WORKER_TEST_HOOKS !== '1') throw new RpcError('unknown_method', 'Unknown method "misbehave".');
    if (kind === 'crash') process.abort();
    // Block the event loop, as a wedged native call would.
    const until = Date.now() + 60_000;
    while (Date.now() < until) {
      /* spin */
    }
  },
};

const host = createPeer<WorkerEvents, WorkerFunctions>(transport, {
  local: functions,
  remoteEventNames: workerEventNames,
  onProtocolError: (error) => process.stderr.write(`worker rpc: ${error.code}: ${error.message}\n`),
  // The host is Freehold itself: a long conversation or an 8 MiB API request must get through.
  maxMessageBytes: MAX_TRUSTED_MESSAGE_BYTES,
});

transport.onClose(() => {
  // The host is gone: nothing to serve.
  void engine?.dispose().finally(() => process.exit(0));
  setTimeout(() => process.exit(0), 2000).unref();
});
