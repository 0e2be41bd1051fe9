/**
 * LiveMetricsChart (FOG): the `metrics` room as a live chart of its numeric
 * values, the overall and per-service status in green / yellow / red, and a
 * strip with the health of each of the last 60 updates.
 */
import { useMemo } from 'react';
import type uPlot from 'uplot';
import { useRealtimeMetrics, useWavecast } from 'wavecast/react';
import { useFrameValue } from '../frame';
import { metricsView, type Health } from '../views';
import { Chart } from './Chart';
import { ago, fmt, NoData, Panel } from './Panel';

const COLOURS = ['#4cc9f0', '#f72585', '#b5e48c', '#ffd166'];

export function StatusDot({ status }: { status: Health }) {
  return <span className={`dot health-${status}`} title={status} />;
}

export function LiveMetricsChart() {
  const { client } = useWavecast();
  const metrics = useRealtimeMetrics(client);
  const history = useFrameValue(metrics.history);
  const { latest, names, data, healthStrip } = useMemo(() => {
    const views = history.map((h) => ({ time: h.time, view: metricsView(h.data) }));
    const last = views.at(-1)?.view;
    const chosen = (last?.values ?? []).slice(0, 4).map(([name]) => name);
    const xs = views.map((v) => v.time.getTime() / 1000);
    const ys = chosen.map((name) => views.map((v) => v.view.values.find(([n]) => n === name)?.[1] ?? null));
    return {
      latest: last,
      names: chosen,
      data: [xs, ...ys] as uPlot.AlignedData,
      healthStrip: views.slice(-60).map((v) => v.view.status),
    };
  }, [history]);

  return (
    <Panel title="Live metrics" subtitle={metrics.isLoading ? 'room metrics' : ago(metrics.lastUpdate)} testId="live-metrics">
      {metrics.isLoading || !latest ? (
        <NoData room="metrics" />
      ) : (
        <>
          <div className="status-row">
            <StatusDot status={latest.status} />
            <strong className={`health-text health-${latest.status}`}>{latest.status}</strong>
            {latest.services.slice(0, 12).map((s) => (
              <span key={s.name} className="service">
                <StatusDot status={s.status} /> {s.name}
              </span>
            ))}
          </div>
          {names.length > 0 ? (
            <Chart series={names.map((label, i) => ({ label, stroke: COLOURS[i] }))} data={data} height={150} testId="metrics-chart" />
          ) : (
            <p className="muted">The metrics carry no numeric values.</p>
          )}
          <div className="health-strip" title="health of the last 60 updates">
            {healthStrip.map((s, i) => (
              <span key={i} className={`cell health-${s}`} />
            ))}
          </div>
          <div className="kv-row">
            {latest.values.slice(0, 8).map(([k, v]) => (
              <span key={k} className="kv">
                <span className="k">{k}</span> <span className="v">{fmt(v, 2)}</span>
              </span>
            ))}
          </div>
        </>
      )}
    </Panel>
  );
}
