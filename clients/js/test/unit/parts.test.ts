// Small parts on their own: backoff, queue, token bucket, field decoding, alerts, the simulation stream.
import { afterEach, beforeEach, describe, expect, it, vi } from 'vitest';
import { backoffCeiling, backoffDelay, decodeField, normalizeAlert, payloadOf, severityClass, SimulationStream } from '../../src/index.js';
import { BoundedQueue } from '../../src/queue.js';
import { TokenBucket } from '../../src/rate-limit.js';
import { FakeWebSocket } from '../fake-websocket.js';

beforeEach(() => FakeWebSocket.reset());

describe('backoff', () => {
  it('doubles the ceiling up to the maximum and draws uniformly below it', () => {
    expect([0, 1, 2, 3, 10, 2000].map((n) => backoffCeiling(n, 1000, 30000))).toEqual([1000, 2000, 4000, 8000, 30000, 30000]);
    expect(backoffDelay(3, { base: 1000, max: 30000, random: () => 0.5 })).toBe(4000);
    expect(backoffDelay(3, { base: 1000, max: 30000, random: () => 0 })).toBe(0);
  });
});

describe('bounded queue', () => {
  it('keeps order and drops the oldest when full', () => {
    const q = new BoundedQueue<number>(2);
    expect(q.push(1)).toBeUndefined();
    q.push(2);
    expect(q.push(3)).toBe(1);
    expect(q.drain()).toEqual([2, 3]);
    for (let i = 0; i < 500; i++) q.push(i);
    expect(q.length).toBe(2);
  });
});

describe('token bucket', () => {
  it('allows a burst, then the rate', () => {
    let now = 0;
    const b = new TokenBucket(10, 2, () => now);
    expect([b.tryTake(), b.tryTake(), b.tryTake()]).toEqual([true, true, false]);
    expect(b.waitTime()).toBe(100);
    now = 100;
    expect(b.tryTake()).toBe(true);
    expect(new TokenBucket(0, 0).tryTake()).toBe(true);
  });
});

describe('field decoding', () => {
  it('decodes the u8-base64 example of docs/mfn.md', () => {
    const field = decodeField({
      data: 'AAAAAAAAAAAAAAAAAAAAAAAA/////wAAAAD/////AAAAAP////8AAAAA/////wAAAAAAAAAAAAAAAAAAAAAAAA==',
      encoding: 'u8-base64',
      height: 8,
      max: 0.28125,
      min: 0.0078125,
      width: 8,
    });
    if (typeof field === 'string') throw new Error(field);
    expect(field.levels.filter((l) => l === 255)).toHaveLength(16);
    expect(field.levels[3 * 8 + 2]).toBe(255);
    expect(field.levels[0]).toBe(0);
  });

  it('refuses malformed fields with a message', () => {
    expect(decodeField({ encoding: 'f32', width: 1, height: 1, data: '' })).toMatch(/encoding/);
    expect(decodeField({ encoding: 'u8-base64', width: 2, height: 2, data: 'AA==' })).toMatch(/1 levels for a 2x2 grid/);
  });
});

describe('alerts', () => {
  it('reads alerts with fields at the top of data or nested, and maps severities to colours', () => {
    const top = normalizeAlert({
      channel: 'alerts',
      offset: 4,
      data: { type: 'anomaly_detected', metric: 'cpu', value: 97, z_score: 3.9, severity: 'high' },
    });
    expect(top).toMatchObject({ id: 'alerts:4', type: 'anomaly_detected', metric: 'cpu', z_score: 3.9, severity: 'high' });
    const nested = normalizeAlert({
      channel: 'alerts',
      data: { type: 'alert', room: 'alerts', data: { type: 'threshold_exceeded', metric: 'cpu_usage', value: 95, threshold: 90, severity: 'critical' }, priority: 'critical' },
    });
    expect(nested).toMatchObject({ type: 'threshold_exceeded', threshold: 90, severity: 'critical', priority: 'critical' });
    expect(normalizeAlert({ data: 3 })).toBeUndefined();
    expect(['critical', 'high', 'warning', 'medium', 'info', 'low'].map(severityClass)).toEqual([
      'critical',
      'critical',
      'warning',
      'warning',
      'info',
      'info',
    ]);
  });

  it('takes the payload out of each message shape', () => {
    const payload = { a: 1 };
    expect(payloadOf({ type: 'metrics_update', room: 'metrics', data: payload })).toBe(payload);
    expect(payloadOf({ type: 'metrics_update', channel: 'metrics', data: payload })).toBe(payload);
    expect(payloadOf({ type: 'metrics_update', channel: 'metrics', data: { type: 'metrics_update', data: payload } }, 'metrics_update')).toBe(payload);
  });
});

describe('simulation stream', () => {
  afterEach(() => vi.useRealTimers());

  it('runs INIT → SUBSCRIBE → frames → END, answering heartbeats', () => {
    const run = new SimulationStream({ url: 'ws://127.0.0.1:9/ws/simulation_live', WebSocket: FakeWebSocket });
    const states: string[] = [];
    const frames: number[] = [];
    run.on('state', (s: string) => states.push(s));
    run.on('simulation_state', (f: { step: number }) => frames.push(f.step));
    run.start({ grid_size: 8, steps: 20, update_every: 10, include_field: true }, 's1');
    const socket = FakeWebSocket.last().open();
    expect(socket.messages()).toEqual([{ type: 'init', protocol_version: '1.0', id: 'init' }]);
    socket.receive({ type: 'init', id: 'init', connection_id: 'c' });
    expect(socket.messages()[1]).toMatchObject({ type: 'subscribe', stream_type: 'simulation_live', stream_id: 's1', params: { grid_size: 8 } });
    socket.receive({ type: 'subscribe_success', id: 'start', stream_id: 's1' });
    socket.receive({ type: 'heartbeat' });
    socket.receive({ type: 'simulation_state', step: 10, stream_id: 's1' });
    socket.receive({ type: 'simulation_state', step: 20, stream_id: 's1' });
    socket.receive({ type: 'simulation_complete', steps: 20, stream_id: 's1' });
    expect(socket.messages()[2]).toEqual({ type: 'pong' });
    expect(frames).toEqual([10, 20]);
    expect(states).toEqual(['connecting', 'running', 'complete']);
  });

  it('ends with state error on subscribe_failed, reporting the server error', () => {
    const run = new SimulationStream({ url: 'ws://127.0.0.1:9/ws/simulation_live', WebSocket: FakeWebSocket });
    const errors: Array<{ code: string }> = [];
    run.on('error', (e: { code: string }) => errors.push(e));
    run.start({ dt: 5 });
    const socket = FakeWebSocket.last().open();
    socket.receive({ type: 'init', id: 'init' });
    socket.receive({ type: 'subscribe_failed', code: 'invalid_field', error: 'params.dt: dt must be in [0, 1], got 5', recoverable: true, id: 'start' });
    expect(errors[0].code).toBe('invalid_field');
    expect(run.getState()).toBe('error');
    expect(socket.readyState).toBe(FakeWebSocket.CLOSED);
  });
});
