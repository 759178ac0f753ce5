import { listFiles, listModels, modelInfo } from '@huggingface/hub';
import { RpcError } from '../../shared/errors';
import type { Fit, FitVerdict, HubModel, QuantOption, RepoDetails, RepoFile } from '../../shared/hub';
import type { HardwareReport } from '../../shared/inference';
import { GgufError, modelFacts, readGgufHeader, type GgufHeader } from '../formats/gguf-header';
import { parseSplitName } from '../formats/gguf-split';
import { estimateFitOf } from './fit';
import { chooseProjector, isProjectorName, projectorOptions, remoteProjectorFacts } from './hub-projectors';
import { remoteSource } from './remote-source';

const QUANT = /(?:^|[-_.])((?:UD-)?(?:I?Q\d(?:_[A-Z0-9]+)*)|MXFP4(?:_MOE)?|F16|BF16|F32)(?=$|[-_.])/i;

/** "Llama-3.2-3B-Instruct-Q4_K_M.gguf" → "Q4_K_M". */
export function quantizationOf(fileName: string): string {
  const base = fileName
    .split('/')
    .pop()!
    .replace(/(-\d{5}-of-\d{5})?\.gguf$/i, '');
  return QUANT.exec(base)?.[1]?.toUpperCase() ?? 'other';
}

/**
 * A repo-supplied file name is used in a URL, never as a path on disk; even
 * so, names that climb out of the repo or look like absolute or drive paths
 * are refused outright.
 */
export function isSafeRepoPath(name: string): boolean {
  if (name.length === 0 || name.length > 1000) return false;
  // eslint-disable-next-line no-control-regex -- control characters are exactly what is refused here
  if (name.startsWith('/') || name.includes('\\') || /^[A-Za-z]:/.test(name) || /[\x00-\x1f]/.test(name)) return false;
  return name.split('/').every((part) => part !== '' && part !== '.' && part !== '..');
}

export function repoFileUrl(endpoint: string, repo: string, revision: string, file: string): string {
  return `${endpoint}/${repo}/resolve/${encodeURIComponent(revision)}/${file.split('/').map(encodeURIComponent).join('/')}`;
}

/** Groups a repo's GGUF files by quantization; split shards go together. Vision projectors are left out. */
export function groupByQuantization(files: RepoFile[]): QuantOption[] {
  const groups = new Map<string, RepoFile[]>();
  for (const file of files) {
    if (!/\.gguf$/i.test(file.name) || isProjectorName(file.name) || !isSafeRepoPath(file.name)) continue;
    const split = parseSplitName(file.name);
    const key = `${quantizationOf(file.name)}|${split ? file.name.replace(/-\d{5}-of-\d{5}\.gguf$/i, '') : file.name}`;
    groups.set(key, [...(groups.get(key) ?? []), file]);
  }
  const options: QuantOption[] = [];
  for (const [key, group] of groups) {
    group.sort((a, b) => a.name.localeCompare(b.name));
    const first = parseSplitName(group[0]!.name);
    if (first && group.length !== first.count) continue; // an incomplete split set cannot be downloaded
    options.push({
      quantization: key.split('|')[0]!,
      files: group,
      totalBytes: group.reduce((s, f) => s + f.sizeBytes, 0),
      fit: null,
      recommended: false,
    });
  }
  return options.sort((a, b) => a.totalBytes - b.totalBytes);
}

/**
 * Whether a model of `weightBytes` (and its projector of `projectorBytes`)
 * fits: fully on the GPU, in RAM (slower), or not at all, against the memory
 * free now. The KV cache comes from the header:
 * 2 (K and V) × layers × context × (embedding × kv heads / heads) × 2 bytes (f16).
 */
export function estimateFit(weightBytes: number, header: GgufHeader | null, hardware: HardwareReport, projectorBytes = 0): Fit {
  const facts = header ? modelFacts(header) : null;
  const arch = facts?.architecture;
  const num = (key: string) => {
    const v = header?.metadata.get(`${arch}.${key}`);
    return typeof v === 'number' ? v : typeof v === 'object' && v.values ? Math.max(...(v.values as number[])) : undefined;
  };
  const contextSize = Math.min(facts?.contextLength ?? 4096, 4096);
  const layers = num('block_count') ?? 32;
  const embedding = num('embedding_length') ?? 4096;
  const heads = num('attention.head_count') ?? 32;
  const kvHeads = num('attention.head_count_kv') ?? heads;
  const kvBytes = 2 * layers * contextSize * Math.ceil((embedding * kvHeads) / Math.max(1, heads)) * 2;
  return estimateFitOf(weightBytes, kvBytes, contextSize, hardware, projectorBytes);
}

/**
 * The quantization to recommend: on the GPU the best quality that fits (Q5_K_M
 * and Q4_K_M before the rest; F16/F32 only when nothing else exists); in RAM the
 * smaller Q4 kinds first, since speed there follows size.
 */
const gpuPreference = [
  'Q5_K_M',
  'Q4_K_M',
  'Q6_K',
  'Q5_K_S',
  'Q4_K_S',
  'IQ4_XS',
  'Q8_0',
  'Q4_0',
  'Q3_K_L',
  'Q3_K_M',
  'IQ3_M',
  'Q3_K_S',
  'IQ3_XS',
  'IQ3_XXS',
  'BF16',
  'F16',
  'F32',
];
const ramPreference = [
  'Q4_K_M',
  'IQ4_XS',
  'Q4_K_S',
  'Q5_K_M',
  'Q4_0',
  'Q3_K_L',
  'Q3_K_M',
  'Q5_K_S',
  'Q6_K',
  'IQ3_M',
  'Q3_K_S',
  'Q8_0',
  'IQ3_XS',
  'BF16',
  'F16',
  'F32',
];

export function recommendQuantization(options: QuantOption[]): QuantOption | undefined {
  const pick = (verdict: 'gpu' | 'ram', order: string[]) => {
    const fitting = options.filter((q) => q.fit?.verdict === verdict);
    for (const name of order) {
      const match = fitting.find((q) => q.quantization.replace(/^UD-/, '') === name);
      if (match) return match;
    }
    return undefined;
  };
  return pick('gpu', gpuPreference) ?? pick('ram', ramPreference);
}

export interface HubClientOptions {
  endpoint: () => string;
  token: () => string | null;
  hardware: () => Promise<HardwareReport | null>;
  fetch?: typeof fetch;
}

export class HubClient {
  constructor(private readonly options: HubClientOptions) {}

  private credentials() {
    const token = this.options.token();
    return token ? { accessToken: token } : {};
  }

  private authHeaders(): Record<string, string> {
    const token = this.options.token();
    return token ? { Authorization: `Bearer ${token}` } : {};
  }

  private fail(error: unknown, what: string): never {
    const status = (error as { statusCode?: number }).statusCode;
    if (status === 401 || status === 403)
      throw new RpcError('unavailable', `${what}: access denied. Gated models need an access token (Models › Hugging Face token).`);
    if (status === 404) throw new RpcError('not_found', `${what}: not found on ${this.options.endpoint()}.`);
    throw new RpcError('unavailable', `${what}: the hub at ${this.options.endpoint()} could not be reached (${(error as Error).message}).`);
  }

  async search(query: string, sort: 'downloads' | 'likes' | 'recent', limit: number): Promise<HubModel[]> {
    const results: HubModel[] = [];
    try {
      for await (const model of listModels({
        search: { query: query || undefined, tags: ['gguf'] },
        sort: sort === 'recent' ? 'lastModified' : sort,
        limit,
        hubUrl: this.options.endpoint(),
        additionalFields: ['author', 'filePaths'],
        fetch: this.options.fetch,
        ...this.credentials(),
      })) {
        const files = (model as { filePaths?: string[] }).filePaths ?? [];
        results.push({
          repo: model.name,
          author: (model as { author?: string }).author ?? model.name.split('/')[0] ?? null,
          downloads: model.downloads,
          likes: model.likes,
          updatedAt: model.updatedAt.toISOString(),
          gated: Boolean(model.gated),
          vision: files.some(isProjectorName),
        });
      }
    } catch (error) {
      this.fail(error, `Searching for "${query}"`);
    }
    return results;
  }

  async repo(repo: string, revision = 'main'): Promise<RepoDetails> {
    let info;
    const files: RepoFile[] = [];
    try {
      info = await modelInfo({
        name: repo,
        revision,
        hubUrl: this.options.endpoint(),
        additionalFields: ['cardData', 'sha'],
        fetch: this.options.fetch,
        ...this.credentials(),
      });
      for await (const entry of listFiles({
        repo,
        revision,
        recursive: true,
        expand: false,
        hubUrl: this.options.endpoint(),
        fetch: this.options.fetch,
        ...this.credentials(),
      })) {
        if (entry.type !== 'file') continue;
        files.push({ name: entry.path, sizeBytes: entry.lfs?.size ?? entry.size, sha256: entry.lfs?.oid ?? null });
      }
    } catch (error) {
      this.fail(error, repo);
    }
    const card = (info as { cardData?: { license?: string; base_model?: string | string[] } }).cardData;
    const quants = groupByQuantization(files);
    const projectors = projectorOptions(files, isSafeRepoPath);
    const commit = (info as { sha?: string }).sha ?? revision;
    let header: GgufHeader | null = null;
    let fitProblem: string | null = null;
    const probe = quants[0]?.files[0];
    if (probe) {
      try {
        // One file's header is enough: every quantization of a repo shares its shape.
        header = await readGgufHeader(
          remoteSource(
            repoFileUrl(this.options.endpoint(), repo, commit, probe.name),
            probe.sizeBytes,
            this.authHeaders(),
            this.options.fetch,
          ),
        );
      } catch (error) {
        fitProblem = `Could not read ${probe.name}'s header: ${error instanceof GgufError ? error.message : (error as Error).message}`;
      }
    }
    let hardware: HardwareReport | null = null;
    try {
      hardware = await this.options.hardware();
    } catch (error) {
      fitProblem ??= `No fit estimate: the hardware is not known (${(error as Error).message}).`;
    }
    // Each quantization's fit counts the projector downloaded with it; the projector is chosen by how the
    // recommended quantization fits with it.
    const fitWith = (projectorBytes: number): FitVerdict => {
      for (const option of quants) {
        option.fit = estimateFit(option.totalBytes, header, hardware!, projectorBytes);
        option.recommended = false;
      }
      const best = recommendQuantization(quants);
      if (best) best.recommended = true;
      return best?.fit?.verdict ?? 'no';
    };
    let projectorNote = chooseProjector(projectors, hardware ? fitWith : null);
    const chosen = projectors.find((p) => p.chosen);
    if (hardware) fitWith(chosen?.file.sizeBytes ?? 0);
    let encodes = { vision: false, audio: false, projectorType: null as string | null };
    if (chosen) {
      const read = await remoteProjectorFacts(
        remoteSource(this.fileUrl(repo, commit, chosen.file.name), chosen.file.sizeBytes, this.authHeaders(), this.options.fetch),
      );
      encodes = read;
      if (read.problem && !read.vision) {
        // Its header says llama.cpp cannot use it: not downloaded, and the fit is the model's alone.
        chosen.chosen = false;
        projectorNote = `${chosen.file.name} is not downloaded: ${read.problem.replace(/\.$/, '')}. The model downloads text-only.`;
        if (hardware) fitWith(0);
      } else if (read.problem) projectorNote = `${projectorNote} (${read.problem}.)`;
    }
    const facts = header ? modelFacts(header) : null;
    return {
      repo,
      revision: commit,
      license: card?.license ?? null,
      baseModel: Array.isArray(card?.base_model) ? (card?.base_model[0] ?? null) : (card?.base_model ?? null),
      gated: Boolean((info as { gated?: unknown }).gated),
      quants,
      architecture: facts?.architecture ?? null,
      parameterCount: facts?.parameterCount ?? null,
      contextLength: facts?.contextLength ?? null,
      fitProblem,
      vision: encodes.vision,
      audio: encodes.audio,
      projectors,
      projectorNote,
      projectorType: encodes.projectorType,
    };
  }

  fileUrl(repo: string, revision: string, file: string): string {
    return repoFileUrl(this.options.endpoint(), repo, revision, file);
  }

  headers(): Record<string, string> {
    return this.authHeaders();
  }
}
