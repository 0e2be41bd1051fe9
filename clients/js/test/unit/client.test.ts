// The seed's frontend test list (FOG §Frontend Tests), case by case, against a fake WebSocket.
import { afterEach, beforeEach, describe, expect, it, vi } from 'vitest';
import { WebSocketClient, type WavecastError, type WebSocketClientOptions } from '../../src/index.js';
import * as msgpack from '@msgpack/msgpack';
const { encode } = msgpack;
import { FakeWebSocket } from '../fake-websocket.js';

function makeClient(options: Partial<WebSocketClientOptions> = {}): WebSocketClient {
  return new WebSocketClient({
    url: 'ws://127.0.0.1:9/ws',
    WebSocket: FakeWebSocket,
    random: () => 0.999999,
    heartbeatInterval: 30000,
    ...options,
  });
}

function errorsOf(client: WebSocketClient): WavecastError[] {
  const errors: WavecastError[] = [];
  client.on('error', (e: WavecastError) => errors.push(e));
  return errors;
}

beforeEach(() => {
  FakeWebSocket.reset();
  vi.useFakeTimers();
});

afterEach(() => {
  vi.useRealTimers();
});

describe('connection management', () => {
  it('establishes a connection to the given url', () => {
    const client = makeClient();
    client.connect();
    expect(FakeWebSocket.instances).toHaveLength(1);
    expect(FakeWebSocket.last().url).toBe('ws://127.0.0.1:9/ws');
    expect(client.getState()).toBe('connecting');
    client.connect(); // a second call while connecting opens nothing
    expect(FakeWebSocket.instances).toHaveLength(1);
  });

  it('is connected once the server admits it, and records the connection id', () => {
    const client = makeClient();
    client.connect();
    FakeWebSocket.last().open();
    expect(client.isConnected()).toBe(false); // open but not admitted yet
    FakeWebSocket.last().receive({ type: 'connection_established', connection_id: 'abc', user_id: null });
    expect(client.isConnected()).toBe(true);
    expect(client.connectionId).toBe('abc');
  });

  it('sends the token as ?token= with the upgrade', () => {
    const client = makeClient({ url: 'ws://127.0.0.1:9/ws?x=1', token: 'eyJ.a.b' });
    client.connect();
    const url = new URL(FakeWebSocket.last().url);
    expect(url.searchParams.get('token')).toBe('eyJ.a.b');
    expect(url.searchParams.get('x')).toBe('1');
  });

  it('disconnects cleanly with close code 1000', () => {
    const client = makeClient();
    client.connect();
    const socket = FakeWebSocket.last().admit();
    client.disconnect();
    expect(socket.closedWith).toEqual({ code: 1000, reason: 'client disconnect' });
    expect(client.getState()).toBe('disconnected');
  });

  it('does not reconnect after a manual disconnect', () => {
    const client = makeClient();
    client.connect();
    FakeWebSocket.last().admit();
    client.disconnect();
    vi.advanceTimersByTime(120000);
    expect(FakeWebSocket.instances).toHaveLength(1);
    expect(client.getState()).toBe('disconnected');
  });

  it('tracks the connection state through a reconnect', () => {
    const client = makeClient();
    const states: string[] = [];
    client.onStateChange((s) => states.push(s));
    client.connect();
    FakeWebSocket.last().admit();
    FakeWebSocket.last().serverClose(1006);
    vi.advanceTimersByTime(1000);
    FakeWebSocket.last().admit('conn-2');
    expect(states).toEqual(['connecting', 'connected', 'reconnecting', 'connected']);
  });
});

describe('message handling', () => {
  it('sends messages at once when connected', () => {
    const client = makeClient();
    client.connect();
    const socket = FakeWebSocket.last().admit();
    expect(client.send({ type: 'ping', id: 'p1' })).toBe(true);
    expect(socket.messages()).toEqual([{ type: 'ping', id: 'p1' }]);
  });

  it('queues messages while disconnected and flushes them, in order, after the subscriptions', () => {
    const client = makeClient();
    client.subscribe(['news']);
    expect(client.send({ type: 'publish', channel: 'news', data: 1 })).toBe(false);
    client.send({ type: 'publish', channel: 'news', data: 2 });
    expect(client.getStats().queued).toBe(2);
    client.connect();
    const socket = FakeWebSocket.last();
    socket.open();
    expect(socket.sent).toHaveLength(0); // not before admission
    socket.receive({ type: 'connection_established', connection_id: 'c' });
    expect(socket.messages().map((m) => [m.type, m.data])).toEqual([
      ['subscribe', undefined],
      ['publish', 1],
      ['publish', 2],
    ]);
    expect(client.getStats().queued).toBe(0);
  });

  it('delivers received messages to the handlers of their type', () => {
    const client = makeClient();
    const got: unknown[] = [];
    client.on('node_created', (m) => got.push(m));
    client.connect();
    FakeWebSocket.last()
      .admit()
      .receive({ type: 'node_created', channel: 'live:1', data: [1, 2], timestamp: 't' })
      .receive({ type: 'other', channel: 'live:1', data: 3 });
    expect(got).toEqual([{ type: 'node_created', channel: 'live:1', data: [1, 2], timestamp: 't' }]);
  });

  it('calls wildcard handlers for every frame', () => {
    const client = makeClient();
    const types: string[] = [];
    client.on('*', (m: { type: string }) => types.push(m.type));
    client.connect();
    FakeWebSocket.last()
      .admit()
      .receive({ type: 'publication', channel: 'a', data: 1, offset: 1 })
      .receive({ type: 'message', data: { x: 1 } })
      .receive({ type: 'heartbeat', timestamp: 't' });
    expect(types).toEqual(['connection_established', 'publication', 'message', 'heartbeat']);
  });

  it('stops calling a handler once its unsubscribe function ran', () => {
    const client = makeClient();
    const handler = vi.fn();
    const off = client.on('publication', handler);
    client.connect();
    const socket = FakeWebSocket.last().admit();
    socket.receive({ type: 'publication', channel: 'a', data: 1, offset: 1 });
    off();
    off(); // twice is harmless
    socket.receive({ type: 'publication', channel: 'a', data: 2, offset: 2 });
    expect(handler).toHaveBeenCalledTimes(1);
  });
});

describe('room subscriptions', () => {
  it('subscribes to rooms, at once when connected and again on every reconnect', () => {
    const client = makeClient();
    client.connect();
    const socket = FakeWebSocket.last().admit();
    client.subscribe(['nodes', 'metrics', 'alerts']);
    client.subscribe(['nodes']); // already wanted: no second request
    const subs = socket.messagesOfType('subscribe');
    expect(subs).toHaveLength(1);
    expect(subs[0].channels).toEqual(['nodes', 'metrics', 'alerts']);
    expect(client.getRooms()).toEqual(['nodes', 'metrics', 'alerts']);
    socket.serverClose(1006);
    vi.advanceTimersByTime(1000);
    const again = FakeWebSocket.last().admit('c2');
    expect(again.messagesOfType('subscribe')[0].channels).toEqual(['nodes', 'metrics', 'alerts']);
  });

  it('unsubscribes from rooms and does not resubscribe them', () => {
    const client = makeClient();
    client.connect();
    const socket = FakeWebSocket.last().admit();
    client.subscribe(['nodes', 'metrics']);
    client.unsubscribe(['nodes']);
    expect(socket.messagesOfType('unsubscribe')[0].channels).toEqual(['nodes']);
    expect(client.getRooms()).toEqual(['metrics']);
    socket.serverClose(1006);
    vi.advanceTimersByTime(1000);
    const again = FakeWebSocket.last().admit('c2');
    expect(again.messagesOfType('subscribe')[0].channels).toEqual(['metrics']);
  });
});

describe('heartbeat', () => {
  it("answers the server's heartbeat and ping with pong", () => {
    const client = makeClient();
    client.connect();
    const socket = FakeWebSocket.last().admit();
    socket.receive({ type: 'heartbeat', timestamp: 't' });
    socket.receive({ type: 'ping', id: 7 });
    expect(socket.messages()).toEqual([{ type: 'pong' }, { type: 'pong', id: 7 }]);
  });

  it('sends nothing in answer to pong, and takes the round-trip time from it', () => {
    const client = makeClient({ heartbeatInterval: 1000 });
    client.connect();
    const socket = FakeWebSocket.last().admit();
    vi.advanceTimersByTime(1000);
    const ping = socket.messagesOfType('ping')[0];
    expect(ping).toBeDefined();
    const before = socket.sent.length;
    vi.advanceTimersByTime(5);
    socket.receive({ type: 'pong', id: ping.id, timestamp: 't' });
    socket.receive({ type: 'pong', timestamp: 't' }); // unsolicited
    expect(socket.sent.length).toBe(before);
    expect(client.getStats().rtt_ms).not.toBeNull();
    expect(client.getLastError()).toBeUndefined();
  });
});

describe('state management', () => {
  it('tracks the state: disconnected → connecting → connected → disconnected', () => {
    const client = makeClient();
    expect(client.getState()).toBe('disconnected');
    client.connect();
    expect(client.getState()).toBe('connecting');
    FakeWebSocket.last().admit();
    expect(client.getState()).toBe('connected');
    client.disconnect();
    expect(client.getState()).toBe('disconnected');
  });

  it('notifies state handlers with the new and the previous state', () => {
    const client = makeClient();
    const handler = vi.fn();
    client.onStateChange(handler);
    client.connect();
    FakeWebSocket.last().admit();
    expect(handler.mock.calls).toEqual([
      ['connecting', 'disconnected'],
      ['connected', 'connecting'],
    ]);
  });

  it('stops notifying a state handler once it is removed', () => {
    const client = makeClient();
    const handler = vi.fn();
    const off = client.onStateChange(handler);
    client.connect();
    off();
    FakeWebSocket.last().admit();
    expect(handler).toHaveBeenCalledTimes(1);
  });
});

describe('reconnection', () => {
  it('reconnects after an unexpected close', () => {
    const client = makeClient();
    client.connect();
    FakeWebSocket.last().admit();
    FakeWebSocket.last().serverClose(1006);
    expect(client.getState()).toBe('reconnecting');
    vi.advanceTimersByTime(1000);
    expect(FakeWebSocket.instances).toHaveLength(2);
    FakeWebSocket.last().admit('c2');
    expect(client.isConnected()).toBe(true);
    expect(client.getStats().reconnects).toBe(1);
  });

  it('backs off exponentially with full jitter, capped at maxReconnectInterval', () => {
    const draws = [0.5, 0.5, 0.5, 0.5, 0.5, 0.25];
    const client = makeClient({ reconnectInterval: 100, maxReconnectInterval: 1000, random: () => draws.shift() ?? 0.999999 });
    client.connect();
    const delays: number[] = [];
    for (let i = 0; i < 6; i++) {
      const count = FakeWebSocket.instances.length;
      FakeWebSocket.last().fail();
      let waited = 0;
      while (FakeWebSocket.instances.length === count) {
        vi.advanceTimersByTime(1);
        waited++;
      }
      delays.push(waited);
    }
    // ceilings 100, 200, 400, 800, 1000, 1000 (capped); the draws pick 50% of them, then 25%.
    expect(delays).toEqual([50, 100, 200, 400, 500, 250]);
  });

  it('stops after maxReconnectAttempts and reports it', () => {
    const client = makeClient({ maxReconnectAttempts: 3, reconnectInterval: 10, maxReconnectInterval: 10 });
    const errors = errorsOf(client);
    client.connect();
    for (let i = 0; i < 4; i++) {
      FakeWebSocket.last().fail();
      vi.advanceTimersByTime(10);
    }
    expect(FakeWebSocket.instances).toHaveLength(4); // the first connection and 3 attempts
    expect(client.getState()).toBe('failed');
    expect(errors.at(-1)).toMatchObject({ code: 'reconnect_failed', recoverable: false, source: 'client' });
    vi.advanceTimersByTime(60000);
    expect(FakeWebSocket.instances).toHaveLength(4);
  });
});

describe('error handling', () => {
  it('reports connection errors as error events and does not throw', () => {
    const client = makeClient();
    const errors = errorsOf(client);
    client.connect();
    expect(() => FakeWebSocket.last().fail()).not.toThrow();
    expect(errors[0]).toMatchObject({ type: 'error', code: 'connection_error', source: 'client' });
    expect(client.getState()).toBe('reconnecting');
  });

  it('reports invalid JSON and unknown frames as error events', () => {
    const client = makeClient();
    const errors = errorsOf(client);
    const any = vi.fn();
    client.connect();
    const socket = FakeWebSocket.last().admit();
    client.on('*', any);
    expect(() => socket.receive('{not json')).not.toThrow();
    socket.receive('[1,2]');
    socket.receive({ type: 'mystery' });
    expect(errors.map((e) => e.code)).toEqual(['invalid_json', 'unknown_frame', 'unknown_frame']);
    expect(any).not.toHaveBeenCalled();
    expect(client.isConnected()).toBe(true);
  });

  it('isolates a handler that throws: the others still run and an error event reports it', () => {
    const client = makeClient();
    const errors = errorsOf(client);
    const second = vi.fn();
    client.on('publication', () => {
      throw new Error('boom');
    });
    client.on('publication', second);
    client.on('error', () => {
      throw new Error('an error handler that throws is dropped, not looped');
    });
    client.connect();
    const socket = FakeWebSocket.last().admit();
    expect(() => socket.receive({ type: 'publication', channel: 'a', data: 1, offset: 1 })).not.toThrow();
    expect(second).toHaveBeenCalledTimes(1);
    expect(errors).toHaveLength(1);
    expect(errors[0]).toMatchObject({ code: 'handler_error' });
    expect(errors[0].error).toContain('boom');
  });
});

describe('performance', () => {
  it('handles 1,000 messages in order without loss', () => {
    const client = makeClient();
    const offsets: number[] = [];
    client.on('publication', (m: { offset: number }) => offsets.push(m.offset));
    client.connect();
    const socket = FakeWebSocket.last().admit();
    for (let i = 1; i <= 1000; i++) socket.receive({ type: 'publication', channel: 'bulk', data: { i }, offset: i });
    expect(offsets).toHaveLength(1000);
    expect(offsets.every((o, i) => o === i + 1)).toBe(true);
    expect(client.getStats().messages_received).toBe(1001);
    expect(client.getPosition('bulk')?.offset).toBe(1000);
  });

  it('subscribes many rooms in one request and dispatches only to the handlers of a type', () => {
    const client = makeClient();
    const rooms = Array.from({ length: 100 }, (_, i) => `room-${i}`);
    const handlers = rooms.map((room) => {
      const fn = vi.fn();
      client.on(`evt-${room}`, fn);
      return fn;
    });
    client.connect();
    const socket = FakeWebSocket.last().admit();
    client.subscribe(rooms);
    expect(socket.messagesOfType('subscribe')).toHaveLength(1);
    socket.receive({ type: 'evt-room-7', channel: 'room-7', data: null, offset: 1 });
    expect(handlers[7]).toHaveBeenCalledTimes(1);
    expect(handlers.filter((h) => h.mock.calls.length > 0)).toHaveLength(1);
  });
});

describe('MessagePack', () => {
  it('asks for format=msgpack, sends binary frames and reads binary ones', () => {
    const client = makeClient({ format: 'msgpack', msgpack });
    const got: unknown[] = [];
    client.on('publication', (p: unknown) => got.push(p));
    client.subscribe(['news']);
    client.connect();
    const socket = FakeWebSocket.last();
    expect(socket.url).toBe('ws://127.0.0.1:9/ws?format=msgpack');
    expect(socket.binaryType).toBe('arraybuffer');
    socket.open();
    const welcome = encode({ type: 'connection_established', connection_id: 'c1', user_id: null });
    // An ArrayBuffer (browsers, Node's WebSocket)...
    socket.receive(welcome.buffer.slice(welcome.byteOffset, welcome.byteOffset + welcome.byteLength));
    expect(client.getState()).toBe('connected');
    expect(socket.sent.every((f) => f instanceof Uint8Array)).toBe(true);
    expect(socket.messagesOfType('subscribe')).toHaveLength(1);
    // ...or a view (the ws package's Buffer).
    socket.receive(Buffer.from(encode({ type: 'publication', channel: 'news', data: { n: 1 }, offset: 1 })));
    expect(got).toEqual([{ type: 'publication', channel: 'news', data: { n: 1 }, offset: 1 }]);
    expect(client.getStats().bytes_received).toBeGreaterThan(0);
  });

  it('reports bad MessagePack as an error and keeps going', () => {
    const client = makeClient({ format: 'msgpack', msgpack });
    const errors = errorsOf(client);
    client.connect();
    const socket = FakeWebSocket.last().open();
    socket.receive(new Uint8Array([0xc1]));
    expect(errors.map((e) => e.code)).toEqual(['invalid_json']);
    socket.receive(encode({ type: 'connection_established', connection_id: 'c1', user_id: null }));
    expect(client.getState()).toBe('connected');
  });

  it('fails without a codec instead of throwing, and opens nothing', () => {
    const client = makeClient({ format: 'msgpack' });
    const errors = errorsOf(client);
    expect(() => client.connect()).not.toThrow();
    expect(FakeWebSocket.instances).toHaveLength(0);
    expect(client.getState()).toBe('failed');
    expect(errors.map((e) => [e.code, e.recoverable])).toEqual([['invalid_argument', false]]);
  });

  it('reports a binary frame on a JSON connection without a codec as an unknown frame', () => {
    const client = makeClient();
    const errors = errorsOf(client);
    client.connect();
    const socket = FakeWebSocket.last().admit();
    socket.receive(encode({ type: 'heartbeat' }));
    expect(errors.map((e) => e.code)).toEqual(['unknown_frame']);
    expect(client.getState()).toBe('connected');
  });
});
