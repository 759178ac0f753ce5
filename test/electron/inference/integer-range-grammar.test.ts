/**
 * The integer-range grammar, checked by llama.cpp's own grammar engine (the
 * one that constrains generation) against brute force: every integer from
 * -1,200 to 1,200, the numbers next to each bound, and the spellings JSON
 * does not write ("-0", "007", "1e2"), for ranges with negative, exclusive and
 * one-sided bounds. Then the same through node-llama-cpp's JSON-schema
 * grammar, which holds a bounded integer inside an object once the range is
 * installed.
 */
import { getLlama, LlamaLogLevel, type Llama } from 'node-llama-cpp';
import { beforeAll, describe, expect, it } from 'vitest';
import { integerBounds } from '../../../electron/formats/json-schema-support';
import { INTEGER_LIMIT, integerRangeGbnf } from '../../../electron/formats/integer-range-grammar';
import { installIntegerRanges, markIntegerRanges } from '../../../electron/worker/schema-grammar';

let llama: Llama;
beforeAll(async () => {
  llama = await getLlama({ gpu: false, build: 'never', maxThreads: 1, logLevel: LlamaLogLevel.error, progressLogs: false });
});

/** Whether llama.cpp's grammar engine accepts `text` whole under `grammar` (node-llama-cpp's own check, used for its stop triggers). */
async function matcher(grammar: string): Promise<(text: string) => boolean> {
  const compiled = await llama.createGrammar({ grammar });
  return (text) => (compiled as unknown as { _testText(text: string): boolean })._testText(text);
}

const inRange = (n: bigint, min: bigint | null, max: bigint | null) => (min === null || n >= min) && (max === null || n <= max);

describe('integer ranges as GBNF, against brute force', () => {
  const ranges: Array<[bigint | null, bigint | null]> = [
    [1n, 10n],
    [0n, 0n],
    [-3n, 7n],
    [-250n, -17n],
    [-1000n, -1000n],
    [17n, 1234n],
    [99n, 101n],
    [-99n, 99n],
    [0n, null],
    [1n, null],
    [150n, null],
    [-45n, null],
    [null, 0n],
    [null, -1n],
    [null, 333n],
    [null, null],
  ];
  const spellings = ['-0', '00', '007', '-007', '+1', '1e2', '1.0', '', '-', ' 1', '1 '];

  for (const [min, max] of ranges) {
    it(`[${String(min ?? '-∞')}, ${String(max ?? '∞')}]`, async () => {
      const accepts = await matcher(`root ::= ${integerRangeGbnf(min, max)}`);
      const wrong: string[] = [];
      const candidates = new Set<bigint>();
      for (let n = -1200n; n <= 1200n; n++) candidates.add(n);
      for (const edge of [min, max]) if (edge !== null) for (let d = -3n; d <= 3n; d++) candidates.add(edge + d);
      for (const n of candidates) if (accepts(n.toString()) !== inRange(n, min, max)) wrong.push(n.toString());
      for (const text of spellings) if (accepts(text)) wrong.push(JSON.stringify(text));
      expect(wrong).toEqual([]);
    });
  }

  it('an unbounded side stops at 16 digits, as node-llama-cpp’s own integers do', async () => {
    const accepts = await matcher(`root ::= ${integerRangeGbnf(null, null)}`);
    expect(accepts(INTEGER_LIMIT.toString())).toBe(true);
    expect(accepts((-INTEGER_LIMIT).toString())).toBe(true);
    expect(accepts((INTEGER_LIMIT + 1n).toString())).toBe(false);
    const positive = await matcher(`root ::= ${integerRangeGbnf(5n, null)}`);
    expect(positive('1234567890123456')).toBe(true);
    expect(positive('4')).toBe(false);
  });

  it('a range with no integer in it is an error, not an empty grammar', () => {
    expect(() => integerRangeGbnf(5n, 4n)).toThrow(/No integer is at least 5 and at most 4/);
  });
});

describe('the bounds a schema gives an integer', () => {
  it('reads inclusive, exclusive (both drafts), fractional and one-sided bounds as whole-number bounds', () => {
    expect(integerBounds({ minimum: 1, maximum: 10 })).toEqual({ min: 1n, max: 10n });
    expect(integerBounds({ exclusiveMinimum: 0, exclusiveMaximum: 5 })).toEqual({ min: 1n, max: 4n });
    expect(integerBounds({ exclusiveMinimum: -3.5 })).toEqual({ min: -3n, max: null });
    expect(integerBounds({ minimum: 2, exclusiveMinimum: true, maximum: 9, exclusiveMaximum: true })).toEqual({ min: 3n, max: 8n });
    expect(integerBounds({ minimum: 0.5, maximum: 2.5 })).toEqual({ min: 1n, max: 2n });
    expect(integerBounds({ minimum: 3, exclusiveMinimum: 5 })).toEqual({ min: 6n, max: null });
    expect(integerBounds({ maximum: -7 })).toEqual({ min: null, max: -7n });
    expect(integerBounds({})).toEqual({ min: null, max: null });
    // Beyond what the grammar writes (16 digits): unbounded on that side.
    expect(integerBounds({ minimum: -1e300, maximum: 1e20 })).toEqual({ min: null, max: null });
  });

  it('the brute force on the bounds as read: exclusive and fractional bounds keep exactly the integers the schema allows', async () => {
    for (const schema of [{ exclusiveMinimum: -3, exclusiveMaximum: 3 }, { minimum: -2.5, maximum: 2.5 }, { exclusiveMinimum: 9.9 }]) {
      const { min, max } = integerBounds(schema);
      const accepts = await matcher(`root ::= ${integerRangeGbnf(min, max)}`);
      for (let n = -30; n <= 30; n++) {
        const allowed =
          (schema.exclusiveMinimum === undefined || n > schema.exclusiveMinimum) &&
          (schema.exclusiveMaximum === undefined || n < schema.exclusiveMaximum) &&
          (schema.minimum === undefined || n >= schema.minimum) &&
          (schema.maximum === undefined || n <= schema.maximum);
        expect([n, accepts(String(n))]).toEqual([n, allowed]);
      }
    }
  });
});

describe('node-llama-cpp’s JSON-schema grammar with the ranges installed', () => {
  it('holds a bounded integer inside an object, in a list and under a $ref, and leaves the schema it is given as it was', async () => {
    expect(await installIntegerRanges()).toBe(true);
    const schema = {
      type: 'object',
      properties: {
        count: { type: 'integer', minimum: 1, maximum: 10 },
        offsets: { type: 'array', items: { type: 'integer', minimum: -5, maximum: -1 }, maxItems: 2 },
        page: { $ref: '#/$defs/Page' },
        free: { type: 'integer' },
      },
      required: ['count', 'offsets', 'page', 'free'],
      additionalProperties: false,
      $defs: { Page: { type: 'integer', minimum: 0 } },
    };
    const before = JSON.stringify(schema);
    const marked = markIntegerRanges(schema);
    expect(JSON.stringify(schema)).toBe(before);
    const grammar = await llama.createGrammarForJsonSchema(marked as never);
    // node-llama-cpp's JSON grammars end in four newlines (its stop trigger).
    const accepts = (value: unknown) =>
      (grammar as unknown as { _testText(text: string): boolean })._testText(`${JSON.stringify(value)}\n\n\n\n`);
    expect(accepts({ count: 10, offsets: [-5, -1], page: 0, free: -99 })).toBe(true);
    expect(accepts({ count: 1, offsets: [], page: 123456, free: 0 })).toBe(true);
    expect(accepts({ count: 11, offsets: [], page: 0, free: 0 })).toBe(false);
    expect(accepts({ count: 0, offsets: [], page: 0, free: 0 })).toBe(false);
    expect(accepts({ count: 5, offsets: [0], page: 0, free: 0 })).toBe(false);
    expect(accepts({ count: 5, offsets: [], page: -1, free: 0 })).toBe(false);
    // Its validator reads the marked schema as "an integer": a value inside the range parses.
    expect(grammar.parse('{"count": 3, "offsets": [-2], "page": 7, "free": 1}')).toEqual({ count: 3, offsets: [-2], page: 7, free: 1 });
  });

  it('leaves a schema without bounded integers the same object', () => {
    const schema = { type: 'object', properties: { n: { type: 'integer' }, s: { type: 'string' } } };
    expect(markIntegerRanges(schema)).toBe(schema);
  });
});
