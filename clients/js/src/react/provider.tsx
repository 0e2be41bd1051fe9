/**
 * `WavecastProvider`: Netra's EnhancedWebSocketProvider over the wavecast
 * client. It discovers the server (`/ws/config`), connects once, and shares
 * the connection with `useWavecast()`.
 *
 * Invariants: the client lives in a ref and is replaced only when `url`,
 * `token` or `apiKey` change, so re-renders never reconnect. The context
 * value is memoised and changes only when the state, the stats (polled
 * every `statsInterval` ms, and only when they moved), the last error, the
 * pending records or the discovered config change.
 */
import { createContext, useCallback, useContext, useEffect, useMemo, useRef, useState, type ReactNode } from 'react';
import { WebSocketClient, type ConnectionState } from '../client.js';
import type { ServiceConfig } from '../discovery.js';
import type { WavecastError } from '../errors.js';
import type { PendingRecord } from '../pending.js';
import type { ClientMessage } from '../protocol.js';
import type { RoomOptions } from '../rooms.js';
import type { ConnectionStats } from '../stats.js';
import type { ClientOptions } from './hooks.js';

export interface WavecastContextValue {
  client: WebSocketClient;
  status: ConnectionState;
  isConnected: boolean;
  connectionStats: ConnectionStats;
  lastError: WavecastError | null;
  serviceConfig: ServiceConfig | null;
  /** Optimistic records not settled yet. */
  pendingMessages: PendingRecord[];
  /** Resolves true when the message was sent or queued, false when it was refused. */
  sendMessage: (message: ClientMessage) => Promise<boolean>;
  /** Sends with a pending record, confirmed by the reply or rolled back. */
  sendOptimisticMessage: (message: ClientMessage) => PendingRecord;
  publish: (channel: string, data: unknown, event?: string) => PendingRecord;
  subscribe: (rooms: string[], options?: RoomOptions) => void;
  unsubscribe: (rooms: string[]) => void;
  connect: () => void;
  disconnect: () => void;
}

export interface WavecastProviderProps {
  /** The server: `http(s)://host:port` (discovered) or `ws(s)://host:port/ws`. Default: the page's origin. */
  url?: string;
  token?: string;
  apiKey?: string;
  autoConnect?: boolean;
  maxReconnectAttempts?: number;
  reconnectInterval?: number;
  /** How often `connectionStats` is refreshed, in ms. */
  statsInterval?: number;
  /** Further client options (`WebSocket`, `fetch`, heartbeat, queue size...). */
  options?: ClientOptions;
  children?: ReactNode;
}

const WavecastContext = createContext<WavecastContextValue | null>(null);

function pageOrigin(): string {
  const location = (globalThis as { location?: { origin?: string } }).location;
  return location?.origin && location.origin !== 'null' ? location.origin : 'http://127.0.0.1:8000';
}

function statsMoved(a: ConnectionStats, b: ConnectionStats): boolean {
  return (
    a.messages_received !== b.messages_received ||
    a.messages_sent !== b.messages_sent ||
    a.reconnects !== b.reconnects ||
    a.errors !== b.errors ||
    a.queued !== b.queued ||
    a.rtt_ms !== b.rtt_ms
  );
}

function useClient(props: WavecastProviderProps): WebSocketClient {
  const url = props.url ?? pageOrigin();
  const key = `${url}\n${props.token ?? ''}\n${props.apiKey ?? ''}`;
  const ref = useRef<{ key: string; client: WebSocketClient } | null>(null);
  if (ref.current === null || ref.current.key !== key) {
    ref.current = {
      key,
      client: new WebSocketClient({
        maxReconnectAttempts: props.maxReconnectAttempts ?? 5,
        reconnectInterval: props.reconnectInterval ?? 1000,
        ...props.options,
        url,
        token: props.token,
        apiKey: props.apiKey,
      }),
    };
  }
  return ref.current.client;
}

export function WavecastProvider(props: WavecastProviderProps) {
  const client = useClient(props);
  const autoConnect = props.autoConnect ?? true;
  const [status, setStatus] = useState<ConnectionState>(client.getState());
  const [connectionStats, setStats] = useState<ConnectionStats>(client.getStats());
  const [lastError, setLastError] = useState<WavecastError | null>(null);
  const [serviceConfig, setServiceConfig] = useState<ServiceConfig | null>(null);
  const [pendingMessages, setPending] = useState<PendingRecord[]>([]);

  useEffect(() => {
    const offs = [
      client.onStateChange((s) => {
        setStatus(s);
        setStats(client.getStats());
        setServiceConfig(client.getServiceConfig() ?? null);
      }),
      client.on('error', (e: WavecastError) => setLastError(e)),
      client.onPendingChange(() => setPending(client.getPending())),
    ];
    if (autoConnect) client.connect();
    setStatus(client.getState());
    return () => {
      for (const off of offs) off();
      client.disconnect();
    };
  }, [client, autoConnect]);

  const statsInterval = props.statsInterval ?? 1000;
  useEffect(() => {
    const timer = setInterval(() => {
      const next = client.getStats();
      setStats((prev) => (statsMoved(prev, next) ? next : prev));
    }, statsInterval);
    return () => clearInterval(timer);
  }, [client, statsInterval]);

  const sendMessage = useCallback(
    async (message: ClientMessage) => {
      if (typeof message !== 'object' || message === null || typeof message.type !== 'string') return false;
      client.send(message);
      return true;
    },
    [client],
  );
  const sendOptimisticMessage = useCallback((message: ClientMessage) => client.sendOptimistic(message), [client]);
  const publish = useCallback(
    (channel: string, data: unknown, event?: string) => client.publish(channel, data, event ? { event } : {}),
    [client],
  );
  const subscribe = useCallback((rooms: string[], options?: RoomOptions) => client.subscribe(rooms, options), [client]);
  const unsubscribe = useCallback((rooms: string[]) => client.unsubscribe(rooms), [client]);
  const connect = useCallback(() => client.connect(), [client]);
  const disconnect = useCallback(() => client.disconnect(), [client]);

  const value = useMemo<WavecastContextValue>(
    () => ({
      client,
      status,
      isConnected: status === 'connected',
      connectionStats,
      lastError,
      serviceConfig,
      pendingMessages,
      sendMessage,
      sendOptimisticMessage,
      publish,
      subscribe,
      unsubscribe,
      connect,
      disconnect,
    }),
    [client, status, connectionStats, lastError, serviceConfig, pendingMessages, sendMessage, sendOptimisticMessage, publish, subscribe, unsubscribe, connect, disconnect],
  );
  return <WavecastContext.Provider value={value}>{props.children}</WavecastContext.Provider>;
}

/** The provider's connection. Throws when used outside a `WavecastProvider` (a programming error). */
export function useWavecast(): WavecastContextValue {
  const value = useContext(WavecastContext);
  if (value === null) throw new Error('useWavecast() must be used inside a <WavecastProvider>');
  return value;
}

/** Netra's name for `useWavecast`. */
export const useEnhancedWebSocket = useWavecast;
/** Netra's name for `WavecastProvider`. */
export const EnhancedWebSocketProvider = WavecastProvider;
