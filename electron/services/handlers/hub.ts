import type { DownloadQueue } from '../../hub/download-queue';
import type { HubClient } from '../../hub/hub-client';
import { chooseEmbeddingStarter, chooseStarter, recommendedModels } from '../../hub/recommended-models';
import type { TokenStore } from '../../hub/token-store';
import type { InferenceService } from '../../inference/inference-service';
import type { HandlerSlice } from './handler-slice';

export interface HubHandlerDeps {
  hub: HubClient;
  tokens: TokenStore;
  downloads: DownloadQueue;
  inference: InferenceService;
}

/** Hugging Face: search, recommendations for this machine, the token, and the downloads. */
export function hubHandlers({ hub, tokens, downloads, inference }: HubHandlerDeps): HandlerSlice<'hub' | 'downloads'> {
  /** The hardware with the memory free now, or null where the engine cannot say (the recommendations then carry no fit). */
  const hardwareNow = () => inference.hardware().catch(() => null);
  return {
    'hub.search': ({ query, sort, limit }) => hub.search(query, sort, limit),
    'hub.recommended': async () => recommendedModels(await hardwareNow()),
    'hub.starter': async () => chooseStarter(await hardwareNow()),
    'hub.embeddingStarter': async () => chooseEmbeddingStarter(await hardwareNow()),
    'hub.repo': ({ repo, revision }) => hub.repo(repo, revision),
    'hub.tokenStatus': () => tokens.status(),
    'hub.setToken': ({ token }) => tokens.set(token),
    'downloads.list': () => downloads.list(),
    // With the repo's projector (mmproj) where it has one: it sees images then.
    'downloads.start': ({ repo, revision, file, quantization, projector }) =>
      downloads.start(repo, revision, file, quantization, projector),
    'downloads.pause': ({ id }) => downloads.pause(id),
    'downloads.resume': ({ id }) => downloads.resume(id),
    'downloads.cancel': ({ id }) => downloads.cancel(id),
  };
}
