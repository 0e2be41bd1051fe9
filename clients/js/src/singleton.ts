/**
 * The app-wide client (FOG's singleton). The first call creates it with the
 * options given (or, in a browser, `/ws` on the page's own origin); later
 * calls return the same client. `resetWebSocketClient` disconnects it and
 * forgets it.
 */
import { WebSocketClient, type WebSocketClientOptions } from './client.js';

let instance: WebSocketClient | undefined;

function defaultUrl(): string {
  const location = (globalThis as { location?: { protocol: string; host: string } }).location;
  if (location && location.host) return `${location.protocol === 'https:' ? 'wss' : 'ws'}://${location.host}/ws`;
  return 'ws://127.0.0.1:8000/ws';
}

export function getWebSocketClient(options?: WebSocketClientOptions): WebSocketClient {
  if (!instance) instance = new WebSocketClient(options ?? { url: defaultUrl() });
  return instance;
}

export function resetWebSocketClient(): void {
  instance?.disconnect();
  instance = undefined;
}
