// The dashboard's readers of the monitoring rooms (dashboard/src/views.ts).
import { describe, expect, it } from 'vitest';
import {
  density,
  estimateEta,
  metricsView,
  nodesView,
  percent,
  rate,
  resourcesView,
  tasksView,
  topDevices,
  topologyChange,
  topologyView,
} from '../../dashboard/src/views.js';

describe('dashboard views', () => {
  it('metrics: status from the payload or from the services, numeric values two levels deep', () => {
    const v = metricsView({ services: { a: 'ok', b: { status: 'degraded' } }, cpu_usage: 41.5, system: { load: 2, deep: { x: 1 } }, timestamp: 5 });
    expect(v.status).toBe('degraded');
    expect(v.services).toEqual([
      { name: 'a', status: 'healthy' },
      { name: 'b', status: 'degraded' },
    ]);
    expect(v.values).toEqual([
      ['cpu_usage', 41.5],
      ['system.load', 2],
      ['system.deep.x', 1],
    ]);
    expect(metricsView({ status: 'DOWN' }).status).toBe('unhealthy');
    expect(metricsView('junk')).toEqual({ status: 'unknown', services: [], values: [] });
  });

  it('nodes: the seed layout, and throughput from two samples', () => {
    const v = nodesView({ betanet: { active_nodes: 5, connections: 10, avg_latency_ms: 25.5, packets_processed: 1000 }, p2p: { connected_peers: 8 } });
    expect(v).toMatchObject({ activeNodes: 5, connections: 10, latencyMs: 25.5, packets: 1000, peers: 8 });
    const t0 = new Date(0);
    const t1 = new Date(2000);
    expect(rate({ time: t0, value: 1000 }, { time: t1, value: 1400 })).toBe(200);
    expect(rate({ time: t0, value: 1000 }, { time: t1, value: 10 })).toBeUndefined(); // a counter reset
  });

  it('tasks: counts from the queue or the tasks, progress as a percentage, and an ETA', () => {
    const v = tasksView({ tasks: [{ id: 'a', status: 'running', progress: 0.5 }, { id: 'b', status: 'done', progress: 100 }, { id: 'c', status: 'queued' }] });
    expect(v.counts).toEqual({ pending: 1, running: 1, completed: 1, failed: 0 });
    expect(v.tasks.map((t) => t.progress)).toEqual([50, 100, 0]);
    expect(tasksView({ tasks: [], queue: { pending: 3, running: 2, completed: 41, failed: 1 } }).counts).toEqual({ pending: 3, running: 2, completed: 41, failed: 1 });
    // 50% → 60% in 10 s: 40% left takes 40 s.
    expect(estimateEta({ ...v.tasks[0], progress: 60 }, { progress: 50, time: 0 }, 10000)).toBe(40);
    expect(estimateEta({ ...v.tasks[0], etaSeconds: 7 }, undefined, 0)).toBe(7);
  });

  it('resources: devices as a list or a map, averages computed, the busiest first', () => {
    expect(percent(0.5)).toBe(50);
    expect(percent(150)).toBe(100);
    const v = resourcesView({ devices: { x: { cpu_usage: 0.2, memory_percent: 50 }, y: { cpu_percent: 90, disk_usage: 10 } } });
    expect(v.devices.map((d) => [d.id, d.cpu])).toEqual([
      ['x', 20],
      ['y', 90],
    ]);
    expect(v.average.cpu).toBe(55);
    expect(topDevices(v.devices).map((d) => d.id)).toEqual(['y', 'x']);
  });

  it('topology: nodes from edges too, density, and what changed', () => {
    const before = topologyView({ nodes: ['a', 'b'], edges: [{ source: 'a', target: 'b' }] });
    const after = topologyView({ nodes: [{ id: 'a' }], links: [['a', 'c']] });
    expect(after.nodes.map((n) => n.id)).toEqual(['a', 'c']);
    expect(density(before)).toBe(1);
    expect(topologyChange(before, after)).toEqual({ nodesAdded: 1, nodesRemoved: 1, edgesAdded: 1, edgesRemoved: 1 });
  });
});
