// The client from Node against the real wavecast binary: subscribe, publish over HTTP, receive;
// discovery; heartbeats; typed errors; optimistic publish; a restart with recovery and no gap;
// a restart that loses history (recovered: false); a simulation stream.
import { afterAll, afterEach, beforeAll, describe, expect, it } from 'vitest';
import {
  decodeField,
  SimulationStream,
  WebSocketClient,
  type ConnectionState,
  type Publication,
  type RecoveryInfo,
  type WavecastError,
  type WebSocketClientOptions,
  type WebSocketConstructor,
  type WebSocketLike,
} from '../../src/index.js';
import * as msgpack from '@msgpack/msgpack';
import { waitFor, WavecastServer } from '../server.js';

const clients: WebSocketClient[] = [];

function client(options: WebSocketClientOptions): WebSocketClient {
  const c = new WebSocketClient({ reconnectInterval: 100, maxReconnectInterval: 500, ...options });
  clients.push(c);
  return c;
}

function stateReached(c: WebSocketClient, state: ConnectionState, ms = 10000): Promise<ConnectionState> {
  if (c.getState() === state) return Promise.resolve(state);
  return waitFor((cb) => c.onStateChange(cb), (s) => s === state, ms, `state ${state}`);
}

function collect(c: WebSocketClient, channel: string): Publication[] {
  const got: Publication[] = [];
  c.on('publication', (p: Publication) => p.channel === channel && got.push(p));
  return got;
}

/** Resolves once `list` has `n` items; `c` tells when it may have grown. */
function count(c: WebSocketClient, list: unknown[], n: number, ms = 10000): Promise<unknown> {
  if (list.length >= n) return Promise.resolve();
  return waitFor((cb) => c.on('*', cb), () => list.length >= n, ms, `${n} items`);
}

afterEach(() => {
  for (const c of clients.splice(0)) c.disconnect();
});

describe('against a running server', () => {
  let server: WavecastServer;
  beforeAll(async () => {
    server = await WavecastServer.start({
      env: { WAVECAST_NAMESPACES__OPEN__PUBLISH: 'public', WAVECAST_HEARTBEAT_INTERVAL: '500ms', WAVECAST_HEARTBEAT_TIMEOUT: '1200ms' },
    });
  });
  afterAll(async () => server?.dispose());

  it('subscribes, gets a publication made over HTTP, with its offset', async () => {
    const c = client({ url: server.ws });
    const got = collect(c, 'news');
    c.subscribe(['news']);
    const subscribed = waitFor((cb) => c.on('subscribe_success', cb));
    c.connect();
    await subscribed;
    const { offset } = await server.publish('news', { headline: 'hello' });
    await count(c, got, 1);
    expect(got[0]).toMatchObject({ type: 'publication', channel: 'news', data: { headline: 'hello' }, offset });
    expect(c.getPosition('news')?.offset).toBe(offset);
  });

  it('dispatches a monitoring event under its inner type', async () => {
    const c = client({ url: server.ws });
    c.subscribe(['nodes']);
    const subscribed = waitFor((cb) => c.on('subscribe_success', cb));
    c.connect();
    await subscribed;
    const update = waitFor<{ type: string; data: unknown }>((cb) => c.on('node_status_update', cb));
    const message = { type: 'node_status_update', room: 'nodes', data: { betanet: { active_nodes: 5 } }, timestamp: '2026-01-01T00:00:00.000Z' };
    await server.publish('nodes', message);
    expect(await update).toEqual(message);
  });

  it('discovers the endpoint from an http URL and follows the announced heartbeat', async () => {
    const c = client({ url: server.http, heartbeatInterval: 60000 });
    c.connect();
    await stateReached(c, 'connected');
    expect(c.getServiceConfig()?.limits).toMatchObject({ heartbeatInterval: 500, heartbeatTimeout: 1200, maxMessageRate: 100 });
    // The client does not ping (60 s), so only its pong answers keep it alive past the 1.2 s timeout.
    const heartbeats: unknown[] = [];
    c.on('heartbeat', (h) => heartbeats.push(h));
    await count(c, heartbeats, 5, 10000);
    expect(c.getState()).toBe('connected');
    expect(c.getStats().reconnects).toBe(0);
  });

  it('speaks MessagePack with format: msgpack, publications and heartbeats included', async () => {
    const c = client({ url: server.http, format: 'msgpack', msgpack, heartbeatInterval: 60000 });
    const got = collect(c, 'packed');
    c.subscribe(['packed']);
    const subscribed = waitFor((cb) => c.on('subscribe_success', cb));
    c.connect();
    await subscribed;
    const data = { text: 'κόσμε', n: [1, 2.5, null, true], nested: { a: {} } };
    const { offset } = await server.publish('packed', data);
    await count(c, got, 1);
    expect(got[0]).toMatchObject({ type: 'publication', channel: 'packed', data, offset });
    // The server built the frame as MessagePack, and the client's own frames (subscribe, pongs)
    // were understood: it stays connected past the heartbeat timeout by answering in MessagePack.
    const metrics = await (await fetch(`${server.http}/metrics`)).text();
    expect(metrics).toMatch(/wavecast_publication_frames_encoded_total\{format="wavecast\.msgpack"\} [1-9]/);
    const heartbeats: unknown[] = [];
    c.on('heartbeat', (h) => heartbeats.push(h));
    await count(c, heartbeats, 4, 10000);
    expect(c.getState()).toBe('connected');
    expect(c.getStats().reconnects).toBe(0);
    expect(await c.ping()).toBeGreaterThanOrEqual(0);
  });

  it('reports server errors as typed events and keeps going', async () => {
    const c = client({ url: server.ws });
    c.connect();
    await stateReached(c, 'connected');
    const error = waitFor<WavecastError>((cb) => c.on('error', cb));
    c.send({ type: 'dance', id: 'q' });
    expect(await error).toMatchObject({ code: 'unknown_type', source: 'server', recoverable: true, id: 'q', frameType: 'error' });
    expect((await error).help).toContain('known types');
    expect(await c.ping()).toBeGreaterThanOrEqual(0);
  });

  it('confirms an allowed optimistic publish and rolls back a refused one', async () => {
    const c = client({ url: server.ws });
    c.connect();
    await stateReached(c, 'connected');
    const ok = await c.publish('open:room', { n: 1 }, { event: 'posted' }).settled;
    expect(ok.status).toBe('confirmed');
    expect(ok.reply).toMatchObject({ type: 'publish_success', channel: 'open:room' });
    const refused = await c.publish('news', { n: 2 }).settled;
    expect(refused.status).toBe('rolled_back');
    expect(refused.error).toMatchObject({ code: 'forbidden', source: 'server' });
  });

  it('is admitted with a token when the server requires auth', async () => {
    const secured = await WavecastServer.start({ env: { WAVECAST_REQUIRE_AUTH: 'true', WAVECAST_API_KEYS: 'client-key' } });
    try {
      const anonymous = client({ url: secured.ws, maxReconnectAttempts: 0 });
      const withKey = client({ url: secured.ws, apiKey: 'client-key' });
      withKey.connect();
      await stateReached(withKey, 'connected');
      anonymous.connect();
      const errors: WavecastError[] = [];
      anonymous.on('error', (e: WavecastError) => errors.push(e));
      anonymous.send({ type: 'history', channel: 'x', id: 'h' }); // queued: the connection is not admitted yet
      anonymous.authenticate({ apiKey: 'wrong' });
      const failed = await waitFor<WavecastError>((cb) => anonymous.on('error', cb), (e) => e.frameType === 'auth_failed');
      expect(failed.code).toBe('invalid_credentials');
      const history = waitFor<{ id: string }>((cb) => anonymous.on('history', cb));
      anonymous.authenticate({ apiKey: 'client-key' });
      await stateReached(anonymous, 'connected');
      // The queued request went out only after admission: it got its reply, not auth_required.
      expect((await history).id).toBe('h');
      expect(errors.map((e) => e.code)).toEqual(['invalid_credentials']);
    } finally {
      await secured.dispose();
    }
  });
});

/**
 * A WebSocket whose connections go to a closed port while `gate.open` is
 * false: the test decides when the client may reconnect.
 */
function gatedWebSocket(gate: { open: boolean }): WebSocketConstructor {
  const Native = (globalThis as { WebSocket?: WebSocketConstructor }).WebSocket;
  if (!Native) throw new Error('this Node has no global WebSocket (Node 20 needs --experimental-websocket)');
  const Impl: WebSocketConstructor = Native;
  return class {
    constructor(url: string) {
      return new Impl(gate.open ? url : 'ws://127.0.0.1:9/closed') as unknown as WebSocketLike;
    }
  } as unknown as WebSocketConstructor;
}

describe('server restarts', () => {
  it('recovers after a restart with no gap and no duplicate (embedded engine)', async () => {
    let server = await WavecastServer.start();
    const gate = { open: true };
    try {
      const c = client({ url: server.ws, WebSocket: gatedWebSocket(gate), maxReconnectAttempts: 1000 });
      const got = collect(c, 'chat:1');
      const recoveries: RecoveryInfo[] = [];
      c.onRecovery((r) => recoveries.push(r));
      c.subscribe(['chat:1']);
      const subscribed = waitFor((cb) => c.on('subscribe_success', cb));
      c.connect();
      await subscribed;
      for (let i = 1; i <= 5; i++) await server.publish('chat:1', { i });
      await count(c, got, 5);

      gate.open = false;
      server = await server.restart();
      await stateReached(c, 'reconnecting');
      for (let i = 6; i <= 10; i++) await server.publish('chat:1', { i }); // missed while away
      gate.open = true;
      await stateReached(c, 'connected', 15000);
      await count(c, got, 10);
      await server.publish('chat:1', { i: 11 });
      await count(c, got, 11);

      expect(got.map((p) => (p.data as { i: number }).i)).toEqual([1, 2, 3, 4, 5, 6, 7, 8, 9, 10, 11]);
      expect(got.map((p) => p.offset)).toEqual([1, 2, 3, 4, 5, 6, 7, 8, 9, 10, 11]);
      expect(recoveries).toEqual([expect.objectContaining({ channel: 'chat:1', recovered: true })]);
      expect(c.getStats()).toMatchObject({ reconnects: 1, duplicates: 0 });
    } finally {
      await server.dispose();
    }
  });

  it('tells the application recovered: false when the history was lost (memory engine)', async () => {
    let server = await WavecastServer.start({ env: { WAVECAST_ENGINE: 'memory' } });
    try {
      const c = client({ url: server.ws, maxReconnectAttempts: 1000 });
      const got = collect(c, 'feed');
      c.subscribe(['feed']);
      const subscribed = waitFor((cb) => c.on('subscribe_success', cb));
      c.connect();
      await subscribed;
      await server.publish('feed', 1);
      await count(c, got, 1);
      const epoch = c.getPosition('feed')?.epoch;
      server = await server.restart();
      const recovery = await waitFor<RecoveryInfo>((cb) => c.onRecovery(cb), () => true, 15000, 'a recovery');
      expect(recovery).toMatchObject({ channel: 'feed', recovered: false, previous: { offset: 1, epoch } });
      expect(recovery.epoch).not.toBe(epoch);
      const { offset } = await server.publish('feed', 2);
      await count(c, got, 2);
      expect(got[1]).toMatchObject({ data: 2, offset });
    } finally {
      await server.dispose();
    }
  });
});

describe('simulation stream', () => {
  it('runs /ws/simulation_live and decodes the field', async () => {
    const server = await WavecastServer.start();
    try {
      const run = new SimulationStream({ url: `ws://127.0.0.1:${server.port}/ws/simulation_live` });
      const states: Array<{ step: number; field: unknown }> = [];
      run.on('simulation_state', (f: { step: number; field: unknown }) => states.push(f));
      const done = waitFor<{ steps: number }>((cb) => run.on('simulation_complete', cb), () => true, 15000);
      run.start({ grid_size: 16, steps: 40, update_every: 10, include_field: true, seed: 7 }, 's1');
      expect((await done).steps).toBe(40);
      expect(states.map((s) => s.step)).toEqual([10, 20, 30, 40]);
      const field = decodeField(states[3].field);
      if (typeof field === 'string') throw new Error(field);
      expect(field.levels).toHaveLength(256);
      expect(run.getState()).toBe('complete');
    } finally {
      await server.dispose();
    }
  });
});
