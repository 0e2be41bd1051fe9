/**
 * The FOG monitoring rooms (issue 10) as the client sees them. Each room is
 * an ordinary channel whose publications carry `{type, room, data,
 * timestamp}`; the client dispatches them under that inner `type`.
 * `payloadOf` takes the payload out of any of the three shapes a handler
 * can receive, and `normalizeAlert` reads both alert layouts (fields at the
 * top of `data`, or nested in `data.data`).
 */

/** Room → the event type published in it. */
export const MONITORING_ROOMS = {
  nodes: 'node_status_update',
  tasks: 'task_progress',
  metrics: 'metrics_update',
  alerts: 'alert',
  resources: 'resource_update',
  topology: 'topology_update',
} as const;

export type MonitoringRoom = keyof typeof MONITORING_ROOMS;

function isObject(value: unknown): value is Record<string, unknown> {
  return typeof value === 'object' && value !== null && !Array.isArray(value);
}

/**
 * The payload of a monitoring message. A handler of `type` receives either
 * the inner message `{type, room, data}` (payload: `data`), or a publication
 * `{type, channel, data}` whose `data` is the payload, or one whose `data` is
 * itself `{type, room, data}` (payload: `data.data`).
 */
export function payloadOf(message: unknown, type?: string): unknown {
  if (!isObject(message)) return message;
  const data = message.data;
  if (isObject(data) && 'data' in data && typeof data.type === 'string' && (type === undefined || data.type === type)) {
    return data.data;
  }
  return data;
}

/** The room or channel a message belongs to. */
export function roomOf(message: unknown, envelope?: unknown): string | undefined {
  if (isObject(envelope) && typeof envelope.channel === 'string') return envelope.channel;
  if (isObject(message)) {
    if (typeof message.channel === 'string') return message.channel;
    if (typeof message.room === 'string') return message.room;
  }
  return undefined;
}

export interface Alert {
  /** `channel:offset` when the publication has an offset, else a local sequence. */
  id: string;
  /** `anomaly_detected`, `threshold_exceeded`, ... */
  type: string;
  /** `critical`, `high`, `warning`, `medium`, `info`, ... as sent. */
  severity: string;
  metric?: string;
  value?: number;
  threshold?: number;
  z_score?: number;
  priority?: string;
  message?: string;
  timestamp: string;
  raw: unknown;
}

let alertSeq = 0;

function pickNumber(o: Record<string, unknown>, key: string): number | undefined {
  return typeof o[key] === 'number' ? (o[key] as number) : undefined;
}

function pickString(o: Record<string, unknown>, key: string): string | undefined {
  return typeof o[key] === 'string' ? (o[key] as string) : undefined;
}

/** Reads an alert out of a publication of the `alerts` room; undefined if it is not one. */
export function normalizeAlert(publication: { type?: unknown; data?: unknown; offset?: unknown; channel?: unknown; timestamp?: unknown }): Alert | undefined {
  const outer = publication.data;
  if (!isObject(outer)) return undefined;
  const nested = isObject(outer.data) ? outer.data : undefined;
  const fields: Record<string, unknown> = nested && (nested.metric !== undefined || nested.severity !== undefined || nested.type !== undefined) ? nested : outer;
  const type = pickString(fields, 'type') ?? pickString(outer, 'type') ?? String(publication.type ?? 'alert');
  const priority = pickString(fields, 'priority') ?? pickString(outer, 'priority');
  const severity = (pickString(fields, 'severity') ?? priority ?? 'info').toLowerCase();
  const timestamp =
    pickString(fields, 'timestamp') ?? pickString(outer, 'timestamp') ??
    (typeof publication.timestamp === 'string' ? publication.timestamp : new Date().toISOString());
  const id =
    typeof publication.offset === 'number' ? `${String(publication.channel ?? 'alerts')}:${publication.offset}` : `local:${++alertSeq}`;
  return {
    id,
    type,
    severity,
    metric: pickString(fields, 'metric'),
    value: pickNumber(fields, 'value'),
    threshold: pickNumber(fields, 'threshold'),
    z_score: pickNumber(fields, 'z_score'),
    priority,
    message: pickString(fields, 'message'),
    timestamp,
    raw: outer,
  };
}

/** Severity → a colour class: `critical`, `warning` or `info`. */
export function severityClass(severity: string): 'critical' | 'warning' | 'info' {
  const s = severity.toLowerCase();
  if (s === 'critical' || s === 'high' || s === 'error' || s === 'fatal') return 'critical';
  if (s === 'warning' || s === 'warn' || s === 'medium') return 'warning';
  return 'info';
}
