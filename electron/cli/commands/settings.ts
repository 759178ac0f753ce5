import { settingsPatchSchema, type SettingsPatch } from '../../../shared/settings';
import { UsageError, type Command } from '../command';

function choice<T>(key: string, value: string, options: Record<string, T>): T {
  if (!Object.hasOwn(options, value)) throw new UsageError(`${key} must be ${Object.keys(options).join(' or ')}, not "${value}".`);
  return options[value]!;
}

/** `settings set` keys, in the words of the README, mapped onto the settings file. */
const settingKeys: Record<string, (value: string) => SettingsPatch> = {
  theme: (value) => ({ appearance: { theme: value as never } }),
  backend: (value) => ({ inference: { backend: value as never } }),
  threads: (value) => ({ inference: { threads: value === 'auto' ? 0 : Number(value) } }),
  parallel: (value) => ({ inference: { parallel: Number(value) } }),
  'max-vram-per-gpu': (value) => ({ inference: { maxVramPerGpuMiB: value === 'none' ? null : Number(value) } }),
  'hub-endpoint': (value) => ({ hub: { endpoint: value } }),
  api: (value) => ({ api: { enabled: choice('api', value, { on: true, off: false }) } }),
  'api-host': (value) => ({ api: { host: value } }),
  'api-port': (value) => ({ api: { port: Number(value) } }),
  'api-key-required': (value) => ({ api: { requireKey: choice('api-key-required', value, { yes: true, no: false }) } }),
  'api-cors': (value) => ({ api: { corsOrigins: value === 'none' ? [] : value.split(',').map((o) => o.trim()) } }),
  'api-idle-minutes': (value) => ({ api: { idleUnloadMinutes: Number(value) } }),
};

/** One validated patch from `key=value` pairs; a bad pair or value changes nothing. */
function patchFrom(pairs: string[]): SettingsPatch {
  if (pairs.length === 0) throw new UsageError(`settings set needs key=value pairs; keys: ${Object.keys(settingKeys).join(', ')}.`);
  let patch: SettingsPatch = {};
  for (const pair of pairs) {
    const [key, value] = pair.split(/=(.*)/s, 2);
    const make = key !== undefined && Object.hasOwn(settingKeys, key) ? settingKeys[key] : undefined;
    if (!make || value === undefined || value === '')
      throw new UsageError(`"${pair}" is not key=value with a key of ${Object.keys(settingKeys).join(', ')}.`);
    const part = make(value);
    patch = {
      appearance: { ...patch.appearance, ...part.appearance },
      inference: { ...patch.inference, ...part.inference },
      hub: { ...patch.hub, ...part.hub },
      api: { ...patch.api, ...part.api },
    };
  }
  const parsed = settingsPatchSchema.safeParse(patch);
  if (!parsed.success) throw new UsageError(parsed.error.issues.map((i) => `${i.path.join('.')}: ${i.message}`).join('; '));
  return parsed.data;
}

export const settingsCommand: Command = {
  summary: 'Show settings, or change them: settings set backend=cuda threads=auto max-vram-per-gpu=8192',
  usage: 'settings [set key=value ...] [--json]',
  async run({ io, json, args, services }) {
    const host = await services();
    const [verb, ...pairs] = args;
    if (verb !== undefined && verb !== 'set') throw new UsageError(`unknown settings action "${verb}".`);
    if (verb === 'set') await host.settings.update(patchFrom(pairs));
    const settings = host.settings.get();
    if (json) io.out(JSON.stringify(settings));
    else {
      io.out(`theme             ${settings.appearance.theme}`);
      io.out(`backend           ${settings.inference.backend}`);
      io.out(`threads           ${settings.inference.threads === 0 ? 'auto' : settings.inference.threads}`);
      io.out(`max-vram-per-gpu  ${settings.inference.maxVramPerGpuMiB === null ? 'none' : `${settings.inference.maxVramPerGpuMiB} MiB`}`);
      io.out(`hub-endpoint      ${settings.hub.endpoint}`);
      const api = settings.api;
      io.out(
        `api               ${api.enabled ? 'on' : 'off'} (desktop app), ${api.host}:${api.port}, key ${api.requireKey ? 'required' : 'not required on loopback'}, ` +
          `cors ${api.corsOrigins.length ? api.corsOrigins.join(',') : 'none'}, idle unload ${api.idleUnloadMinutes} min`,
      );
      if (verb === 'set') io.out('Saved. An app already running applies it when next started.');
    }
    return 0;
  },
};
