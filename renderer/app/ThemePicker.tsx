import { useEffect } from 'react';
import { themes, type Settings } from '../../shared/settings';
import { useHostApi, useHostEvent, useHostQuery } from './host-context';
import { useReportProblem } from './problems';

type Theme = Settings['appearance']['theme'];

/** Applies the theme: "system" follows the OS (prefers-color-scheme); light and dark override it. */
export function applyTheme(root: HTMLElement, theme: Theme): void {
  if (theme === 'system') delete root.dataset.theme;
  else root.dataset.theme = theme;
}

export function ThemePicker() {
  const api = useHostApi();
  const report = useReportProblem();
  const [settings, setSettings] = useHostQuery('settings.get');
  useHostEvent('onSettingsChanged', setSettings);
  const theme: Theme = settings.status === 'ready' ? settings.data.appearance.theme : 'system';
  useEffect(() => applyTheme(document.documentElement, theme), [theme]);

  return (
    <label className="theme-picker">
      <span>Theme</span>
      <select
        value={theme}
        disabled={settings.status !== 'ready'}
        onChange={(event) => {
          const value = event.target.value as Theme;
          api['settings.update']({ appearance: { theme: value } }).then(setSettings, (e: unknown) =>
            report(e, 'Could not change the theme'),
          );
        }}
      >
        {themes.map((name) => (
          <option key={name} value={name}>
            {name === 'system' ? 'Follow system' : name === 'light' ? 'Light' : 'Dark'}
          </option>
        ))}
      </select>
    </label>
  );
}
