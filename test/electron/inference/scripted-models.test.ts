import { existsSync, readdirSync, statSync } from 'node:fs';
import path from 'node:path';
import {
  DeepSeekChatWrapper,
  getLlama,
  Llama3_1ChatWrapper,
  LlamaChat,
  LlamaLogLevel,
  QwenChatWrapper,
  resolveChatWrapper,
  type ChatHistoryItem,
  type ChatModelFunctions,
  type Llama,
  type LlamaModel,
} from 'node-llama-cpp';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import {
  GET_WEATHER,
  SCRIPT,
  scriptedModel,
  scriptedTokenizer,
  type ScriptedBehaviour,
  type ScriptedFamily,
} from '../../helpers/scripted-models';

const functions: ChatModelFunctions = { get_weather: GET_WEATHER };

const cases: Array<{
  family: ScriptedFamily;
  behaviour: ScriptedBehaviour;
  wrapper: new () => object;
  architecture: string;
  /** "Hello world" in the real tokenizer. */
  helloWorld: number[];
  eos: string;
  callSyntax: string[];
}> = [
  {
    family: 'qwen3',
    behaviour: 'think',
    wrapper: QwenChatWrapper,
    architecture: 'qwen3',
    helloWorld: [9707, 1879],
    eos: '<|im_end|>',
    callSyntax: [],
  },
  {
    family: 'qwen3',
    behaviour: 'tool',
    wrapper: QwenChatWrapper,
    architecture: 'qwen3',
    helloWorld: [9707, 1879],
    eos: '<|im_end|>',
    callSyntax: ['<tool_call>', '</tool_call>', '{"name"'],
  },
  {
    family: 'deepseek-r1',
    behaviour: 'think',
    wrapper: DeepSeekChatWrapper,
    architecture: 'qwen2',
    helloWorld: [9707, 1879],
    eos: '<｜end▁of▁sentence｜>',
    callSyntax: [],
  },
  {
    family: 'deepseek-r1',
    behaviour: 'tool',
    wrapper: DeepSeekChatWrapper,
    architecture: 'qwen2',
    helloWorld: [9707, 1879],
    eos: '<｜end▁of▁sentence｜>',
    callSyntax: ['<function=', '</function>'],
  },
  {
    family: 'llama3',
    behaviour: 'tool',
    wrapper: Llama3_1ChatWrapper,
    architecture: 'llama',
    helloWorld: [9906, 1917],
    eos: '<|eot_id|>',
    callSyntax: ['<function=', '</function>', '<|eom_id|>', '<|python_tag|>'],
  },
];

let llama: Llama;
const models = new Map<string, LlamaModel>();
const files = new Map<string, string>();
const keyOf = (family: ScriptedFamily, behaviour: ScriptedBehaviour) => `${family}/${behaviour}`;

beforeAll(async () => {
  llama = await getLlama({ gpu: false, build: 'never', maxThreads: 1, logLevel: LlamaLogLevel.error, progressLogs: false });
  for (const { family, behaviour } of cases) {
    const file = await scriptedModel(family, behaviour);
    files.set(keyOf(family, behaviour), file);
    models.set(keyOf(family, behaviour), await llama.loadModel({ modelPath: file }));
  }
}, 120_000);

afterAll(async () => {
  for (const model of models.values()) await model.dispose();
});

interface Run {
  response: string;
  stopReason: string | undefined;
  thought: string;
  functionCalls: Array<{ functionName: string; params: unknown }>;
  paramsChunks: string;
}

async function run(model: LlamaModel, history: ChatHistoryItem[], withFunctions: boolean): Promise<Run> {
  const context = await model.createContext({ contextSize: 2048, threads: 1 });
  try {
    const chat = new LlamaChat({ contextSequence: context.getSequence(), chatWrapper: resolveChatWrapper(model) });
    let thought = '';
    let paramsChunks = '';
    const res = await chat.generateResponse(history, {
      temperature: 0,
      maxTokens: 80,
      functions: withFunctions ? functions : undefined,
      onResponseChunk: (chunk) => {
        if (chunk.type === 'segment' && chunk.segmentType === 'thought') thought += chunk.text;
      },
      onFunctionCallParamsChunk: (chunk) => {
        paramsChunks += chunk.paramsChunk;
      },
    });
    return {
      response: res.response,
      stopReason: res.metadata.stopReason,
      thought,
      functionCalls: (res.functionCalls ?? []).map(({ functionName, params }) => ({ functionName, params })),
      paramsChunks,
    };
  } finally {
    await context.dispose();
  }
}

const ask = (text: string): ChatHistoryItem[] => [
  { type: 'user', text },
  { type: 'model', response: [] },
];

describe.each(cases)('scripted $family model ($behaviour)', ({ family, behaviour, wrapper, architecture, helloWorld, eos, callSyntax }) => {
  const model = () => models.get(keyOf(family, behaviour))!;

  it('loads with the family architecture, its real tokenizer, and makes node-llama-cpp pick the family chat wrapper', () => {
    const m = model();
    expect(m.fileInfo.metadata.general.architecture).toBe(architecture);
    expect(resolveChatWrapper(m)).toBeInstanceOf(wrapper);
    expect(m.tokenize('Hello world')).toEqual(helloWorld);
    expect(m.tokenize(eos, true)).toHaveLength(1);
    expect(m.isEogToken(m.tokenize(eos, true)[0]!)).toBe(true);
    // the generator's own tokenizer agrees with llama.cpp's on the scripted texts
    const encode = scriptedTokenizer(family);
    for (const text of [SCRIPT.think.thought, SCRIPT.think.answer, SCRIPT.tool.answer, 'What is the weather in Paris?'])
      expect([...m.tokenize(text)]).toEqual(encode(text, false));
  });

  if (behaviour === 'think') {
    it('thinks, then answers, then ends its turn', async () => {
      const res = await run(model(), ask('Hi'), false);
      expect(res.thought.trim()).toBe(SCRIPT.think.thought);
      expect(res.response).toBe(SCRIPT.think.answer);
      expect(res.stopReason).toBe('eogToken');
    });

    it('does the same whatever the user said', async () => {
      const res = await run(model(), ask('Tell me something about the sea, please.'), false);
      expect(res.thought.trim()).toBe(SCRIPT.think.thought);
      expect(res.response).toBe(SCRIPT.think.answer);
    });
  }

  if (behaviour === 'tool') {
    it('calls get_weather for Paris in its native call syntax, streaming the params', async () => {
      const res = await run(model(), ask('What is the weather in Paris?'), true);
      expect(res.stopReason).toBe('functionCalls');
      expect(res.functionCalls).toEqual([{ functionName: SCRIPT.tool.name, params: SCRIPT.tool.params }]);
      for (const syntax of callSyntax) expect(res.response).not.toContain(syntax);
      expect(res.response.trim()).toBe('');
      expect(JSON.parse(res.paramsChunks)).toEqual(SCRIPT.tool.params);
    });

    it('answers from the function result once it is in the history', async () => {
      const history: ChatHistoryItem[] = [
        { type: 'user', text: 'What is the weather in Paris?' },
        {
          type: 'model',
          response: [{ type: 'functionCall', name: SCRIPT.tool.name, params: { ...SCRIPT.tool.params }, result: SCRIPT.tool.result }],
        },
      ];
      for (const withFunctions of [true, false]) {
        const res = await run(model(), history, withFunctions);
        expect(res.functionCalls).toEqual([]);
        expect(res.response).toBe(SCRIPT.tool.answer);
        expect(res.stopReason).toBe('eogToken');
      }
    });

    it('just answers, and stops, when no functions are offered', async () => {
      const res = await run(model(), ask('What is the weather in Paris?'), false);
      expect(res.response).toBe(SCRIPT.tool.noFunctionsAnswer);
      expect(res.stopReason).toBe('eogToken');
    });
  }
});

describe('scripted model files', () => {
  it('are built once into the cache, under a name with a content hash, with no temporary file left', async () => {
    const file = files.get(keyOf('qwen3', 'think'))!;
    expect(path.basename(file)).toMatch(/^qwen3-think-[0-9a-f]{16}\.gguf$/);
    const before = statSync(file).mtimeMs;
    expect(await scriptedModel('qwen3', 'think')).toBe(file);
    expect(statSync(file).mtimeMs).toBe(before);
    expect(readdirSync(path.dirname(file)).filter((name) => name.endsWith('.tmp'))).toEqual([]);
    expect(existsSync(file)).toBe(true);
  });

  it('refuses a family and behaviour it has no script for', async () => {
    await expect(scriptedModel('llama3', 'think')).rejects.toThrow(/no think script for llama3/);
  });
});
