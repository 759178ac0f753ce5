import { describe, expect, it } from 'vitest';
import { prepareJsonSchema, SCHEMA_LIMITS, unsupportedSchemaFeature } from '../../../electron/formats/json-schema-support';

const prepared = (schema: unknown) => {
  const result = prepareJsonSchema(schema);
  if (!result.ok) throw new Error(result.problem);
  return result.schema;
};
const problem = (schema: unknown) => unsupportedSchemaFeature(schema) ?? 'accepted';
const range = <T>(n: number, f: (i: number) => T) => Array.from({ length: n }, (_, i) => f(i));

describe('JSON schemas for the grammar', () => {
  it('rewrites what node-llama-cpp would read otherwise into what it enforces as written', () => {
    // anyOf is not read at all (null is written), definitions are not found, a list of types loses objects and bounds.
    expect(
      prepared({
        title: 'Person',
        type: ['object', 'null'],
        properties: {
          age: { anyOf: [{ type: 'integer' }, { type: 'string', maxLength: 3 }], default: 1 },
          pet: { $ref: '#/definitions/Pet' },
        },
        required: ['age'],
        definitions: { Pet: { description: 'a pet', properties: { name: { type: 'string' } } } },
      }),
    ).toEqual({
      oneOf: [
        {
          type: 'object',
          properties: { age: { oneOf: [{ type: 'integer' }, { type: 'string', maxLength: 3 }] }, pet: { $ref: '#/$defs/Pet' } },
        },
        { type: 'null' },
      ],
      $defs: { Pet: { type: 'object', properties: { name: { type: 'string' } } } },
    });
    // A schema without a type is any value, not null.
    const any = prepared({ type: 'object', properties: { x: {}, y: true } }) as { properties: Record<string, unknown> };
    expect(any.properties.x).toEqual({
      oneOf: [{ type: ['string', 'number', 'boolean', 'null'] }, { type: 'object', additionalProperties: true }, { type: 'array' }],
    });
    expect(any.properties.y).toEqual(any.properties.x);
    // A closed tuple.
    expect(prepared({ type: 'array', prefixItems: [{ type: 'integer' }, { type: 'string' }], items: false })).toEqual({
      type: 'array',
      prefixItems: [{ type: 'integer' }, { type: 'string' }],
      maxItems: 2,
    });
    // A recursive definition is fine.
    expect(
      problem({
        $defs: { Node: { type: 'object', properties: { kids: { type: 'array', items: { $ref: '#/$defs/Node' } } } } },
        $ref: '#/$defs/Node',
      }),
    ).toBe('accepted');
  });

  it('refuses what would be silently unenforced or misread', () => {
    expect(problem({ type: 'object', properties: { a: { $ref: '#/$defs/Missing' } } })).toMatch(/names no definition/);
    expect(problem({ $ref: '#/$defs/A', maxLength: 3, $defs: { A: { type: 'string' } } })).toMatch(/cannot be combined with maxLength/);
    expect(problem({ type: 'object', anyOf: [{ required: ['a'] }] })).toMatch(/anyOf \(at schema\) cannot be combined with type/);
    expect(problem({ type: 'object', properties: { a: { $defs: {} } } })).toMatch(/at the root of the schema only/);
    expect(problem({ type: 'object', properties: { a: { type: 'string' } }, required: ['b'] })).toMatch(/required names "b"/);
    expect(problem({ type: 'integer', enum: [1, 'two'] })).toMatch(/enum\[1\] is "two", which is not of the schema's type/);
    expect(problem({ enum: [[1]] })).toMatch(/must be a string, number, boolean or null/);
    expect(problem({ const: { a: 1 } })).toMatch(/must be a string, number, boolean or null/);
    expect(problem({ type: 'string', pattern: 'x' })).toMatch(/"pattern"/);
    expect(problem({ $defs: { A: { type: 'string' } }, definitions: { A: { type: 'string' } }, $ref: '#/$defs/A' })).toMatch(
      /both \$defs and definitions/,
    );
  });

  it('names each limit that keeps the grammar quick to build', () => {
    expect(problem({ enum: range(SCHEMA_LIMITS.literals + 1, String) })).toMatch(/more than 1,000 enum and const values/);
    expect(problem({ enum: range(1000, (i) => String(i).padStart(121, 'x')) })).toMatch(/more than 120,000 characters/);
    expect(problem({ type: 'string', minLength: 1001 })).toMatch(/minLength 1001 .*at most 1000/);
    expect(problem({ type: 'string', maxLength: 65536 })).toMatch(/maxLength 65536/);
    expect(
      problem({ type: 'object', properties: Object.fromEntries(range(101, (i) => [`s${i}`, { type: 'string', maxLength: 1000 }])) }),
    ).toMatch(/add up to more than 100,000/);
    expect(problem({ type: 'object', properties: Object.fromEntries(range(5001, (i) => [`p${i}`, { type: 'string' }])) })).toMatch(
      /more than 5,000 parts/,
    );
    expect(problem({ $defs: Object.fromEntries(range(101, (i) => [`d${i}`, { type: 'string' }])), type: 'string' })).toMatch(
      /more than 100 definitions/,
    );
    let deep: Record<string, unknown> = { type: 'string' };
    for (let i = 0; i < 40; i += 1) deep = { type: 'array', items: deep };
    expect(problem(deep)).toMatch(/nested more than 32 levels deep/);
    expect(problem(deep).length).toBeLessThan(300);
    // A chain of references, or a ring of them, deeper than the limit when followed.
    const chain = Object.fromEntries(
      range(40, (i) => [`d${i}`, { type: 'object', properties: { next: i < 39 ? { $ref: `#/$defs/d${i + 1}` } : { type: 'null' } } }]),
    );
    expect(problem({ $defs: chain, $ref: '#/$defs/d0' })).toMatch(/more than 64 levels deep when its \$refs are followed/);
    const ring = Object.fromEntries(
      range(40, (i) => [`d${i}`, { type: 'object', properties: { next: { $ref: `#/$defs/d${(i + 1) % 40}` } } }]),
    );
    expect(problem({ $defs: ring, $ref: '#/$defs/d0' })).toMatch(/\$ref chain too long/);
    const shortRing = Object.fromEntries(
      range(10, (i) => [`d${i}`, { type: 'object', properties: { next: { $ref: `#/$defs/d${(i + 1) % 10}` } } }]),
    );
    expect(problem({ $defs: shortRing, $ref: '#/$defs/d0' })).toBe('accepted');
  });

  it('never recurses into values it does not check, however deep', () => {
    let deep: unknown = [];
    for (let i = 0; i < 100_000; i += 1) deep = [deep];
    expect(problem({ enum: [deep] })).toMatch(/enum\[0\] must be/);
    expect(prepared({ type: 'string', default: deep, examples: [deep] })).toEqual({ type: 'string' });
  });
});
