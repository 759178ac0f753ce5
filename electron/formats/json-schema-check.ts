/**
 * Checks a value against a whole JSON schema with Ajv (and ajv-formats), the
 * standard validator: tool-call arguments after the model wrote them, for the
 * keywords the grammar could not hold (a `pattern`, a `format: "uri"`, a
 * `multipleOf` …, see json-schema-support.ts) and as a second look at the rest.
 *
 * Schemas come from MCP servers and API clients, and a `pattern` is a regular
 * expression that can take exponential time on a short string (ReDoS). So
 * values are checked on a worker thread with a deadline: one that takes too
 * long is an invalid call ("could not be checked in time"), the thread is
 * ended and a fresh one starts with the next check; the app never waits on
 * it. Compiling a schema runs no expression, so `checkableProblem` compiles
 * on the caller's thread to find the schemas Ajv cannot use (a `$ref` to
 * another document, an invalid pattern).
 */
import { createRequire } from 'node:module';
import { Worker } from 'node:worker_threads';
import { Ajv, type ErrorObject, type ValidateFunction } from 'ajv';
import { Ajv2020 } from 'ajv/dist/2020.js';
import addFormatsModule from 'ajv-formats';
import { prepareJsonSchema, type PreparedSchema } from './json-schema-support';

// ajv-formats is CommonJS with a default export; esbuild and Node's ESM loader see it differently.
const addFormats = ((addFormatsModule as unknown as { default?: unknown }).default ?? addFormatsModule) as (ajv: Ajv) => Ajv;

export type CheckResult = { valid: true } | { valid: false; message: string };

/** Drafts before 2019-09 read `items: [...]` as a tuple and differ elsewhere: they get Ajv's draft-07 validator, the rest 2020-12's. */
export function isOlderDraft(schema: unknown): boolean {
  const declared = (schema as { $schema?: unknown } | null)?.$schema;
  return typeof declared === 'string' && /draft-0[4-7]/.test(declared);
}

/**
 * The schema as Ajv is to read it: `$schema` left out (the validator is chosen
 * by it above, and Ajv refuses one it does not hold), draft-04's boolean
 * `exclusiveMinimum`/`exclusiveMaximum` turned into their later numeric form.
 */
export function forValidator(schema: unknown): unknown {
  const named = new Set(['properties', '$defs', 'definitions', 'patternProperties', 'dependentSchemas', 'dependencies']);
  const schemaValued = new Set([
    'items',
    'prefixItems',
    'additionalItems',
    'contains',
    'additionalProperties',
    'propertyNames',
    'not',
    'if',
    'then',
    'else',
    'allOf',
    'anyOf',
    'oneOf',
    'unevaluatedItems',
    'unevaluatedProperties',
  ]);
  const visit = (node: unknown): unknown => {
    if (Array.isArray(node)) return node.map(visit);
    if (node === null || typeof node !== 'object') return node;
    const record = node as Record<string, unknown>;
    const entries: Array<[string, unknown]> = [];
    for (const [key, value] of Object.entries(record)) {
      if (key === '$schema') continue;
      if ((key === 'exclusiveMinimum' || key === 'exclusiveMaximum') && typeof value === 'boolean') continue;
      if ((key === 'minimum' && record.exclusiveMinimum === true) || (key === 'maximum' && record.exclusiveMaximum === true)) {
        entries.push([key === 'minimum' ? 'exclusiveMinimum' : 'exclusiveMaximum', value]);
        continue;
      }
      // Under properties and the like the keys are names; other keywords' values are walked only where they are schemas.
      const mapped =
        named.has(key) && value !== null && typeof value === 'object' && !Array.isArray(value)
          ? Object.fromEntries(Object.entries(value).map(([name, child]) => [name, visit(child)]))
          : schemaValued.has(key)
            ? visit(value)
            : value;
      entries.push([key, mapped]);
    }
    // fromEntries: a key named __proto__ stays a key.
    return Object.fromEntries(entries);
  };
  return visit(schema);
}

const ajvOptions = { strict: false, allErrors: true, validateFormats: true, logger: false } as const;
let ajvs: { older: Ajv; newer: Ajv } | null = null;
function compile(schema: unknown): ValidateFunction {
  ajvs ??= { older: addFormats(new Ajv(ajvOptions)), newer: addFormats(new Ajv2020(ajvOptions) as unknown as Ajv) };
  const ajv = isOlderDraft(schema) ? ajvs.older : ajvs.newer;
  const validate = ajv.compile(forValidator(schema) as object);
  // Compiled functions are not kept: each check compiles on the thread, and Ajv's own cache would grow with every schema seen.
  ajv.removeSchema();
  return validate;
}

/** Why Ajv cannot check values against this schema, or null. Runs no pattern. */
export function checkableProblem(schema: unknown): string | null {
  try {
    compile(schema);
    return null;
  } catch (error) {
    return (error as Error).message.slice(0, 300);
  }
}

/**
 * A schema prepared for the grammar (json-schema-support.ts): with `strict`,
 * held whole or refused; without, relaxed where the grammar cannot hold it, and
 * refused only when the validator cannot read it either (a `$ref` to another
 * document, an invalid pattern).
 */
export function prepareCheckedSchema(schema: unknown, strict: boolean): PreparedSchema {
  const prepared = prepareJsonSchema(schema, { strict });
  if (!prepared.ok || !prepared.relaxed.length) return prepared;
  const problem = checkableProblem(schema);
  return problem ? { ok: false, problem: `it cannot be checked: ${problem}` } : prepared;
}

/** Ajv's errors in a sentence the model (and the user) can act on: where, and what. */
export function describeErrors(errors: readonly ErrorObject[] | null | undefined): string {
  const lines = (errors ?? []).slice(0, 8).map((error) => {
    const where = error.instancePath ? error.instancePath.slice(1).replace(/\//g, '.') : 'the arguments';
    const extra =
      error.keyword === 'additionalProperties'
        ? ` ("${String((error.params as { additionalProperty?: unknown }).additionalProperty)}")`
        : error.keyword === 'enum'
          ? `: ${JSON.stringify((error.params as { allowedValues?: unknown }).allowedValues).slice(0, 200)}`
          : '';
    return `${where} ${error.message ?? 'is not valid'}${extra}`;
  });
  const more = (errors?.length ?? 0) > 8 ? `; and ${errors!.length - 8} more` : '';
  return lines.join('; ') + more;
}

/** The thread's code: the same Ajv set-up as above, by the modules' paths (eval workers resolve nothing on their own). */
const THREAD_SOURCE = `
const { parentPort, workerData } = require('node:worker_threads');
const { Ajv } = require(workerData.ajv);
const { Ajv2020 } = require(workerData.ajv2020);
const formats = require(workerData.formats);
const addFormats = formats.default || formats;
const options = { strict: false, allErrors: true, validateFormats: true, logger: false };
const older = addFormats(new Ajv(options));
const newer = addFormats(new Ajv2020(options));
parentPort.on('message', ({ id, schema, older: isOlder, value }) => {
  // The deadline counts from here: not the thread's start, nor the checks queued before this one.
  parentPort.postMessage({ id, started: true });
  try {
    const ajv = isOlder ? older : newer;
    const validate = ajv.compile(schema);
    ajv.removeSchema();
    const valid = validate(value);
    parentPort.postMessage({ id, valid, errors: valid ? null : validate.errors });
  } catch (error) {
    parentPort.postMessage({ id, valid: false, problem: String(error && error.message || error) });
  }
});
`;

export interface SchemaCheckerOptions {
  /** How long one check may run before it is an invalid call (default 2 s). */
  timeoutMs?: number;
  log?: (line: string) => void;
}

interface Pending {
  resolve: (result: CheckResult) => void;
  timer: NodeJS.Timeout;
}

/** A thread that never starts a check (a machine far too busy) still answers within this. */
const START_DEADLINE_MS = 60_000;

/** Values against schemas, on one worker thread at a time, with a deadline per check. */
export class SchemaChecker {
  private worker: Worker | null = null;
  private readonly pending = new Map<number, Pending>();
  private nextId = 1;
  private readonly timeoutMs: number;

  constructor(private readonly options: SchemaCheckerOptions = {}) {
    this.timeoutMs = options.timeoutMs ?? 2000;
  }

  check(schema: unknown, value: unknown): Promise<CheckResult> {
    const id = this.nextId++;
    const worker = this.thread();
    return new Promise<CheckResult>((resolve) => {
      const timer = setTimeout(
        () => this.end(worker, 'the arguments could not be checked: the checking thread did not start in time'),
        START_DEADLINE_MS,
      );
      this.pending.set(id, { resolve, timer });
      worker.postMessage({ id, schema: forValidator(schema), older: isOlderDraft(schema), value });
      worker.ref();
    });
  }

  /** Ends the thread; checks under way are answered as not checked. */
  async close(): Promise<void> {
    const worker = this.worker;
    if (worker) this.end(worker, 'the check was cancelled');
    await worker?.terminate();
  }

  private thread(): Worker {
    if (this.worker) return this.worker;
    const require = createRequire(import.meta.url);
    const worker = new Worker(THREAD_SOURCE, {
      eval: true,
      workerData: {
        ajv: require.resolve('ajv'),
        ajv2020: require.resolve('ajv/dist/2020'),
        formats: require.resolve('ajv-formats'),
      },
      resourceLimits: { maxOldGenerationSizeMb: 256 },
    });
    worker.on('message', (message: { id: number; started?: true; valid: boolean; errors?: ErrorObject[] | null; problem?: string }) => {
      const pending = this.pending.get(message.id);
      if (!pending) return;
      if (message.started) {
        clearTimeout(pending.timer);
        pending.timer = setTimeout(() => {
          this.options.log?.(`schema check: a check ran past ${this.timeoutMs} ms (a slow pattern?); its thread was ended`);
          this.end(
            worker,
            `the arguments could not be checked against the tool's schema within ${this.timeoutMs / 1000} s (a pattern in it is too slow to check)`,
          );
        }, this.timeoutMs);
        return;
      }
      this.pending.delete(message.id);
      clearTimeout(pending.timer);
      if (this.pending.size === 0) worker.unref();
      pending.resolve(
        message.valid
          ? { valid: true }
          : {
              valid: false,
              message: message.problem
                ? `the tool's schema cannot be checked: ${message.problem.slice(0, 300)}`
                : describeErrors(message.errors),
            },
      );
    });
    worker.on('error', (error) => {
      this.options.log?.(`schema check: the thread failed: ${error.message}`);
      this.end(worker, `the arguments could not be checked: ${error.message}`);
    });
    worker.on('exit', () => this.end(worker, 'the checking thread ended'));
    worker.unref();
    this.worker = worker;
    return worker;
  }

  /** Forgets `worker` (a later check starts another), answers what it still owed, and ends it. */
  private end(worker: Worker, reason: string): void {
    if (this.worker !== worker) return;
    this.worker = null;
    for (const [id, pending] of this.pending) {
      clearTimeout(pending.timer);
      this.pending.delete(id);
      pending.resolve({ valid: false, message: reason });
    }
    void worker.terminate();
  }
}
