import { readFileSync } from 'node:fs';
import path from 'node:path';
import ts from 'typescript';
import { describe, expect, expectTypeOf, it } from 'vitest';
import { eventNames, isEventName, type EventName, type Events } from '../../shared/contract';

const contractFile = path.resolve('shared/contract.ts');

/** The compiler's errors for shared/contract.ts with its text replaced by `source`. */
function contractErrors(source: string): string[] {
  const { config } = ts.readConfigFile(path.resolve('tsconfig.base.json'), (file) => ts.sys.readFile(file));
  const { options } = ts.parseJsonConfigFileContent(config, ts.sys, path.resolve('.'));
  const host = ts.createCompilerHost(options);
  const getSourceFile = host.getSourceFile.bind(host);
  host.getSourceFile = (file, language, ...rest) =>
    path.resolve(file) === contractFile ? ts.createSourceFile(file, source, language) : getSourceFile(file, language, ...rest);
  const program = ts.createProgram([contractFile], options, host);
  return program
    .getSemanticDiagnostics(program.getSourceFile(contractFile))
    .map((d) => ts.flattenDiagnosticMessageText(d.messageText, '\n'));
}

describe('event names in the contract', () => {
  it('lists every event of Events once, and only those', () => {
    expectTypeOf<(typeof eventNames)[number]>().toEqualTypeOf<EventName>();
    expectTypeOf<EventName>().toEqualTypeOf<keyof Events>();
    expect(new Set(eventNames).size).toBe(eventNames.length);
    for (const name of eventNames) {
      expect(name).toMatch(/^on[A-Z]/);
      expect(isEventName(name)).toBe(true);
    }
    expect(isEventName('onNoSuchEvent')).toBe(false);
    expect(isEventName('toString')).toBe(false);
  });

  it('does not compile when an event of Events is left out of the list', () => {
    // The file as it is compiles: `npm run typecheck` checks that.
    const source = readFileSync(contractFile, 'utf8');
    const listed = /^ {2}onApiStatus: true,\n/m;
    expect(source).toMatch(listed);
    expect(contractErrors(source.replace(listed, ''))).toEqual([expect.stringMatching(/Property 'onApiStatus' is missing/)]);
  }, 60_000);
});
