/**
 * The server's own statistics (`GET /api/ws/stats`, every 2 s) with the
 * message rate over time, next to this page's connection statistics. The
 * stats route is protected: without the server API key it answers only
 * loopback clients, which the panel says when it is refused.
 */
import { useEffect, useRef, useState } from 'react';
import type uPlot from 'uplot';
import { fetchStats, type ServerStats as Stats } from 'wavecast';
import { useWavecast } from 'wavecast/react';
import type { Settings } from '../settings';
import { Chart } from './Chart';
import { Tile } from './NodeStatusMap';
import { fmt, Panel } from './Panel';

const POINTS = 90;

/** Polls `/api/ws/stats` every 2 s; keeps the message rate and connection count of the last 90 polls. */
function useServerStats(settings: Settings): { stats: Stats | null; error: string | null; data: uPlot.AlignedData } {
  const [stats, setStats] = useState<Stats | null>(null);
  const [error, setError] = useState<string | null>(null);
  const series = useRef<{ x: number[]; rate: number[]; conns: number[]; last?: { t: number; total: number } }>({ x: [], rate: [], conns: [] });
  const [data, setData] = useState<uPlot.AlignedData>([[], [], []]);

  useEffect(() => {
    let live = true;
    const poll = async () => {
      const result = await fetchStats(settings.http, { apiKey: settings.httpKey });
      if (!live) return;
      if (!result.ok) {
        setError(result.status === 401 ? 'the server API needs its key: add #http_key=… to the URL' : `${result.error.code}: ${result.error.error}`);
        return;
      }
      setError(null);
      setStats(result.body);
      const s = series.current;
      const t = Date.now() / 1000;
      const total = result.body.total_messages;
      const r = s.last && t > s.last.t ? Math.max(0, (total - s.last.total) / (t - s.last.t)) : 0;
      s.last = { t, total };
      s.x.push(t);
      s.rate.push(r);
      s.conns.push(result.body.active_connections);
      if (s.x.length > POINTS) for (const a of [s.x, s.rate, s.conns]) a.shift();
      setData([s.x.slice(), s.rate.slice(), s.conns.slice()]);
    };
    void poll();
    const timer = setInterval(poll, 2000);
    return () => {
      live = false;
      clearInterval(timer);
    };
  }, [settings.http, settings.httpKey]);
  return { stats, error, data };
}

export function ServerStats({ settings }: { settings: Settings }) {
  const { connectionStats: cs } = useWavecast();
  const { stats, error, data } = useServerStats(settings);
  const rooms = stats ? Object.entries(stats.rooms ?? {}).sort((a, b) => b[1] - a[1]).slice(0, 12) : [];
  return (
    <Panel title="Server" subtitle={stats ? `${stats.engine ?? ''} · up ${fmt(stats.uptime_seconds)} s` : settings.http} testId="server-stats">
      {error && <p className="warn-text">{error}</p>}
      {stats && (
        <>
          <div className="tiles">
            <Tile label="connections" value={fmt(stats.active_connections)} />
            <Tile label="messages" value={fmt(stats.total_messages)} />
            <Tile label="publications" value={fmt(stats.publications)} />
            <Tile label="subscriptions" value={fmt(stats.subscriptions)} />
            <Tile label="dropped frames" value={fmt(stats.dropped_frames)} />
          </div>
          <Chart
            series={[
              { label: 'messages/s', stroke: '#4cc9f0' },
              { label: 'connections', stroke: '#b5e48c', scale: 'conns' },
            ]}
            data={data}
            height={110}
          />
          {rooms.length > 0 && (
            <div className="kv-row">
              {rooms.map(([room, n]) => (
                <span key={room} className="kv">
                  <code>{room}</code> {n}
                </span>
              ))}
            </div>
          )}
        </>
      )}
      <h3>This page</h3>
      <div className="kv-row">
        <span className="kv">in {fmt(cs.messages_received)}</span>
        <span className="kv">out {fmt(cs.messages_sent)}</span>
        <span className="kv">reconnects {fmt(cs.reconnects)}</span>
        <span className="kv">queued {fmt(cs.queued)}</span>
        <span className="kv">RTT {fmt(cs.avg_rtt_ms ?? undefined, 1, ' ms')}</span>
        <span className="kv">errors {fmt(cs.errors)}</span>
      </div>
    </Panel>
  );
}
