/**
 * URL helpers: the WebSocket URL with credentials in the query (protocol
 * §2.2), and the HTTP base of a server given its WebSocket or HTTP URL.
 * They never throw: a URL that does not parse is returned as it is.
 */

/** `ws://h:p/ws` → `http://h:p`; `https://h/x` → `https://h`. Unparseable input is returned unchanged. */
export function httpBase(url: string): string {
  try {
    const u = new URL(url);
    const scheme = u.protocol === 'wss:' || u.protocol === 'https:' ? 'https:' : 'http:';
    return `${scheme}//${u.host}`;
  } catch {
    return url;
  }
}

/** `http://h:p` + `/ws` → `ws://h:p/ws`. */
export function wsUrl(base: string, path: string): string {
  try {
    const u = new URL(path, base);
    if (u.protocol === 'http:') u.protocol = 'ws:';
    else if (u.protocol === 'https:') u.protocol = 'wss:';
    return u.toString();
  } catch {
    return base + path;
  }
}

/** True for `http://` and `https://` URLs, which the client reaches through discovery. */
export function isHttpUrl(url: string): boolean {
  return /^https?:\/\//i.test(url);
}

/** Adds `token=` or `api_key=` to the query, replacing an earlier value. */
export function withCredentials(url: string, credentials: { token?: string; apiKey?: string }): string {
  const { token, apiKey } = credentials;
  if (!token && !apiKey) return url;
  try {
    const u = new URL(url);
    u.searchParams.delete('token');
    u.searchParams.delete('api_key');
    if (token) u.searchParams.set('token', token);
    else if (apiKey) u.searchParams.set('api_key', apiKey);
    return u.toString();
  } catch {
    const sep = url.includes('?') ? '&' : '?';
    return token
      ? `${url}${sep}token=${encodeURIComponent(token)}`
      : `${url}${sep}api_key=${encodeURIComponent(apiKey ?? '')}`;
  }
}
