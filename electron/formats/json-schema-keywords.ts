/**
 * The JSON Schema keywords as json-schema-support.ts sorts them: those that
 * describe, those the grammar holds, those a validator checks after the model
 * writes the value, and the formats each side knows; and the whole-number
 * bounds the bound keywords give an integer.
 */
import { INTEGER_LIMIT } from './integer-range-grammar';

/** Words that describe and do not constrain; they are checked for nothing and dropped. */
export const annotations = new Set([
  'title',
  'description',
  'default',
  'examples',
  '$schema',
  '$id',
  'id',
  '$comment',
  'strict',
  'nullable',
  'readOnly',
  'writeOnly',
  'deprecated',
  'contentEncoding',
  'contentMediaType',
]);
export const keywordsFor = {
  object: ['properties', 'required', 'additionalProperties', 'minProperties', 'maxProperties'],
  array: ['items', 'prefixItems', 'minItems', 'maxItems'],
  string: ['minLength', 'maxLength', 'format'],
} as const;
/** Bounds the grammar holds on an integer (integer-range-grammar.ts); on a number they are checked after generation. */
export const boundKeys = ['minimum', 'maximum', 'exclusiveMinimum', 'exclusiveMaximum'] as const;
export const alternatives = new Set(['anyOf', 'oneOf']);
export const literalKeys = new Set(['enum', 'const']);
export const structural = new Set([
  'type',
  ...keywordsFor.object,
  ...keywordsFor.array,
  ...keywordsFor.string,
  ...boundKeys,
  ...literalKeys,
  ...alternatives,
  '$ref',
  '$defs',
  'definitions',
  'additionalItems',
]);
/**
 * Keywords a grammar cannot hold that a validator checks: without `strict`
 * they are left out of the grammar (the value keeps its type) and the value is
 * checked against the whole schema once written (json-schema-check.ts). Those
 * whose values are schemas are bounded like the rest.
 */
export const checkedAfter = new Set([
  'pattern',
  'format',
  'multipleOf',
  'uniqueItems',
  'contains',
  'minContains',
  'maxContains',
  'patternProperties',
  'propertyNames',
  'dependentRequired',
  'dependentSchemas',
  'dependencies',
  'not',
  'allOf',
  'if',
  'then',
  'else',
  'unevaluatedProperties',
  'unevaluatedItems',
  ...boundKeys,
  ...alternatives,
  ...literalKeys,
  '$ref',
  'required',
]);
export const types = ['string', 'number', 'integer', 'boolean', 'null', 'object', 'array'] as const;
export type JsonType = (typeof types)[number];
export const formats = new Set(['date-time', 'date', 'time']);
/** The formats ajv-formats checks (its "full" set); another format is checked by nobody. */
export const checkableFormats = new Set([
  ...formats,
  'iso-time',
  'iso-date-time',
  'duration',
  'uri',
  'uri-reference',
  'uri-template',
  'url',
  'email',
  'hostname',
  'ipv4',
  'ipv6',
  'regex',
  'uuid',
  'json-pointer',
  'json-pointer-uri-fragment',
  'relative-json-pointer',
  'byte',
  'int32',
  'int64',
  'float',
  'double',
  'password',
  'binary',
]);
export const repetitionKeys = new Set(['minLength', 'maxLength', 'minItems', 'maxItems', 'minProperties', 'maxProperties']);

const toBig = (value: number) => BigInt(value);

/**
 * The whole-number bounds a schema's `minimum`, `maximum` and exclusive bounds
 * (numbers, or draft-04's booleans beside minimum/maximum) give an integer;
 * null for no bound, or one past 16 digits.
 */
export function integerBounds(node: Record<string, unknown>): { min: bigint | null; max: bigint | null } {
  let min: bigint | null = null;
  let max: bigint | null = null;
  const raise = (value: bigint) => (min = min === null || value > min ? value : min);
  const lower = (value: bigint) => (max = max === null || value < max ? value : max);
  const finite = (value: unknown): value is number => typeof value === 'number' && Number.isFinite(value);
  if (finite(node.minimum)) {
    const exclusive = node.exclusiveMinimum === true && Number.isInteger(node.minimum);
    raise(toBig(Math.ceil(node.minimum)) + (exclusive ? 1n : 0n));
  }
  if (finite(node.maximum)) {
    const exclusive = node.exclusiveMaximum === true && Number.isInteger(node.maximum);
    lower(toBig(Math.floor(node.maximum)) - (exclusive ? 1n : 0n));
  }
  if (finite(node.exclusiveMinimum)) raise(toBig(Math.floor(node.exclusiveMinimum)) + 1n);
  if (finite(node.exclusiveMaximum)) lower(toBig(Math.ceil(node.exclusiveMaximum)) - 1n);
  return {
    min: min !== null && (min as bigint) < -INTEGER_LIMIT ? null : min,
    max: max !== null && (max as bigint) > INTEGER_LIMIT ? null : max,
  };
}
