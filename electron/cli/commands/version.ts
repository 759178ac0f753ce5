import { appVersion } from '../../platform/version';
import type { CliIo, Command } from '../command';

/** Also what `--version` and `-v` print. */
export function printVersion(io: CliIo, json: boolean): void {
  const versions = { freehold: appVersion, node: process.versions.node };
  io.out(json ? JSON.stringify(versions) : `Freehold ${appVersion} (Node.js ${process.versions.node})`);
}

export const versionCommand: Command = {
  summary: 'Print the Freehold version (also --version, -v)',
  usage: 'version [--json]',
  async run({ io, json }) {
    printVersion(io, json);
    return 0;
  },
};
