/**
 * The local API's limits against a real worker process and stories260K: JSON
 * schemas bounded before anything reaches the worker (and rewritten so that
 * what passes is enforced as written), and one size limit for a request, met
 * at the edge rather than as a 500 from the channel to the worker.
 */
import http from 'node:http';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type { HostServices } from '../../../electron/services/host-services';
import { apiHostWithModel, type ApiHost } from '../../helpers/inference-host';

let host: ApiHost | undefined;
let services: HostServices;
let logs: string[];
let port: number;
let key: string;

beforeAll(async () => {
  host = await apiHostWithModel('api-limits');
  ({ services, logs, port, key } = host);
});

afterAll(async () => {
  await host?.close();
});

interface Answer {
  status: number;
  ms: number;
  body: {
    error?: { message: string; code: string | null; param: string | null };
    choices?: Array<{ message?: { content: string }; text?: string }>;
  };
}

function post(pathname: string, body: unknown): Promise<Answer> {
  const text = typeof body === 'string' ? body : JSON.stringify(body);
  const started = Date.now();
  return new Promise((resolve, reject) => {
    const request = http.request(
      {
        host: '127.0.0.1',
        port,
        method: 'POST',
        path: pathname,
        headers: { Authorization: `Bearer ${key}`, 'Content-Type': 'application/json', 'Content-Length': Buffer.byteLength(text) },
      },
      (response) => {
        let received = '';
        response.setEncoding('utf8');
        response.on('data', (chunk: string) => (received += chunk));
        response.on('end', () =>
          resolve({ status: response.statusCode!, ms: Date.now() - started, body: JSON.parse(received) as Answer['body'] }),
        );
      },
    );
    request.on('error', reject);
    request.end(text);
  });
}

const chat = (schema: unknown, extra: Record<string, unknown> = {}) => ({
  model: 'stories260k',
  messages: [{ role: 'user', content: 'Once upon a time' }],
  max_tokens: 40,
  temperature: 0,
  response_format: { type: 'json_schema', json_schema: { name: 'x', schema } },
  ...extra,
});

/** The worker is the one that started with the suite, and the model is still loaded: nothing was killed. */
function expectWorkerUntouched() {
  expect(logs.filter((line) => /stopped answering|engine stopped|bad message/i.test(line))).toEqual([]);
}

describe('JSON schemas are bounded before they reach the worker', () => {
  it('refuses an 80,000-value enum at once, naming the limit, and the model stays loaded', async () => {
    // Load the model first, so that a stalled worker would show.
    expect((await post('/v1/chat/completions', chat({ type: 'object', properties: { a: { type: 'integer' } } }))).status).toBe(200);
    const answer = await post(
      '/v1/chat/completions',
      chat({ type: 'string', enum: Array.from({ length: 80_000 }, (_, i) => `value-${i}`) }),
    );
    expect(answer.status).toBe(400);
    expect(answer.body.error).toMatchObject({ code: 'unsupported_schema', param: 'response_format.json_schema.schema' });
    expect(answer.body.error!.message).toMatch(/more than 1,000 enum and const values/);
    expect(answer.ms).toBeLessThan(2000);
    expect(services.inference.status().model).not.toBeNull();
    expectWorkerUntouched();
  });

  it('refuses a 4,990-long $ref chain and a dangling $ref at once', async () => {
    const defs: Record<string, unknown> = {};
    for (let i = 0; i < 4990; i += 1) defs[`d${i}`] = i + 1 < 4990 ? { $ref: `#/$defs/d${i + 1}` } : { type: 'string' };
    const chain = await post('/v1/chat/completions', chat({ $defs: defs, $ref: '#/$defs/d0' }));
    expect(chain.status).toBe(400);
    expect(chain.body.error!.message).toMatch(/more than 100 definitions/);
    expect(chain.ms).toBeLessThan(2000);

    const shortDefs: Record<string, unknown> = {};
    for (let i = 0; i < 80; i += 1) shortDefs[`d${i}`] = i + 1 < 80 ? { $ref: `#/$defs/d${i + 1}` } : { type: 'string' };
    const long = await post('/v1/chat/completions', chat({ $defs: shortDefs, $ref: '#/$defs/d0' }));
    expect(long.status).toBe(400);
    expect(long.body.error!.message).toMatch(/\$ref chain too long/);

    const dangling = await post('/v1/chat/completions', chat({ type: 'object', properties: { a: { $ref: '#/$defs/Missing' } } }));
    expect(dangling.status).toBe(400);
    expect(dangling.body.error!.message).toMatch(/names no definition/);
    expectWorkerUntouched();
  });

  it('answers arrays nested 100,000 deep in enum, const or default with 400 or without them, never 500', async () => {
    const deep = '['.repeat(100_000) + ']'.repeat(100_000);
    const body = (schema: string) =>
      `{"model":"stories260k","max_tokens":8,"messages":[{"role":"user","content":"Hi"}],"response_format":{"type":"json_schema","json_schema":{"name":"x","schema":${schema}}}}`;
    const inEnum = await post('/v1/chat/completions', body(`{"enum":[${deep}]}`));
    expect(inEnum.status).toBe(400);
    // Without strict an enum of arrays is left to the validator, which is bounded like the grammar.
    expect(inEnum.body.error!.message).toMatch(/enum\[0\]\S* is nested more than 32 levels deep/);
    const inConst = await post('/v1/chat/completions', body(`{"const":${deep}}`));
    expect(inConst.status).toBe(400);
    // An annotation describes and does not constrain: it never travels to the worker.
    const inDefault = await post('/v1/chat/completions', body(`{"type":"object","properties":{"a":{"type":"integer"}},"default":${deep}}`));
    expect(inDefault.status).toBe(200);
    expectWorkerUntouched();
  });

  it('enforces anyOf, definitions and lists of types as written (node-llama-cpp alone would write null)', async () => {
    const answer = await post(
      '/v1/chat/completions',
      chat({
        type: 'object',
        properties: { age: { anyOf: [{ type: 'integer' }, { type: 'boolean' }] }, pet: { $ref: '#/definitions/Pet' } },
        required: ['age', 'pet'],
        additionalProperties: false,
        definitions: { Pet: { type: ['object', 'null'], properties: { name: { type: 'string', maxLength: 8 } }, required: ['name'] } },
      }),
    );
    expect(answer.status).toBe(200);
    const parsed = JSON.parse(answer.body.choices![0]!.message!.content) as { age: unknown; pet: { name: string } | null };
    expect(['number', 'boolean']).toContain(typeof parsed.age);
    if (parsed.pet !== null) expect(parsed.pet.name.length).toBeLessThanOrEqual(8);
  });

  it('holds /v1/completions to a schema too, instead of ignoring response_format', async () => {
    const answer = await post('/v1/completions', {
      model: 'stories260k',
      prompt: 'Once upon a time',
      max_tokens: 40,
      temperature: 0,
      response_format: {
        type: 'json_schema',
        json_schema: {
          name: 'x',
          schema: { type: 'object', properties: { n: { type: 'integer' } }, required: ['n'], additionalProperties: false },
        },
      },
    });
    expect(answer.status).toBe(200);
    expect(Number.isInteger((JSON.parse(answer.body.choices![0]!.text!) as { n: number }).n)).toBe(true);
  });

  it('builds the grammar of the largest schemas the limits allow quickly, in the worker, without harm', async () => {
    const range = <T>(n: number, f: (i: number) => T) => Array.from({ length: n }, (_, i) => f(i));
    const worst: Record<string, unknown> = {
      'enum: 1,000 values of 119 characters': { type: 'string', enum: range(1000, (i) => String(i).padStart(119, 'x')) },
      '4,999 properties': {
        type: 'object',
        properties: Object.fromEntries(range(4999, (i) => [`p${String(i).padStart(20, '0')}`, { type: 'string' }])),
        additionalProperties: false,
      },
      '2,499 alternatives of one property each': {
        anyOf: range(2499, (i) => ({ type: 'object', properties: { [`k${i}`]: { type: 'string' } }, additionalProperties: false })),
      },
      '100 distinct string bounds up to 1,000': {
        type: 'object',
        properties: Object.fromEntries(range(100, (i) => [`s${i}`, { type: 'string', maxLength: 1000 - i }])),
        additionalProperties: false,
      },
    };
    const times: string[] = [];
    for (const [what, schema] of Object.entries(worst)) {
      const answer = await post('/v1/chat/completions', chat(schema, { max_tokens: 4 }));
      expect({ what, status: answer.status }).toEqual({ what, status: 200 });
      times.push(`${what}: ${answer.ms} ms`);
      expect(answer.ms, what).toBeLessThan(5000);
    }
    console.log(`worst-case grammar requests (build + 4 tokens): ${times.join('; ')}`);
    expectWorkerUntouched();
  });
});

describe('one size limit for a request, met at the edge', () => {
  it('takes a prompt over 1 MiB to the worker (no 500 from the channel to it)', async () => {
    const words = 'Once upon a time there was a little girl. '.repeat(27_000); // 1.13 MB
    const completion = await post('/v1/completions', { model: 'stories260k', prompt: words, max_tokens: 1 });
    const message = await post('/v1/chat/completions', {
      model: 'stories260k',
      messages: [{ role: 'user', content: words + words }],
      max_tokens: 1,
    });
    for (const answer of [completion, message]) {
      // Longer than stories260K's context: the worker reads it and says so (or the prompt is cut to fit).
      expect(
        answer.status === 200 || answer.body.error?.code === 'context_length_exceeded',
        JSON.stringify(answer.body).slice(0, 300),
      ).toBe(true);
    }
    expectWorkerUntouched();
  });

  it('refuses a body over 8 MiB with 413', async () => {
    const answer = await post('/v1/completions', { model: 'stories260k', prompt: 'x'.repeat(8 * 1024 * 1024), max_tokens: 1 });
    expect(answer.status).toBe(413);
    expect(answer.body.error!.message).toMatch(/8 MiB/);
  });
});
