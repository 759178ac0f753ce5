import { DocumentsPanel } from '../documents/DocumentsPanel';
import { ToolsPanel } from './ToolsPanel';

/** Settings: the tools that chat replies may call (MCP servers), and the documents they may read. */
export function SettingsView() {
  return (
    <section className="view" aria-labelledby="settings-title">
      <header className="view-header">
        <h1 id="settings-title">Settings</h1>
        <p className="muted">How Freehold works beyond the models: the tools a model may use in Chat, and the documents it reads.</p>
      </header>
      <ToolsPanel />
      <DocumentsPanel />
    </section>
  );
}
