/**
 * Images and audio on llama.cpp's server: what the loaded server takes (its
 * projector's modalities, from GET /props, with its template's abilities), the refusal of media it cannot
 * take before anything is sent, and what the media cost in tokens.
 *
 * The cost: llama-server counts a prompt's image and audio tokens in its
 * prompt tokens but does not report them apart. libmtmd reads the rendered
 * prompt as text pieces between media markers, each piece tokenized on its
 * own (with BOS on the first), and a chunk of tokens per image or clip. So
 * the media's tokens are the prompt's tokens less those of its text pieces:
 * the same prompt rendered by the server (POST /apply-template, with the
 * media, so the template is the same), cut at the server's media marker and
 * tokenized piece by piece (POST /tokenize). Run only for prompts with media,
 * after the reply, so it costs a plain reply nothing.
 */
import { RpcError } from '../../shared/errors';
import type { ChatMessage, LoadedModel } from '../../shared/inference';
import type { LlamaServerProcess } from './llama-server-process';

export interface ServerModalities {
  vision: boolean;
  audio: boolean;
  /** The marker llama-server puts in a rendered prompt where an image or clip goes. */
  mediaMarker: string | null;
  /** Whether the model's chat template renders tools and calls (else server-tools.ts makes a required call). */
  templateCallsTools: boolean;
  /** Whether its chat template may reason (a thinking section llama-server parses out of the reply). */
  templateThinks: boolean;
}

async function call<T>(server: LlamaServerProcess, route: string, body?: unknown): Promise<T> {
  const response = await fetch(`${server.url}${route}`, {
    method: body === undefined ? 'GET' : 'POST',
    headers: { authorization: `Bearer ${server.apiKey}`, ...(body === undefined ? {} : { 'content-type': 'application/json' }) },
    ...(body === undefined ? {} : { body: JSON.stringify(body) }),
    // A server that stops answering fails the call rather than holding the reply (or the load) forever.
    signal: AbortSignal.timeout(60_000),
  });
  if (!response.ok) throw new Error(`llama-server answered ${route} with ${response.status}: ${(await response.text()).slice(0, 300)}`);
  return (await response.json()) as T;
}

/** What the server's projector takes (none without one), and whether its template calls tools (GET /props). */
export async function serverModalities(server: LlamaServerProcess): Promise<ServerModalities> {
  const props = await call<{
    modalities?: { vision?: boolean; audio?: boolean };
    media_marker?: string;
    chat_template_caps?: { supports_tool_calls?: boolean };
    chat_template?: string;
    chat_template_tool_use?: string;
  }>(server, '/props');
  const templates = `${props.chat_template ?? ''}\n${props.chat_template_tool_use ?? ''}`;
  return {
    vision: props.modalities?.vision === true,
    audio: props.modalities?.audio === true,
    mediaMarker: typeof props.media_marker === 'string' && props.media_marker ? props.media_marker : null,
    templateCallsTools: props.chat_template_caps?.supports_tool_calls !== false,
    // Any sign of it counts (a template that never reasons only loses a faster path).
    templateThinks: /think|reason/i.test(templates),
  };
}

/** How many images and clips the messages carry. */
export function mediaIn(messages: readonly ChatMessage[]): { images: number; audio: number } {
  let images = 0;
  let audio = 0;
  for (const message of messages)
    if (message.role === 'user')
      for (const part of message.media ?? []) {
        if (part.kind === 'audio') audio++;
        else images++;
      }
  return { images, audio };
}

/** The refusal of media the loaded model cannot take, or null; nothing has been sent. */
export function mediaRefusal(model: LoadedModel, messages: readonly ChatMessage[]): RpcError | null {
  const { images, audio } = mediaIn(messages);
  const name = model.name;
  if (images > 0 && !model.vision)
    return new RpcError(
      'invalid_input',
      model.projector
        ? `${name} cannot see images: its projector (${model.projector}) takes audio only; nothing was sent.`
        : `${name} cannot see images: it runs without a projector (an mmproj file); nothing was sent.`,
    );
  if (audio > 0 && !model.audio)
    return new RpcError(
      'invalid_input',
      model.projector
        ? `${name} cannot hear audio: its projector (${model.projector}) takes images only; nothing was sent.`
        : `${name} cannot hear audio: it runs without a projector (an mmproj file); nothing was sent.`,
    );
  return null;
}

/**
 * The tokens the media of `body` (a chat request as sent) took of its
 * `promptTokens`, or undefined when the server cannot tell.
 */
export async function mediaTokensOf(
  server: LlamaServerProcess,
  body: Record<string, unknown>,
  marker: string | null,
  promptTokens: number,
): Promise<number | undefined> {
  if (!marker || promptTokens <= 0) return undefined;
  try {
    const { prompt } = await call<{ prompt: string }>(server, '/apply-template', { ...body, stream: false });
    const pieces = prompt.split(marker);
    if (pieces.length < 2) return undefined;
    // The first piece with BOS (where the vocabulary adds one), the others as they are: as libmtmd reads them.
    const { tokens } = await call<{ tokens: number[] }>(server, '/tokenize', { content: pieces, add_special: true, parse_special: true });
    const media = promptTokens - tokens.length;
    return media > 0 ? media : undefined;
  } catch {
    return undefined;
  }
}
