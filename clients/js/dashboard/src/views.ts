/**
 * Reads the payloads of the monitoring rooms into what the components draw.
 * The FOG seed names the fields but not every nesting, so each reader
 * accepts the plausible layouts (objects or arrays, percentages as 0-1 or
 * 0-100, several common field names) and ignores what it does not know.
 * Pure functions: no React, no I/O; they never throw on odd input.
 */

type Obj = Record<string, unknown>;

export function isObj(v: unknown): v is Obj {
  return typeof v === 'object' && v !== null && !Array.isArray(v);
}

function num(...values: unknown[]): number | undefined {
  for (const v of values) if (typeof v === 'number' && Number.isFinite(v)) return v;
  return undefined;
}

function str(...values: unknown[]): string | undefined {
  for (const v of values) if (typeof v === 'string' && v.length > 0) return v;
  return undefined;
}

/** A percentage in 0-100 from 0-1 or 0-100 input. */
export function percent(value: number | undefined): number | undefined {
  if (value === undefined) return undefined;
  const p = value <= 1 && value >= 0 ? value * 100 : value;
  return Math.max(0, Math.min(100, p));
}

// ------------------------------------------------------------------ health

export type Health = 'healthy' | 'degraded' | 'unhealthy' | 'unknown';

export function health(value: unknown): Health {
  const v = isObj(value) ? str(value.status, value.state, value.health) : str(value);
  if (!v) return 'unknown';
  const s = v.toLowerCase();
  if (['healthy', 'ok', 'up', 'green', 'running', 'online', 'active', 'pass'].includes(s)) return 'healthy';
  if (['degraded', 'warning', 'warn', 'yellow', 'slow', 'partial'].includes(s)) return 'degraded';
  if (['unhealthy', 'down', 'critical', 'error', 'red', 'failed', 'offline', 'fail'].includes(s)) return 'unhealthy';
  return 'unknown';
}

// ------------------------------------------------------------------ metrics

export interface MetricsView {
  status: Health;
  services: Array<{ name: string; status: Health }>;
  /** Numeric values by dotted name, in the order they appear. */
  values: Array<[string, number]>;
}

function numericLeaves(o: Obj, prefix: string, out: Array<[string, number]>, depth: number): void {
  for (const [k, v] of Object.entries(o)) {
    if (k === 'timestamp' || k === 'services') continue;
    const name = prefix ? `${prefix}.${k}` : k;
    if (typeof v === 'number' && Number.isFinite(v)) out.push([name, v]);
    else if (isObj(v) && depth > 0) numericLeaves(v, name, out, depth - 1);
  }
}

export function metricsView(payload: unknown): MetricsView {
  const p = isObj(payload) ? payload : {};
  const sys = isObj(p.system_health) ? p.system_health : isObj(p.health) ? p.health : {};
  let status = health(str(p.status, p.overall_status, sys.status, typeof p.health === 'string' ? p.health : undefined));
  const services: MetricsView['services'] = [];
  const rawServices = p.services ?? sys.services;
  if (Array.isArray(rawServices)) {
    for (const s of rawServices) if (isObj(s)) services.push({ name: str(s.name, s.id, s.service) ?? '?', status: health(s) });
  } else if (isObj(rawServices)) {
    for (const [name, s] of Object.entries(rawServices)) services.push({ name, status: health(s) });
  }
  if (status === 'unknown' && services.length > 0) {
    status = services.some((s) => s.status === 'unhealthy')
      ? 'unhealthy'
      : services.some((s) => s.status === 'degraded')
        ? 'degraded'
        : 'healthy';
  }
  const values: Array<[string, number]> = [];
  numericLeaves(p, '', values, 2);
  return { status, services, values };
}

// ------------------------------------------------------------------ nodes

export interface NodesView {
  activeNodes?: number;
  connections?: number;
  latencyMs?: number;
  packets?: number;
  peers?: number;
  messagesSent?: number;
  messagesReceived?: number;
  nodes: Array<{ id: string; status: Health; latencyMs?: number }>;
}

export function nodesView(payload: unknown): NodesView {
  const p = isObj(payload) ? payload : {};
  const b = isObj(p.betanet) ? p.betanet : p;
  const q = isObj(p.p2p) ? p.p2p : p;
  const list = Array.isArray(p.nodes) ? p.nodes : isObj(p.nodes) ? Object.entries(p.nodes).map(([id, v]) => ({ id, ...(isObj(v) ? v : { status: v }) })) : [];
  return {
    activeNodes: num(b.active_nodes, b.nodes_active, Array.isArray(p.nodes) ? p.nodes.length : undefined),
    connections: num(b.connections, b.active_connections),
    latencyMs: num(b.avg_latency_ms, b.latency_ms, b.avg_latency),
    packets: num(b.packets_processed, b.packets),
    peers: num(q.connected_peers, q.peers),
    messagesSent: num(q.messages_sent),
    messagesReceived: num(q.messages_received),
    nodes: list
      .filter(isObj)
      .slice(0, 200)
      .map((n, i) => ({ id: str(n.id, n.node_id, n.name) ?? `node-${i}`, status: health(n), latencyMs: num(n.latency_ms, n.latency) })),
  };
}

/** Per-second rate of a counter between two samples; undefined if it cannot be told. */
export function rate(
  prev: { time: Date; value: number | undefined } | undefined,
  next: { time: Date; value: number | undefined },
): number | undefined {
  if (!prev || prev.value === undefined || next.value === undefined) return undefined;
  const dt = (next.time.getTime() - prev.time.getTime()) / 1000;
  if (dt <= 0 || next.value < prev.value) return undefined;
  return (next.value - prev.value) / dt;
}

// ------------------------------------------------------------------ tasks

export type TaskStatus = 'pending' | 'running' | 'completed' | 'failed';

export interface TaskView {
  id: string;
  name: string;
  status: TaskStatus;
  /** 0-100 */
  progress: number;
  etaSeconds?: number;
}

export interface TasksView {
  counts: Record<TaskStatus, number>;
  tasks: TaskView[];
}

function taskStatus(value: unknown): TaskStatus {
  const s = (str(value) ?? '').toLowerCase();
  if (['completed', 'complete', 'done', 'succeeded', 'success', 'finished'].includes(s)) return 'completed';
  if (['failed', 'error', 'cancelled', 'canceled'].includes(s)) return 'failed';
  if (['pending', 'queued', 'waiting', 'scheduled'].includes(s)) return 'pending';
  return 'running';
}

export function tasksView(payload: unknown): TasksView {
  const p = isObj(payload) ? payload : {};
  const rawTasks = [p.tasks, p.active_tasks, p.running_tasks, p.jobs].find(Array.isArray) as unknown[] | undefined;
  const tasks: TaskView[] = (rawTasks ?? []).filter(isObj).map((t, i) => {
    const progress = percent(num(t.progress, t.percent, t.progress_percent)) ?? 0;
    return {
      id: str(t.id, t.task_id, t.job_id) ?? `task-${i}`,
      name: str(t.name, t.title, t.type, t.id, t.task_id) ?? `task ${i + 1}`,
      status: t.status === undefined && progress >= 100 ? 'completed' : taskStatus(t.status),
      progress,
      etaSeconds: num(t.eta_seconds, t.eta, t.remaining_seconds),
    };
  });
  const q = [p.queue, p.job_queue, p.stats, p.statistics, p.counts].find(isObj) ?? p;
  const fromTasks = (s: TaskStatus) => tasks.filter((t) => t.status === s).length;
  const counts = {
    pending: num(q.pending, q.queued) ?? fromTasks('pending'),
    running: num(q.running, q.active) ?? fromTasks('running'),
    completed: num(q.completed, q.done) ?? fromTasks('completed'),
    failed: num(q.failed, q.errors) ?? fromTasks('failed'),
  };
  return { counts, tasks };
}

/**
 * Seconds left for a running task, from its own `eta_seconds` or from the
 * progress made since the previous sample.
 */
export function estimateEta(task: TaskView, prev: { progress: number; time: number } | undefined, now: number): number | undefined {
  if (task.etaSeconds !== undefined) return task.etaSeconds;
  if (!prev || task.status !== 'running') return undefined;
  const dt = (now - prev.time) / 1000;
  const dp = task.progress - prev.progress;
  if (dt <= 0 || dp <= 0) return undefined;
  return ((100 - task.progress) / dp) * dt;
}

// ------------------------------------------------------------------ resources

export interface DeviceView {
  id: string;
  cpu?: number;
  memory?: number;
  disk?: number;
}

export interface ResourcesView {
  average: { cpu?: number; memory?: number; disk?: number };
  devices: DeviceView[];
}

function device(id: string, d: Obj): DeviceView {
  return {
    id: str(d.name, d.id, d.device_id, d.hostname) ?? id,
    cpu: percent(num(d.cpu_percent, d.cpu_usage, d.cpu, d.cpu_utilization)),
    memory: percent(num(d.memory_percent, d.memory_usage, d.memory, d.mem_percent, d.ram_percent)),
    disk: percent(num(d.storage_percent, d.disk_percent, d.disk_usage, d.storage_usage, d.disk, d.storage)),
  };
}

function mean(values: Array<number | undefined>): number | undefined {
  const v = values.filter((x): x is number => x !== undefined);
  return v.length > 0 ? v.reduce((a, b) => a + b, 0) / v.length : undefined;
}

export function resourcesView(payload: unknown): ResourcesView {
  const p = isObj(payload) ? payload : {};
  const raw = p.devices ?? p.nodes;
  const devices: DeviceView[] = Array.isArray(raw)
    ? raw.filter(isObj).map((d, i) => device(`device-${i}`, d))
    : isObj(raw)
      ? Object.entries(raw).map(([id, d]) => device(id, isObj(d) ? d : {}))
      : [];
  const a = [p.averages, p.average, p.avg, p.summary].find(isObj);
  const average = a
    ? device('avg', a)
    : { cpu: mean(devices.map((d) => d.cpu)), memory: mean(devices.map((d) => d.memory)), disk: mean(devices.map((d) => d.disk)) };
  return { average: { cpu: average.cpu, memory: average.memory, disk: average.disk }, devices };
}

/** The 10 busiest devices by CPU, then memory. */
export function topDevices(devices: DeviceView[], n = 10): DeviceView[] {
  return [...devices].sort((x, y) => (y.cpu ?? -1) - (x.cpu ?? -1) || (y.memory ?? -1) - (x.memory ?? -1)).slice(0, n);
}

// ------------------------------------------------------------------ topology

export interface TopologyView {
  nodes: Array<{ id: string; label: string; kind?: string; status: Health }>;
  edges: Array<{ source: string; target: string; latencyMs?: number }>;
}

export function topologyView(payload: unknown): TopologyView {
  const p = isObj(payload) ? payload : {};
  const rawNodes = Array.isArray(p.nodes) ? p.nodes : [];
  const nodes = rawNodes.slice(0, 300).map((n, i) => {
    if (typeof n === 'string') return { id: n, label: n, status: 'unknown' as Health };
    const o = isObj(n) ? n : {};
    const id = str(o.id, o.node_id, o.name) ?? `n${i}`;
    return { id, label: str(o.label, o.name, o.id) ?? id, kind: str(o.type, o.kind, o.role), status: health(o) };
  });
  const ids = new Set(nodes.map((n) => n.id));
  const rawEdges = [p.edges, p.links, p.connections].find(Array.isArray) as unknown[] | undefined;
  const edges: TopologyView['edges'] = [];
  for (const e of rawEdges ?? []) {
    const o: Obj = isObj(e) ? e : Array.isArray(e) ? { source: e[0], target: e[1] } : {};
    const source = str(o.source, o.from, o.src);
    const target = str(o.target, o.to, o.dst);
    if (!source || !target) continue;
    for (const id of [source, target]) {
      if (!ids.has(id) && nodes.length < 300) {
        ids.add(id);
        nodes.push({ id, label: id, kind: undefined, status: 'unknown' });
      }
    }
    edges.push({ source, target, latencyMs: num(o.latency_ms, o.latency) });
    if (edges.length >= 1000) break;
  }
  return { nodes, edges };
}

/** Connection density: edges / the most edges an undirected graph of this size can have. */
export function density(view: TopologyView): number {
  const n = view.nodes.length;
  return n < 2 ? 0 : Math.min(1, (2 * view.edges.length) / (n * (n - 1)));
}

export interface TopologyChange {
  nodesAdded: number;
  nodesRemoved: number;
  edgesAdded: number;
  edgesRemoved: number;
}

export function topologyChange(prev: TopologyView | undefined, next: TopologyView): TopologyChange {
  if (!prev) return { nodesAdded: next.nodes.length, nodesRemoved: 0, edgesAdded: next.edges.length, edgesRemoved: 0 };
  const diff = (a: Set<string>, b: Set<string>) => [...a].filter((x) => !b.has(x)).length;
  const pn = new Set(prev.nodes.map((n) => n.id));
  const nn = new Set(next.nodes.map((n) => n.id));
  const key = (e: { source: string; target: string }) => [e.source, e.target].sort().join('\u0000');
  const pe = new Set(prev.edges.map(key));
  const ne = new Set(next.edges.map(key));
  return { nodesAdded: diff(nn, pn), nodesRemoved: diff(pn, nn), edgesAdded: diff(ne, pe), edgesRemoved: diff(pe, ne) };
}
