/**
 * Launches Debian's Chromium through playwright-core (no browser download),
 * headless, with a new empty profile, and opens the dashboard: from the
 * wavecast server itself when it serves the committed bundle at `/`, else
 * from a static server pointed at the wavecast server with `?server=`.
 */
import { mkdtempSync, readFileSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { dirname, join, resolve } from 'node:path';
import { fileURLToPath } from 'node:url';
import { chromium, type BrowserContext } from 'playwright-core';
import { serveStatic } from './static-server.js';

export const ASSETS = resolve(dirname(fileURLToPath(import.meta.url)), '../../../../crates/wavecast/assets/dashboard');
export const CHROMIUM = process.env.CHROMIUM_BIN ?? '/usr/bin/chromium';
export const FLAGS = [
  '--headless',
  '--no-sandbox',
  '--disable-gpu',
  '--disable-quic',
  '--no-first-run',
  '--disable-background-networking',
  '--disable-component-update',
  '--disable-sync',
];

export async function launch(): Promise<{ context: BrowserContext; close: () => Promise<void> }> {
  const profile = mkdtempSync(join(tmpdir(), 'wavecast-chromium-'));
  const context = await chromium.launchPersistentContext(profile, {
    executablePath: CHROMIUM,
    headless: true,
    args: FLAGS,
    viewport: { width: 1440, height: 1000 },
  });
  return {
    context,
    close: async () => {
      await context.close();
      rmSync(profile, { recursive: true, force: true });
    },
  };
}

/** Where to open the dashboard for a server at `http` (`http://127.0.0.1:PORT`). */
export async function dashboardUrl(http: string): Promise<{ url: string; close: () => Promise<void> }> {
  const committed = readFileSync(join(ASSETS, 'app.js'));
  try {
    const served = await fetch(`${http}/app.js`);
    if (served.ok && Buffer.from(await served.arrayBuffer()).equals(committed)) return { url: `${http}/`, close: async () => {} };
  } catch {
    // Not served by the binary: fall through to the static server.
  }
  const statics = await serveStatic(ASSETS);
  const ws = http.replace(/^http/, 'ws');
  return { url: `${statics.url}/?server=${encodeURIComponent(ws)}`, close: statics.close };
}
