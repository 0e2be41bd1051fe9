// The SSE fallback (`GET /api/sse`) in Chromium's own EventSource, against the real binary:
// publications arrive as named events with an id, and when the server drops the stream the browser
// reconnects by itself, sends Last-Event-ID, and gets what was published meanwhile: no gap, no
// duplicate. The page is on the server's origin, as an app served next to the API would be.
import type { BrowserContext, Page } from 'playwright-core';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { WavecastServer } from '../server.js';
import { launch } from './browser.js';

interface Seen {
  type: string;
  id: string;
  data: { offset?: number; data?: { n?: number }; connection_id?: string };
}

let server: WavecastServer;
let browser: { context: BrowserContext; close: () => Promise<void> };
let page: Page;

beforeAll(async () => {
  server = await WavecastServer.start();
  browser = await launch();
  page = await browser.context.newPage();
  await page.goto(`${server.http}/health`);
  await page.evaluate(() => {
    const w = window as unknown as { seen: Seen[]; opened: number };
    w.seen = [];
    w.opened = 0;
    const es = new EventSource('/api/sse?channels=news');
    es.onopen = () => {
      w.opened += 1;
    };
    for (const type of ['connection_established', 'subscribe_success', 'publication', 'close']) {
      es.addEventListener(type, (e) => {
        const m = e as MessageEvent<string>;
        w.seen.push({ type, id: m.lastEventId, data: JSON.parse(m.data) });
      });
    }
  });
});

afterAll(async () => {
  await browser?.close();
  await server?.dispose();
});

const seen = (): Promise<Seen[]> => page.evaluate(() => (window as unknown as { seen: Seen[] }).seen);

async function publications(n: number): Promise<Seen[]> {
  await page.waitForFunction(
    (want) => (window as unknown as { seen: Seen[] }).seen.filter((s) => s.type === 'publication').length >= want,
    n,
    { timeout: 15000 },
  );
  return (await seen()).filter((s) => s.type === 'publication');
}

describe('EventSource on /api/sse', () => {
  it('gets publications as named events, each with an id', async () => {
    await page.waitForFunction(() => (window as unknown as { seen: Seen[] }).seen.some((s) => s.type === 'subscribe_success'), null, {
      timeout: 10000,
    });
    for (let n = 1; n <= 3; n++) await server.publish('news', { n });
    const got = await publications(3);
    expect(got.map((p) => p.data.data?.n)).toEqual([1, 2, 3]);
    expect(got.map((p) => p.data.offset)).toEqual([1, 2, 3]);
    for (const p of got) expect(p.id).toMatch(/^news=\d+\//);
  });

  it('reconnects by itself after the server drops the stream, and resumes from Last-Event-ID', async () => {
    const id = (await seen()).find((s) => s.type === 'connection_established')?.data.connection_id;
    expect(id).toBeTruthy();
    const r = await fetch(`${server.http}/api/disconnect`, {
      method: 'POST',
      headers: { 'content-type': 'application/json' },
      body: JSON.stringify({ connection_id: id }),
    });
    expect(r.status).toBe(200);
    await page.waitForFunction(() => (window as unknown as { seen: Seen[] }).seen.some((s) => s.type === 'close'), null, { timeout: 10000 });
    // Published while the browser is away (it waits its reconnection time, about 3 s).
    for (let n = 4; n <= 5; n++) await server.publish('news', { n });
    const got = await publications(5);
    expect(got.map((p) => p.data.data?.n)).toEqual([1, 2, 3, 4, 5]);
    const opened = await page.evaluate(() => (window as unknown as { opened: number }).opened);
    expect(opened).toBe(2);
    const established = (await seen()).filter((s) => s.type === 'connection_established');
    expect(established.length).toBe(2);
    expect(established[1]?.data.connection_id).not.toBe(id);
  });
});
