// The dashboard in Chromium against the real wavecast binary: it loads without console errors,
// connects, shows publications in the inspector and alerts with their severity colour, draws the
// simulation, renders the six monitoring components from room events, reconnects by itself after
// a server restart, and works with auth on (token entry or a token in the fragment).
import { execFileSync } from 'node:child_process';
import { mkdirSync } from 'node:fs';
import { dirname, join, resolve } from 'node:path';
import { fileURLToPath } from 'node:url';
import type { BrowserContext, Page } from 'playwright-core';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { findBinary, WavecastServer } from '../server.js';
import { dashboardUrl, launch } from './browser.js';

const SHOTS = resolve(dirname(fileURLToPath(import.meta.url)), '../../test-results');
mkdirSync(SHOTS, { recursive: true });

const ROOMS = ['nodes', 'tasks', 'metrics', 'alerts', 'resources', 'topology'];

let server: WavecastServer;
let browser: { context: BrowserContext; close: () => Promise<void> };
let site: { url: string; close: () => Promise<void> };
let page: Page;
const consoleErrors: string[] = [];

async function historyLength(channel: string): Promise<number> {
  const r = await fetch(`${server.http}/api/history/${encodeURIComponent(channel)}`);
  if (!r.ok) return 0;
  return ((await r.json()) as { publications: unknown[] }).publications.length;
}

async function connected(p: Page, timeout = 15000): Promise<void> {
  await p.locator('[data-testid=connection][data-state=connected]').waitFor({ timeout });
}

async function inspect(p: Page, channel: string): Promise<void> {
  await p.getByTestId('inspect-channel').fill(channel);
  await p.getByTestId('inspect-subscribe').click();
  await p.locator(`[data-testid=inspected-channel][data-channel="${channel}"][data-subscribed=true]`).waitFor({ timeout: 10000 });
}

beforeAll(async () => {
  // The server's own monitoring publishers are off: the default `tasks`
  // publisher sends the (empty) reported task list every 2 s, which could
  // replace the demo's task list before the test looks for it.
  server = await WavecastServer.start({ env: { WAVECAST_MONITORING__ENABLED: 'false' } });
  site = await dashboardUrl(server.http);
  browser = await launch();
  page = await browser.context.newPage();
  page.on('console', (m) => m.type() === 'error' && consoleErrors.push(m.text()));
  page.on('pageerror', (e) => consoleErrors.push(String(e)));
});

afterAll(async () => {
  await browser?.close();
  await site?.close();
  await server?.dispose();
});

describe('dashboard', () => {
  it('loads without console errors, turns the indicator connected, and says which rooms have no data', async () => {
    await page.goto(site.url);
    await connected(page);
    const quiet: string[] = [];
    for (const room of ROOMS) if ((await historyLength(room)) === 0) quiet.push(room);
    for (const room of quiet) {
      const empty = page.getByTestId(`nodata-${room}`);
      // A room that got its first publication meanwhile (a monitoring publisher) is not checked.
      if ((await historyLength(room)) > 0) continue;
      await expect(empty.textContent()).resolves.toBe(`No data yet in room ${room}`);
    }
    await page.getByTestId('server-stats').getByText('connections').first().waitFor();
    await page.screenshot({ path: join(SHOTS, 'dashboard-empty.png'), fullPage: true });
    expect(consoleErrors).toEqual([]);
  });

  it('shows a publication sent over HTTP in the channel inspector, with its offset', async () => {
    await inspect(page, 'inspect:demo');
    const { offset } = await server.publish('inspect:demo', { hello: 'browser', n: 42 }, 'greeting');
    const row = page.getByTestId('frame-row').filter({ hasText: '"hello":"browser"' });
    await row.waitFor({ timeout: 10000 });
    const cells = await row.locator('td').allTextContents();
    expect(cells.slice(1, 4)).toEqual(['inspect:demo', String(offset), 'greeting']);
  });

  it('publishes from the inspector through the server API', async () => {
    await page.getByTestId('publish-channel').fill('inspect:demo');
    await page.getByTestId('publish-data').fill('{"from":"form"}');
    await page.getByTestId('publish').click();
    await page.getByTestId('publish-result').filter({ hasText: 'published at offset' }).waitFor();
    await page.getByTestId('frame-row').filter({ hasText: '"from":"form"' }).waitFor();
  });

  it('shows an alert posted into alerts with its severity colour', async () => {
    await server.publish('alerts', { type: 'threshold_exceeded', metric: 'cpu_usage', value: 95, threshold: 90, severity: 'critical', priority: 'critical' });
    await server.publish('alerts', { type: 'alert', room: 'alerts', data: { type: 'anomaly_detected', metric: 'latency_ms', value: 310, z_score: 3.1, severity: 'medium' } });
    const critical = page.locator('[data-testid=alert][data-severity=critical]').filter({ hasText: 'cpu_usage' });
    const medium = page.locator('[data-testid=alert][data-severity=medium]').filter({ hasText: 'latency_ms' });
    await critical.waitFor({ timeout: 10000 });
    await medium.waitFor({ timeout: 10000 });
    const colour = (l: typeof critical) => l.evaluate((el) => getComputedStyle(el).borderLeftColor);
    expect(await colour(critical)).toBe('rgb(230, 57, 70)');
    expect(await colour(medium)).toBe('rgb(244, 162, 97)');
    await expect(critical.textContent()).resolves.toContain('threshold 90');
    await expect(medium.textContent()).resolves.toContain('z = 3.10');
  });

  it('draws simulation frames: the canvas changes between two screenshots', async () => {
    await page.getByTestId('sim-grid').fill('128');
    await page.getByTestId('sim-steps').fill('1000000');
    await page.getByTestId('sim-every').fill('50');
    await page.getByTestId('sim-start').click();
    await page.locator('[data-testid=sim-status][data-state=running]').waitFor({ timeout: 10000 });
    const canvas = page.getByTestId('sim-canvas');
    const stepNow = async () => Number((await page.getByTestId('sim-status').textContent())?.match(/step (\d+)/)?.[1] ?? 0);
    await page.waitForFunction(() => /step \d+/.test(document.querySelector('[data-testid=sim-status]')?.textContent ?? ''), null, { timeout: 10000 });
    const first = await canvas.screenshot({ path: join(SHOTS, 'simulation-1.png') });
    const step1 = await stepNow();
    await page.waitForFunction(
      (s) => Number(document.querySelector('[data-testid=sim-status]')?.textContent?.match(/step (\d+)/)?.[1] ?? 0) > s + 500,
      step1,
      { timeout: 15000 },
    );
    const second = await canvas.screenshot({ path: join(SHOTS, 'simulation-2.png') });
    expect(Buffer.compare(first, second)).not.toBe(0);
    await page.getByRole('button', { name: 'Stop' }).click();
    await page.locator('[data-testid=sim-status][data-state=stopped]').waitFor();
  });

  it('renders the six monitoring components from room events', async () => {
    await publishDemo(server);
    for (const room of ROOMS) await page.getByTestId(`nodata-${room}`).waitFor({ state: 'detached', timeout: 10000 });
    await page.getByTestId('live-metrics').getByText('healthy', { exact: false }).first().waitFor();
    await page.getByTestId('node-status').getByText('active nodes').waitFor();
    await page.getByTestId('tasks').getByText('train-model').waitFor();
    await page.getByTestId('resources').getByText('edge-07').waitFor();
    await expect(page.getByTestId('topology').locator('circle').count()).resolves.toBe(6);
    await page.getByTestId('topology').locator('g.vertex circle').first().click();
    await page.getByTestId('topology').getByText('links', { exact: false }).first().waitFor();
    // The server panel polls every 2 s: wait until it counts this page's connection.
    await page.waitForFunction(() => Number(document.querySelector('[data-testid=server-stats] .tile-value')?.textContent) >= 1, null, { timeout: 10000 });
    await page.screenshot({ path: join(SHOTS, 'dashboard.png'), fullPage: true });
  });

  it('reconnects by itself after the server restarts, and resumes', async () => {
    await server.publish('inspect:demo', { before: 'restart' });
    await page.getByTestId('frame-row').filter({ hasText: '"before":"restart"' }).waitFor();
    await server.stop();
    await page.locator('[data-testid=connection]:not([data-state=connected])').waitFor({ timeout: 10000 });
    server = await server.restart();
    const { offset } = await server.publish('inspect:demo', { after: 'restart' }); // maybe before the page is back: recovered
    await connected(page, 20000);
    await page.getByTestId('frame-row').filter({ hasText: '"after":"restart"' }).waitFor({ timeout: 10000 });
    await server.publish('inspect:demo', { live: 'again' });
    const live = page.getByTestId('frame-row').filter({ hasText: '"live":"again"' });
    await live.waitFor({ timeout: 10000 });
    expect((await live.locator('td').allTextContents())[2]).toBe(String((offset ?? 0) + 1));
  });
});

describe('dashboard with auth on', () => {
  let secured: WavecastServer;
  let securedSite: { url: string; close: () => Promise<void> };
  const secret = 'browser-test-secret-0123456789abcdef';

  beforeAll(async () => {
    secured = await WavecastServer.start({ env: { WAVECAST_REQUIRE_AUTH: 'true', WAVECAST_API_KEYS: 'dash-key', WAVECAST_JWT_SECRET: secret } });
    securedSite = await dashboardUrl(secured.http);
  });
  afterAll(async () => {
    await securedSite?.close();
    await secured?.dispose();
  });

  it('asks for a credential, and connects with the API key entered', async () => {
    const p = await browser.context.newPage();
    try {
      await p.goto(securedSite.url);
      await p.getByTestId('credential-input').fill('dash-key');
      await p.getByTestId('credential-submit').click();
      await connected(p);
    } finally {
      await p.close();
    }
  });

  it('connects with a token in the URL fragment', async () => {
    const token = execFileSync(findBinary(), ['token', '--secret', secret, '--sub', 'browser', '--ttl', '10m'], { encoding: 'utf8' }).trim();
    const p = await browser.context.newPage();
    try {
      await p.goto(`${securedSite.url}#token=${encodeURIComponent(token)}`);
      await connected(p);
      await expect(p.getByTestId('credentials').count()).resolves.toBe(0);
    } finally {
      await p.close();
    }
  });
});

/** One event per monitoring room, in the FOG seed's shapes. */
async function publishDemo(s: WavecastServer): Promise<void> {
  const ts = new Date().toISOString();
  const fog = (room: string, type: string, data: unknown) => s.publish(room, { type, room, data, timestamp: ts });
  await fog('nodes', 'node_status_update', {
    betanet: { active_nodes: 5, connections: 10, avg_latency_ms: 25.5, packets_processed: 1000 },
    p2p: { connected_peers: 8, messages_sent: 500, messages_received: 480 },
  });
  await fog('metrics', 'metrics_update', {
    status: 'healthy',
    services: { betanet: 'healthy', p2p: 'healthy', scheduler: 'degraded', storage: 'healthy' },
    cpu_usage: 41.5,
    memory_usage: 63.2,
    request_rate: 120,
  });
  await fog('tasks', 'task_progress', {
    tasks: [
      { id: 't1', name: 'train-model', status: 'running', progress: 0.62, eta_seconds: 95 },
      { id: 't2', name: 'render-batch', status: 'running', progress: 0.18 },
      { id: 't3', name: 'index-shard-4', status: 'pending', progress: 0 },
      { id: 't4', name: 'backup', status: 'completed', progress: 1 },
    ],
    queue: { pending: 3, running: 2, completed: 41, failed: 1 },
  });
  await fog('resources', 'resource_update', {
    devices: Array.from({ length: 12 }, (_, i) => ({
      id: `edge-${String(i + 1).padStart(2, '0')}`,
      cpu_percent: (i * 37) % 100,
      memory_percent: (i * 53 + 20) % 100,
      storage_percent: (i * 29 + 35) % 100,
    })),
  });
  await fog('topology', 'topology_update', {
    nodes: ['gateway', 'edge-01', 'edge-02', 'edge-07', 'relay', 'storage'].map((id, i) => ({ id, type: i === 0 ? 'gateway' : 'edge', status: i === 3 ? 'degraded' : 'healthy' })),
    edges: [
      { source: 'gateway', target: 'relay', latency_ms: 4 },
      { source: 'relay', target: 'edge-01', latency_ms: 11 },
      { source: 'relay', target: 'edge-02', latency_ms: 9 },
      { source: 'relay', target: 'edge-07', latency_ms: 31 },
      { source: 'gateway', target: 'storage', latency_ms: 2 },
    ],
  });
}
