/**
 * response_format json_schema is enforced with a grammar that node-llama-cpp
 * builds from the schema in the worker. It understands a subset of JSON
 * Schema, and reads some of it differently from the standard (`anyOf`,
 * `definitions`, type lists and schemas without a type would be silently
 * unenforced or enforced as `null`), so a schema is checked and rewritten here,
 * before anything reaches the worker, into the form node-llama-cpp enforces as
 * written. A keyword outside the subset is refused with its name.
 *
 * Building the grammar runs on the worker's main thread, and its cost grows
 * faster than the schema: 80,000 enum values took llama.cpp's grammar parser
 * 25 s (the watchdog ended the worker), a 2,000-long `$ref` chain took
 * node-llama-cpp 2.5 s and a longer one overflowed its stack, and a
 * `minLength` past 1,000 fails llama.cpp's parser while a `maxLength` past 2,000
 * is silently dropped by it. The limits below keep every schema that passes
 * well under a second to build (README, "Local OpenAI-compatible API").
 */
import { INTEGER_LIMIT } from './integer-range-grammar';
import {
  alternatives,
  annotations,
  boundKeys,
  checkableFormats,
  checkedAfter,
  formats,
  integerBounds,
  keywordsFor,
  literalKeys,
  repetitionKeys,
  structural,
  types,
  type JsonType,
} from './json-schema-keywords';
import { longestFrom } from './json-schema-ref-depth';

export { integerBounds } from './json-schema-keywords';

export const SCHEMA_LIMITS = {
  /** Levels of nesting in one schema (the root or one definition). */
  depth: 32,
  /** Levels of nesting when every `$ref` is followed (recursion counted once). */
  refDepth: 64,
  /** Schemas in all, the definitions included. */
  parts: 5000,
  definitions: 100,
  /** enum and const values, all of them together. */
  literals: 1000,
  /** Characters of enum and const strings, property names and definition names together. */
  literalChars: 120_000,
  /** Largest minLength, maxLength, minItems, maxItems, minProperties or maxProperties (llama.cpp's grammar parser repeats a rule that many times). */
  repetition: 1000,
  /** All those bounds added up. */
  repetitionTotal: 100_000,
} as const;

type Schema = Record<string, unknown>;
/** A keyword of the schema, and where: e.g. `{ keyword: 'pattern', at: 'schema.properties.url' }`. */
export interface SchemaKeyword {
  keyword: string;
  at: string;
}
export type PreparedSchema =
  | {
      ok: true;
      /** The form node-llama-cpp builds the grammar from. */
      schema: Schema;
      /** Keywords the grammar does not hold and the validator checks after generation (never with `strict`). */
      relaxed: SchemaKeyword[];
      /** Keywords neither holds: not JSON Schema validation keywords (`x-…`, `discriminator`), or a format nobody checks. */
      ignored: SchemaKeyword[];
    }
  | { ok: false; problem: string };

export interface PrepareOptions {
  /**
   * Everything enforced by the grammar, or refused naming the keyword
   * (OpenAI's `strict: true`); without it, what the grammar cannot hold is
   * relaxed to its type and listed in `relaxed`. Default true.
   */
  strict?: boolean;
}

class SchemaProblem extends Error {}

/** Any JSON value, in the form node-llama-cpp enforces (an array without items, an object with any properties). */
const anyValue = (): Schema => ({
  oneOf: [{ type: ['string', 'number', 'boolean', 'null'] }, { type: 'object', additionalProperties: true }, { type: 'array' }],
});

const isRecord = (value: unknown): value is Record<string, unknown> => value !== null && typeof value === 'object' && !Array.isArray(value);

function jsonTypeOf(value: unknown): JsonType | 'other' {
  if (value === null) return 'null';
  if (typeof value === 'string') return 'string';
  if (typeof value === 'boolean') return 'boolean';
  if (typeof value === 'number') return Number.isFinite(value) ? (Number.isInteger(value) ? 'integer' : 'number') : 'other';
  return 'other';
}

/** A definition's name from `#/$defs/Name` or `#/definitions/Name` (JSON Pointer escapes undone). */
function refTarget(ref: unknown): string | null {
  if (typeof ref !== 'string') return null;
  const match = /^#\/(?:\$defs|definitions)\/([^/]+)$/.exec(ref);
  return match ? match[1]!.replace(/~1/g, '/').replace(/~0/g, '~') : null;
}

/**
 * Checks `input` against the subset the grammar enforces and the limits above,
 * and returns it in the form to hand node-llama-cpp: annotations dropped,
 * `anyOf` as `oneOf`, definitions in root `$defs`, a list of types as
 * alternatives, a schema without a type as "any value", an integer's bounds as
 * whole-number `minimum`/`maximum`. With `strict: false`, what the grammar
 * cannot hold is relaxed to its type and listed, for the validator to check.
 */
export function prepareJsonSchema(input: unknown, options: PrepareOptions = {}): PreparedSchema {
  const strict = options.strict ?? true;
  let parts = 0;
  let literals = 0;
  let literalChars = 0;
  let repetitionTotal = 0;
  const defs = new Map<string, unknown>();
  /** For each definition, how deep it nests and which definitions it names. */
  const trees = new Map<string, { height: number; refs: Set<string> }>();
  const relaxed: SchemaKeyword[] = [];
  const ignored: SchemaKeyword[] = [];

  const fail = (message: string): never => {
    throw new SchemaProblem(message);
  };
  /** A keyword the grammar cannot hold: refused with `strict`, else noted for the validator. */
  const relax = (keyword: string, at: string, message: string) => {
    if (strict) fail(message);
    if (!relaxed.some((k) => k.keyword === keyword && k.at === at)) relaxed.push({ keyword, at });
  };
  const countChars = (text: string) => {
    if ((literalChars += text.length) > SCHEMA_LIMITS.literalChars)
      fail(
        `its enum and const strings and property names add up to more than ${SCHEMA_LIMITS.literalChars.toLocaleString('en-US')} characters`,
      );
  };
  const countPart = (at: string, depth: number) => {
    if (depth > SCHEMA_LIMITS.depth) fail(`${at} is nested more than ${SCHEMA_LIMITS.depth} levels deep`);
    if ((parts += 1) > SCHEMA_LIMITS.parts) fail(`the schema has more than ${SCHEMA_LIMITS.parts.toLocaleString('en-US')} parts`);
  };
  /**
   * A value the grammar leaves to the validator, which compiles every schema
   * in it: bounded by the same counts, never recursed past the depth limit.
   */
  const countUnchecked = (value: unknown, at: string, depth: number): void => {
    if (Array.isArray(value)) {
      if (depth > SCHEMA_LIMITS.depth) fail(`${at} is nested more than ${SCHEMA_LIMITS.depth} levels deep`);
      value.forEach((item, index) => countUnchecked(item, `${at}[${index}]`, depth + 1));
      return;
    }
    if (!isRecord(value)) {
      if (typeof value === 'string') countChars(value);
      return;
    }
    countPart(at, depth);
    for (const [key, child] of Object.entries(value)) {
      countChars(key);
      countUnchecked(child, `${at}.${key}`, depth + 1);
    }
  };
  const literal = (value: unknown, at: string, allowed: Set<JsonType> | null): unknown => {
    const type = jsonTypeOf(value);
    if (type === 'other') fail(`${at} must be a string, number, boolean or null (the grammar holds no arrays or objects there)`);
    if ((literals += 1) > SCHEMA_LIMITS.literals)
      fail(`it has more than ${SCHEMA_LIMITS.literals.toLocaleString('en-US')} enum and const values (at ${at})`);
    if (typeof value === 'string') countChars(value);
    if (allowed && !allowed.has(type as JsonType) && !(type === 'integer' && allowed.has('number')))
      fail(`${at} is ${JSON.stringify(value).slice(0, 100)}, which is not of the schema's type`);
    return value;
  };
  const isLiteral = (value: unknown) => jsonTypeOf(value) !== 'other';

  const visit = (node: unknown, at: string, depth: number, tree: { height: number; refs: Set<string> }): Schema => {
    countPart(at, depth);
    tree.height = Math.max(tree.height, depth);
    if (node === true) return anyValue();
    if (!isRecord(node)) return fail(`${at} is not a schema object`);
    let keys = Object.keys(node).filter((key) => !annotations.has(key));
    // allOf of one schema alone is that schema (pydantic v1 writes a field's $ref so, beside its description).
    if (keys.length === 1 && keys[0] === 'allOf' && Array.isArray(node.allOf) && node.allOf.length === 1)
      return visit(node.allOf[0], `${at}.allOf[0]`, depth + 1, tree);
    for (const key of keys) {
      if ((key === '$defs' || key === 'definitions') && depth > 0) {
        relax(key, at, `${at}.${key}: definitions are supported at the root of the schema only`);
        countUnchecked(node[key], `${at}.${key}`, depth + 1);
      } else if (!structural.has(key)) {
        if (checkedAfter.has(key)) {
          relax(key, at, `"${key}" (at ${at}) is not supported; supported: ${[...structural].join(', ')}`);
          countUnchecked(node[key], `${at}.${key}`, depth + 1);
        } else if (strict) fail(`"${key}" (at ${at}) is not supported; supported: ${[...structural].join(', ')}`);
        else ignored.push({ keyword: key, at });
      }
    }
    keys = keys.filter((key) => structural.has(key) && !((key === '$defs' || key === 'definitions') && depth > 0));
    let own = keys.filter((key) => key !== '$defs' && key !== 'definitions');

    let typeList: JsonType[] | null = null;
    if (node.type !== undefined) {
      const list = Array.isArray(node.type) ? node.type : [node.type];
      const bad = list.find((t) => typeof t !== 'string' || !(types as readonly string[]).includes(t));
      if (bad !== undefined || list.length === 0) fail(`type ${JSON.stringify(bad ?? node.type)} (at ${at}) is not a JSON Schema type`);
      typeList = [...new Set(list as JsonType[])];
    }
    const allowed = typeList ? new Set<JsonType>(typeList) : null;

    // A reference or a list of alternatives stands alone: node-llama-cpp would ignore anything beside it.
    if (node.$ref !== undefined) {
      const name = refTarget(node.$ref);
      const others = own.filter((k) => k !== '$ref');
      if (name === null) {
        // Another pointer into this schema (`#`, `#/properties/…`): the validator follows it; one elsewhere fails its compiling.
        relax('$ref', at, `$ref ${JSON.stringify(node.$ref).slice(0, 200)} (at ${at}) must point into #/$defs`);
        if (typeof node.$ref !== 'string' || !node.$ref.startsWith('#'))
          fail(`$ref ${JSON.stringify(node.$ref).slice(0, 200)} (at ${at}) points outside the schema`);
        return anyValue();
      }
      if (!defs.has(name)) fail(`$ref ${JSON.stringify(node.$ref).slice(0, 200)} (at ${at}) names no definition in the schema's $defs`);
      if (others.length > 0) {
        relax(others.join(', '), at, `$ref (at ${at}) cannot be combined with ${others.join(', ')}; put those in the definition`);
        for (const key of others) countUnchecked(node[key], `${at}.${key}`, depth + 1);
      }
      tree.refs.add(name);
      return { $ref: `#/$defs/${name}` };
    }
    const alternativeKey = own.find((key) => alternatives.has(key));
    if (alternativeKey) {
      const list = node[alternativeKey];
      if (!Array.isArray(list) || list.length === 0) fail(`${at}.${alternativeKey} must be a non-empty array`);
      const others = own.filter((k) => k !== alternativeKey);
      const message = `${alternativeKey} (at ${at}) cannot be combined with ${others.join(', ')}; put those in each alternative`;
      if (others.length === 0) {
        return { oneOf: (list as unknown[]).map((child, index) => visit(child, `${at}.${alternativeKey}[${index}]`, depth + 1, tree)) };
      }
      // Beside a type or properties, the alternatives usually narrow them ("one of these required"): the grammar keeps
      // the rest and the validator the alternatives; otherwise the alternatives are the value and the rest is checked.
      if (others.some((k) => k === 'type' || k === 'properties' || k === 'items')) {
        relax(alternativeKey, at, message);
        countUnchecked(list, `${at}.${alternativeKey}`, depth + 1);
        own = others;
      } else {
        relax(others.join(', '), at, message);
        for (const key of others) countUnchecked(node[key], `${at}.${key}`, depth + 1);
        return { oneOf: (list as unknown[]).map((child, index) => visit(child, `${at}.${alternativeKey}[${index}]`, depth + 1, tree)) };
      }
    }
    // enum and const win over every other keyword in node-llama-cpp, so their values must satisfy the type.
    for (const key of ['const', 'enum'] as const) {
      if (node[key] === undefined || !own.includes(key)) continue;
      const values = key === 'const' ? [node.const] : node.enum;
      if (!Array.isArray(values) || values.length === 0) fail(`${at}.enum must be a non-empty array`);
      const list = values as unknown[];
      const where = (index: number) => (key === 'const' ? `${at}.const` : `${at}.enum[${index}]`);
      if (!strict) {
        // Objects and arrays are beyond the grammar's literals, and values not of the type can never be valid:
        // such a list leaves the grammar to the type and the validator to the list.
        const fits = (value: unknown) => {
          const type = jsonTypeOf(value);
          return type !== 'other' && (!allowed || allowed.has(type as JsonType) || (type === 'integer' && allowed.has('number')));
        };
        if (!list.every(fits)) {
          relax(key, at, '');
          countUnchecked(list, where(0), depth + 1);
          own = own.filter((k) => !literalKeys.has(k));
          break;
        }
      } else if (!list.every(isLiteral)) {
        literal(
          list.find((value) => !isLiteral(value)),
          where(list.findIndex((value) => !isLiteral(value))),
          allowed,
        );
      }
      if (key === 'const') return { const: literal(node.const, `${at}.const`, allowed) };
      return { enum: list.map((value, index) => literal(value, `${at}.enum[${index}]`, allowed)) };
    }

    const out: Schema = {};
    let tupleItems: unknown[] | null = null;
    let missingRequired: string[] = [];
    for (const key of own) {
      const value = node[key];
      if (repetitionKeys.has(key)) {
        if (typeof value !== 'number' || !Number.isInteger(value) || value < 0) fail(`${at}.${key} must be a whole number of 0 or more`);
        if ((value as number) > SCHEMA_LIMITS.repetition)
          fail(`${key} ${value as number} (at ${at}) is more than the grammar can hold (at most ${SCHEMA_LIMITS.repetition})`);
        if ((repetitionTotal += value as number) > SCHEMA_LIMITS.repetitionTotal)
          fail(
            `its length, item and property bounds add up to more than ${SCHEMA_LIMITS.repetitionTotal.toLocaleString('en-US')} (at ${at}.${key})`,
          );
        out[key] = value;
      } else if (key === 'format') {
        if (typeof value === 'string' && formats.has(value)) out.format = value;
        else if (!strict && typeof value === 'string' && !checkableFormats.has(value)) ignored.push({ keyword: `format ${value}`, at });
        else
          relax(
            `format ${typeof value === 'string' ? value : ''}`.trim(),
            at,
            `format ${JSON.stringify(value)} (at ${at}) is not supported; supported: ${[...formats].join(', ')}`,
          );
      } else if ((boundKeys as readonly string[]).includes(key)) {
        const bound = value;
        if (typeof bound !== 'number' && typeof bound !== 'boolean') fail(`${at}.${key} must be a number`);
        if (typeof bound === 'boolean' && !(key === 'exclusiveMinimum' || key === 'exclusiveMaximum'))
          fail(`${at}.${key} must be a number`);
        if (typeof bound === 'number' && !Number.isFinite(bound)) fail(`${at}.${key} must be a finite number`);
      } else if (key === 'properties') {
        if (!isRecord(value)) fail(`${at}.properties must be an object`);
        // fromEntries: a property named __proto__ stays a property.
        out.properties = Object.fromEntries(
          Object.entries(value as Schema).map(([name, child]) => {
            countChars(name);
            return [name, visit(child, `${at}.properties.${name}`, depth + 1, tree)];
          }),
        );
      } else if (key === 'required') {
        if (!Array.isArray(value) || value.some((name) => typeof name !== 'string'))
          fail(`${at}.required must be an array of property names`);
        // node-llama-cpp writes every listed property; a required one that is not listed would be left out.
        const missing = (value as string[]).filter((name) => !isRecord(node.properties) || !Object.hasOwn(node.properties, name));
        if (missing.length && strict) fail(`${at}.required names "${missing[0]!.slice(0, 100)}", which is not in its properties`);
        // Without strict, it is listed as any value, so that the grammar writes it.
        for (const name of missing) countChars(name);
        missingRequired = missing;
      } else if (key === 'additionalProperties') {
        if (typeof value === 'boolean') out.additionalProperties = value;
        else out.additionalProperties = visit(value, `${at}.additionalProperties`, depth + 1, tree);
      } else if (key === 'items') {
        // Before 2020-12 a list of items was a tuple (now prefixItems), and additionalItems what follows it.
        if (Array.isArray(value)) tupleItems = value;
        else if (value !== true && value !== false) out.items = visit(value, `${at}.items`, depth + 1, tree);
      } else if (key === 'additionalItems') {
        if (!Array.isArray(node.items)) continue;
        if (value !== true && value !== false) out.items = visit(value, `${at}.additionalItems`, depth + 1, tree);
      } else if (key === 'prefixItems') {
        if (!Array.isArray(value)) fail(`${at}.prefixItems must be an array`);
        tupleItems = value as unknown[];
      }
    }
    if (tupleItems) out.prefixItems = tupleItems.map((child, index) => visit(child, `${at}.prefixItems[${index}]`, depth + 1, tree));
    // No items past the prefix.
    const closed = Array.isArray(node.items) ? node.additionalItems === false : node.items === false;
    if (closed) {
      const count = tupleItems?.length ?? 0;
      out.maxItems = typeof out.maxItems === 'number' ? Math.min(out.maxItems, count) : count;
    }
    if (missingRequired.length)
      out.properties = {
        ...((out.properties as Schema | undefined) ?? {}),
        ...Object.fromEntries(missingRequired.map((name) => [name, anyValue()])),
      };

    // Without a type node-llama-cpp allows only null: take it from the keywords, else any value.
    const implied = (Object.keys(keywordsFor) as Array<keyof typeof keywordsFor>).filter((type) =>
      keywordsFor[type].some((key) => key in out || (key === 'required' && key in node)),
    );
    const hasBounds = boundKeys.some((key) => own.includes(key));
    const list = typeList ?? (implied.length ? implied : null);
    if (!list) {
      if (hasBounds)
        relax('minimum/maximum', at, `"${boundKeys.find((key) => own.includes(key))!}" (at ${at}) needs a type of integer to be enforced`);
      return anyValue();
    }
    const only = (type: JsonType): Schema => {
      const branch: Schema = { type };
      for (const key of (keywordsFor as Record<string, readonly string[]>)[type] ?? []) if (key in out) branch[key] = out[key];
      if (type === 'integer' && hasBounds) {
        const { min, max } = integerBounds(node);
        if (min !== null && max !== null && min > max)
          fail(`no integer is within its bounds at ${at} (at least ${String(min)} and at most ${String(max)})`);
        if ((min !== null && min > INTEGER_LIMIT) || (max !== null && max < -INTEGER_LIMIT))
          relax('minimum/maximum', at, `the bounds at ${at} are beyond the 16 digits the grammar writes`);
        else {
          if (min !== null) branch.minimum = Number(min);
          if (max !== null) branch.maximum = Number(max);
        }
      }
      if (type === 'number' && hasBounds) {
        const key = boundKeys.find((k) => own.includes(k))!;
        relax(
          boundKeys.filter((k) => own.includes(k)).join(', '),
          at,
          `"${key}" (at ${at}) is not supported on a number; on an integer it is`,
        );
      }
      return branch;
    };
    // node-llama-cpp reads a list of types as plain values only (no objects, arrays or string bounds): one alternative each.
    return list.length === 1 ? only(list[0]!) : { oneOf: list.map(only) };
  };

  try {
    if (!isRecord(input)) fail('schema is not a schema object');
    const record = input as Schema;
    for (const key of ['$defs', 'definitions'] as const) {
      const value = record[key];
      if (value === undefined) continue;
      if (!isRecord(value)) fail(`schema.${key} must be an object`);
      for (const [name, def] of Object.entries(value as Schema)) {
        if (defs.has(name)) fail(`the definition "${name.slice(0, 100)}" is in both $defs and definitions`);
        defs.set(name, def);
      }
    }
    if (defs.size > SCHEMA_LIMITS.definitions) fail(`it has more than ${SCHEMA_LIMITS.definitions} definitions`);
    const outDefs: Schema = Object.fromEntries(
      [...defs].map(([name, def]) => {
        countChars(name);
        const tree = { height: 0, refs: new Set<string>() };
        trees.set(name, tree);
        return [name, visit(def, `schema.$defs.${name}`, 0, tree)];
      }),
    );
    const rootTree = { height: 0, refs: new Set<string>() };
    const root = visit(record, 'schema', 0, rootTree);
    const depth = rootTree.height + Math.max(0, ...[...rootTree.refs].map(longestFrom(trees)));
    if (depth > SCHEMA_LIMITS.refDepth)
      fail(`it nests more than ${SCHEMA_LIMITS.refDepth} levels deep when its $refs are followed (a $ref chain too long)`);
    return { ok: true, schema: defs.size ? { ...root, $defs: outDefs } : root, relaxed, ignored };
  } catch (error) {
    // A path 30 levels deep says no more than its end does.
    if (error instanceof SchemaProblem)
      return { ok: false, problem: error.message.replace(/schema\S{150,}/g, (path) => `schema…${path.slice(-120)}`) };
    throw error;
  }
}

/** Keywords as a person reads them: "pattern (at url)", "format uri (at items.link)". */
export function describeKeywords(keywords: readonly SchemaKeyword[]): string[] {
  return keywords.map(({ keyword, at }) => {
    const where = at.replace(/^schema\.?/, '').replace(/(^|\.)properties\./g, '$1');
    return where ? `${keyword} (at ${where})` : keyword;
  });
}

/** The reason a schema cannot be enforced, or null. */
export function unsupportedSchemaFeature(schema: unknown): string | null {
  const prepared = prepareJsonSchema(schema);
  return prepared.ok ? null : prepared.problem;
}
