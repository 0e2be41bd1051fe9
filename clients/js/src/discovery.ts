/**
 * Service discovery (Netra): `GET /ws/config` tells the WebSocket endpoint,
 * the connection limits and the heartbeat timing (protocol §12.15).
 * `parseServiceConfig` validates the body field by field and falls back to
 * the protocol defaults for anything missing.
 */

export interface ServiceConfig {
  version: string;
  /** The WebSocket path, `/ws` by default. */
  websocketPath: string;
  endpoints: Record<string, string>;
  features: Record<string, boolean>;
  limits: {
    heartbeatInterval: number;
    heartbeatTimeout: number;
    maxConnectionsPerUser: number;
    maxMessageRate: number;
    maxMessageSize: number;
    maxSubscriptions: number;
  };
}

export const DEFAULT_SERVICE_CONFIG: ServiceConfig = {
  version: '1.0',
  websocketPath: '/ws',
  endpoints: { websocket: '/ws' },
  features: {},
  limits: {
    heartbeatInterval: 30000,
    heartbeatTimeout: 60000,
    maxConnectionsPerUser: 5,
    maxMessageRate: 100,
    maxMessageSize: 10240,
    maxSubscriptions: 10,
  },
};

function obj(value: unknown): Record<string, unknown> {
  return typeof value === 'object' && value !== null && !Array.isArray(value)
    ? (value as Record<string, unknown>)
    : {};
}

function num(value: unknown, fallback: number): number {
  return typeof value === 'number' && Number.isFinite(value) && value >= 0 ? value : fallback;
}

/** Reads a `/ws/config` body. Returns an error message when it is not one. */
export function parseServiceConfig(body: unknown): ServiceConfig | string {
  const root = obj(body).websocket_config;
  if (typeof root !== 'object' || root === null) return 'the body has no "websocket_config" object';
  const cfg = obj(root);
  const endpoints: Record<string, string> = {};
  for (const [k, v] of Object.entries(obj(cfg.endpoints))) if (typeof v === 'string') endpoints[k] = v;
  const features: Record<string, boolean> = {};
  for (const [k, v] of Object.entries(obj(cfg.features))) if (typeof v === 'boolean') features[k] = v;
  const l = obj(cfg.connection_limits);
  const d = DEFAULT_SERVICE_CONFIG.limits;
  return {
    version: typeof cfg.version === 'string' ? cfg.version : '1.0',
    websocketPath: endpoints.websocket ?? '/ws',
    endpoints,
    features,
    limits: {
      heartbeatInterval: num(l.heartbeat_interval, d.heartbeatInterval),
      heartbeatTimeout: num(l.heartbeat_timeout, d.heartbeatTimeout),
      maxConnectionsPerUser: num(l.max_connections_per_user, d.maxConnectionsPerUser),
      maxMessageRate: num(l.max_message_rate, d.maxMessageRate),
      maxMessageSize: num(l.max_message_size, d.maxMessageSize),
      maxSubscriptions: num(l.max_subscriptions, d.maxSubscriptions),
    },
  };
}

/**
 * Fetches and parses `{base}/ws/config`. Resolves with the config or with an
 * error message; it never rejects.
 */
export async function discover(
  base: string,
  fetchImpl: typeof fetch | undefined = globalThis.fetch,
  timeoutMs = 5000,
): Promise<ServiceConfig | string> {
  if (typeof fetchImpl !== 'function') return 'no fetch implementation is available';
  const controller = typeof AbortController === 'function' ? new AbortController() : undefined;
  const timer = setTimeout(() => controller?.abort(), timeoutMs);
  try {
    const response = await fetchImpl(`${base.replace(/\/$/, '')}/ws/config`, { signal: controller?.signal });
    if (!response.ok) return `GET /ws/config answered ${response.status}`;
    return parseServiceConfig(await response.json());
  } catch (error) {
    return `GET /ws/config failed: ${error instanceof Error ? error.message : String(error)}`;
  } finally {
    clearTimeout(timer);
  }
}
