/**
 * Where the dashboard connects and with which credentials.
 *
 * - `?server=` names the wavecast server (`ws://host:port`, `http://host:port`
 *   or `host:port`); by default it is the page's own origin, which is the
 *   case when `wavecast serve` serves the page itself.
 * - The URL fragment carries credentials, so that they never reach a server
 *   log: `#token=<jwt>` or `#api_key=<key>` for the WebSocket, and
 *   `#http_key=<key>` for the server API (stats, publish).
 */

export interface Settings {
  /** `http://host:port` of the server. */
  http: string;
  /** `ws://host:port` of the server. */
  ws: string;
  token?: string;
  apiKey?: string;
  httpKey?: string;
}

function bases(server: string): { http: string; ws: string } {
  const withScheme = /^[a-z]+:\/\//i.test(server) ? server : `http://${server}`;
  try {
    const u = new URL(withScheme);
    const secure = u.protocol === 'https:' || u.protocol === 'wss:';
    return { http: `${secure ? 'https' : 'http'}://${u.host}`, ws: `${secure ? 'wss' : 'ws'}://${u.host}` };
  } catch {
    return { http: server, ws: server.replace(/^http/, 'ws') };
  }
}

export function readSettings(location: { search: string; hash: string; origin: string }): Settings {
  const query = new URLSearchParams(location.search);
  const fragment = new URLSearchParams(location.hash.replace(/^#/, ''));
  const server = query.get('server') || location.origin;
  const get = (k: string) => fragment.get(k) || undefined;
  return { ...bases(server), token: get('token'), apiKey: get('api_key'), httpKey: get('http_key') };
}

/** The fragment for these credentials (empty values are left out). */
export function credentialFragment(c: { token?: string; apiKey?: string; httpKey?: string }): string {
  const f = new URLSearchParams();
  if (c.token) f.set('token', c.token);
  if (c.apiKey) f.set('api_key', c.apiKey);
  if (c.httpKey) f.set('http_key', c.httpKey);
  const s = f.toString();
  return s ? `#${s}` : '';
}

/** A JWT has three dot-separated parts; anything else is taken as an API key. */
export function looksLikeJwt(value: string): boolean {
  return /^[A-Za-z0-9_-]+\.[A-Za-z0-9_-]+\.[A-Za-z0-9_-]*$/.test(value.trim());
}
