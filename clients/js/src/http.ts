/**
 * The server HTTP API calls a browser or Node client needs: publish
 * (`POST /api/publish`), stats (`GET /api/ws/stats`) and health. Each
 * resolves with `{ok: true, body}` or `{ok: false, error}` and never rejects.
 * `apiKey` is the server API key (`http.api_key`), sent as a Bearer token.
 */
import { clientError, serverError, type WavecastError } from './errors.js';

export type HttpResult<T> = { ok: true; status: number; body: T } | { ok: false; status: number; error: WavecastError };

export interface HttpOptions {
  apiKey?: string;
  fetch?: typeof fetch;
  timeoutMs?: number;
}

async function call<T>(base: string, path: string, init: RequestInit, options: HttpOptions): Promise<HttpResult<T>> {
  const fetchImpl = options.fetch ?? globalThis.fetch;
  if (typeof fetchImpl !== 'function') {
    return { ok: false, status: 0, error: clientError('connection_error', 'no fetch implementation is available') };
  }
  const headers: Record<string, string> = {};
  if (init.body !== undefined) headers['content-type'] = 'application/json';
  if (options.apiKey) headers.authorization = `Bearer ${options.apiKey}`;
  const controller = new AbortController();
  const timer = setTimeout(() => controller.abort(), options.timeoutMs ?? 10000);
  try {
    const response = await fetchImpl(base.replace(/\/$/, '') + path, { ...init, headers, signal: controller.signal });
    const text = await response.text();
    let body: unknown;
    try {
      body = text.length > 0 ? JSON.parse(text) : null;
    } catch {
      return { ok: false, status: response.status, error: clientError('invalid_json', `${path} answered non-JSON`) };
    }
    if (!response.ok) {
      const frame = typeof body === 'object' && body !== null ? (body as Record<string, unknown>) : {};
      return { ok: false, status: response.status, error: serverError({ type: 'error', ...frame }) };
    }
    return { ok: true, status: response.status, body: body as T };
  } catch (error) {
    const message = error instanceof Error ? error.message : String(error);
    return { ok: false, status: 0, error: clientError('connection_error', `${path}: ${message}`, { cause: error }) };
  } finally {
    clearTimeout(timer);
  }
}

export interface PublishResult {
  channel: string;
  delivered?: number;
  nodes?: number;
  offset?: number;
}

/** `POST /api/publish`: `type` is the event type (default `publication`). */
export function publishHttp(
  base: string,
  publication: { channel: string; data: unknown; type?: string },
  options: HttpOptions = {},
): Promise<HttpResult<PublishResult>> {
  return call(base, '/api/publish', { method: 'POST', body: JSON.stringify(publication) }, options);
}

export interface ServerStats {
  active_connections: number;
  total_connections: number;
  messages_received: number;
  messages_sent: number;
  total_messages: number;
  publications: number;
  subscriptions: number;
  dropped_frames: number;
  rooms: Record<string, number>;
  uptime_seconds: number;
  engine?: string;
  [key: string]: unknown;
}

/** `GET /api/ws/stats`. */
export function fetchStats(base: string, options: HttpOptions = {}): Promise<HttpResult<ServerStats>> {
  return call(base, '/api/ws/stats', { method: 'GET' }, options);
}

/** `GET /health`. */
export function fetchHealth(base: string, options: HttpOptions = {}): Promise<HttpResult<{ status: string; uptime_seconds: number }>> {
  return call(base, '/health', { method: 'GET' }, options);
}
