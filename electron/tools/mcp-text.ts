/**
 * The words and text the MCP service (mcp-service.ts) hands on: a tool's
 * result as text for the model, bounded to TOOL_LIMITS.maxResultChars, and
 * the small formatters its messages share.
 */
import type { ContentBlock } from '@modelcontextprotocol/sdk/types.js';
import { TOOL_LIMITS } from '../../shared/tools';

export const seconds = (ms: number) => `${Number((ms / 1000).toFixed(1))} s`;

export function describeSize(bytes: number): string {
  if (bytes < 1024) return `${bytes} bytes`;
  if (bytes < 1024 * 1024) return `${Math.round(bytes / 1024)} KB`;
  return `${(bytes / (1024 * 1024)).toFixed(1)} MB`;
}

const base64Bytes = (data: string) => Math.floor((data.length * 3) / 4) - (data.endsWith('==') ? 2 : data.endsWith('=') ? 1 : 0);

export const clip = (text: string, max = 500) => (text.length > max ? `${text.slice(0, max)}…` : text);

/** The text of a tool's result: its text items, a placeholder for the rest, its structured content when there is no text. */
export function resultText(result: Record<string, unknown>): string[] {
  const parts: string[] = [];
  const content = Array.isArray(result.content) ? (result.content as ContentBlock[]) : [];
  let hasText = false;
  for (const item of content) {
    switch (item.type) {
      case 'text':
        hasText = true;
        parts.push(item.text);
        break;
      case 'image':
      case 'audio':
        parts.push(`[${item.mimeType || item.type}, ${describeSize(base64Bytes(item.data))}]`);
        break;
      case 'resource': {
        const resource = item.resource;
        if ('text' in resource && typeof resource.text === 'string') {
          hasText = true;
          parts.push(`[resource ${clip(resource.uri, 300)}]\n${resource.text}`);
        } else if ('blob' in resource && typeof resource.blob === 'string') {
          parts.push(
            `[resource ${clip(resource.uri, 300)}, ${resource.mimeType ?? 'binary'}, ${describeSize(base64Bytes(resource.blob))}]`,
          );
        }
        break;
      }
      case 'resource_link':
        parts.push(`[link: ${clip(item.name, 200)} ${clip(item.uri, 300)}]`);
        break;
      default:
        parts.push(`[${String((item as { type?: unknown }).type).slice(0, 40)}]`);
    }
  }
  if (!hasText && result.structuredContent !== undefined) parts.push(JSON.stringify(result.structuredContent));
  if (!hasText && result.toolResult !== undefined) parts.push(JSON.stringify(result.toolResult)); // a pre-2025 server's result
  return parts;
}

/** Joins the parts, keeping at most `max` characters and saying so when it cuts. */
export function boundText(parts: string[], max: number = TOOL_LIMITS.maxResultChars): { text: string; truncated: boolean } {
  let total = 0;
  for (const [i, part] of parts.entries()) total += part.length + (i > 0 ? 1 : 0);
  if (total <= max) return { text: parts.join('\n'), truncated: false };
  let text = '';
  for (const part of parts) {
    text += (text ? '\n' : '') + part.slice(0, max - text.length);
    if (text.length >= max) break;
  }
  text = text.slice(0, max);
  // Not half a surrogate pair.
  if (/[\uD800-\uDBFF]$/.test(text)) text = text.slice(0, -1);
  const fmt = (n: number) => n.toLocaleString('en-US');
  return { text: `${text}\n… [cut: the tool returned ${fmt(total)} characters; the first ${fmt(text.length)} are shown]`, truncated: true };
}
