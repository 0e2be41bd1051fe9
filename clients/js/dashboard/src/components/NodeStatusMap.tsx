/**
 * NodeStatusMap (FOG): the `nodes` room: active nodes and connections,
 * average latency, and throughput (packets and P2P messages per second,
 * from the counters of consecutive updates), with their recent history.
 */
import { useMemo } from 'react';
import type uPlot from 'uplot';
import { useNodeStatus, useWavecast } from 'wavecast/react';
import { useFrameValue } from '../frame';
import { nodesView, rate } from '../views';
import { Chart } from './Chart';
import { StatusDot } from './LiveMetricsChart';
import { ago, fmt, NoData, Panel } from './Panel';

export function NodeStatusMap() {
  const { client } = useWavecast();
  const nodes = useNodeStatus(client);
  const history = useFrameValue(nodes.history);
  const model = useMemo(() => {
    const views = history.map((h) => ({ time: h.time, view: nodesView(h.data) }));
    const throughput = views.map((v, i) => {
      const prev = views[i - 1];
      return {
        packets: rate(prev && { time: prev.time, value: prev.view.packets }, { time: v.time, value: v.view.packets }),
        messages: rate(prev && { time: prev.time, value: prev.view.messagesReceived }, { time: v.time, value: v.view.messagesReceived }),
      };
    });
    const data: uPlot.AlignedData = [
      views.map((v) => v.time.getTime() / 1000),
      views.map((v) => v.view.latencyMs ?? null),
      throughput.map((t) => t.packets ?? null),
    ];
    return { latest: views.at(-1)?.view, now: throughput.at(-1), data };
  }, [history]);

  const v = model.latest;
  return (
    <Panel title="Node status" subtitle={nodes.isLoading ? 'room nodes' : ago(nodes.lastUpdate)} testId="node-status">
      {nodes.isLoading || !v ? (
        <NoData room="nodes" />
      ) : (
        <>
          <div className="tiles">
            <Tile label="active nodes" value={fmt(v.activeNodes)} />
            <Tile label="connections" value={fmt(v.connections)} />
            <Tile label="avg latency" value={fmt(v.latencyMs, 1, ' ms')} />
            <Tile label="packets/s" value={fmt(model.now?.packets, 1)} />
            <Tile label="P2P peers" value={fmt(v.peers)} />
            <Tile label="P2P msgs/s" value={fmt(model.now?.messages, 1)} />
          </div>
          {v.nodes.length > 0 && (
            <div className="node-grid">
              {v.nodes.map((n) => (
                <span key={n.id} className="node" title={`${n.id} ${n.status}${n.latencyMs !== undefined ? ` ${n.latencyMs} ms` : ''}`}>
                  <StatusDot status={n.status} />
                  {n.id}
                </span>
              ))}
            </div>
          )}
          <Chart
            series={[
              { label: 'latency ms', stroke: '#ffd166' },
              { label: 'packets/s', stroke: '#4cc9f0', scale: 'rate' },
            ]}
            data={model.data}
            height={120}
          />
        </>
      )}
    </Panel>
  );
}

export function Tile({ label, value }: { label: string; value: string }) {
  return (
    <div className="tile">
      <div className="tile-value">{value}</div>
      <div className="tile-label">{label}</div>
    </div>
  );
}
