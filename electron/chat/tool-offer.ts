/** The MCP servers' tools as the chat offers them to a model: names, prepared schemas, arguments checked, calls in the history. */
import type { HistoryCall, ToolDefinition } from '../../shared/inference';
import type { ToolCallRecord } from '../../shared/tools';
import { prepareCheckedSchema } from '../formats/json-schema-check';

/** What the chat needs of the MCP servers (tools/mcp-service.ts). */
export interface ToolProvider {
  availableTools(): Array<{ server: string; tool: string; description: string; inputSchema: Record<string, unknown> }>;
  isAlwaysAllowed(server: string, tool: string): boolean;
  setTool(server: string, tool: string, change: { alwaysAllow?: boolean }): unknown;
  call(
    server: string,
    tool: string,
    args: Record<string, unknown>,
    signal?: AbortSignal,
  ): Promise<{ ok: boolean; text: string; truncated: boolean }>;
  /** Checks a call's arguments against the tool's whole input schema (the grammar may not have held all of it). */
  checkArguments(server: string, tool: string, args: Record<string, unknown>): Promise<{ valid: true } | { valid: false; message: string }>;
}

/** A name the model may call: the API's alphabet, at most 64 characters. */
export function functionName(text: string): string {
  return text.replace(/[^A-Za-z0-9_-]+/g, '_').slice(0, 64) || 'tool';
}

/**
 * The servers' tools as functions for the model: each under its own name, or
 * "server_tool" where two servers offer the same name; each schema prepared for
 * the grammar (what it cannot hold is checked once the call is written).
 */
export function offerTools(available: ReturnType<ToolProvider['availableTools']>): {
  definitions: ToolDefinition[];
  byName: Map<string, { server: string; tool: string }>;
} {
  const counts = new Map<string, number>();
  for (const t of available) counts.set(functionName(t.tool), (counts.get(functionName(t.tool)) ?? 0) + 1);
  const definitions: ToolDefinition[] = [];
  const byName = new Map<string, { server: string; tool: string }>();
  for (const t of available) {
    let name = functionName(t.tool);
    if (counts.get(name)! > 1) name = functionName(`${t.server}_${t.tool}`);
    if (byName.has(name)) continue;
    const prepared = t.inputSchema && Object.keys(t.inputSchema).length > 0 ? prepareCheckedSchema(t.inputSchema, false) : undefined;
    if (prepared && !prepared.ok) continue;
    byName.set(name, { server: t.server, tool: t.tool });
    definitions.push({
      name,
      ...(t.description ? { description: t.description.slice(0, 100_000) } : {}),
      ...(prepared?.ok && Object.keys(prepared.schema).length ? { parameters: prepared.schema } : {}),
    });
  }
  return { definitions, byName };
}

/** A call's arguments as an object, or why they are not one (in words for the model). */
export function parseArguments(text: string): Record<string, unknown> | string {
  let args: unknown;
  try {
    args = JSON.parse(text || '{}');
  } catch (error) {
    return `The arguments are not valid JSON: ${(error as Error).message}`;
  }
  if (typeof args !== 'object' || args === null || Array.isArray(args)) return 'The arguments must be a JSON object.';
  return args as Record<string, unknown>;
}

/** Why a call's arguments cannot be run (not an object, or not matching the tool's schema), or null. */
export async function argumentsProblem(tools: ToolProvider, server: string, tool: string, text: string): Promise<string | null> {
  const args = parseArguments(text);
  if (typeof args === 'string') return `${args} The call was not run.`;
  const checked = await tools.checkArguments(server, tool, args);
  return checked.valid
    ? null
    : `The arguments do not match the input schema of ${tool}, so it was not run: ${checked.message}. Call it again with arguments that match.`;
}

/** The calls of a stored reply as the model sees them in the history: name, arguments, result. */
export function historyCalls(calls: readonly ToolCallRecord[], nameOf: (call: ToolCallRecord) => string): HistoryCall[] {
  return calls
    .filter((call) => call.status !== 'pending' && call.status !== 'running')
    .map((call) => ({ name: nameOf(call), arguments: call.arguments, result: call.result ?? '', at: call.textOffset }));
}
