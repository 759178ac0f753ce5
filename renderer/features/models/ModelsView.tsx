import { useCallback, useState } from 'react';
import { useLocation } from 'wouter';
import type { ModelEntry } from '../../../shared/library';
import type { RemoteModel } from '../../../shared/machines';
import { useHostApi, useHostEvent, useHostQuery } from '../../app/host-context';
import { formatBytes } from '../../../shared/format';
import { FirstRunCard } from '../first-run/FirstRunCard';
import { useMachines } from '../machines/machines';
import { Discover } from './Discover';
import { Downloads } from './Downloads';
import { Folders } from './Folders';
import { LibraryList } from './LibraryList';
import { MachineModels } from './MachineModels';
import { useDropImport } from './useDropImport';

const tabs = [
  { id: 'library', label: 'Library' },
  { id: 'discover', label: 'Discover' },
  { id: 'downloads', label: 'Downloads' },
  { id: 'folders', label: 'Folders & token' },
] as const;
type Tab = (typeof tabs)[number]['id'];

export function ModelsView() {
  const api = useHostApi();
  const [, navigate] = useLocation();
  const [tab, setTab] = useState<Tab>('library');
  const [library, setLibrary] = useHostQuery('models.list', 'onLibraryChanged', { showsError: true });
  const { machines } = useMachines();
  const [mode, setMode] = useState<'reference' | 'copy'>('reference');
  const [message, setMessage] = useState<string | null>(null);
  const [importing, setImporting] = useState<{ path: string; bytes: number; totalBytes: number } | null>(null);
  useHostEvent(
    'onImportProgress',
    useCallback((p: { path: string; bytes: number; totalBytes: number }) => setImporting(p.bytes >= p.totalBytes ? null : p), []),
  );
  const drop = useDropImport(mode);
  const [firstRun, setFirstRun] = useState(false);
  const [readyModel, setReadyModel] = useState<string | null>(null);
  const onFirstModelReady = useCallback((modelId: string) => {
    setFirstRun(false);
    setReadyModel(modelId);
  }, []);
  const empty = library.status === 'ready' && library.data.models.length === 0;
  const readyName = library.status === 'ready' ? library.data.models.find((m) => m.id === readyModel)?.name : undefined;

  const onChat = (m: ModelEntry) => {
    setMessage(`Loading ${m.name}…`);
    api['models.load']({ id: m.id }).then(
      (loaded) => {
        setMessage(
          `${loaded.name} is loaded (${loaded.gpuLayers}/${loaded.totalLayers} layers on the GPU, ${loaded.contextSize}-token context).`,
        );
        navigate(`~/chat?model=${m.id}`);
      },
      (e: Error) => setMessage(`Could not load ${m.name}: ${e.message}`),
    );
  };
  const onRemove = (m: ModelEntry) => {
    const question = m.owned
      ? `Delete ${m.name}? Its ${formatBytes(m.sizeBytes)} of files will be removed from disk.`
      : `Forget ${m.name}? The file stays where it is.`;
    if (!window.confirm(question)) return;
    api['models.remove']({ id: m.id }).then(
      ({ deletedFiles }) => {
        setMessage(deletedFiles.length ? `Deleted ${m.name}.` : `Forgot ${m.name}; its files were left in place.`);
        setLibrary((s) => (s ? { ...s, models: s.models.filter((x) => x.id !== m.id) } : s!));
      },
      (e: Error) => setMessage(e.message),
    );
  };
  // Another machine's model: the conversation names it by ref, and that machine loads it when the first message asks.
  const onChatRemote = (m: RemoteModel) => navigate(`~/chat?model=${encodeURIComponent(m.ref)}`);
  const onReveal = (m: ModelEntry) => void api['models.reveal']({ id: m.id }).catch((e: Error) => setMessage(e.message));

  return (
    <section className={`view models-view${drop.over ? ' drop-over' : ''}`} aria-labelledby="models-title" {...drop.handlers}>
      <header className="view-header">
        <h1 id="models-title">Models</h1>
        <p className="muted">Find, download and keep the models you run: files you downloaded, dropped in, or keep in your own folders.</p>
      </header>
      <div role="tablist" aria-label="Model sections" className="tabs">
        {tabs.map((t) => (
          <button
            key={t.id}
            role="tab"
            type="button"
            aria-selected={tab === t.id}
            aria-controls={`panel-${t.id}`}
            id={`tab-${t.id}`}
            className={tab === t.id ? 'tab active' : 'tab'}
            onClick={() => setTab(t.id)}
          >
            {t.label}
          </button>
        ))}
      </div>
      <div className="dropzone" aria-label="Drop .gguf files here to import">
        <span>Drop .gguf files or a folder anywhere here to import them; a projector (mmproj) dropped with its model lets it see.</span>
        {drop.inDesktop ? (
          <label className="inline-field">
            <span>Dropped files are</span>
            <select value={mode} onChange={(e) => setMode(e.target.value as 'reference' | 'copy')}>
              <option value="reference">used where they are</option>
              <option value="copy">copied into the library</option>
            </select>
          </label>
        ) : (
          <span className="muted">In the browser they are uploaded into the library.</span>
        )}
      </div>
      {importing && (
        <div
          role="progressbar"
          aria-label={`Importing ${importing.path}`}
          aria-valuemin={0}
          aria-valuemax={100}
          aria-valuenow={Math.floor((importing.bytes / Math.max(1, importing.totalBytes)) * 100)}
          className="bar"
        >
          <div style={{ width: `${(importing.bytes / Math.max(1, importing.totalBytes)) * 100}%` }} />
        </div>
      )}
      {drop.status.lines.length > 0 && (
        <ul className="import-results" aria-label="Import results">
          {drop.status.lines.map((line, i) => (
            <li key={i} className={line.ok ? 'ok' : 'bad'}>
              {/* The role on an inner element: a list item with role=status is no longer a list item. */}
              <span role={line.ok ? 'status' : 'alert'}>{line.text}</span>
            </li>
          ))}
        </ul>
      )}
      {message && <p role="status">{message}</p>}
      <div role="tabpanel" id={`panel-${tab}`} aria-labelledby={`tab-${tab}`}>
        {tab === 'library' && (empty || firstRun) && (
          <FirstRunCard onReady={onFirstModelReady} onStarted={() => setFirstRun(true)} onBrowse={() => setTab('discover')} inModelsView />
        )}
        {tab === 'library' && readyModel && !firstRun && (
          <p role="status" className="first-run-ready">
            {readyName ?? 'Your model'} is downloaded and verified.{' '}
            <button type="button" onClick={() => navigate('~/chat')}>
              Start chatting
            </button>
          </p>
        )}
        {tab === 'library' && library.status === 'ready' && (
          <LibraryList library={library.data} canReveal={drop.inDesktop} onChat={onChat} onRemove={onRemove} onReveal={onReveal} />
        )}
        {tab === 'library' && library.status === 'error' && <p role="alert">{library.message}</p>}
        {tab === 'library' && <MachineModels machines={machines} onChat={onChatRemote} />}
        {tab === 'discover' && <Discover machines={machines} />}
        {tab === 'downloads' && <Downloads machines={machines} />}
        {tab === 'folders' && library.status === 'ready' && <Folders library={library.data} />}
      </div>
    </section>
  );
}
