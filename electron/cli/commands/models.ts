import path from 'node:path';
import { formatParams, formatSize } from '../../../shared/format';
import { engineChoiceOf, engineLabels } from '../../../shared/inference';
import type { DownloadJob } from '../../../shared/hub';
import type { ModelEntry } from '../../../shared/library';
import type { HostServices } from '../../services/host-services';
import { UsageError, type CliContext, type Command } from '../command';

/** A one-line progress bar for a terminal; plain lines when stderr is not one. */
function progressBar(done: number, total: number, speed: number, eta: number | null): string {
  const width = 30;
  const filled = total > 0 ? Math.round((done / total) * width) : 0;
  const etaText = eta === null ? '' : ` ETA ${Math.ceil(eta)} s`;
  return `[${'#'.repeat(filled)}${'.'.repeat(width - filled)}] ${formatSize(done)} / ${formatSize(total)} ${formatSize(speed)}/s${etaText}`;
}

type Action = (host: HostServices, rest: string[], ctx: CliContext) => Promise<number>;

/** What a model's projector lets it take: "sees images", "hears audio", both, or null for a text-only model. */
function senses(m: ModelEntry): string | null {
  const can = [m.projector?.vision ? 'sees images' : null, m.projector?.audio ? 'hears audio' : null].filter(Boolean);
  return can.length > 0 ? can.join(' and ') : null;
}

const list: Action = async (host, _rest, { io, json, program }) => {
  const snapshot = await host.handlers['models.list'](undefined);
  const engines = host.settings.get().inference.engines ?? {};
  // Which engine runs each model, and why (its setting, or auto).
  const engineOf = Object.fromEntries(snapshot.models.map((m) => [m.id, engineChoiceOf(engines[m.id], m)]));
  // What each model takes besides text: images and/or audio, with its projector.
  const media = Object.fromEntries(
    snapshot.models.map((m) => [m.id, { images: Boolean(m.projector?.vision), audio: Boolean(m.projector?.audio) }]),
  );
  if (json) {
    io.out(JSON.stringify({ ...snapshot, engines: engineOf, media }));
    return 0;
  }
  if (snapshot.models.length === 0) io.out(`No models yet. Try: ${program} models search qwen`);
  for (const m of snapshot.models) {
    io.out(
      `${m.id}  ${m.name}  ${m.architecture ?? '?'} ${formatParams(m.parameterCount)} ${m.quantization ?? ''}  ${formatSize(m.sizeBytes)}  ${m.origin}${m.duplicateOf ? ` (duplicate of ${m.duplicateOf})` : ''}${senses(m) ? `  ${senses(m)}` : ''}\n    ${m.files[0]}${m.projector ? `\n    projector: ${m.projector.file} (${m.projector.projectorType}, ${formatSize(m.projector.sizeBytes)})` : ''}\n    engine: ${engineLabels[engineOf[m.id]!.engine]} (${engineOf[m.id]!.why})`,
    );
  }
  io.out(`${snapshot.models.length} models, ${formatSize(snapshot.totalBytes)} (${formatSize(snapshot.ownedBytes)} stored by Freehold)`);
  return 0;
};

const search: Action = async (host, rest, { io, json, values }) => {
  const sort = (values.sort as 'downloads' | 'likes' | 'recent' | undefined) ?? 'downloads';
  if (!['downloads', 'likes', 'recent'].includes(sort)) throw new UsageError('--sort must be downloads, likes or recent.');
  const results = await host.handlers['hub.search']({ query: rest.join(' '), sort, limit: 30 });
  if (json) io.out(JSON.stringify(results));
  else {
    for (const r of results)
      io.out(
        `${r.repo.padEnd(50)} ${String(r.downloads).padStart(9)} downloads ${String(r.likes).padStart(6)} likes${r.vision ? '  sees images' : ''}${r.gated ? '  (gated)' : ''}`,
      );
    if (results.length === 0) io.out('No GGUF models found.');
  }
  return 0;
};

const download: Action = async (host, rest, { io, json, values, program }) => {
  const repo = rest[0];
  if (!repo) throw new UsageError('models download needs a repo, e.g. Qwen/Qwen2.5-0.5B-Instruct-GGUF');
  const job = await host.handlers['downloads.start']({
    repo,
    file: typeof values.file === 'string' ? values.file : undefined,
    quantization: typeof values.quant === 'string' ? values.quant : undefined,
    // The repo's projector (mmproj) comes with the model unless another is named, or none.
    projector: values.projector === 'none' ? false : typeof values.projector === 'string' ? values.projector : undefined,
  });
  if (!json)
    io.err(
      `Downloading ${job.repo} ${job.quantization ?? ''}${job.projector ? ` with its ${job.projector.precision} projector ${job.projector.file.name}` : ''} (${formatSize(job.totalBytes)}) …`,
    );
  const final = await new Promise<DownloadJob>((resolve) => {
    const finish = (j: DownloadJob) => ['done', 'failed', 'canceled'].includes(j.state) && resolve(j);
    host.events.subscribeAll((event, payload) => {
      if (event !== 'onDownloadProgress') return;
      const j = payload as DownloadJob;
      if (j.id !== job.id) return;
      if (!json && j.state === 'downloading') io.err(progressBar(j.bytesDone, j.totalBytes, j.bytesPerSecond, j.etaSeconds));
      finish(j);
    });
    const current = host.downloads.list().find((j) => j.id === job.id);
    if (current) finish(current);
    io.onInterrupt?.(() => resolve(host.downloads.pause(job.id)));
  });
  io.onInterrupt?.(undefined);
  if (json) io.out(JSON.stringify(final));
  else if (final.state === 'done') {
    io.out(`Done: ${final.modelId} (verified sha256) — ${program} chat --model ${host.library.get(final.modelId!)?.files[0]} "Hello"`);
    if (final.projector?.state === 'attached') io.out(`It sees images: its projector ${final.projector.file.name} is attached.`);
    else if (final.projector?.state === 'failed') io.err(`Text only: ${final.projector.error}`);
  } else if (final.state === 'paused') io.out('Paused; run the same command to resume.');
  else io.err(`Download ${final.state}: ${final.error ?? ''}`);
  return final.state === 'done' || final.state === 'paused' ? 0 : 1;
};

const importModels: Action = async (host, rest, { io, json, values }) => {
  if (rest.length === 0) throw new UsageError('models import needs one or more paths.');
  const results = await host.handlers['models.import']({
    paths: rest.map((p) => path.resolve(p)),
    mode: values.copy ? 'copy' : 'reference',
  });
  if (json) io.out(JSON.stringify(results));
  else
    for (const r of results)
      io.out(
        !r.ok
          ? `refused ${r.path}: ${r.error}`
          : r.attachedTo
            ? `${path.basename(r.path)}: attached to ${r.model!.name} (${r.model!.id}); it ${senses(r.model!) ?? 'sees images'}`
            : `imported ${r.model!.id}  ${r.model!.name}  (${r.model!.origin})`,
      );
  return results.every((r) => r.ok) ? 0 : 1;
};

const remove: Action = async (host, rest, { io, json }) => {
  const id = rest[0];
  if (!id) throw new UsageError('models remove needs a model id (see models list).');
  const { deletedFiles } = await host.handlers['models.remove']({ id });
  if (json) io.out(JSON.stringify({ id, deletedFiles }));
  else
    io.out(
      deletedFiles.length
        ? `Removed ${id} and deleted ${deletedFiles.length} file(s).`
        : `Removed ${id} from the library; its files were left where they are.`,
    );
  return 0;
};

/** `models set <id> engine=auto|worker|server`: the engine that runs the model. */
const set: Action = async (host, rest, { io, json }) => {
  const [id, ...pairs] = rest;
  if (!id || pairs.length === 0) throw new UsageError('models set needs a model id and engine=auto|worker|server.');
  const model = host.library.get(id);
  if (!model) throw new UsageError(`There is no model "${id}" in the library (see models list).`);
  const engines = { ...(host.settings.get().inference.engines ?? {}) };
  for (const pair of pairs) {
    const [key, value] = pair.split('=');
    if (key !== 'engine') throw new UsageError(`unknown model setting "${key}"; known: engine.`);
    if (value === 'auto') delete engines[id];
    else if (value === 'worker' || value === 'server') engines[id] = value;
    else throw new UsageError('engine must be auto, worker (node-llama-cpp) or server (llama.cpp’s server).');
  }
  await host.handlers['settings.update']({ inference: { engines } });
  const choice = engineChoiceOf(engines[id], model);
  if (json) io.out(JSON.stringify({ id, ...choice }));
  else io.out(`${model.name} runs on ${engineLabels[choice.engine]} (${choice.why}).`);
  return 0;
};

const actions: Record<string, Action> = { list, search, download, import: importModels, remove, set };

export const modelsCommand: Command = {
  summary: 'The model library: list, search the hub, download, import, remove',
  usage:
    'models list|search <query>|download <repo> [--file F | --quant Q] [--projector FILE|none]|import <path...> [--copy]|remove <id>|set <id> engine=auto|worker|server [--json]',
  options: {
    file: { type: 'string' },
    quant: { type: 'string' },
    projector: { type: 'string' },
    copy: { type: 'boolean', default: false },
    sort: { type: 'string' },
  },
  async run(ctx) {
    const [action, ...rest] = ctx.args;
    if (action === undefined) throw new UsageError('models needs an action: list, search, download, import, remove or set.');
    const host = await ctx.services();
    const run = Object.hasOwn(actions, action) ? actions[action] : undefined;
    if (!run) throw new UsageError(`unknown models action "${action}".`);
    return run(host, rest, ctx);
  },
};
