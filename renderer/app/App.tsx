import { Link, Redirect, Route, Router, Switch, useLocation } from 'wouter';
import { useHashLocation } from 'wouter/use-hash-location';
import { ChatView } from '../features/chat/ChatView';
import { HardwareView } from '../features/hardware/HardwareView';
import { ModelsView } from '../features/models/ModelsView';
import { SettingsView } from '../features/settings/SettingsView';
import type { HostConnection } from '../transport/host-connection';
import { ErrorBoundary } from './ErrorBoundary';
import { HostProvider } from './host-context';
import { Notices } from './Notices';
import { Problems, ProblemsProvider } from './problems';
import { StatusBar } from './StatusBar';
import { ThemePicker } from './ThemePicker';

export const views = [
  { path: '/models', label: 'Models', component: ModelsView },
  { path: '/chat', label: 'Chat', component: ChatView },
  { path: '/hardware', label: 'Hardware', component: HardwareView },
  { path: '/settings', label: 'Settings', component: SettingsView },
] as const;

function Navigation() {
  const [location] = useLocation();
  return (
    <nav className="sidebar" aria-label="Main">
      <div className="brand">Freehold</div>
      <ul>
        {views.map((view) => {
          const current = location === view.path || location.startsWith(`${view.path}/`);
          return (
            <li key={view.path}>
              <Link href={view.path} className={current ? 'nav-link active' : 'nav-link'} aria-current={current ? 'page' : undefined}>
                {view.label}
              </Link>
            </li>
          );
        })}
      </ul>
      <div className="sidebar-footer">
        <ThemePicker />
      </div>
    </nav>
  );
}

export function App({ connection }: { connection: HostConnection }) {
  return (
    <HostProvider connection={connection}>
      <ProblemsProvider>
        <Router hook={useHashLocation}>
          <div className="app-shell">
            <Navigation />
            <main className="content" id="main">
              <Notices />
              <Switch>
                {views.map((view) => (
                  <Route key={view.path} path={view.path} nest>
                    <ErrorBoundary area={view.label}>
                      <view.component />
                    </ErrorBoundary>
                  </Route>
                ))}
                <Route>
                  <Redirect to="/models" />
                </Route>
              </Switch>
            </main>
            <StatusBar />
            <Problems />
          </div>
        </Router>
      </ProblemsProvider>
    </HostProvider>
  );
}
