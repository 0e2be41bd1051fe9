/**
 * Starts the real `wavecast` binary for integration and browser tests.
 * The binary is `$WAVECAST_BIN`, else `../../target/release/wavecast`, else
 * `../../target/debug/wavecast` (relative to clients/js). Each server gets
 * its own data directory and port 0 (the port is read from the "listening"
 * log line), unless a port is given, as for a restart on the same port.
 * Every wait is bounded.
 */
import { spawn, type ChildProcess } from 'node:child_process';
import { existsSync, mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { dirname, join, resolve } from 'node:path';
import { fileURLToPath } from 'node:url';

const root = resolve(dirname(fileURLToPath(import.meta.url)), '..');

export function findBinary(): string {
  const candidates = [process.env.WAVECAST_BIN, join(root, '../../target/release/wavecast'), join(root, '../../target/debug/wavecast')];
  for (const c of candidates) if (c && existsSync(c)) return resolve(c);
  throw new Error(
    'no wavecast binary: build it (cargo build --release -p wavecast) or set WAVECAST_BIN; looked in ' +
      candidates.filter(Boolean).join(', '),
  );
}

export interface ServerOptions {
  env?: Record<string, string>;
  dataDir?: string;
  port?: number;
}

export class WavecastServer {
  readonly port: number;
  readonly http: string;
  readonly ws: string;
  private exited: Promise<number | null>;

  private constructor(
    private readonly child: ChildProcess,
    port: number,
    readonly dataDir: string,
    readonly options: ServerOptions,
    readonly log: string[],
  ) {
    this.port = port;
    this.http = `http://127.0.0.1:${port}`;
    this.ws = `ws://127.0.0.1:${port}/ws`;
    this.exited = new Promise((r) => {
      if (child.exitCode !== null) r(child.exitCode);
      else child.once('exit', (code) => r(code));
    });
  }

  static async start(options: ServerOptions = {}): Promise<WavecastServer> {
    const dataDir = options.dataDir ?? mkdtempSync(join(tmpdir(), 'wavecast-js-'));
    const log: string[] = [];
    const child = spawn(findBinary(), ['serve'], {
      env: {
        PATH: process.env.PATH ?? '',
        WAVECAST_BIND: '127.0.0.1',
        WAVECAST_PORT: String(options.port ?? 0),
        WAVECAST_DATA_DIR: dataDir,
        WAVECAST_LOG_LEVEL: 'info',
        WAVECAST_SHUTDOWN_TIMEOUT: '2s',
        ...options.env,
      },
      stdio: ['ignore', 'ignore', 'pipe'],
    });
    const port = await new Promise<number>((resolvePort, reject) => {
      const timer = setTimeout(() => reject(new Error(`wavecast did not start within 20 s:\n${log.join('')}`)), 20000);
      let buffer = '';
      child.stderr?.setEncoding('utf8');
      child.stderr?.on('data', (chunk: string) => {
        log.push(chunk);
        if (log.length > 200) log.shift();
        buffer = (buffer + chunk).slice(-4096);
        const match = /listening: ws:\/\/127\.0\.0\.1:(\d+)\//.exec(buffer);
        if (match) {
          clearTimeout(timer);
          resolvePort(Number(match[1]));
        }
      });
      child.once('exit', (code) => {
        clearTimeout(timer);
        reject(new Error(`wavecast exited with ${code} before listening:\n${log.join('')}`));
      });
    });
    return new WavecastServer(child, port, dataDir, options, log);
  }

  /** SIGTERM (graceful shutdown, 1001 to every client); waits for the exit, at most 10 s. */
  async stop(): Promise<void> {
    if (this.child.exitCode !== null) return;
    this.child.kill('SIGTERM');
    const timer = setTimeout(() => this.child.kill('SIGKILL'), 10000);
    await this.exited;
    clearTimeout(timer);
  }

  /** Stops and starts again on the same port with the same data directory. */
  async restart(): Promise<WavecastServer> {
    await this.stop();
    return WavecastServer.start({ ...this.options, dataDir: this.dataDir, port: this.port });
  }

  async dispose(): Promise<void> {
    await this.stop();
    rmSync(this.dataDir, { recursive: true, force: true });
  }

  async publish(channel: string, data: unknown, type?: string): Promise<{ offset?: number; delivered?: number }> {
    const response = await fetch(`${this.http}/api/publish`, {
      method: 'POST',
      headers: { 'content-type': 'application/json', ...(this.options.env?.WAVECAST_HTTP_API_KEY ? { authorization: `Bearer ${this.options.env.WAVECAST_HTTP_API_KEY}` } : {}) },
      body: JSON.stringify(type ? { channel, data, type } : { channel, data }),
    });
    if (!response.ok) throw new Error(`publish answered ${response.status}: ${await response.text()}`);
    return response.json() as Promise<{ offset?: number; delivered?: number }>;
  }
}

/** Resolves with the first value `subscribe` hands to its callback that passes `accept`; rejects after `ms`. */
export function waitFor<T>(
  subscribe: (callback: (value: T) => void) => () => void,
  accept: (value: T) => boolean = () => true,
  ms = 10000,
  what = 'an event',
): Promise<T> {
  return new Promise((resolvePromise, reject) => {
    let off: () => void = () => {};
    const timer = setTimeout(() => {
      off();
      reject(new Error(`timed out after ${ms} ms waiting for ${what}`));
    }, ms);
    off = subscribe((value) => {
      if (!accept(value)) return;
      clearTimeout(timer);
      off();
      resolvePromise(value);
    });
  });
}
