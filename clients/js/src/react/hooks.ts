/**
 * The FOG React hooks, with the seed's signatures. `useWebSocket` owns a
 * client for the lifetime of the component (one per url and token); the
 * other hooks take a client (or null, while it is being created) and
 * subscribe to its rooms with reference counts, so that components sharing
 * a room do not unsubscribe each other.
 */
import { useCallback, useEffect, useRef, useState } from 'react';
import { WebSocketClient, type ConnectionState, type WebSocketClientOptions } from '../client.js';
import { normalizeAlert, payloadOf, roomOf, type Alert } from '../monitoring.js';

export type ClientOptions = Omit<WebSocketClientOptions, 'url' | 'token'>;

export interface UseWebSocketResult {
  state: ConnectionState;
  isConnected: boolean;
  subscribe: (rooms: string[]) => void;
  unsubscribe: (rooms: string[]) => void;
  client: WebSocketClient | null;
}

/** Creates a client for `url` and `token`, connects it, and disconnects it on unmount. */
export function useWebSocket(url: string, token?: string, options: ClientOptions = {}): UseWebSocketResult {
  const [client, setClient] = useState<WebSocketClient | null>(null);
  const [state, setState] = useState<ConnectionState>('disconnected');
  const optionsRef = useRef(options);
  optionsRef.current = options;

  useEffect(() => {
    const c = new WebSocketClient({ ...optionsRef.current, url, token });
    const off = c.onStateChange((s) => setState(s));
    setClient(c);
    c.connect();
    setState(c.getState());
    return () => {
      off();
      c.disconnect();
    };
  }, [url, token]);

  const subscribe = useCallback((rooms: string[]) => client?.subscribe(rooms), [client]);
  const unsubscribe = useCallback((rooms: string[]) => client?.unsubscribe(rooms), [client]);
  return { state, isConnected: state === 'connected', subscribe, unsubscribe, client };
}

/** Calls `handler` for every message of `type`. The latest handler is used without resubscribing. */
export function useWebSocketMessage<T = any>(
  client: WebSocketClient | null | undefined,
  type: string,
  handler: (message: T, envelope?: any) => void,
): void {
  const handlerRef = useRef(handler);
  handlerRef.current = handler;
  useEffect(() => {
    if (!client) return;
    return client.on(type, (message: T, envelope?: unknown) => handlerRef.current(message, envelope));
  }, [client, type]);
}

export interface UseWebSocketDataResult<T> {
  data: T | null;
  lastUpdate: Date | null;
  isLoading: boolean;
}

function timestampOf(message: unknown, envelope: unknown): Date {
  for (const source of [message, envelope]) {
    const ts = (source as { timestamp?: unknown } | null | undefined)?.timestamp;
    if (typeof ts === 'string') {
      const d = new Date(ts);
      if (!Number.isNaN(d.getTime())) return d;
    }
  }
  return new Date();
}

export interface UseHistoryResult<T> extends UseWebSocketDataResult<T> {
  /** The latest payloads with their times, oldest first, at most `limit`. */
  history: Array<{ time: Date; data: T }>;
}

/** The shared body of the data hooks: the latest payload of `type` in `room`, and the last `limit` ones. */
function useRoomData<T>(client: WebSocketClient | null | undefined, room: string, type: string, limit: number): UseHistoryResult<T> {
  const [value, setValue] = useState<UseHistoryResult<T>>({ data: null, lastUpdate: null, isLoading: true, history: [] });
  useEffect(() => {
    if (!client) return;
    // With a snapshot, the latest retained update shows at once instead of at the next publication.
    const release = client.hold([room], { snapshot: true });
    const off = client.on(type, (message: unknown, envelope?: unknown) => {
      if (roomOf(message, envelope) !== room) return;
      const data = payloadOf(message, type) as T;
      const time = timestampOf(message, envelope);
      setValue((prev) => {
        let history = prev.history;
        if (limit > 0) {
          history = history.length >= limit ? history.slice(history.length - limit + 1) : history.slice();
          history.push({ time, data });
        }
        return { data, lastUpdate: time, isLoading: false, history };
      });
    });
    return () => {
      off();
      release();
    };
  }, [client, room, type, limit]);
  return value;
}

/**
 * Subscribes to `room` and keeps the payload of the latest message of
 * `type` in it. `isLoading` stays true until the first one arrives.
 */
export function useWebSocketData<T = any>(
  client: WebSocketClient | null | undefined,
  room: string,
  type: string,
): UseWebSocketDataResult<T> {
  const { data, lastUpdate, isLoading } = useRoomData<T>(client, room, type, 0);
  return { data, lastUpdate, isLoading };
}

/** `useWebSocketData` that also keeps the last `limit` payloads. */
export function useWebSocketHistory<T = any>(
  client: WebSocketClient | null | undefined,
  room: string,
  type: string,
  limit = 120,
): UseHistoryResult<T> {
  return useRoomData<T>(client, room, type, limit);
}

export const useRealtimeMetrics = <T = any>(client: WebSocketClient | null | undefined) =>
  useWebSocketHistory<T>(client, 'metrics', 'metrics_update');
export const useNodeStatus = <T = any>(client: WebSocketClient | null | undefined) =>
  useWebSocketHistory<T>(client, 'nodes', 'node_status_update');
export const useTaskProgress = <T = any>(client: WebSocketClient | null | undefined) =>
  useWebSocketHistory<T>(client, 'tasks', 'task_progress');
export const useResourceMonitor = <T = any>(client: WebSocketClient | null | undefined) =>
  useWebSocketData<T>(client, 'resources', 'resource_update');
export const useTopology = <T = any>(client: WebSocketClient | null | undefined) =>
  useWebSocketData<T>(client, 'topology', 'topology_update');

export interface UseAlertsResult {
  /** Newest first, at most `limit` (default 100). */
  alerts: Alert[];
  clearAlerts: () => void;
}

/**
 * Every publication of the `alerts` room, as alerts, newest first. On mount
 * it also reads the room's retained history (a `history` request), so that
 * alerts raised before the page opened are shown too.
 */
export function useAlerts(client: WebSocketClient | null | undefined, limit = 100): UseAlertsResult {
  const [alerts, setAlerts] = useState<Alert[]>([]);
  useEffect(() => {
    if (!client) return;
    let live = true;
    const merge = (incoming: Alert[]) =>
      setAlerts((list) => {
        const seen = new Set(list.map((a) => a.id));
        const fresh = incoming.filter((a) => !seen.has(a.id));
        if (fresh.length === 0) return list;
        return [...fresh, ...list].sort(newestFirst).slice(0, limit);
      });
    const release = client.hold(['alerts']);
    const off = client.on('publication', (publication: { channel?: string }) => {
      if (publication.channel !== 'alerts') return;
      const alert = normalizeAlert(publication);
      if (alert) merge([alert]);
    });
    void client.request({ type: 'history', channel: 'alerts', limit }).then((record) => {
      const publications = record.reply?.publications;
      if (!live || !Array.isArray(publications)) return;
      merge(publications.map((p) => normalizeAlert({ channel: 'alerts', ...p })).filter((a): a is Alert => a !== undefined));
    });
    return () => {
      live = false;
      off();
      release();
    };
  }, [client, limit]);
  const clearAlerts = useCallback(() => setAlerts([]), []);
  return { alerts, clearAlerts };
}

/** Newest first: by offset when both have one, else by timestamp. */
function newestFirst(a: Alert, b: Alert): number {
  const oa = Number(a.id.split(':').pop());
  const ob = Number(b.id.split(':').pop());
  if (a.id.startsWith('alerts:') && b.id.startsWith('alerts:') && Number.isFinite(oa) && Number.isFinite(ob)) return ob - oa;
  return b.timestamp.localeCompare(a.timestamp);
}
