/**
 * response_format json_schema is enforced with a grammar that node-llama-cpp
 * builds from the schema. It understands a subset of JSON Schema; a keyword
 * outside it would be silently unenforced, so such a schema is refused with
 * the keyword named instead.
 */
const structural = new Set([
  'type',
  'properties',
  'required',
  'additionalProperties',
  'items',
  'prefixItems',
  'minItems',
  'maxItems',
  'enum',
  'const',
  'anyOf',
  'oneOf',
  '$ref',
  '$defs',
  'definitions',
  'minLength',
  'maxLength',
  'minProperties',
  'maxProperties',
  'format',
]);
/** Words that describe and do not constrain. */
const annotations = new Set([
  'title',
  'description',
  'default',
  'examples',
  '$schema',
  '$id',
  '$comment',
  'strict',
  'nullable',
  'readOnly',
  'writeOnly',
  'deprecated',
]);
const types = new Set(['string', 'number', 'integer', 'boolean', 'null', 'object', 'array']);
const formats = new Set(['date-time', 'date', 'time']);

const MAX_DEPTH = 32;
const MAX_NODES = 5000;

export function unsupportedSchemaFeature(schema: unknown): string | null {
  let nodes = 0;
  const visit = (node: unknown, at: string, depth: number): string | null => {
    if (typeof node === 'boolean') return null;
    if (node === null || typeof node !== 'object' || Array.isArray(node)) return `${at} is not a schema object`;
    if (depth > MAX_DEPTH) return `${at} is nested more than ${MAX_DEPTH} levels deep`;
    if ((nodes += 1) > MAX_NODES) return `the schema has more than ${MAX_NODES} parts`;
    const record = node as Record<string, unknown>;
    for (const [key, value] of Object.entries(record)) {
      if (annotations.has(key)) continue;
      if (!structural.has(key)) return `"${key}" (at ${at}) is not supported; supported: ${[...structural].join(', ')}`;
      if (key === 'type') {
        const list = Array.isArray(value) ? value : [value];
        const bad = list.find((t) => typeof t !== 'string' || !types.has(t));
        if (bad !== undefined) return `type ${JSON.stringify(bad)} (at ${at}) is not a JSON Schema type`;
      }
      if (key === 'format' && (typeof value !== 'string' || !formats.has(value)))
        return `format ${JSON.stringify(value)} (at ${at}) is not supported; supported: ${[...formats].join(', ')}`;
      if (key === 'properties' || key === '$defs' || key === 'definitions') {
        if (value === null || typeof value !== 'object' || Array.isArray(value)) return `${at}.${key} must be an object`;
        for (const [name, child] of Object.entries(value)) {
          const problem = visit(child, `${at}.${key}.${name}`, depth + 1);
          if (problem) return problem;
        }
      }
      if (key === 'items' || key === 'additionalProperties') {
        const problem = visit(value, `${at}.${key}`, depth + 1);
        if (problem) return problem;
      }
      if (key === 'anyOf' || key === 'oneOf' || key === 'prefixItems') {
        if (!Array.isArray(value)) return `${at}.${key} must be an array`;
        for (const [index, child] of value.entries()) {
          const problem = visit(child, `${at}.${key}[${index}]`, depth + 1);
          if (problem) return problem;
        }
      }
      if (key === '$ref' && (typeof value !== 'string' || !/^#\/(\$defs|definitions)\/[^/]+$/.test(value))) {
        return `$ref ${JSON.stringify(value)} (at ${at}) must point into #/$defs`;
      }
    }
    return null;
  };
  return visit(schema, 'schema', 0);
}
