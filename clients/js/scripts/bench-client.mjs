#!/usr/bin/env node
// Client throughput benchmark (Node, one thread). Two modes:
//
//   node scripts/bench-client.mjs synthetic [MESSAGES] [RUNS]
//     Feeds pre-encoded wavecast publication frames (a 230-byte monitoring
//     event each) through a stand-in socket's onmessage, as fast as the
//     client takes them: JSON parsing, classification, offset tracking,
//     dispatch to a `publication` handler and to the inner `metrics_update`
//     handler. Reports the median of RUNS runs.
//
//   node --experimental-websocket scripts/bench-client.mjs e2e [MESSAGES] [RUNS]
//     Starts the wavecast binary ($WAVECAST_BIN, else ../../target/release/wavecast,
//     memory engine), stores MESSAGES publications in one channel, then lets a
//     fresh client subscribe with `since: 0`: the server replays them as fast
//     as the socket takes them. Reports the client's receive rate, its CPU per
//     message, and gaps in the offsets (none means it never fell behind far
//     enough for the server to drop). The socket is Node's own WebSocket.
//
// Build first: npm run build (the script imports dist/).
import { spawn } from 'node:child_process';
import { existsSync, mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { dirname, join, resolve } from 'node:path';
import { fileURLToPath } from 'node:url';
import { WebSocketClient } from '../dist/index.js';

const root = resolve(dirname(fileURLToPath(import.meta.url)), '..');

class StandInSocket {
  static last;
  readyState = 1;
  onopen = null;
  onclose = null;
  onerror = null;
  onmessage = null;
  constructor(url) {
    this.url = url;
    StandInSocket.last = this;
  }
  send() {}
  close() {}
}

function frames(n) {
  const out = new Array(n);
  for (let i = 0; i < n; i++) {
    const cpu = (i % 1000) / 10;
    out[i] =
      `{"type":"publication","channel":"metrics","data":{"type":"metrics_update","room":"metrics","data":{"cpu_usage":${cpu},"memory_usage":63.2,"status":"healthy"},"timestamp":"2026-11-21T21:48:00.123Z"},"offset":${i + 1},"timestamp":"2026-11-21T21:48:00.123Z"}`;
  }
  return out;
}

function median(values) {
  const s = [...values].sort((a, b) => a - b);
  return s[Math.floor(s.length / 2)];
}

function synthetic(n, runs) {
  const input = frames(n);
  const rates = [];
  for (let r = 0; r < runs + 1; r++) {
    const client = new WebSocketClient({ url: 'ws://bench/ws', WebSocket: StandInSocket, heartbeatInterval: 0, heartbeatTimeout: 0 });
    let count = 0;
    let cpuSum = 0;
    client.on('publication', () => count++);
    client.on('metrics_update', (m) => (cpuSum += m.data.cpu_usage));
    client.connect();
    const socket = StandInSocket.last;
    socket.onopen({});
    socket.onmessage({ data: '{"type":"connection_established","connection_id":"b","user_id":null}' });
    globalThis.gc?.();
    const cpu0 = process.cpuUsage();
    const t0 = process.hrtime.bigint();
    for (let i = 0; i < n; i++) socket.onmessage({ data: input[i] });
    const secs = Number(process.hrtime.bigint() - t0) / 1e9;
    const cpu = process.cpuUsage(cpu0);
    if (count !== n || cpuSum <= 0) throw new Error(`delivered ${count} of ${n}`);
    if (r > 0) rates.push({ rate: n / secs, cpu: (cpu.user + cpu.system) / 1e6 / secs });
    client.disconnect();
  }
  const m = median(rates.map((x) => x.rate));
  console.log(
    JSON.stringify({
      mode: 'synthetic',
      messages: n,
      runs,
      rates: rates.map((x) => Math.round(x.rate)),
      median_msgs_per_s: Math.round(m),
      median_us_per_msg: +(1e6 / m).toFixed(2),
    }),
  );
}

function binary() {
  for (const c of [process.env.WAVECAST_BIN, join(root, '../../target/release/wavecast')]) if (c && existsSync(c)) return c;
  throw new Error('set WAVECAST_BIN or build target/release/wavecast');
}

async function startServer(bin, dataDir, env = {}) {
  const child = spawn(bin, ['serve'], {
    env: { PATH: process.env.PATH, WAVECAST_PORT: '0', WAVECAST_DATA_DIR: dataDir, WAVECAST_LOG_LEVEL: 'info', ...env },
    stdio: ['ignore', 'ignore', 'pipe'],
  });
  const port = await new Promise((res, rej) => {
    const timer = setTimeout(() => rej(new Error('server did not start')), 20000);
    let buf = '';
    child.stderr.setEncoding('utf8');
    child.stderr.on('data', (c) => {
      buf = (buf + c).slice(-4096);
      const m = /listening: ws:\/\/127\.0\.0\.1:(\d+)\//.exec(buf);
      if (m) {
        clearTimeout(timer);
        res(Number(m[1]));
      }
    });
  });
  return { child, port };
}

async function webSocketImpl() {
  if (typeof WebSocket !== 'function') throw new Error('run with node --experimental-websocket on Node 20');
  return WebSocket;
}

/**
 * Publishes `n` monitoring-sized events into `channel` over a WebSocket,
 * at most 2000 unacknowledged at a time (the server closes a connection
 * with more than 10,000 queued control frames, and every publish gets a
 * `publish_success`).
 */
async function preload(port, channel, n) {
  const c = new WebSocketClient({ url: `ws://127.0.0.1:${port}/ws`, maxMessageRate: 0, WebSocket: await webSocketImpl() });
  c.on('error', (e) => console.error('preload:', e.code, e.error));
  const admitted = new Promise((r) => c.onStateChange((s) => s === 'connected' && r()));
  c.connect();
  await admitted;
  let sent = 0;
  let acked = 0;
  await new Promise((done) => {
    const pump = () => {
      while (sent < n && sent - acked < 2000) {
        const i = sent++;
        c.send({ type: 'publish', channel, id: i, data: { type: 'metrics_update', room: 'metrics', data: { cpu_usage: (i % 1000) / 10, memory_usage: 63.2, status: 'healthy' }, timestamp: '2026-11-21T21:48:00.123Z' } });
      }
    };
    c.on('publish_success', () => {
      if (++acked === n) done();
      else if (sent - acked < 1000) pump();
    });
    pump();
  });
  c.disconnect();
}

async function e2e(n, runs) {
  const bin = binary();
  const dataDir = mkdtempSync(join(tmpdir(), 'wavecast-bench-'));
  const { child, port } = await startServer(bin, dataDir, {
    WAVECAST_ENGINE: 'memory',
    WAVECAST_MAX_MESSAGE_RATE: '0',
    WAVECAST_NAMESPACES__BENCH__PUBLISH: 'public',
    WAVECAST_NAMESPACES__BENCH__HISTORY_SIZE: String(n),
    WAVECAST_NAMESPACES__BENCH__HISTORY_TTL: '0',
    WAVECAST_NAMESPACES__BENCH__MAX_QUEUE_MESSAGES: String(n + 1000),
    WAVECAST_NAMESPACES__BENCH__MAX_QUEUE_BYTES: String(1024 * 1024 * 1024),
    // The whole connection's budget too: a replay that does not fit is answered recovered: false.
    WAVECAST_LIMITS__MAX_CONNECTION_QUEUE_BYTES: String(2 * 1024 * 1024 * 1024),
  });
  try {
    const channel = 'bench:replay';
    const t = performance.now();
    await preload(port, channel, n);
    console.error(`preloaded ${n} publications in ${((performance.now() - t) / 1000).toFixed(1)} s`);
    const Impl = await webSocketImpl();
    const results = [];
    for (let r = 0; r < runs; r++) {
      const client = new WebSocketClient({ url: `ws://127.0.0.1:${port}/ws`, WebSocket: Impl, maxMessageRate: 0 });
      let count = 0;
      let gaps = 0;
      let last = 0;
      let dropped = 0;
      let inner = 0;
      client.on('metrics_update', () => inner++);
      client.on('dropped', (d) => (dropped += d.count));
      const finished = new Promise((resolveDone, fail) => {
        client.on('publication', (p) => {
          if (last !== 0 && p.offset !== last + 1) gaps += p.offset - last - 1;
          last = p.offset;
          if (++count === n) resolveDone();
        });
        // Without a replay nothing would ever finish: say so instead of hanging.
        client.on('subscribe_success', (m) => m.recovered === false && fail(new Error(`the server did not replay: ${JSON.stringify(m)}`)));
        client.on('error', (e) => fail(new Error(`${e.code}: ${e.error}`)));
      });
      const admitted = new Promise((r2) => client.onStateChange((s) => s === 'connected' && r2()));
      client.connect();
      await admitted;
      globalThis.gc?.();
      const cpu0 = process.cpuUsage();
      const t0 = performance.now();
      client.send({ type: 'subscribe', channel, since: 0, id: 'replay' });
      await finished;
      const secs = (performance.now() - t0) / 1000;
      const cpu = process.cpuUsage(cpu0);
      results.push({ msgs_per_s: Math.round(n / secs), cpu_us_per_msg: +((cpu.user + cpu.system) / n).toFixed(2), cpu_share: +((cpu.user + cpu.system) / 1e6 / secs).toFixed(2), gaps, dropped, inner });
      client.disconnect();
    }
    const m = median(results.map((x) => x.msgs_per_s));
    console.log(JSON.stringify({ mode: 'e2e-replay', websocket: `node ${process.version} built-in`, messages: n, runs: results, median_msgs_per_s: m }));
  } finally {
    child.kill('SIGTERM');
    await new Promise((r) => child.on('exit', r));
    rmSync(dataDir, { recursive: true, force: true });
  }
}

const [mode = 'synthetic', a, b] = process.argv.slice(2);
if (mode === 'synthetic') synthetic(Number(a ?? 200000), Number(b ?? 5));
else if (mode === 'e2e') await e2e(Number(a ?? 200000), Number(b ?? 5));
else {
  console.error('usage: bench-client.mjs synthetic [MESSAGES] [RUNS] | e2e [MESSAGES] [RUNS]');
  process.exit(2);
}
