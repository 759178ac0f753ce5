/**
 * Relaxing what the grammar cannot hold (json-schema-support.ts without
 * strict) and checking the value against the whole schema afterwards
 * (json-schema-check.ts): what is relaxed and named, what is still refused,
 * and a checker that survives a pattern built to take forever.
 */
import { afterEach, describe, expect, it } from 'vitest';
import { checkableProblem, forValidator, prepareCheckedSchema, SchemaChecker } from '../../../electron/formats/json-schema-check';
import { describeKeywords, prepareJsonSchema } from '../../../electron/formats/json-schema-support';

const relaxed = (schema: unknown) => {
  const result = prepareCheckedSchema(schema, false);
  if (!result.ok) throw new Error(result.problem);
  return result;
};

const checkers: SchemaChecker[] = [];
const checker = (timeoutMs?: number) => {
  const made = new SchemaChecker(timeoutMs ? { timeoutMs } : {});
  checkers.push(made);
  return made;
};
afterEach(async () => {
  await Promise.all(checkers.splice(0).map((c) => c.close()));
});

describe('without strict, what the grammar cannot hold is relaxed to its type and named', () => {
  it('pydantic- and zod-style keywords: the grammar keeps the type and the rest it holds', () => {
    const schema = {
      type: 'object',
      properties: {
        url: { type: 'string', format: 'uri', maxLength: 200 },
        code: { type: 'string', pattern: '^[A-Z]{3}$' },
        limit: { type: 'integer', exclusiveMinimum: 0, maximum: 100, multipleOf: 5 },
        ratio: { type: 'number', minimum: 0, maximum: 1 },
        tags: { type: 'array', items: { type: 'string' }, uniqueItems: true },
        when: { type: 'string', format: 'date-time' },
        kind: { type: 'string', 'x-order': 3 },
      },
      required: ['url'],
    };
    const result = relaxed(schema);
    expect(result.schema).toEqual({
      type: 'object',
      properties: {
        url: { type: 'string', maxLength: 200 },
        code: { type: 'string' },
        limit: { type: 'integer', minimum: 1, maximum: 100 },
        ratio: { type: 'number' },
        tags: { type: 'array', items: { type: 'string' } },
        when: { type: 'string', format: 'date-time' },
        kind: { type: 'string' },
      },
    });
    expect(describeKeywords(result.relaxed)).toEqual([
      'format uri (at url)',
      'pattern (at code)',
      'multipleOf (at limit)',
      'minimum, maximum (at ratio)',
      'uniqueItems (at tags)',
    ]);
    expect(describeKeywords(result.ignored)).toEqual(['x-order (at kind)']);
  });

  it('with strict, the same schema is refused naming the first keyword; integer ranges are held either way', () => {
    expect(prepareJsonSchema({ type: 'string', format: 'uri' }, { strict: true })).toEqual({
      ok: false,
      problem: 'format "uri" (at schema) is not supported; supported: date-time, date, time',
    });
    expect(prepareJsonSchema({ type: 'string', pattern: 'x' }, { strict: true })).toMatchObject({ ok: false, problem: /"pattern"/ });
    expect(prepareJsonSchema({ type: 'number', minimum: 1 }, { strict: true })).toMatchObject({
      ok: false,
      problem: /"minimum" \(at schema\) is not supported on a number; on an integer it is/,
    });
    expect(prepareJsonSchema({ type: 'integer', minimum: 1, maximum: 10 }, { strict: true })).toEqual({
      ok: true,
      schema: { type: 'integer', minimum: 1, maximum: 10 },
      relaxed: [],
      ignored: [],
    });
  });

  it('shapes strict mode refuses become usable: $ref or anyOf beside other keywords, single allOf, unlisted required, object enums, draft-07 tuples', () => {
    // pydantic v1: a field's $ref beside its description and default (annotations), or inside a one-item allOf.
    const v1 = relaxed({
      type: 'object',
      properties: { pet: { allOf: [{ $ref: '#/definitions/Pet' }], description: 'the pet' } },
      definitions: { Pet: { type: 'string', enum: ['cat', 'dog'] } },
    });
    expect(v1.schema).toEqual({ type: 'object', properties: { pet: { $ref: '#/$defs/Pet' } }, $defs: { Pet: { enum: ['cat', 'dog'] } } });
    expect(v1.relaxed).toEqual([]);
    // A one-of-these-required beside properties: the grammar keeps the properties.
    const either = relaxed({ type: 'object', properties: { a: { type: 'string' } }, anyOf: [{ required: ['a'] }, { required: ['b'] }] });
    expect(either.schema).toEqual({ type: 'object', properties: { a: { type: 'string' } } });
    expect(describeKeywords(either.relaxed)).toEqual(['anyOf']);
    // A required property that is not listed is written as any value.
    const unlisted = relaxed({ type: 'object', properties: { a: { type: 'string' } }, required: ['a', 'b'] });
    expect(Object.keys((unlisted.schema as { properties: object }).properties)).toEqual(['a', 'b']);
    // An enum of objects: the grammar writes any value of the type, the validator checks the list.
    const objects = relaxed({ type: 'object', enum: [{ a: 1 }, { b: 2 }] });
    expect(objects.schema).toEqual({ type: 'object' });
    expect(describeKeywords(objects.relaxed)).toEqual(['enum']);
    // A draft-07 tuple (items as a list) is a prefix; additionalItems false closes it.
    expect(
      relaxed({ $schema: 'http://json-schema.org/draft-07/schema#', type: 'array', items: [{ type: 'integer' }], additionalItems: false })
        .schema,
    ).toEqual({ type: 'array', prefixItems: [{ type: 'integer' }], maxItems: 1 });
  });

  it('still refuses what nothing can use: dangling and outside $refs, empty ranges, past the bounds, uncompilable patterns', () => {
    const problem = (schema: unknown) => {
      const result = prepareCheckedSchema(schema, false);
      return result.ok ? 'accepted' : result.problem;
    };
    expect(problem({ type: 'object', properties: { a: { $ref: '#/$defs/Missing' } } })).toMatch(/names no definition/);
    expect(problem({ $ref: 'https://example.com/schema.json' })).toMatch(/points outside the schema/);
    expect(problem({ type: 'integer', minimum: 5, maximum: 4 })).toMatch(
      /no integer is within its bounds at schema \(at least 5 and at most 4\)/,
    );
    expect(problem({ type: 'string', pattern: '([a-z' })).toMatch(/^it cannot be checked: .*pattern|Invalid regular expression/);
    let deep: Record<string, unknown> = { type: 'string' };
    for (let i = 0; i < 40; i += 1) deep = { not: deep };
    expect(problem({ type: 'object', properties: { a: deep } })).toMatch(/nested more than 32 levels deep/);
    const many = Object.fromEntries(Array.from({ length: 5001 }, (_, i) => [`p${i}`, { type: 'string' }]));
    expect(problem({ type: 'object', patternProperties: many })).toMatch(/more than 5,000 parts/);
  });

  it('reads draft-04 exclusive bounds (booleans) as the validator of later drafts does', () => {
    expect(forValidator({ type: 'integer', minimum: 0, exclusiveMinimum: true, properties: { minimum: { type: 'string' } } })).toEqual({
      type: 'integer',
      exclusiveMinimum: 0,
      properties: { minimum: { type: 'string' } },
    });
    expect(
      checkableProblem({ $schema: 'http://json-schema.org/draft-04/schema#', type: 'integer', minimum: 0, exclusiveMinimum: true }),
    ).toBe(null);
  });
});

describe('the checker', () => {
  it('checks the whole schema and says where and what, as the model and the user read it', async () => {
    const schema = {
      type: 'object',
      properties: {
        url: { type: 'string', format: 'uri' },
        n: { type: 'integer', minimum: 1 },
        tags: { type: 'array', uniqueItems: true },
      },
      required: ['url'],
      additionalProperties: false,
    };
    const c = checker();
    expect(await c.check(schema, { url: 'https://example.com/a', n: 2, tags: ['a', 'b'] })).toEqual({ valid: true });
    expect(await c.check(schema, { url: 'no', n: 0, tags: ['a', 'a'], extra: 1 })).toEqual({
      valid: false,
      message:
        'the arguments must NOT have additional properties ("extra"); url must match format "uri"; n must be >= 1; tags must NOT have duplicate items (items ## 0 and 1 are identical)',
    });
    // A draft-07 tuple is read as draft-07 reads it.
    const tuple = {
      $schema: 'http://json-schema.org/draft-07/schema#',
      type: 'array',
      items: [{ type: 'integer' }],
      additionalItems: false,
    };
    expect(await c.check(tuple, [1])).toEqual({ valid: true });
    expect((await c.check(tuple, [1, 2])).valid).toBe(false);
  });

  it('a pattern that would take forever is cut off at the deadline, and the next check runs on a fresh thread', async () => {
    const c = checker(300);
    const evil = { type: 'object', properties: { s: { type: 'string', pattern: '^(a+)+$' } } };
    const started = Date.now();
    expect(await c.check(evil, { s: `${'a'.repeat(40)}!` })).toEqual({
      valid: false,
      message: "the arguments could not be checked against the tool's schema within 0.3 s (a pattern in it is too slow to check)",
    });
    expect(Date.now() - started).toBeLessThan(5000);
    expect(await c.check(evil, { s: 'aaa' })).toEqual({ valid: true });
    expect(await c.check({ type: 'string' }, 3)).toEqual({ valid: false, message: 'the arguments must be string' });
  });

  it('checks many at once, each answered with its own result', async () => {
    const c = checker();
    const schema = { type: 'integer', maximum: 50 };
    const results = await Promise.all(Array.from({ length: 100 }, (_, i) => c.check(schema, i)));
    expect(results.map((r) => r.valid)).toEqual(Array.from({ length: 100 }, (_, i) => i <= 50));
  });
});
