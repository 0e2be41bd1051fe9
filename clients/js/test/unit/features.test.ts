// The further client behaviour: recovery, offline queue bounds, dead connections,
// discovery and rate limits, optimistic updates, statistics, typed server errors, inner-type dispatch.
import { afterEach, beforeEach, describe, expect, it, vi } from 'vitest';
import {
  getWebSocketClient,
  parseServiceConfig,
  resetWebSocketClient,
  WebSocketClient,
  type RecoveryInfo,
  type WavecastError,
  type WebSocketClientOptions,
} from '../../src/index.js';
import { FakeWebSocket } from '../fake-websocket.js';

function makeClient(options: Partial<WebSocketClientOptions> = {}): WebSocketClient {
  return new WebSocketClient({ url: 'ws://127.0.0.1:9/ws', WebSocket: FakeWebSocket, random: () => 0.5, ...options });
}

function errorsOf(client: WebSocketClient): WavecastError[] {
  const errors: WavecastError[] = [];
  client.on('error', (e: WavecastError) => errors.push(e));
  return errors;
}

function configBody(limits: Record<string, number>, websocket = '/ws') {
  return {
    websocket_config: {
      connection_limits: { heartbeat_interval: 30000, heartbeat_timeout: 60000, max_message_rate: 100, ...limits },
      endpoints: { websocket },
      features: { auth_required: false, recovery: true },
      version: '1.0',
    },
  };
}

function fakeFetch(body: unknown, status = 200) {
  return vi.fn(async (_url: string | URL | Request) => new Response(JSON.stringify(body), { status }));
}

beforeEach(() => {
  FakeWebSocket.reset();
  vi.useFakeTimers();
});

afterEach(() => {
  resetWebSocketClient();
  vi.useRealTimers();
});

describe('recovery after a reconnect', () => {
  function subscribedClient() {
    const client = makeClient();
    const recoveries: RecoveryInfo[] = [];
    client.onRecovery((info) => recoveries.push(info));
    client.subscribe(['chat:1', 'news']);
    client.connect();
    const socket = FakeWebSocket.last().admit();
    const sub = socket.messagesOfType('subscribe')[0];
    expect(sub.recover).toBeUndefined(); // nothing to recover on the first connection
    socket.receive({
      type: 'subscribe_success',
      channels: ['chat:1', 'news'],
      id: sub.id,
      positions: { 'chat:1': { epoch: 'e1', offset: 40 }, news: { epoch: 'n1', offset: 0 } },
    });
    socket.receive({ type: 'publication', channel: 'chat:1', data: 'a', offset: 41 });
    socket.receive({ type: 'publication', channel: 'news', data: 'b', offset: 1 });
    socket.serverClose(1006);
    vi.advanceTimersByTime(1000);
    return { client, recoveries, socket: FakeWebSocket.last().admit('c2') };
  }

  it('resubscribes with recover from the last offset and epoch, and drops duplicates', () => {
    const { client, recoveries, socket } = subscribedClient();
    const sub = socket.messagesOfType('subscribe')[0];
    expect(sub.channels).toEqual(['chat:1', 'news']);
    expect(sub.recover).toEqual({ 'chat:1': { offset: 41, epoch: 'e1' }, news: { offset: 1, epoch: 'n1' } });
    const got: unknown[] = [];
    client.on('publication', (m: { data: unknown }) => got.push(m.data));
    socket.receive({
      type: 'subscribe_success',
      channels: ['chat:1', 'news'],
      id: sub.id,
      positions: { 'chat:1': { epoch: 'e1', offset: 43, recovered: true }, news: { epoch: 'n1', offset: 1, recovered: true } },
    });
    socket.receive({ type: 'publication', channel: 'chat:1', data: 'dup', offset: 41 });
    socket.receive({ type: 'publication', channel: 'chat:1', data: 'c', offset: 42 });
    socket.receive({ type: 'publication', channel: 'chat:1', data: 'd', offset: 43 });
    expect(got).toEqual(['c', 'd']);
    expect(client.getStats().duplicates).toBe(1);
    expect(recoveries.map((r) => [r.channel, r.recovered])).toEqual([
      ['chat:1', true],
      ['news', true],
    ]);
  });

  it('tells the application recovered: false when there was a gap, and moves to the new epoch', () => {
    const { client, recoveries, socket } = subscribedClient();
    const sub = socket.messagesOfType('subscribe')[0];
    socket.receive({
      type: 'subscribe_success',
      channels: ['chat:1', 'news'],
      id: sub.id,
      positions: { 'chat:1': { epoch: 'e2', offset: 3, recovered: false }, news: { epoch: 'n1', offset: 1, recovered: true } },
    });
    expect(recoveries[0]).toEqual({ channel: 'chat:1', recovered: false, offset: 3, epoch: 'e2', previous: { offset: 41, epoch: 'e1' } });
    expect(client.getPosition('chat:1')).toEqual({ offset: 3, epoch: 'e2' });
    const got: unknown[] = [];
    client.on('publication', (m: { data: unknown }) => got.push(m.data));
    socket.receive({ type: 'publication', channel: 'chat:1', data: 'new', offset: 4 });
    expect(got).toEqual(['new']);
  });

  it('uses the single-position form of recover for one channel', () => {
    const client = makeClient();
    client.subscribe(['solo']);
    client.connect();
    const socket = FakeWebSocket.last().admit();
    const sub = socket.messagesOfType('subscribe')[0];
    socket.receive({ type: 'subscribe_success', channels: ['solo'], id: sub.id, positions: { solo: { epoch: 'x', offset: 5 } } });
    socket.serverClose(1006);
    vi.advanceTimersByTime(1000);
    const again = FakeWebSocket.last().admit('c2');
    expect(again.messagesOfType('subscribe')[0]).toMatchObject({ channels: ['solo'], recover: { offset: 5, epoch: 'x' } });
  });

  it('resubscribes with recover on recovery_required (redis mode)', () => {
    const client = makeClient();
    client.subscribe(['chat:1']);
    client.connect();
    const socket = FakeWebSocket.last().admit();
    const sub = socket.messagesOfType('subscribe')[0];
    socket.receive({ type: 'subscribe_success', channels: ['chat:1'], id: sub.id, positions: { 'chat:1': { epoch: 'e', offset: 9 } } });
    socket.receive({ type: 'recovery_required', channels: ['chat:1', 'other'], reason: 'the node lost its redis connection' });
    const subs = socket.messagesOfType('subscribe');
    expect(subs).toHaveLength(2);
    expect(subs[1]).toMatchObject({ channels: ['chat:1'], recover: { offset: 9, epoch: 'e' } });
  });

  it('does not retry a subscription the server refused', () => {
    const client = makeClient();
    const errors = errorsOf(client);
    client.connect();
    const socket = FakeWebSocket.last().admit();
    client.subscribe(['private:x']);
    const sub = socket.messagesOfType('subscribe')[0];
    socket.receive({
      type: 'subscribe_failed',
      code: 'forbidden',
      error: '"private:x" needs a token that grants it',
      help: 'this connection is not allowed to do that',
      recoverable: true,
      id: sub.id,
    });
    expect(errors[0]).toMatchObject({ code: 'forbidden', source: 'server', frameType: 'subscribe_failed', recoverable: true });
    expect(client.getRooms()).toEqual([]);
  });
});

describe('snapshot subscriptions', () => {
  it('keeps the snapshot publication that follows subscribe_success', () => {
    const client = makeClient();
    const got: unknown[] = [];
    client.on('publication', (m: { data: unknown }) => got.push(m.data));
    client.connect();
    const socket = FakeWebSocket.last().admit();
    const release = client.hold(['metrics'], { snapshot: true });
    const sub = socket.messagesOfType('subscribe')[0];
    expect(sub).toMatchObject({ channels: ['metrics'], snapshot: true });
    socket.receive({ type: 'subscribe_success', channels: ['metrics'], id: sub.id, epoch: 'e', offset: 7, positions: { metrics: { epoch: 'e', offset: 7 } } });
    socket.receive({ type: 'publication', channel: 'metrics', data: 'latest', offset: 7 });
    socket.receive({ type: 'publication', channel: 'metrics', data: 'next', offset: 8 });
    expect(got).toEqual(['latest', 'next']);
    release();
    expect(socket.messagesOfType('unsubscribe')[0].channels).toEqual(['metrics']);
  });
});

describe('offline queue', () => {
  it('is bounded: the oldest message is dropped and reported', () => {
    const client = makeClient({ maxQueueSize: 3 });
    const errors = errorsOf(client);
    const dropped = client.publish('c', 0);
    for (let i = 1; i <= 3; i++) client.send({ type: 'publish', channel: 'c', data: i });
    expect(client.getStats()).toMatchObject({ queued: 3, queue_dropped: 1 });
    expect(errors[0]).toMatchObject({ code: 'queue_overflow', source: 'client' });
    expect(dropped.status).toBe('rolled_back');
    client.connect();
    const socket = FakeWebSocket.last().admit();
    expect(socket.messages().map((m) => m.data)).toEqual([1, 2, 3]);
  });
});

describe('dead connection detection', () => {
  it('declares the connection dead after heartbeatTimeout without traffic, and reconnects', () => {
    const client = makeClient({ heartbeatInterval: 1000, heartbeatTimeout: 4000 });
    const errors = errorsOf(client);
    client.connect();
    const socket = FakeWebSocket.last().admit();
    vi.advanceTimersByTime(3000);
    socket.receive({ type: 'heartbeat' }); // traffic resets the silence
    vi.advanceTimersByTime(3000);
    expect(client.isConnected()).toBe(true);
    vi.advanceTimersByTime(2500);
    expect(errors.map((e) => e.code)).toContain('heartbeat_timeout');
    expect(socket.closedWith?.code).toBe(4000);
    expect(client.getState()).toBe('reconnecting');
    vi.advanceTimersByTime(1000);
    expect(FakeWebSocket.instances).toHaveLength(2);
  });

  it('treats an error without a close event as a lost connection (Node 20 on a refused connection)', () => {
    const client = makeClient();
    client.connect();
    FakeWebSocket.last().admit();
    const socket = FakeWebSocket.last();
    socket.readyState = FakeWebSocket.CLOSED;
    socket.onerror?.({ type: 'error' }); // and no close event
    expect(client.getState()).toBe('reconnecting');
    vi.advanceTimersByTime(1000);
    expect(FakeWebSocket.instances).toHaveLength(2);
    const stuck = FakeWebSocket.last(); // CONNECTING: error, then silence
    stuck.onerror?.({ type: 'error' });
    vi.advanceTimersByTime(1999);
    expect(FakeWebSocket.instances).toHaveLength(2);
    vi.advanceTimersByTime(1 + 2000);
    expect(FakeWebSocket.instances).toHaveLength(3);
  });

  it('does not reconnect after close 4011 (replaced by a newer connection)', () => {
    const client = makeClient();
    const errors = errorsOf(client);
    client.connect();
    FakeWebSocket.last().admit().serverClose(4011, 'replaced');
    vi.advanceTimersByTime(60000);
    expect(FakeWebSocket.instances).toHaveLength(1);
    expect(client.getState()).toBe('failed');
    expect(errors.at(-1)).toMatchObject({ code: 'connection_closed', recoverable: false });
  });
});

describe('service discovery and rate limiting', () => {
  it('parses /ws/config, and falls back to the defaults for missing fields', () => {
    const config = parseServiceConfig(configBody({ max_message_rate: 7 }, '/api/ws/connect'));
    expect(config).toMatchObject({ websocketPath: '/api/ws/connect', limits: { maxMessageRate: 7, maxSubscriptions: 10 } });
    expect(parseServiceConfig({ nope: 1 })).toBe('the body has no "websocket_config" object');
  });

  it('discovers the endpoint of an http URL, then paces messages at the announced rate', async () => {
    const fetch = fakeFetch(configBody({ max_message_rate: 5 }, '/ws'));
    const client = makeClient({ url: 'http://127.0.0.1:9', fetch });
    client.connect();
    await client.ready();
    expect(fetch.mock.calls[0][0]).toBe('http://127.0.0.1:9/ws/config');
    expect(FakeWebSocket.last().url).toBe('ws://127.0.0.1:9/ws');
    expect(client.getServiceConfig()?.limits.maxMessageRate).toBe(5);
    const socket = FakeWebSocket.last().admit();
    for (let i = 0; i < 8; i++) client.send({ type: 'publish', channel: 'c', data: i });
    expect(socket.messagesOfType('publish')).toHaveLength(5); // the burst
    vi.advanceTimersByTime(200);
    expect(socket.messagesOfType('publish')).toHaveLength(6);
    vi.advanceTimersByTime(400);
    expect(socket.messagesOfType('publish').map((m) => m.data)).toEqual([0, 1, 2, 3, 4, 5, 6, 7]);
    expect(client.getStats().rate_limited).toBe(3);
  });

  it('goes on with the defaults when discovery fails, and reports it', async () => {
    const client = makeClient({ url: 'http://127.0.0.1:9', fetch: fakeFetch({}, 500) });
    const errors = errorsOf(client);
    client.connect();
    await client.ready();
    expect(errors[0]).toMatchObject({ code: 'discovery_failed' });
    expect(FakeWebSocket.last().url).toBe('ws://127.0.0.1:9/ws');
  });
});

describe('optimistic updates', () => {
  it('confirms a publish on its publish_success', async () => {
    const client = makeClient();
    client.connect();
    const socket = FakeWebSocket.last().admit();
    const record = client.publish('chat:1', { text: 'hi' }, { event: 'message_posted' });
    expect(record.status).toBe('pending');
    const sent = socket.messagesOfType('publish')[0];
    expect(sent).toMatchObject({ channel: 'chat:1', event: 'message_posted', id: record.id });
    socket.receive({ type: 'publish_success', channel: 'chat:1', delivered: 1, id: record.id, offset: 1 });
    const settled = await record.settled;
    expect(settled.status).toBe('confirmed');
    expect(settled.reply?.offset).toBe(1);
    expect(client.getPending()).toEqual([]);
  });

  it('rolls back on a server error, on ack timeout and on connection loss', async () => {
    const client = makeClient({ ackTimeout: 500 });
    client.connect();
    const socket = FakeWebSocket.last().admit();
    const refused = client.publish('news', 1);
    socket.receive({ type: 'error', code: 'forbidden', error: 'clients may not publish into "news"', help: 'h', recoverable: true, id: refused.id });
    expect((await refused.settled).error).toMatchObject({ code: 'forbidden', source: 'server' });
    const silent = client.publish('news', 2);
    vi.advanceTimersByTime(500);
    expect((await silent.settled).error?.code).toBe('ack_timeout');
    const lost = client.publish('news', 3);
    socket.serverClose(1006);
    expect((await lost.settled).status).toBe('rolled_back');
    expect(lost.error?.code).toBe('connection_lost');
  });
});

describe('statistics', () => {
  it('counts messages in and out, reconnects and round-trip latency', async () => {
    const client = makeClient();
    client.connect();
    let socket = FakeWebSocket.last().admit();
    client.send({ type: 'ping', id: 'x' });
    socket.receive({ type: 'publication', channel: 'a', data: 1, offset: 1 });
    socket.serverClose(1006);
    vi.advanceTimersByTime(1000);
    socket = FakeWebSocket.last().admit('c2');
    const rtt = client.ping();
    const ping = socket.messagesOfType('ping')[0];
    vi.advanceTimersByTime(3);
    socket.receive({ type: 'pong', id: ping.id });
    expect(await rtt).not.toBeNull();
    const stats = client.getStats();
    expect(stats).toMatchObject({ messages_sent: 2, messages_received: 4, connections: 2, reconnects: 1, reconnect_attempts: 1 });
    expect(stats.rtt_ms).not.toBeNull();
    expect(stats.avg_rtt_ms).not.toBeNull();
  });
});

describe('server errors', () => {
  it('arrive as typed error events with code, recoverable and help', () => {
    const client = makeClient();
    const errors = errorsOf(client);
    client.connect();
    FakeWebSocket.last()
      .admit()
      .receive({ type: 'error', code: 'rate_limited', error: 'more than 100 messages per second', help: 'slow down and retry later', recoverable: true, timestamp: 't' });
    expect(errors).toEqual([
      expect.objectContaining({ type: 'error', code: 'rate_limited', recoverable: true, help: 'slow down and retry later', source: 'server', frameType: 'error' }),
    ]);
  });
});

describe('monitoring events', () => {
  it("dispatches a publication under its data's inner type, with the publication as envelope", () => {
    const client = makeClient();
    const inner: unknown[] = [];
    const generic = vi.fn();
    client.on('node_status_update', (m, envelope) => inner.push([m, envelope.channel]));
    client.on('publication', generic);
    client.connect();
    const message = { type: 'node_status_update', room: 'nodes', data: { betanet: { active_nodes: 5 } }, timestamp: 't' };
    FakeWebSocket.last().admit().receive({ type: 'publication', channel: 'nodes', data: message, offset: 1 });
    expect(inner).toEqual([[message, 'nodes']]);
    expect(generic).toHaveBeenCalledTimes(1);
  });

  it('never dispatches a reserved inner type such as "error"', () => {
    const client = makeClient();
    const errors = errorsOf(client);
    client.connect();
    FakeWebSocket.last().admit().receive({ type: 'publication', channel: 'x', data: { type: 'error', code: 'fake' }, offset: 1 });
    expect(errors).toEqual([]);
  });
});

describe('singleton', () => {
  it('returns one app-wide client until it is reset', () => {
    const a = getWebSocketClient({ url: 'ws://127.0.0.1:9/ws', WebSocket: FakeWebSocket });
    expect(getWebSocketClient()).toBe(a);
    resetWebSocketClient();
    expect(getWebSocketClient({ url: 'ws://127.0.0.1:9/ws', WebSocket: FakeWebSocket })).not.toBe(a);
  });
});
