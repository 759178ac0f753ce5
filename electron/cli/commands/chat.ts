import path from 'node:path';
import type { ChatDelta, GenerateResult, LoadProgress, Sampling } from '../../../shared/inference';
import { numberOption, UsageError, type Command } from '../command';

function statsLine(result: GenerateResult): string {
  const s = result.stats;
  return `[${s.generatedTokens} tokens, ${s.tokensPerSecond.toFixed(1)} tokens/s, first token after ${s.timeToFirstTokenMs.toFixed(0)} ms, prompt ${s.promptTokens} tokens, stopped: ${s.stopReason}]`;
}

export const chatCommand: Command = {
  summary: 'Load a GGUF model and stream its reply to a prompt',
  usage:
    'chat --model <path> [--system TEXT] [--temperature X] [--top-p X] [--top-k N] [--min-p X] [--repeat-penalty X] [--max-tokens N] [--seed N] [--context-size N] [--gpu-layers N] "prompt"',
  options: {
    model: { type: 'string' },
    system: { type: 'string' },
    temperature: { type: 'string' },
    'top-p': { type: 'string' },
    'top-k': { type: 'string' },
    'min-p': { type: 'string' },
    'repeat-penalty': { type: 'string' },
    'max-tokens': { type: 'string' },
    seed: { type: 'string' },
    'context-size': { type: 'string' },
    'gpu-layers': { type: 'string' },
  },
  async run({ io, json, args, values, services, program }) {
    const modelArg = values.model;
    if (typeof modelArg !== 'string' || modelArg === '') throw new UsageError('chat needs --model <path to a .gguf file>.');
    const prompt = args.join(' ').trim();
    if (!prompt) throw new UsageError(`chat needs a prompt, e.g. ${program} chat --model model.gguf "Hello"`);
    const sampling: Sampling = {
      temperature: numberOption(values, 'temperature', false),
      topP: numberOption(values, 'top-p', false),
      topK: numberOption(values, 'top-k', true),
      minP: numberOption(values, 'min-p', false),
      repeatPenalty: numberOption(values, 'repeat-penalty', false),
      maxTokens: numberOption(values, 'max-tokens', true),
      seed: numberOption(values, 'seed', true),
    };
    const contextSize = numberOption(values, 'context-size', true);
    const gpuLayers = numberOption(values, 'gpu-layers', true);
    const host = await services();
    const modelPath = path.resolve(modelArg);

    let lastShown = -1;
    const offProgress = host.events.subscribeAll((event, payload) => {
      if (event !== 'onLoadProgress' || json) return;
      const percent = Math.floor((payload as LoadProgress).progress * 100);
      if (percent >= lastShown + 10 || percent === 100) {
        lastShown = percent;
        io.err(`loading ${path.basename(modelPath)}: ${percent}%`);
      }
    });
    const model = await host.handlers['inference.load']({ modelPath, contextSize, gpuLayers });
    offProgress();
    if (!json) {
      io.err(
        `${model.name}: ${model.gpuLayers}/${model.totalLayers} layers on the GPU, ${model.contextSize}-token context, ${model.chatWrapper} template`,
      );
      if (model.retried) io.err(`note: ${model.retried}`);
    }

    const requestId = `cli-${process.pid}-${Date.now()}`;
    let thinking = false;
    const offDelta = host.events.subscribeAll((event, payload) => {
      if (event !== 'onChatDelta' || json) return;
      const delta = payload as ChatDelta;
      if (delta.requestId !== requestId) return;
      for (const part of delta.parts) {
        if (part.kind === 'reasoning') {
          if (!thinking) io.err('[thinking]');
          thinking = true;
          io.err(part.text);
        } else {
          if (thinking) io.err('[/thinking]');
          thinking = false;
          (io.write ?? io.out)(part.text);
        }
      }
    });
    io.onInterrupt?.(() => void host.handlers['chat.abort']({ requestId }));
    try {
      const result = await host.handlers['chat.generate']({
        requestId,
        system: typeof values.system === 'string' ? values.system : undefined,
        messages: [{ role: 'user', text: prompt }],
        sampling,
      });
      if (json) io.out(JSON.stringify({ model, text: result.text, reasoning: result.reasoning, stats: result.stats }));
      else {
        (io.write ?? io.out)('\n');
        io.out(statsLine(result));
      }
    } finally {
      io.onInterrupt?.(undefined);
      offDelta();
    }
    return 0;
  },
};
