/**
 * Tool calls as node-llama-cpp's chat wrappers take them: past calls in the
 * history, the functions offered to a reply, and a call forced from its first
 * token.
 */
import { LlamaText, type ChatModelFunctions, type ChatModelResponse, type ChatWrapper } from 'node-llama-cpp';
import { RpcError } from '../../shared/errors';
import type { GenerateInput, HistoryCall } from '../../shared/inference';
import { markIntegerRanges } from './schema-grammar';

/** An assistant message as node-llama-cpp holds it: its text with each tool call (and result) where it was made. */
export function modelResponse(text: string, calls: HistoryCall[] | undefined): ChatModelResponse['response'] {
  if (!calls?.length) return [text];
  const response: ChatModelResponse['response'] = [];
  let at = 0;
  for (const call of calls) {
    const offset = Math.min(Math.max(call.at, at), text.length);
    const between = text.slice(at, offset);
    if (between) response.push(between);
    response.push({
      type: 'functionCall',
      name: call.name,
      params: parseJson(call.arguments) ?? {},
      result: parseJson(call.result) ?? call.result,
      // Calls with no text between them were made together, in one turn.
      startsNewChunk: response.length === 0 || typeof response[response.length - 1] === 'string',
    });
    at = offset;
  }
  if (at < text.length) response.push(text.slice(at));
  return response;
}

export function parseJson(text: string): unknown {
  try {
    return JSON.parse(text) as unknown;
  } catch {
    return undefined;
  }
}

/**
 * The functions offered to the model, and whether a call is forced; none when
 * the reply may not call any. `functions` is what node-llama-cpp builds the
 * arguments' grammar from (integer ranges marked, see schema-grammar.ts),
 * `documented` what the model is shown (the schemas as given), when they differ.
 */
export function toolsFor(
  input: GenerateInput,
): { functions: ChatModelFunctions; documented: ChatModelFunctions | null; forced: boolean } | undefined {
  const choice = input.toolChoice ?? 'auto';
  if (!input.tools?.length || choice === 'none') return undefined;
  const offered = typeof choice === 'object' ? input.tools.filter((tool) => tool.name === choice.name) : input.tools;
  if (offered.length === 0)
    throw new RpcError('invalid_input', `tool_choice names "${(choice as { name: string }).name}", which is not among the tools.`);
  const functions: Record<string, ChatModelFunctions[string]> = {};
  const documented: Record<string, ChatModelFunctions[string]> = {};
  let marked = false;
  for (const tool of offered) {
    const description = tool.description ? { description: tool.description } : {};
    const params = tool.parameters ? markIntegerRanges(tool.parameters) : undefined;
    if (params !== tool.parameters) marked = true;
    functions[tool.name] = { ...description, ...(params ? { params: params as never } : {}) };
    documented[tool.name] = { ...description, ...(tool.parameters ? { params: tool.parameters as never } : {}) };
  }
  return { functions, documented: marked ? documented : null, forced: choice !== 'auto' };
}

/** The model's chat wrapper, showing the model `documented` wherever the offered functions are rendered. */
export function documentedAs(inner: ChatWrapper, documented: ChatModelFunctions): ChatWrapper {
  const wrapper = Object.create(inner) as ChatWrapper;
  wrapper.generateContextState = (options) =>
    inner.generateContextState(options.availableFunctions ? { ...options, availableFunctions: documented } : options);
  return wrapper;
}

/**
 * The model's chat wrapper with the reply opened in its function-call syntax:
 * node-llama-cpp then holds the function name and arguments to its grammar
 * from the first token, so the reply is a call (tool_choice required or named).
 */
export function forcingCalls(inner: ChatWrapper): ChatWrapper {
  const forced = Object.create(inner) as ChatWrapper;
  forced.generateContextState = (options) => {
    const state = inner.generateContextState(options);
    return {
      ...state,
      contextText: LlamaText([state.contextText, inner.settings.functions.call.prefix]),
      functionCall: { initiallyEngaged: true, disengageInitiallyEngaged: [] },
    } as ReturnType<ChatWrapper['generateContextState']>;
  };
  return forced;
}
