import { ToolsPanel } from './ToolsPanel';

/** Settings: for now the tools that chat replies may call (MCP servers). */
export function SettingsView() {
  return (
    <section className="view" aria-labelledby="settings-title">
      <header className="view-header">
        <h1 id="settings-title">Settings</h1>
        <p className="muted">How Freehold works beyond the models: the tools a model may use in Chat.</p>
      </header>
      <ToolsPanel />
    </section>
  );
}
