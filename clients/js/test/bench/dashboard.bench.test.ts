// Benchmark (not part of `npm test`): the dashboard's frame budget at 100 updates/s.
// Run: npm run bench:dashboard (WAVECAST_BIN as for the tests). It loads the dashboard in Chromium,
// fills every monitoring component, then publishes 100 updates/s for BENCH_SECONDS (default 10)
// across the monitoring rooms and an inspected channel, and measures with the Performance API
// (requestAnimationFrame intervals, long-animation-frame entries) and Chromium's own counters
// (CDP Performance.getMetrics: main-thread task, script, layout and style time per frame).
import type { Page } from 'playwright-core';
import { afterAll, beforeAll, expect, it } from 'vitest';
import { WavecastServer } from '../server.js';
import { dashboardUrl, launch } from '../browser/browser.js';

const SECONDS = Number(process.env.BENCH_SECONDS ?? 10);
const RATE = Number(process.env.BENCH_RATE ?? 100);

let server: WavecastServer;
let browser: Awaited<ReturnType<typeof launch>>;
let site: { url: string; close: () => Promise<void> };

beforeAll(async () => {
  server = await WavecastServer.start();
  site = await dashboardUrl(server.http);
  browser = await launch();
});

afterAll(async () => {
  await browser?.close();
  await site?.close();
  await server?.dispose();
});

function quantile(sorted: number[], q: number): number {
  return sorted.length === 0 ? NaN : sorted[Math.min(sorted.length - 1, Math.floor(q * sorted.length))];
}

const round = (x: number) => Math.round(x * 100) / 100;

function update(i: number): [string, unknown] {
  const ts = new Date().toISOString();
  const fog = (room: string, type: string, data: unknown): [string, unknown] => [room, { type, room, data, timestamp: ts }];
  switch (i % 10) {
    case 0:
    case 5:
      return fog('metrics', 'metrics_update', { status: i % 50 === 0 ? 'degraded' : 'healthy', services: { a: 'healthy', b: 'healthy' }, cpu_usage: 40 + (i % 30), memory_usage: 60 + (i % 7), rps: i % 200 });
    case 1:
    case 6:
      return fog('nodes', 'node_status_update', { betanet: { active_nodes: 5 + (i % 3), connections: 10, avg_latency_ms: 20 + (i % 11), packets_processed: i * 10 }, p2p: { connected_peers: 8, messages_sent: i * 3, messages_received: i * 3 } });
    case 2:
      return fog('tasks', 'task_progress', { tasks: Array.from({ length: 8 }, (_, k) => ({ id: `t${k}`, name: `task-${k}`, status: 'running', progress: ((i + k * 7) % 100) / 100 })), queue: { pending: 3, running: 8, completed: i, failed: 1 } });
    case 3:
      return fog('resources', 'resource_update', { devices: Array.from({ length: 20 }, (_, k) => ({ id: `edge-${k}`, cpu_percent: (i + k * 13) % 100, memory_percent: (i + k * 7) % 100, storage_percent: (k * 11) % 100 })) });
    case 4:
      return ['alerts', { type: 'anomaly_detected', metric: 'cpu_usage', value: i, z_score: 2.6, severity: i % 20 === 4 ? 'critical' : 'medium' }];
    case 7:
      return i % 100 === 7
        ? fog('topology', 'topology_update', { nodes: Array.from({ length: 12 }, (_, k) => ({ id: `n${k}` })), edges: Array.from({ length: 14 }, (_, k) => ({ source: `n${k % 12}`, target: `n${(k * 5 + 1) % 12}` })) })
        : ['bench:inspect', { n: i, text: 'inspector row' }];
    default:
      return ['bench:inspect', { n: i, text: 'inspector row' }];
  }
}

interface TraceEvent {
  name: string;
  ph: string;
  dur?: number;
  pid: number;
  tid: number;
  args?: { name?: string };
}

/** With BENCH_TRACE=1: the renderer main thread's time by trace event name, in ms per frame (nested events overlap). */
async function traced(page: Page, frames: () => number, run: () => Promise<void>): Promise<Record<string, number>> {
  const cdp = await page.context().newCDPSession(page);
  const events: TraceEvent[] = [];
  cdp.on('Tracing.dataCollected', (e) => events.push(...(e.value as unknown as TraceEvent[])));
  await cdp.send('Tracing.start', { categories: 'devtools.timeline,v8.execute,blink', transferMode: 'ReportEvents' });
  await run();
  const done = new Promise((r) => cdp.once('Tracing.tracingComplete', r));
  await cdp.send('Tracing.end');
  await done;
  const main = events.find((e) => e.name === 'thread_name' && e.args?.name === 'CrRendererMain');
  const sums = new Map<string, number>();
  for (const e of events) {
    if (!main || e.pid !== main.pid || e.tid !== main.tid || e.ph !== 'X' || !e.dur) continue;
    sums.set(e.name, (sums.get(e.name) ?? 0) + e.dur / 1000);
  }
  const n = Math.max(1, frames());
  return Object.fromEntries([...sums].sort((a, b) => b[1] - a[1]).slice(0, 25).map(([k, v]) => [k, round(v / n)]));
}

async function measure(page: Page, run: () => Promise<void>) {
  const cdp = await page.context().newCDPSession(page);
  await cdp.send('Performance.enable');
  const metrics = async () => Object.fromEntries(((await cdp.send('Performance.getMetrics')) as { metrics: Array<{ name: string; value: number }> }).metrics.map((m) => [m.name, m.value]));
  await page.evaluate(() => {
    const w = window as unknown as { __perf: { frames: number[]; loaf: number[]; on: boolean } };
    w.__perf = { frames: [], loaf: [], on: true };
    let last = performance.now();
    const tick = (t: number) => {
      w.__perf.frames.push(t - last);
      last = t;
      if (w.__perf.on) requestAnimationFrame(tick);
    };
    requestAnimationFrame((t) => {
      last = t;
      requestAnimationFrame(tick);
    });
    try {
      new PerformanceObserver((list) => {
        for (const e of list.getEntries()) w.__perf.loaf.push(e.duration);
      }).observe({ type: 'long-animation-frame', buffered: false });
    } catch {
      // Older Chromium: no long-animation-frame entries.
    }
  });
  const before = await metrics();
  await run();
  const after = await metrics();
  const perf = await page.evaluate(() => {
    const w = window as unknown as { __perf: { frames: number[]; loaf: number[]; on: boolean } };
    w.__perf.on = false;
    return w.__perf;
  });
  const frames = [...perf.frames].sort((a, b) => a - b);
  const per = (name: string) => round(((after[name] - before[name]) * 1000) / Math.max(1, frames.length));
  return {
    frames: frames.length,
    raf_interval_ms: { p50: round(quantile(frames, 0.5)), p95: round(quantile(frames, 0.95)), p99: round(quantile(frames, 0.99)), max: round(frames.at(-1) ?? NaN) },
    // A frame that came more than 1.5 vsync periods after the previous one: at least one was missed.
    late_frames: frames.filter((f) => f > 16.7 * 1.5).length,
    main_thread_ms_per_frame: { task: per('TaskDuration'), script: per('ScriptDuration'), layout: per('LayoutDuration'), style: per('RecalcStyleDuration') },
    long_animation_frames: { count: perf.loaf.length, max_ms: round(Math.max(0, ...perf.loaf)) },
  };
}

it(`keeps the frame budget at ${RATE} updates/s`, async () => {
  const page = await browser.context.newPage();
  await page.goto(site.url);
  await page.locator('[data-testid=connection][data-state=connected]').waitFor({ timeout: 15000 });
  await page.getByTestId('inspect-channel').fill('bench:inspect');
  await page.getByTestId('inspect-subscribe').click();
  await page.locator('[data-testid=inspected-channel][data-subscribed=true]').waitFor();
  for (let i = 0; i < 10; i++) {
    const [channel, data] = update(i);
    await server.publish(channel, data);
  }
  await page.getByTestId('nodata-resources').waitFor({ state: 'detached' });

  const idle = await measure(page, () => new Promise((r) => setTimeout(r, 3000)));
  let sent = 0;
  let next = 10;
  const publishFor = async (seconds: number) => {
    const start = performance.now();
    const total = RATE * seconds;
    for (let i = 0; i < total; i++) {
      const due = start + (i * 1000) / RATE;
      const wait = due - performance.now();
      if (wait > 1) await new Promise((r) => setTimeout(r, wait));
      const [channel, data] = update(next++);
      await server.publish(channel, data);
      sent++;
    }
  };
  const loaded = await measure(page, () => publishFor(SECONDS));
  const achieved = round(sent / SECONDS);
  expect(sent).toBe(RATE * SECONDS);
  console.log(JSON.stringify({ benchmark: 'dashboard', rate_asked: RATE, rate_sent: achieved, seconds: SECONDS, idle, loaded }, null, 2));
  if (process.env.BENCH_TRACE) {
    const byName = await traced(page, () => 60 * 3, () => publishFor(3));
    console.log(JSON.stringify({ main_thread_ms_per_frame_by_event: byName }, null, 2));
  }
  await page.close();
}, 120000);
