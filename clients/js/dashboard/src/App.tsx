/**
 * The dashboard page: header (server, connection indicator, credentials),
 * the six FOG monitoring components, the channel inspector, the server's
 * stats and the simulation viewer. It discovers the server first: when the
 * server requires auth and no credential is in the fragment, it asks for
 * one instead of connecting.
 */
import { useEffect, useState, type FormEvent } from 'react';
import { discover, type ServiceConfig } from 'wavecast';
import { WavecastProvider } from 'wavecast/react';
import { AlertNotifications } from './components/AlertNotifications';
import { ChannelInspector } from './components/ChannelInspector';
import { ConnectionIndicator } from './components/ConnectionIndicator';
import { LiveMetricsChart } from './components/LiveMetricsChart';
import { NodeStatusMap } from './components/NodeStatusMap';
import { ResourceMonitor } from './components/ResourceMonitor';
import { ServerStats } from './components/ServerStats';
import { SimulationViewer } from './components/SimulationViewer';
import { TaskProgressList } from './components/TaskProgressList';
import { TopologyVisualization } from './components/TopologyVisualization';
import { credentialFragment, looksLikeJwt, readSettings, type Settings } from './settings';

function useSettings(): Settings {
  const [settings, setSettings] = useState(() => readSettings(window.location));
  useEffect(() => {
    const update = () => setSettings(readSettings(window.location));
    window.addEventListener('hashchange', update);
    return () => window.removeEventListener('hashchange', update);
  }, []);
  return settings;
}

function setCredentials(settings: Settings, credential: string, httpKey: string) {
  const c = credential.trim();
  const fragment = credentialFragment({
    token: c && looksLikeJwt(c) ? c : undefined,
    apiKey: c && !looksLikeJwt(c) ? c : undefined,
    httpKey: httpKey.trim() || settings.httpKey,
  });
  window.location.hash = fragment || '#';
}

function Credentials({ settings, prompt }: { settings: Settings; prompt: boolean }) {
  const [open, setOpen] = useState(prompt);
  const [credential, setCredential] = useState('');
  const [httpKey, setHttpKey] = useState('');
  const has = Boolean(settings.token || settings.apiKey);
  const submit = (e: FormEvent) => {
    e.preventDefault();
    setCredentials(settings, credential, httpKey);
    setCredential('');
    setOpen(false);
  };
  if (!open && !prompt) {
    return (
      <button type="button" className="small" onClick={() => setOpen(true)} data-testid="credentials-open">
        {has ? 'credentials ✓' : 'credentials'}
      </button>
    );
  }
  return (
    <form className={`credentials ${prompt ? 'prompt' : ''}`} onSubmit={submit} data-testid="credentials">
      {prompt && <p>This server requires authentication. Enter a token (JWT) or a client API key.</p>}
      <input
        type="password"
        placeholder="JWT or API key"
        value={credential}
        onChange={(e) => setCredential(e.target.value)}
        data-testid="credential-input"
        autoComplete="off"
      />
      <input type="password" placeholder="server API key (optional)" value={httpKey} onChange={(e) => setHttpKey(e.target.value)} autoComplete="off" />
      <button type="submit" data-testid="credential-submit">
        Use
      </button>
      {has && (
        <button type="button" className="small" onClick={() => (window.location.hash = credentialFragment({ httpKey: settings.httpKey }) || '#')}>
          Forget
        </button>
      )}
    </form>
  );
}

export function App() {
  const settings = useSettings();
  const [config, setConfig] = useState<ServiceConfig | string | null>(null);
  useEffect(() => {
    let live = true;
    void discover(settings.http).then((c) => live && setConfig(c));
    return () => {
      live = false;
    };
  }, [settings.http]);
  const authRequired = typeof config === 'object' && config !== null && config.features.auth_required === true;
  const needsCredential = authRequired && !settings.token && !settings.apiKey;
  const waiting = config === null;

  return (
    <div className="app">
      <header className="top">
        <h1>
          wave<span>cast</span>
        </h1>
        <code className="server" title="the wavecast server">
          {settings.ws}
        </code>
        {typeof config === 'string' && <span className="warn-text">{config}</span>}
        <span className="spacer" />
        {!waiting && !needsCredential && (
          <Credentials key={`${settings.token ?? ''}${settings.apiKey ?? ''}`} settings={settings} prompt={false} />
        )}
      </header>
      {waiting ? (
        <p className="muted">Looking for the server…</p>
      ) : needsCredential ? (
        <Credentials settings={settings} prompt />
      ) : (
        <WavecastProvider
          key={`${settings.http}|${settings.token ?? ''}|${settings.apiKey ?? ''}`}
          url={settings.http}
          token={settings.token}
          apiKey={settings.apiKey}
          maxReconnectAttempts={1_000_000}
          reconnectInterval={500}
          options={{ maxReconnectInterval: 5000 }}
        >
          <Dashboard settings={settings} />
        </WavecastProvider>
      )}
    </div>
  );
}

function Dashboard({ settings }: { settings: Settings }) {
  return (
    <main>
      <div className="status-bar">
        <ConnectionIndicator />
      </div>
      <div className="grid">
        <LiveMetricsChart />
        <NodeStatusMap />
        <AlertNotifications />
        <TaskProgressList />
        <ResourceMonitor />
        <TopologyVisualization />
      </div>
      <div className="grid two">
        <ChannelInspector settings={settings} />
        <ServerStats settings={settings} />
      </div>
      <SimulationViewer settings={settings} />
    </main>
  );
}
