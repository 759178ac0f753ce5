import type { Command } from '../command';

export const infoCommand: Command = {
  summary: 'Show where Freehold keeps its data and its current settings',
  usage: 'info [--json]',
  async run({ io, json, services }) {
    const host = await services();
    const info = await host.handlers['app.info'](undefined);
    const settings = host.settings.get();
    if (json) {
      io.out(JSON.stringify({ version: info.version, dataDir: info.dataDir, settingsFile: host.settings.file, settings }));
    } else {
      io.out(`Freehold ${info.version}`);
      io.out(`Data directory: ${info.dataDir}`);
      io.out(`Settings file:  ${host.settings.file}`);
      io.out(`Backend:        ${settings.inference.backend}`);
      io.out(`Threads:        ${settings.inference.threads === 0 ? 'auto' : settings.inference.threads}`);
      io.out(`Hub endpoint:   ${settings.hub.endpoint}`);
    }
    return 0;
  },
};
