/**
 * Integer ranges in node-llama-cpp's JSON-schema grammars.
 *
 * node-llama-cpp 3.22 builds the grammar of tool-call arguments and of
 * response_format schemas itself and knows no `minimum`/`maximum`: an integer
 * is any integer. It has no hook for another rule, so the range travels inside
 * the schema it reads: each bounded integer becomes
 * `oneOf: [{type: "integer"}, {const: "<mark>min:max"}]`, which its validator
 * reads as "an integer" (the first alternative), and one of its grammar
 * classes (GbnfOr, the rule of a `oneOf`) is taught to write the range's rule
 * in place of both alternatives when it sees the mark. The model is shown the
 * schema without the mark (see `documentedAs` in engine.ts).
 *
 * The class is reached by its file in node-llama-cpp's dist folder (the package
 * exports no such path), so a node-llama-cpp that moves or reshapes it leaves
 * ranges unheld: `installIntegerRanges` then says so (false), and the
 * arguments are still checked against the whole schema after generation
 * (formats/json-schema-check.ts).
 */
import { createRequire } from 'node:module';
import path from 'node:path';
import { pathToFileURL } from 'node:url';
import { integerRangeGbnf } from '../formats/integer-range-grammar';

const MARK = '\u0000freehold:integer-range:';

type Schema = Record<string, unknown>;
const isRecord = (value: unknown): value is Schema => value !== null && typeof value === 'object' && !Array.isArray(value);
const bound = (value: unknown): string => (typeof value === 'number' && Number.isInteger(value) ? String(value) : '');

/**
 * The schema as node-llama-cpp is to read it for its grammar: each integer
 * with a `minimum` or `maximum` (whole numbers, as formats/json-schema-support.ts
 * leaves them) marked as above. The input is not changed; an unchanged schema
 * is returned as it is.
 */
export function markIntegerRanges<T>(schema: T): T {
  const visit = (node: unknown): unknown => {
    if (Array.isArray(node)) {
      const mapped = node.map(visit);
      return mapped.some((item, index) => item !== node[index]) ? mapped : node;
    }
    if (!isRecord(node)) return node;
    if (node.type === 'integer' && (bound(node.minimum) || bound(node.maximum)))
      return { oneOf: [{ type: 'integer' }, { const: `${MARK}${bound(node.minimum)}:${bound(node.maximum)}` }] };
    let changed = false;
    const out: Schema = {};
    for (const [key, value] of Object.entries(node)) {
      // Under properties and $defs the keys are names, the values schemas; elsewhere the values are schemas or lists of them.
      const mapped =
        (key === 'properties' || key === '$defs') && isRecord(value)
          ? mapEntries(value, visit)
          : key === 'items' || key === 'prefixItems' || key === 'additionalProperties' || key === 'oneOf'
            ? visit(value)
            : value;
      if (mapped !== value) changed = true;
      out[key] = mapped;
    }
    return changed ? out : node;
  };
  return visit(schema) as T;
}

function mapEntries(record: Schema, visit: (node: unknown) => unknown): Schema {
  let changed = false;
  const out = Object.fromEntries(
    Object.entries(record).map(([key, value]) => {
      const mapped = visit(value);
      if (mapped !== value) changed = true;
      return [key, mapped];
    }),
  );
  return changed ? out : record;
}

/** The range a GbnfOr stands for, when one of its values is the mark. */
function markedRange(or: { values?: unknown }): string | null {
  if (!Array.isArray(or.values)) return null;
  for (const value of or.values as Array<{ value?: unknown }>)
    if (typeof value?.value === 'string' && value.value.startsWith(MARK)) return value.value.slice(MARK.length);
  return null;
}

function rangeRule(range: string): string {
  const [min, max] = range.split(':');
  return integerRangeGbnf(min ? BigInt(min) : null, max ? BigInt(max) : null);
}

interface GrammarClass {
  prototype: {
    getGrammar(this: { values?: unknown }, generator: unknown): string;
    resolve(this: { values?: unknown }, generator: unknown, root?: boolean): string;
  };
}

let installing: Promise<boolean> | null = null;

/**
 * Teaches node-llama-cpp's grammar builder the marked ranges, once per
 * process; true when a grammar built through it is seen to hold a range.
 */
export function installIntegerRanges(): Promise<boolean> {
  installing ??= (async () => {
    const dist = path.dirname(createRequire(import.meta.url).resolve('node-llama-cpp'));
    const load = async <T>(file: string) => (await import(pathToFileURL(path.join(dist, 'utils', 'gbnfJson', file)).href)) as T;
    const { GbnfOr } = await load<{ GbnfOr: GrammarClass }>('terminals/GbnfOr.js');
    const { GbnfTerminal } = await load<{ GbnfTerminal: GrammarClass }>('GbnfTerminal.js');
    const { getGbnfGrammarForGbnfJsonSchema } = await load<{ getGbnfGrammarForGbnfJsonSchema: (schema: unknown) => string }>(
      'getGbnfGrammarForGbnfJsonSchema.js',
    );
    const getGrammar = GbnfOr.prototype.getGrammar;
    const resolve = GbnfOr.prototype.resolve;
    const resolveTerminal = GbnfTerminal.prototype.resolve;
    GbnfOr.prototype.getGrammar = function (generator) {
      const range = markedRange(this);
      return range === null ? getGrammar.call(this, generator) : rangeRule(range);
    };
    // A GbnfOr resolves to its single value's rule when it has one; a marked one is a rule of its own.
    GbnfOr.prototype.resolve = function (generator, root) {
      return markedRange(this) === null ? resolve.call(this, generator, root) : resolveTerminal.call(this, generator, root);
    };
    const probe = getGbnfGrammarForGbnfJsonSchema(markIntegerRanges({ type: 'integer', minimum: 3, maximum: 5 }));
    return probe.includes('[3-5]') && !probe.includes(MARK);
  })().catch(() => false);
  return installing;
}
