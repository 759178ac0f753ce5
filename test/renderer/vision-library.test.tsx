/**
 * Models that see, in the Models view: the "Sees images" / "Hears audio"
 * badges in the library and in Discover, a repo's projector counted in the
 * download size and said in the repo panel, the projector's state in
 * Downloads, and a model dropped with its projector attached (or refused).
 */
import { fireEvent, screen, waitFor, within } from '@testing-library/react';
import userEvent from '@testing-library/user-event';
import { afterEach, describe, expect, it, vi } from 'vitest';
import type { DownloadJob, HubModel, RepoDetails } from '../../shared/hub';
import type { ImportResult, ProjectorInfo } from '../../shared/library';
import { isProjectorBlob } from '../../renderer/features/models/useDropImport';
import { eachTestAt, giveElementsASize, renderApp } from './app-fixture';
import { createFakeHost, libraryOf, modelFixture } from './fake-host';

eachTestAt('#/models');
giveElementsASize();

const sees: ProjectorInfo = {
  file: '/m/mmproj-F16.gguf',
  sizeBytes: 2 * 1024 ** 2,
  projectorType: 'mlp',
  vision: true,
  audio: false,
  imageTokens: 16,
};
const hears: ProjectorInfo = { ...sees, file: '/m/mmproj-audio.gguf', projectorType: 'ultravox', vision: false, audio: true };
const seeing = modelFixture({ id: 'v1', name: 'tiny vision', files: ['/m/vision.gguf'], projector: sees });
const hearing = modelFixture({ id: 'a1', name: 'tiny ears', files: ['/m/ears.gguf'], projector: hears });
const textOnly = modelFixture({ id: 't1', name: 'stories260K' });

/** A GGUF's first bytes as a projector's (general.architecture = "clip") or a model's ("llama") are written. */
function ggufHead(architecture: string, name: string): File {
  const key = new TextEncoder().encode('general.architecture');
  const value = new TextEncoder().encode(architecture);
  const bytes = new Uint8Array(24 + 8 + key.length + 4 + 8 + value.length + 64);
  const view = new DataView(bytes.buffer);
  bytes.set(new TextEncoder().encode('GGUF'));
  view.setUint32(4, 3, true); // version
  view.setBigUint64(8, 0n, true); // tensors
  view.setBigUint64(16, 1n, true); // metadata entries
  view.setBigUint64(24, BigInt(key.length), true);
  bytes.set(key, 32);
  let at = 32 + key.length;
  view.setUint32(at, 8, true); // a string
  view.setBigUint64(at + 4, BigInt(value.length), true);
  at += 12;
  bytes.set(value, at);
  return new File([bytes], name);
}

afterEach(() => {
  delete (window as unknown as { freehold?: unknown }).freehold;
  vi.unstubAllGlobals();
});

describe('the library', () => {
  it('shows which models see and hear, with the projector’s type and file', async () => {
    const host = createFakeHost();
    host.setLibrary(libraryOf(seeing, hearing, textOnly));
    renderApp(host);
    const list = await screen.findByRole('list', { name: 'Models in your library' });
    const vision = await within(list).findByRole('listitem', { name: 'tiny vision' });
    const badge = within(vision).getByText('Sees images');
    expect(badge.getAttribute('title')).toBe('Projector type mlp');
    expect(within(vision).queryByText('Hears audio')).toBeNull();
    expect(within(vision).getByText(/projector mlp, 2\.0 MB/)).toBeTruthy();
    expect(within(vision).getByText('Projector: /m/mmproj-F16.gguf')).toBeTruthy();
    const ears = within(list).getByRole('listitem', { name: 'tiny ears' });
    expect(within(ears).getByText('Hears audio').getAttribute('title')).toBe('Projector type ultravox');
    expect(within(ears).queryByText('Sees images')).toBeNull();
    const text = within(list).getByRole('listitem', { name: 'stories260K' });
    expect(within(text).queryByText('Sees images')).toBeNull();
    expect(within(text).queryByText(/^Projector:/)).toBeNull();
    // The filter finds the models that see.
    await userEvent.type(screen.getByRole('searchbox', { name: 'Filter' }), 'sees');
    await waitFor(() => expect(within(list).queryByRole('listitem', { name: 'stories260K' })).toBeNull());
    expect(within(list).getByRole('listitem', { name: 'tiny vision' })).toBeTruthy();
  });
});

const hubModel = (repo: string, vision: boolean): HubModel => ({
  repo,
  author: repo.split('/')[0]!,
  downloads: 10,
  likes: 1,
  updatedAt: '2026-11-01T00:00:00.000Z',
  gated: false,
  vision,
});

const MB = 1024 ** 2;
const details: RepoDetails = {
  repo: 'ggml-org/tiny-vision',
  revision: 'feed012',
  license: 'apache-2.0',
  baseModel: null,
  gated: false,
  architecture: 'llama',
  parameterCount: 292800,
  contextLength: 2048,
  fitProblem: null,
  quants: [
    {
      quantization: 'Q8_0',
      files: [{ name: 'tiny-vision-Q8_0.gguf', sizeBytes: 10 * MB, sha256: null }],
      totalBytes: 10 * MB,
      fit: {
        verdict: 'ram',
        neededBytes: 400 * MB,
        contextSize: 2048,
        freeVramBytes: 0,
        freeRamBytes: 8 * 1024 * MB,
        explanation:
          'Needs about 0.4 GB (its 2.0 MB projector included); no GPU is in use, so it runs from RAM (8.0 GB free), more slowly.',
      },
      recommended: true,
    },
  ],
  vision: true,
  audio: false,
  projectorType: 'mlp',
  projectors: [
    { file: { name: 'mmproj-tiny-vision-Q8_0.gguf', sizeBytes: 1 * MB, sha256: null }, precision: 'Q8_0', chosen: false },
    { file: { name: 'mmproj-tiny-vision-F16.gguf', sizeBytes: 2 * MB, sha256: null }, precision: 'F16', chosen: true },
  ],
  projectorNote:
    'Downloaded with F16 projector mmproj-tiny-vision-F16.gguf (2.0 MB): the preferred precision, and it fits in RAM with the model.',
};

describe('Discover', () => {
  it('badges the repos that see, shows the projector chosen and why, counts it in the size, and downloads it with the model', async () => {
    const starts: unknown[] = [];
    const host = createFakeHost({
      'hub.search': () => [hubModel('ggml-org/tiny-vision', true), hubModel('ggml-org/tiny-text', false)],
      'hub.repo': () => details,
      'downloads.start': (input) => {
        starts.push(input);
        return { id: 'd1' } as DownloadJob;
      },
    });
    renderApp(host);
    await userEvent.click(await screen.findByRole('tab', { name: 'Discover' }));
    await userEvent.click(screen.getByRole('button', { name: 'Search' }));
    const results = await screen.findByRole('list', { name: 'Search results' });
    const [vision, text] = within(results).getAllByRole('listitem');
    expect(within(vision!).getByText('Sees images')).toBeTruthy();
    expect(within(text!).queryByText('Sees images')).toBeNull();

    await userEvent.click(within(results).getByRole('button', { name: 'ggml-org/tiny-vision' }));
    const projectors = await screen.findByRole('region', { name: /Projectors/ });
    expect(within(projectors).getByText('Sees images')).toBeTruthy();
    expect(within(projectors).getByText(/^Downloaded with F16 projector mmproj-tiny-vision-F16\.gguf/)).toBeTruthy();
    const files = within(projectors).getAllByRole('listitem');
    expect(files.map((f) => f.textContent)).toEqual([
      'mmproj-tiny-vision-Q8_0.gguf · Q8_0 · 1.0 MB',
      'mmproj-tiny-vision-F16.gguf · F16 · 2.0 MB downloaded with the model',
    ]);
    const table = screen.getByRole('table', { name: 'Files by quantization' });
    const row = within(table).getByRole('row', { name: /Q8_0/ });
    // 10 MB of model and 2 MB of projector.
    expect(within(row).getByText('12.0 MB')).toBeTruthy();
    expect(within(row).getByText('model 10.0 MB + projector 2.0 MB')).toBeTruthy();
    expect(within(row).getByText(/projector included/)).toBeTruthy();
    await userEvent.click(within(row).getByRole('button', { name: 'Download Q8_0' }));
    await waitFor(() =>
      expect(starts).toEqual([{ repo: 'ggml-org/tiny-vision', file: 'tiny-vision-Q8_0.gguf', projector: 'mmproj-tiny-vision-F16.gguf' }]),
    );
    expect(await within(row).findByText('queued with its projector — see Downloads')).toBeTruthy();
  });
});

describe('Downloads', () => {
  const job = (projector: DownloadJob['projector']): DownloadJob => ({
    id: `j-${projector?.state}`,
    repo: `ggml-org/tiny-${projector?.state}`,
    revision: 'feed012',
    quantization: 'Q8_0',
    files: [{ name: 'tiny-vision-Q8_0.gguf', sizeBytes: 10 * MB, sha256: null }],
    projector,
    state: projector?.state === 'pending' ? 'downloading' : 'done',
    bytesDone: 5 * MB,
    totalBytes: 12 * MB,
    bytesPerSecond: 0,
    etaSeconds: null,
    error: null,
    attempts: 0,
    lastRetry: null,
    modelId: 'm',
    createdAt: '2026-12-01T00:00:00.000Z',
  });
  const file = { name: 'mmproj-tiny-vision-F16.gguf', sizeBytes: 2 * MB, sha256: null };

  it('says the projector comes with the model, is attached, or why the model is text-only', async () => {
    const host = createFakeHost({
      'downloads.list': () => [
        job({ file, precision: 'F16', state: 'pending', error: null }),
        job({ file, precision: 'F16', state: 'attached', error: null, vision: true, audio: false }),
        job({ file, precision: 'F16', state: 'failed', error: 'mmproj-tiny-vision-F16.gguf could not be downloaded: it did not verify' }),
      ],
    });
    renderApp(host);
    await userEvent.click(await screen.findByRole('tab', { name: 'Downloads' }));
    const list = await screen.findByRole('list', { name: 'Downloads' });
    const items = within(list).getAllByRole('listitem');
    expect(within(items[0]!).getByText('With its F16 projector mmproj-tiny-vision-F16.gguf (2.0 MB).')).toBeTruthy();
    expect(within(items[1]!).getByText('Its F16 projector mmproj-tiny-vision-F16.gguf is attached: it sees images.')).toBeTruthy();
    expect(within(items[2]!).getByRole('alert').textContent).toBe(
      'Text only: mmproj-tiny-vision-F16.gguf could not be downloaded: it did not verify',
    );
  });
});

describe('dropping a model with its projector', () => {
  it('tells a projector from a model by its first bytes', async () => {
    expect(await isProjectorBlob(ggufHead('clip', 'a.gguf'))).toBe(true);
    expect(await isProjectorBlob(ggufHead('llama', 'b.gguf'))).toBe(false);
    expect(await isProjectorBlob(new File([new Uint8Array(100)], 'c.gguf'))).toBe(false);
  });

  it('in the desktop app: imports both, says the projector was attached, and a refused one’s reason', async () => {
    const withProjector = { ...seeing, projector: { ...sees, file: '/dropped/mmproj-F16.gguf' } };
    const imports: unknown[] = [];
    const host = createFakeHost({
      'models.import': (input): ImportResult[] => {
        imports.push(input);
        return [
          { path: '/dropped/vision.gguf', ok: true, model: seeing },
          { path: '/dropped/mmproj-F16.gguf', ok: true, model: withProjector, attachedTo: seeing.id },
          {
            path: '/dropped/mmproj-other.gguf',
            ok: false,
            error: 'mmproj-other.gguf is a projector for a model whose embeddings are 32 wide, and no such model is in your library.',
          },
        ];
      },
    });
    (window as unknown as { freehold: unknown }).freehold = host.bridge;
    renderApp(host);
    const view = await screen.findByRole('region', { name: 'Models' });
    const files = [ggufHead('llama', 'vision.gguf'), ggufHead('clip', 'mmproj-F16.gguf'), ggufHead('clip', 'mmproj-other.gguf')];
    fireEvent.drop(view, { dataTransfer: { files } });
    const results = await screen.findByRole('list', { name: 'Import results' });
    await waitFor(() => expect(within(results).getAllByRole('listitem')).toHaveLength(3));
    expect(imports).toEqual([
      { paths: ['/dropped/vision.gguf', '/dropped/mmproj-F16.gguf', '/dropped/mmproj-other.gguf'], mode: 'reference' },
    ]);
    expect(
      within(results)
        .getAllByRole('status')
        .map((s) => s.textContent),
    ).toEqual(['Imported tiny vision', 'mmproj-F16.gguf: attached to tiny vision, which now sees images']);
    expect(within(results).getByRole('alert').textContent).toBe(
      'mmproj-other.gguf: mmproj-other.gguf is a projector for a model whose embeddings are 32 wide, and no such model is in your library.',
    );
  });

  it('in the browser: uploads the model first, then the projector, which comes back attached', async () => {
    const uploaded: string[] = [];
    const fetchMock = vi.fn((url: string) => {
      const name = new URL(url, 'http://localhost').searchParams.get('name')!;
      uploaded.push(name);
      const body =
        name === 'vision.gguf'
          ? { ok: true, model: seeing }
          : name === 'mmproj-F16.gguf'
            ? { ok: true, model: { ...seeing, projector: sees } }
            : { ok: false, error: 'mmproj-other.gguf cannot go with tiny vision: it hands the model 32-wide embeddings' };
      return Promise.resolve(new Response(JSON.stringify(body), { status: body.ok ? 200 : 422 }));
    });
    vi.stubGlobal('fetch', fetchMock);
    const host = createFakeHost();
    renderApp(host);
    const view = await screen.findByRole('region', { name: 'Models' });
    // The projectors first, as a file manager may hand them over.
    const files = [ggufHead('clip', 'mmproj-F16.gguf'), ggufHead('clip', 'mmproj-other.gguf'), ggufHead('llama', 'vision.gguf')];
    fireEvent.drop(view, { dataTransfer: { files } });
    const results = await screen.findByRole('list', { name: 'Import results' });
    await waitFor(() => expect(within(results).getAllByRole('listitem')).toHaveLength(3));
    expect(uploaded).toEqual(['vision.gguf', 'mmproj-F16.gguf', 'mmproj-other.gguf']);
    expect(
      within(results)
        .getAllByRole('status')
        .map((s) => s.textContent),
    ).toEqual(['Imported tiny vision', 'mmproj-F16.gguf: attached to tiny vision, which now sees images']);
    expect(within(results).getByRole('alert').textContent).toBe(
      'mmproj-other.gguf: mmproj-other.gguf cannot go with tiny vision: it hands the model 32-wide embeddings',
    );
  });
});
