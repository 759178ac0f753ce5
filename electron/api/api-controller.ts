import type { ApiKeyInfo, ApiStatus, CreatedApiKey } from '../../shared/api';
import type { Settings } from '../../shared/settings';
import type { InferenceService } from '../inference/inference-service';
import type { ModelLibrary } from '../library/model-library';
import type { EventBus } from '../platform/events';
import { ApiKeyring } from './api-keys';
import { startApiServer, type ApiServer } from './api-server';
import { apiConfig, apiStatus, type ApiOverride } from './api-status';

export type { ApiOverride } from './api-status';

export interface ApiControllerOptions {
  dataDir: string;
  settings: () => Settings;
  events: EventBus;
  inference: InferenceService;
  library: ModelLibrary;
  log: (line: string) => void;
  /** `npm run serve` flags: they win over the settings. */
  override?: ApiOverride;
  /** The split model running here, if any: the API serves it too. */
  split?: () => import('./routes/context').SplitEndpoint | null;
}

/** Runs the API server as the settings (or the command line) say, restarting it when they change. */
export class ApiController {
  readonly keys: ApiKeyring;
  private server: ApiServer | undefined;
  private stopWatching: (() => void) | undefined;
  private stopKeyEvents: (() => void) | undefined;
  private runningConfig = '';
  private error: string | null = null;
  private applying: Promise<void> = Promise.resolve();
  private closed = false;
  private unsubscribe: (() => void) | undefined;

  constructor(private readonly options: ApiControllerOptions) {
    this.keys = new ApiKeyring(options.dataDir, { log: options.log });
  }

  async open(): Promise<void> {
    await this.keys.open();
    this.stopKeyEvents = this.keys.onChange((keys) => this.options.events.emit('onApiKeys', keys));
    this.unsubscribe = this.options.events.subscribeAll((event) => {
      if (event === 'onSettingsChanged') void this.apply();
    });
    await this.apply();
  }

  private config() {
    return apiConfig(this.options.settings().api, this.options.override);
  }

  status(): ApiStatus {
    return apiStatus(this.options.settings().api, this.options.override, {
      server: this.server,
      key: this.keys.defaultSecret(),
      error: this.error,
    });
  }

  /** A new secret for the key named "default": clients using the old one get 401 at once, and its open streams end. */
  async regenerateKey(): Promise<ApiStatus> {
    await this.keys.regenerateDefault();
    const status = this.status();
    this.options.events.emit('onApiStatus', status);
    return status;
  }

  listKeys(): ApiKeyInfo[] {
    return this.keys.list();
  }

  createKey(name: string): Promise<CreatedApiKey> {
    return this.keys.create(name);
  }

  revokeKey(id: string): Promise<ApiKeyInfo[]> {
    return this.keys.revoke(id);
  }

  /** Starts, stops or restarts the server to match the configuration; one change at a time. */
  apply(): Promise<void> {
    this.applying = this.applying.then(async () => {
      const config = this.config();
      const wanted = config.enabled && !this.closed ? JSON.stringify(config) : '';
      if (wanted === this.runningConfig && (this.server || !wanted)) return;
      if (this.server) {
        this.stopWatching?.();
        this.stopWatching = undefined;
        await this.server.close();
        this.server = undefined;
      }
      this.runningConfig = wanted;
      this.error = null;
      if (wanted) {
        try {
          this.server = await startApiServer({
            inference: this.options.inference,
            library: this.options.library,
            engines: () => this.options.settings().inference.engines ?? {},
            split: this.options.split,
            host: config.host,
            port: config.port,
            keys: this.keys,
            requireKey: config.requireKey,
            corsOrigins: config.corsOrigins,
            log: this.options.log,
          });
          // Another process (the CLI) may revoke a key: followed while serving.
          this.stopWatching = this.keys.watch();
        } catch (error) {
          const code = (error as NodeJS.ErrnoException).code;
          this.error =
            code === 'EADDRINUSE'
              ? `Port ${config.port} is in use by another program; choose another port.`
              : code === 'EADDRNOTAVAIL'
                ? `${config.host} is not an address of this computer.`
                : `The API server could not start: ${(error as Error).message}`;
          this.options.log(`api: ${this.error}`);
        }
      }
      this.options.events.emit('onApiStatus', this.status());
    });
    return this.applying;
  }

  async close(): Promise<void> {
    this.closed = true;
    this.unsubscribe?.();
    await this.apply();
    this.stopKeyEvents?.();
    // The usage counted since the last write reaches the disk.
    await this.keys.close();
  }
}
