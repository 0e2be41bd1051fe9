// @vitest-environment happy-dom
// The FOG hooks and the Netra provider, with React Testing Library against the fake WebSocket.
import { act, cleanup, render, renderHook, screen } from '@testing-library/react';
import { StrictMode, useState, type ReactNode } from 'react';
import { afterEach, beforeEach, describe, expect, it, vi } from 'vitest';
import { WebSocketClient } from '../../src/index.js';
import {
  useAlerts,
  useNodeStatus,
  useRealtimeMetrics,
  useResourceMonitor,
  useTaskProgress,
  useTopology,
  useWavecast,
  useWebSocket,
  useWebSocketData,
  useWebSocketMessage,
  WavecastProvider,
} from '../../src/react/index.js';
import { FakeWebSocket } from '../fake-websocket.js';

const URL_ = 'ws://127.0.0.1:9/ws';

function connectedClient(): { client: WebSocketClient; socket: FakeWebSocket } {
  const client = new WebSocketClient({ url: URL_, WebSocket: FakeWebSocket });
  client.connect();
  return { client, socket: FakeWebSocket.last().admit() };
}

function fog(room: string, type: string, data: unknown, offset: number) {
  return { type: 'publication', channel: room, data: { type, room, data, timestamp: '2026-01-02T03:04:05.000Z' }, offset };
}

beforeEach(() => FakeWebSocket.reset());
afterEach(() => cleanup());

describe('useWebSocket', () => {
  it('connects on mount, reports the state, and disconnects on unmount', () => {
    const { result, unmount } = renderHook(() => useWebSocket(URL_, 'tok', { WebSocket: FakeWebSocket }));
    expect(result.current.state).toBe('connecting');
    expect(new URL(FakeWebSocket.last().url).searchParams.get('token')).toBe('tok');
    act(() => void FakeWebSocket.last().admit());
    expect(result.current).toMatchObject({ state: 'connected', isConnected: true });
    expect(result.current.client).toBeInstanceOf(WebSocketClient);
    act(() => result.current.subscribe(['nodes']));
    expect(FakeWebSocket.last().messagesOfType('subscribe')[0].channels).toEqual(['nodes']);
    const socket = FakeWebSocket.last();
    unmount();
    expect(socket.closedWith?.code).toBe(1000);
  });

  it('keeps one connection across re-renders with the same url and token', () => {
    const { rerender } = renderHook(({ n }) => useWebSocket(URL_, 'tok', { WebSocket: FakeWebSocket, maxQueueSize: n }), {
      initialProps: { n: 1 },
    });
    rerender({ n: 2 });
    rerender({ n: 3 });
    expect(FakeWebSocket.instances).toHaveLength(1);
  });
});

describe('useWebSocketMessage', () => {
  it('calls the latest handler for each message of the type, and stops on unmount', () => {
    const { client, socket } = connectedClient();
    const first = vi.fn();
    const second = vi.fn();
    const { rerender, unmount } = renderHook(({ h }) => useWebSocketMessage(client, 'node_status_update', h), {
      initialProps: { h: first },
    });
    act(() => void socket.receive(fog('nodes', 'node_status_update', { a: 1 }, 1)));
    rerender({ h: second });
    act(() => void socket.receive(fog('nodes', 'node_status_update', { a: 2 }, 2)));
    unmount();
    act(() => void socket.receive(fog('nodes', 'node_status_update', { a: 3 }, 3)));
    expect(first).toHaveBeenCalledTimes(1);
    expect(second).toHaveBeenCalledTimes(1);
    expect(second.mock.calls[0][0].data).toEqual({ a: 2 });
  });
});

describe('useWebSocketData', () => {
  it('subscribes to the room, loads until the first message, then keeps the latest payload', () => {
    const { client, socket } = connectedClient();
    const { result } = renderHook(() => useWebSocketData(client, 'nodes', 'node_status_update'));
    expect(result.current).toEqual({ data: null, lastUpdate: null, isLoading: true });
    expect(socket.messagesOfType('subscribe')[0].channels).toEqual(['nodes']);
    act(() => void socket.receive(fog('other', 'node_status_update', { wrong: true }, 1)));
    expect(result.current.isLoading).toBe(true);
    act(() => void socket.receive(fog('nodes', 'node_status_update', { betanet: { active_nodes: 5 } }, 1)));
    expect(result.current.data).toEqual({ betanet: { active_nodes: 5 } });
    expect(result.current.isLoading).toBe(false);
    expect(result.current.lastUpdate?.toISOString()).toBe('2026-01-02T03:04:05.000Z');
  });

  it('shares a room between hooks: it is unsubscribed when the last one unmounts', () => {
    const { client, socket } = connectedClient();
    const a = renderHook(() => useWebSocketData(client, 'metrics', 'metrics_update'));
    const b = renderHook(() => useWebSocketData(client, 'metrics', 'metrics_update'));
    expect(socket.messagesOfType('subscribe')).toHaveLength(1);
    a.unmount();
    expect(socket.messagesOfType('unsubscribe')).toHaveLength(0);
    b.unmount();
    expect(socket.messagesOfType('unsubscribe')[0].channels).toEqual(['metrics']);
  });
});

describe('specialised hooks', () => {
  it('each reads its room and type', () => {
    const { client, socket } = connectedClient();
    const { result } = renderHook(() => ({
      metrics: useRealtimeMetrics(client),
      nodes: useNodeStatus(client),
      tasks: useTaskProgress(client),
      resources: useResourceMonitor(client),
      topology: useTopology(client),
    }));
    const rooms = socket.messagesOfType('subscribe').flatMap((m) => m.channels);
    expect(rooms.sort()).toEqual(['metrics', 'nodes', 'resources', 'tasks', 'topology']);
    act(() => {
      socket.receive(fog('metrics', 'metrics_update', { cpu: 1 }, 1));
      socket.receive(fog('metrics', 'metrics_update', { cpu: 2 }, 2));
      socket.receive(fog('nodes', 'node_status_update', { n: 1 }, 1));
      socket.receive(fog('tasks', 'task_progress', { t: 1 }, 1));
      socket.receive(fog('resources', 'resource_update', { r: 1 }, 1));
      socket.receive(fog('topology', 'topology_update', { nodes: [] }, 1));
    });
    expect(result.current.metrics.data).toEqual({ cpu: 2 });
    expect(result.current.metrics.history.map((h) => h.data)).toEqual([{ cpu: 1 }, { cpu: 2 }]);
    expect(result.current.nodes.data).toEqual({ n: 1 });
    expect(result.current.tasks.data).toEqual({ t: 1 });
    expect(result.current.resources.data).toEqual({ r: 1 });
    expect(result.current.topology.data).toEqual({ nodes: [] });
  });

  it('useAlerts keeps the last 100 alerts, newest first, and clears them', () => {
    const { client, socket } = connectedClient();
    const { result } = renderHook(() => useAlerts(client));
    act(() => {
      for (let i = 1; i <= 105; i++) {
        socket.receive({ type: 'publication', channel: 'alerts', offset: i, data: { type: 'anomaly_detected', metric: 'cpu', value: i, z_score: 3, severity: 'medium' } });
      }
    });
    expect(result.current.alerts).toHaveLength(100);
    expect(result.current.alerts[0]).toMatchObject({ value: 105, severity: 'medium', id: 'alerts:105' });
    act(() => result.current.clearAlerts());
    expect(result.current.alerts).toEqual([]);
  });
});

describe('useAlerts history', () => {
  it('shows the alerts retained before mount, merged with live ones without duplicates', async () => {
    const { client, socket } = connectedClient();
    const { result } = renderHook(() => useAlerts(client));
    const request = socket.messagesOfType('history')[0];
    expect(request).toMatchObject({ channel: 'alerts', limit: 100 });
    await act(async () => {
      socket.receive({ type: 'publication', channel: 'alerts', offset: 3, data: { type: 'anomaly_detected', metric: 'm', severity: 'high' } });
      socket.receive({
        type: 'history',
        channel: 'alerts',
        id: request.id,
        offset: 3,
        epoch: 'e',
        publications: [1, 2, 3].map((o) => ({ channel: 'alerts', offset: o, type: 'publication', timestamp: 't', data: { type: 'threshold_exceeded', metric: `m${o}`, severity: 'warning' } })),
      });
    });
    expect(result.current.alerts.map((a) => a.id)).toEqual(['alerts:3', 'alerts:2', 'alerts:1']);
    expect(result.current.alerts[0].type).toBe('anomaly_detected');
  });
});

describe('WavecastProvider', () => {
  function Status() {
    const { status, connectionStats } = useWavecast();
    return <div data-testid="status">{`${status}:${connectionStats.connections}`}</div>;
  }

  it('discovers the server, connects once, and survives re-renders', async () => {
    const fetch = vi.fn(async (_url: string | URL | Request) => new Response(JSON.stringify({ websocket_config: { endpoints: { websocket: '/ws' }, connection_limits: {} } })));
    let bump: () => void = () => {};
    function Parent({ children }: { children: ReactNode }) {
      const [n, setN] = useState(0);
      bump = () => setN(n + 1);
      return (
        <WavecastProvider url="http://127.0.0.1:9" options={{ WebSocket: FakeWebSocket, fetch }} statsInterval={10}>
          <span>{n}</span>
          {children}
        </WavecastProvider>
      );
    }
    render(
      <StrictMode>
        <Parent>
          <Status />
        </Parent>
      </StrictMode>,
    );
    await vi.waitFor(() => expect(FakeWebSocket.instances.length).toBeGreaterThan(0));
    act(() => void FakeWebSocket.last().admit());
    await vi.waitFor(() => expect(screen.getByTestId('status').textContent).toBe('connected:1'));
    const sockets = FakeWebSocket.instances.length;
    act(() => bump());
    act(() => bump());
    expect(FakeWebSocket.instances.length).toBe(sockets);
    expect(FakeWebSocket.last().closedWith).toBeUndefined();
    expect(fetch.mock.calls[0][0]).toBe('http://127.0.0.1:9/ws/config');
  });

  it('memoises the context value: consumers do not re-render when nothing changed', () => {
    const values: unknown[] = [];
    function Probe() {
      values.push(useWavecast());
      return null;
    }
    const { rerender } = render(
      <WavecastProvider url={URL_} options={{ WebSocket: FakeWebSocket }}>
        <Probe />
      </WavecastProvider>,
    );
    const before = values.at(-1);
    rerender(
      <WavecastProvider url={URL_} options={{ WebSocket: FakeWebSocket }}>
        <Probe />
      </WavecastProvider>,
    );
    expect(values.at(-1)).toBe(before);
  });

  it('sends optimistic messages: pending until the ack, then confirmed', async () => {
    let ctx: ReturnType<typeof useWavecast> | undefined;
    function Grab() {
      ctx = useWavecast();
      return <div data-testid="pending">{ctx.pendingMessages.length}</div>;
    }
    render(
      <WavecastProvider url={URL_} options={{ WebSocket: FakeWebSocket }}>
        <Grab />
      </WavecastProvider>,
    );
    act(() => void FakeWebSocket.last().admit());
    let record: ReturnType<NonNullable<typeof ctx>['publish']> | undefined;
    act(() => {
      record = ctx!.publish('chat:1', { text: 'hi' }, 'message_posted');
    });
    expect(screen.getByTestId('pending').textContent).toBe('1');
    act(() => void FakeWebSocket.last().receive({ type: 'publish_success', channel: 'chat:1', delivered: 0, id: record!.id, offset: 1 }));
    expect(screen.getByTestId('pending').textContent).toBe('0');
    expect((await record!.settled).status).toBe('confirmed');
    expect(await ctx!.sendMessage({ type: 'ping' })).toBe(true);
  });

  it('useWavecast outside a provider says so', () => {
    expect(() => renderHook(() => useWavecast())).toThrow(/inside a <WavecastProvider>/);
  });
});
