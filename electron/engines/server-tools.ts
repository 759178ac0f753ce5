/**
 * A required or named tool call on a model whose chat template has no tool
 * calls (llama-server reports its template's abilities in GET /props): there
 * llama-server renders no tools and forces no call, and would answer in text.
 * The worker (node-llama-cpp) describes the tools itself and holds the reply
 * to a call; here the same is done with what llama-server has: the tools
 * described in the system prompt, and the reply held by a JSON schema (a
 * grammar) to a call, then read back as the call it is. A named tool's
 * arguments stream as call deltas; with "required", the call goes out whole
 * once its name is known (at the end).
 */
import type { DeltaPart, GenerateInput, ToolDefinition } from '../../shared/inference';

type Body = Record<string, unknown>;

const EMPTY_PARAMETERS = { type: 'object', properties: {} };

function describe(tool: ToolDefinition): string {
  return `- ${tool.name}${tool.description ? `: ${tool.description}` : ''}; arguments: ${JSON.stringify(tool.parameters ?? EMPTY_PARAMETERS)}`;
}

export class ForcedToolCall {
  private content = '';

  private constructor(
    private readonly tools: ToolDefinition[],
    /** The named tool, or undefined for "required" (any of them). */
    private readonly named: ToolDefinition | undefined,
  ) {}

  /** For a reply that must call a tool on a template that cannot: the emulation, else null. */
  static for(input: GenerateInput, templateCallsTools: boolean): ForcedToolCall | null {
    const choice = input.toolChoice;
    if (templateCallsTools || !input.tools?.length || choice === undefined || choice === 'none' || choice === 'auto') return null;
    if (choice === 'required') return new ForcedToolCall(input.tools, undefined);
    const named = input.tools.find((tool) => tool.name === choice.name);
    return named ? new ForcedToolCall(input.tools, named) : null;
  }

  /** The request: no tools for the template, their description in the system prompt, the call as its output format. */
  apply(body: Body): void {
    delete body.tools;
    delete body.tool_choice;
    delete body.parallel_tool_calls;
    const instruction = this.named
      ? `Call the function ${this.named.name}: answer with its arguments alone, as JSON.\n${describe(this.named)}`
      : `Call one of these functions: answer with {"name": the function, "arguments": its arguments} as JSON.\n${this.tools.map(describe).join('\n')}`;
    const messages = (body.messages as Body[]) ?? [];
    const first = messages[0];
    if (first?.role === 'system' && typeof first.content === 'string') first.content = `${first.content}\n\n${instruction}`;
    else messages.unshift({ role: 'system', content: instruction });
    const schema = this.named
      ? (this.named.parameters ?? EMPTY_PARAMETERS)
      : {
          anyOf: this.tools.map((tool) => ({
            type: 'object',
            properties: { name: { const: tool.name }, arguments: tool.parameters ?? EMPTY_PARAMETERS },
            required: ['name', 'arguments'],
            additionalProperties: false,
          })),
        };
    body.response_format = { type: 'json_schema', json_schema: { name: 'call', schema } };
  }

  /** A piece of the reply: for a named tool, a piece of its arguments. */
  read(text: string): DeltaPart[] {
    this.content += text;
    return this.named && text ? [{ kind: 'call', index: 0, name: this.named.name, text }] : [];
  }

  /** The call the reply made, and the parts not sent yet; null when it did not end as one (cut short). */
  finish(): { call: { name: string; arguments: string }; parts: DeltaPart[] } | null {
    try {
      const value = JSON.parse(this.content) as unknown;
      if (this.named) return { call: { name: this.named.name, arguments: this.content }, parts: [] };
      const { name, arguments: args } = value as { name?: unknown; arguments?: unknown };
      if (typeof name !== 'string') return null;
      const text = JSON.stringify(args ?? {});
      return { call: { name, arguments: text }, parts: [{ kind: 'call', index: 0, name, text }] };
    } catch {
      return null;
    }
  }

  /** What the reply wrote (when it did not end as a call). */
  get text(): string {
    return this.content;
  }
}
