/**
 * A fake WebSocket for unit tests: it records what the client sends and
 * lets a test play the server (open, admit, deliver frames, close, fail).
 * Every instance created is kept in `FakeWebSocket.instances`, newest last.
 */

import { decode } from '@msgpack/msgpack';

export class FakeWebSocket {
  static readonly CONNECTING = 0;
  static readonly OPEN = 1;
  static readonly CLOSING = 2;
  static readonly CLOSED = 3;
  static instances: FakeWebSocket[] = [];

  static reset(): void {
    FakeWebSocket.instances = [];
  }

  static last(): FakeWebSocket {
    const socket = FakeWebSocket.instances[FakeWebSocket.instances.length - 1];
    if (!socket) throw new Error('no FakeWebSocket was created');
    return socket;
  }

  readyState = FakeWebSocket.CONNECTING;
  /** Text frames as strings, binary frames (MessagePack) as bytes. */
  readonly sent: Array<string | Uint8Array> = [];
  binaryType = 'blob';
  closedWith: { code?: number; reason?: string } | undefined;
  onopen: ((event: unknown) => void) | null = null;
  onclose: ((event: unknown) => void) | null = null;
  onerror: ((event: unknown) => void) | null = null;
  onmessage: ((event: unknown) => void) | null = null;

  constructor(readonly url: string) {
    FakeWebSocket.instances.push(this);
  }

  send(data: string | Uint8Array): void {
    if (this.readyState !== FakeWebSocket.OPEN) throw new Error('InvalidStateError: the socket is not open');
    this.sent.push(data);
  }

  close(code?: number, reason?: string): void {
    this.closedWith = { code, reason };
    if (this.readyState === FakeWebSocket.CLOSED) return;
    this.readyState = FakeWebSocket.CLOSED;
    this.onclose?.({ code: code ?? 1005, reason: reason ?? '', wasClean: true });
  }

  // ----- the server's side

  open(): this {
    this.readyState = FakeWebSocket.OPEN;
    this.onopen?.({});
    return this;
  }

  /** Opens and sends `connection_established`. */
  admit(connectionId = 'conn-1', extra: Record<string, unknown> = {}): this {
    this.open();
    this.receive({ type: 'connection_established', connection_id: connectionId, user_id: null, ...extra });
    return this;
  }

  receive(frame: unknown): this {
    const data = typeof frame === 'string' || frame instanceof ArrayBuffer || ArrayBuffer.isView(frame) ? frame : JSON.stringify(frame);
    this.onmessage?.({ data });
    return this;
  }

  /** The server closes (or the network drops, with 1006). */
  serverClose(code = 1006, reason = ''): void {
    this.readyState = FakeWebSocket.CLOSED;
    this.onclose?.({ code, reason, wasClean: code !== 1006 });
  }

  /** A failed connection: `error`, then `close` 1006. */
  fail(): void {
    this.onerror?.({ type: 'error' });
    this.serverClose(1006);
  }

  /** What the client sent, parsed. */
  messages(): Array<Record<string, any>> {
    return this.sent.map((s) => (typeof s === 'string' ? JSON.parse(s) : decode(s)));
  }

  /** The sent messages of one type. */
  messagesOfType(type: string): Array<Record<string, any>> {
    return this.messages().filter((m) => m.type === type);
  }
}
