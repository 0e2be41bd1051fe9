/**
 * `WebSocketClient`: the FOG client API over the wavecast protocol.
 *
 * Invariants:
 * - Nothing it does throws into the application. Failures, its own and the
 *   server's, are `error` events (`WavecastError`), and a handler that throws
 *   is reported the same way without stopping other handlers.
 * - Messages go out in the order they were sent. Until the connection is
 *   admitted (`connection_established` or `auth_success`), and while the
 *   client-side rate limit has no token, they wait in the bounded queue.
 * - On every admission the desired rooms are subscribed again, with
 *   `recover` from the last offset and epoch seen, before the queue is
 *   flushed. Publications at or below a channel's last offset are dropped
 *   as duplicates.
 * - Only the current socket's events count; events of an abandoned socket
 *   are ignored.
 * - With `format: 'msgpack'` every frame, both ways, is MessagePack in a
 *   binary frame; the messages are the same as in JSON. The codec is the
 *   caller's (`options.msgpack`, e.g. `@msgpack/msgpack`): the package has no
 *   runtime dependencies.
 */
import { backoffDelay } from './backoff.js';
import { DEFAULT_SERVICE_CONFIG, discover, type ServiceConfig } from './discovery.js';
import { Emitter, type Handler } from './emitter.js';
import { clientError, serverError, type WavecastError } from './errors.js';
import { Heartbeat } from './heartbeat.js';
import { PendingTracker, type PendingRecord } from './pending.js';
import {
  classifyFrame,
  innerType,
  isErrorFrame,
  isValidChannel,
  RESERVED_TYPES,
  type ClientMessage,
  type ServerFrame,
  type SubscribeSuccess,
} from './protocol.js';
import { BoundedQueue } from './queue.js';
import { TokenBucket } from './rate-limit.js';
import { Rooms, type Position, type RoomOptions, type SubscribeBatch } from './rooms.js';
import { emptyStats, RttWindow, type ConnectionStats } from './stats.js';
import { httpBase, isHttpUrl, withCredentials, wsUrl } from './url.js';

/** The bytes of a binary frame as WebSocket implementations deliver them (ArrayBuffer, Buffer, views). */
function binaryBytes(raw: unknown): Uint8Array | undefined {
  if (raw instanceof ArrayBuffer) return new Uint8Array(raw);
  if (ArrayBuffer.isView(raw)) return new Uint8Array(raw.buffer, raw.byteOffset, raw.byteLength);
  return undefined;
}

export type ConnectionState = 'disconnected' | 'connecting' | 'connected' | 'reconnecting' | 'failed';

/** The part of the WebSocket API the client uses (browsers, Node ≥ 22, `ws`, test fakes). */
export interface WebSocketLike {
  readonly readyState: number;
  send(data: string | Uint8Array): void;
  /** Set to `'arraybuffer'` for MessagePack (where the implementation has it). */
  binaryType?: string;
  close(code?: number, reason?: string): void;
  onopen: ((event: any) => void) | null;
  onclose: ((event: any) => void) | null;
  onerror: ((event: any) => void) | null;
  onmessage: ((event: any) => void) | null;
}

export type WebSocketConstructor = new (url: string) => WebSocketLike;

export interface WebSocketClientOptions {
  /** `ws://host:port/ws`, or an `http(s)://host:port` base that is resolved by discovery. */
  url: string;
  /** A JWT, sent as `?token=` with the upgrade. */
  token?: string;
  /** A client API key, sent as `?api_key=` with the upgrade. */
  apiKey?: string;
  autoReconnect?: boolean;
  maxReconnectAttempts?: number;
  /** The first backoff ceiling in ms. */
  reconnectInterval?: number;
  /** The largest backoff ceiling in ms. */
  maxReconnectInterval?: number;
  /** How often the client pings, in ms. Default: the server's heartbeat interval, else 30000. */
  heartbeatInterval?: number;
  /** Silence after which the connection is declared dead, in ms. Default: twice the interval. */
  heartbeatTimeout?: number;
  /** Capacity of the offline queue. */
  maxQueueSize?: number;
  /** Messages per second the client allows itself; 0 turns it off. Default: the server's limit. */
  maxMessageRate?: number;
  /** How long an optimistic message waits for its reply, in ms. */
  ackTimeout?: number;
  /** Fetch `/ws/config` before connecting. Default: true for an http(s) URL. */
  discover?: boolean;
  /** Resubscribe with `recover` after a reconnect. */
  recover?: boolean;
  /** Called on `refresh_required`; the token it returns is sent in a `refresh`. */
  refreshToken?: () => string | Promise<string>;
  /**
   * `'msgpack'`: MessagePack binary frames both ways (asked for with `?format=msgpack`), the same
   * messages in fewer bytes; needs `msgpack`. Default `'json'` (text frames).
   */
  format?: 'json' | 'msgpack';
  /**
   * The MessagePack codec for `format: 'msgpack'`, e.g. `import * as msgpack from '@msgpack/msgpack'`.
   * Without it, `connect()` fails with an `invalid_argument` error.
   */
  msgpack?: MessagePackCodec;
  WebSocket?: WebSocketConstructor;
  fetch?: typeof fetch;
  /** Random source for the backoff jitter, in [0, 1). */
  random?: () => number;
}

/** Encodes and decodes MessagePack; `@msgpack/msgpack`'s module fits. */
export interface MessagePackCodec {
  encode(value: unknown): Uint8Array;
  decode(bytes: Uint8Array): unknown;
}

/** What happened to a channel on a resubscription with `recover`. */
export interface RecoveryInfo {
  channel: string;
  /** false: publications were missed and cannot be replayed; reload state. */
  recovered: boolean;
  offset?: number;
  epoch?: string;
  previous: Position;
}

interface Outgoing {
  message: ClientMessage;
  pending?: PendingRecord;
}

const OPEN = 1;
const CLOSED = 3;
/** Close codes after which reconnecting cannot help (protocol §10). */
const FINAL_CLOSE_CODES = new Set([4001, 4011]);
const MAX_NAMES_PER_REQUEST = 1000;

export class WebSocketClient {
  private readonly opts: Required<
    Pick<
      WebSocketClientOptions,
      | 'autoReconnect'
      | 'maxReconnectAttempts'
      | 'reconnectInterval'
      | 'maxReconnectInterval'
      | 'maxQueueSize'
      | 'ackTimeout'
      | 'recover'
    >
  >;
  private readonly emitter: Emitter;
  private readonly stateHandlers = new Set<(state: ConnectionState, previous: ConnectionState) => void>();
  private readonly recoveryHandlers = new Set<(info: RecoveryInfo) => void>();
  private readonly rooms = new Rooms();
  private readonly queue: BoundedQueue<Outgoing>;
  private readonly bucket: TokenBucket;
  private readonly pending: PendingTracker;
  private readonly stats = emptyStats();
  private readonly rtt = new RttWindow();
  private readonly pings = new Map<string, number>();
  private authOnOpen: PendingRecord[] = [];
  private heartbeat: Heartbeat | undefined;
  private socket: WebSocketLike | undefined;
  private state: ConnectionState = 'disconnected';
  private admitted = false;
  private stopped = true;
  private attempts = 0;
  private everAdmitted = false;
  private reconnectTimer: ReturnType<typeof setTimeout> | undefined;
  private drainTimer: ReturnType<typeof setTimeout> | undefined;
  private seq = 0;
  private token: string | undefined;
  private apiKey: string | undefined;
  private socketUrl: string;
  private config: ServiceConfig | undefined;
  private discovering: Promise<void> | undefined;
  private serverHeartbeat: number | undefined;
  private lastError: WavecastError | undefined;
  /** The connection id of the current connection, from the server. */
  connectionId: string | undefined;

  /** MessagePack binary frames instead of JSON text frames. */
  private readonly msgpack: boolean;
  private readonly codec: MessagePackCodec | undefined;

  constructor(private readonly options: WebSocketClientOptions) {
    this.msgpack = options.format === 'msgpack';
    this.codec = options.msgpack;
    this.opts = {
      autoReconnect: options.autoReconnect ?? true,
      maxReconnectAttempts: options.maxReconnectAttempts ?? 10,
      reconnectInterval: options.reconnectInterval ?? 1000,
      maxReconnectInterval: options.maxReconnectInterval ?? 30000,
      maxQueueSize: options.maxQueueSize ?? 1000,
      ackTimeout: options.ackTimeout ?? 10000,
      recover: options.recover ?? true,
    };
    this.token = options.token;
    this.apiKey = options.apiKey;
    this.socketUrl = options.url;
    this.queue = new BoundedQueue(this.opts.maxQueueSize);
    const rate = options.maxMessageRate ?? DEFAULT_SERVICE_CONFIG.limits.maxMessageRate;
    this.bucket = new TokenBucket(rate, rate);
    this.emitter = new Emitter((type, error) => this.reportHandlerError(type, error));
    this.pending = new PendingTracker(this.opts.ackTimeout, (error) => this.reportHandlerError('pending', error));
  }

  // ---------------------------------------------------------------- lifecycle

  /** Opens the connection (after discovery, if asked). Does nothing if it is already open or opening. */
  connect(): void {
    if (!this.stopped) return;
    this.stopped = false;
    this.attempts = 0;
    this.setState('connecting');
    if (this.needsDiscovery()) this.runDiscovery();
    else this.openSocket();
  }

  /** Closes the connection and stops reconnecting. Rooms and positions are kept for a later `connect()`. */
  disconnect(): void {
    this.stopped = true;
    this.clearTimers();
    const socket = this.socket;
    this.dropSocket();
    if (socket) {
      try {
        socket.close(1000, 'client disconnect');
      } catch (error) {
        this.emitError(clientError('connection_error', 'closing the socket failed', { cause: error }));
      }
    }
    this.pending.rollbackSent(() => clientError('connection_lost', 'the client disconnected'));
    this.setState('disconnected');
  }

  getState(): ConnectionState {
    return this.state;
  }

  isConnected(): boolean {
    return this.state === 'connected';
  }

  /** The `/ws/config` the client discovered, if it did. */
  getServiceConfig(): ServiceConfig | undefined {
    return this.config;
  }

  getStats(): ConnectionStats {
    this.stats.queued = this.queue.length;
    return { ...this.stats };
  }

  getLastError(): WavecastError | undefined {
    return this.lastError;
  }

  /** The rooms the client subscribes on every connection. */
  getRooms(): string[] {
    return [...this.rooms.desired.keys()];
  }

  /** True once the server confirmed the channel on the current connection. */
  isSubscribed(channel: string): boolean {
    return this.rooms.active.has(channel);
  }

  /** The last offset and epoch seen on a channel. */
  getPosition(channel: string): Position | undefined {
    const p = this.rooms.positions.get(channel);
    return p ? { ...p } : undefined;
  }

  /** Uses a new JWT from now on (for the next connection) and sends `refresh` if connected. */
  setToken(token: string | undefined): void {
    this.token = token;
    if (token && this.admitted) this.sendControl({ type: 'refresh', token, id: this.nextId('r') });
  }

  /**
   * Authenticates with an `auth` message (protocol §2.4), at once if the
   * socket is open, else as soon as it opens. The credential is also kept
   * for the upgrade of later connections.
   */
  authenticate(credentials: { token?: string; apiKey?: string }): PendingRecord {
    if (credentials.token) this.token = credentials.token;
    else if (credentials.apiKey) this.apiKey = credentials.apiKey;
    const message: ClientMessage = credentials.token
      ? { type: 'auth', token: credentials.token }
      : { type: 'auth', api_key: credentials.apiKey };
    const record = this.pending.create(message);
    if (this.socket?.readyState === OPEN) this.sendControlTracked(record);
    else this.authOnOpen.push(record);
    return record;
  }

  // ---------------------------------------------------------------- handlers

  /** Calls `handler` for every message of `type` (`*`: every frame). Returns the function that removes it. */
  on<T = any>(type: string, handler: Handler<T>): () => void {
    return this.emitter.on(type, handler);
  }

  onStateChange(handler: (state: ConnectionState, previous: ConnectionState) => void): () => void {
    this.stateHandlers.add(handler);
    return () => this.stateHandlers.delete(handler);
  }

  /** Called for each channel resubscribed with `recover`; `recovered: false` means a gap. */
  onRecovery(handler: (info: RecoveryInfo) => void): () => void {
    this.recoveryHandlers.add(handler);
    return () => this.recoveryHandlers.delete(handler);
  }

  /** Called whenever an optimistic record is created or settled. */
  onPendingChange(handler: (record: PendingRecord) => void): () => void {
    return this.pending.onChange(handler);
  }

  getPending(): PendingRecord[] {
    return this.pending.list();
  }

  // ---------------------------------------------------------------- rooms

  /** Subscribes to rooms now and on every reconnect. */
  subscribe(rooms: string[], options: RoomOptions = {}): void {
    const valid = this.validRooms(rooms, 'subscribe');
    const added = this.rooms.add(valid, options);
    if (this.admitted && added.length > 0) this.sendSubscribe(this.rooms.batches(added));
  }

  /** Unsubscribes from rooms and forgets their positions. */
  unsubscribe(rooms: string[]): void {
    const removed = this.rooms.remove(this.validRooms(rooms, 'unsubscribe'));
    if (this.admitted && removed.length > 0) this.sendUnsubscribe(removed);
  }

  /**
   * Reference-counted subscription for shared use (hooks): the rooms stay
   * subscribed until every holder has called the returned release function.
   */
  hold(rooms: string[], options: RoomOptions = {}): () => void {
    const valid = this.validRooms(rooms, 'subscribe');
    const fresh = this.rooms.hold(valid, options);
    if (this.admitted && fresh.length > 0) this.sendSubscribe(this.rooms.batches(fresh));
    let released = false;
    return () => {
      if (released) return;
      released = true;
      const gone = this.rooms.release(valid);
      if (this.admitted && gone.length > 0) this.sendUnsubscribe(gone);
    };
  }

  private validRooms(rooms: unknown, what: string): string[] {
    if (!Array.isArray(rooms)) {
      this.emitError(clientError('invalid_argument', `${what} takes an array of room names`));
      return [];
    }
    const valid: string[] = [];
    for (const room of rooms) {
      if (isValidChannel(room)) valid.push(room);
      else this.emitError(clientError('invalid_argument', `${JSON.stringify(room)} is not a valid channel name`));
    }
    return [...new Set(valid)];
  }

  private sendSubscribe(batches: SubscribeBatch[]): void {
    for (const batch of batches) {
      for (const channels of this.splitForRecover(batch.channels)) {
        const id = this.nextId('s');
        const message: ClientMessage = { type: 'subscribe', channels, id };
        if (batch.options.filter) message.filter = batch.options.filter;
        if (batch.options.snapshot) message.snapshot = true;
        const recover = this.opts.recover ? this.recoverFor(channels) : undefined;
        if (recover) message.recover = recover;
        this.rooms.inflight.set(id, { channels, snapshot: batch.options.snapshot === true });
        this.sendControl(message);
      }
    }
  }

  /**
   * Splits a request into chunks of at most 1000 names. A channel named
   * `offset` goes alone: in a multi-channel `recover` map, that key would be
   * read as a single position (protocol §4).
   */
  private splitForRecover(channels: string[]): string[][] {
    const out: string[][] = [];
    const normal = channels.filter((c) => c !== 'offset');
    for (let i = 0; i < normal.length; i += MAX_NAMES_PER_REQUEST) out.push(normal.slice(i, i + MAX_NAMES_PER_REQUEST));
    if (normal.length !== channels.length) out.push(['offset']);
    return out;
  }

  private recoverFor(channels: string[]): Record<string, unknown> | undefined {
    const known = channels
      .map((c) => [c, this.rooms.positions.get(c)] as const)
      .filter(([, p]) => p !== undefined && typeof p.offset === 'number');
    if (known.length === 0) return undefined;
    const position = (p: Position | undefined) => (p?.epoch ? { offset: p.offset, epoch: p.epoch } : { offset: p?.offset });
    if (channels.length === 1) return position(known[0][1]);
    return Object.fromEntries(known.map(([c, p]) => [c, position(p)]));
  }

  private sendUnsubscribe(rooms: string[]): void {
    for (let i = 0; i < rooms.length; i += MAX_NAMES_PER_REQUEST) {
      this.sendControl({ type: 'unsubscribe', channels: rooms.slice(i, i + MAX_NAMES_PER_REQUEST), id: this.nextId('u') });
    }
  }

  // ---------------------------------------------------------------- sending

  /**
   * Sends a message, or queues it until the connection is admitted and the
   * rate limit allows. Returns true if it went out at once.
   */
  send(message: ClientMessage): boolean {
    if (!this.isMessage(message)) return false;
    return this.enqueue({ message });
  }

  /** Sends a message and returns its pending record (Netra's optimistic update). */
  sendOptimistic(message: ClientMessage): PendingRecord {
    const copy: ClientMessage = this.isMessage(message) ? { ...message } : { type: 'invalid' };
    const record = this.pending.create(copy);
    if (copy.type === 'invalid') {
      this.pending.rollback(record.id, clientError('invalid_argument', 'a message needs a string "type"'));
      return record;
    }
    this.enqueue({ message: copy, pending: record });
    return record;
  }

  /** Publishes from the WebSocket (needs the namespace's `publish` permission). */
  publish(channel: string, data: unknown, options: { event?: string } = {}): PendingRecord {
    const message: ClientMessage = { type: 'publish', channel, data };
    if (options.event) message.event = options.event;
    return this.sendOptimistic(message);
  }

  /** Sends a request and resolves with its record once the reply (or a rollback) came. Never rejects. */
  request(message: ClientMessage): Promise<PendingRecord> {
    return this.sendOptimistic(message).settled;
  }

  /** Measures the round-trip time with a `ping`. Resolves with ms, or null if no pong came. */
  async ping(): Promise<number | null> {
    const started = performanceNow();
    const record = await this.request({ type: 'ping' });
    if (record.status !== 'confirmed') return null;
    const rtt = performanceNow() - started;
    this.rtt.add(this.stats, rtt);
    return rtt;
  }

  private isMessage(message: unknown): message is ClientMessage {
    if (typeof message === 'object' && message !== null && typeof (message as ClientMessage).type === 'string') return true;
    this.emitError(clientError('invalid_argument', 'a message needs a string "type"'));
    return false;
  }

  private enqueue(item: Outgoing): boolean {
    if (this.admitted && this.queue.length === 0 && this.bucket.tryTake()) return this.transmit(item);
    if (this.admitted) this.stats.rate_limited++;
    const dropped = this.queue.push(item);
    if (dropped) this.dropQueued(dropped);
    if (this.admitted) this.scheduleDrain();
    return false;
  }

  private dropQueued(item: Outgoing): void {
    this.stats.queue_dropped++;
    const error = clientError('queue_overflow', `the offline queue holds ${this.opts.maxQueueSize} messages; the oldest was dropped`, {
      help: 'raise maxQueueSize or send less while disconnected',
    });
    if (item.pending) this.pending.rollback(item.pending.id, error);
    this.emitError(error);
  }

  private scheduleDrain(): void {
    if (this.drainTimer !== undefined || this.queue.length === 0) return;
    this.drainTimer = setTimeout(() => {
      this.drainTimer = undefined;
      this.drain();
    }, Math.max(1, this.bucket.waitTime()));
  }

  /** Sends queued messages while the rate limit allows. */
  private drain(): void {
    while (this.admitted && this.queue.length > 0) {
      if (!this.bucket.tryTake()) {
        this.scheduleDrain();
        return;
      }
      const item = this.queue.shift();
      if (item) this.transmit(item);
    }
  }

  /** Control messages (subscribe, pong, ...) skip the queue; they still take a token if there is one. */
  private sendControl(message: ClientMessage): boolean {
    this.bucket.tryTake();
    return this.transmit({ message });
  }

  private sendControlTracked(record: PendingRecord): void {
    this.bucket.tryTake();
    if (!this.transmit({ message: record.message, pending: record })) {
      this.pending.rollback(record.id, clientError('not_connected', 'the connection is not open'));
    }
  }

  private transmit(item: Outgoing): boolean {
    const socket = this.socket;
    if (!socket || socket.readyState !== OPEN) return false;
    let text: string | Uint8Array;
    try {
      text = this.codec && this.msgpack ? this.codec.encode(item.message) : JSON.stringify(item.message);
    } catch (error) {
      const err = clientError('invalid_argument', `the message cannot be encoded as ${this.msgpack ? 'MessagePack' : 'JSON'}`, { cause: error });
      if (item.pending) this.pending.rollback(item.pending.id, err);
      this.emitError(err);
      return false;
    }
    try {
      socket.send(text);
    } catch (error) {
      this.emitError(clientError('connection_error', 'sending on the socket failed', { cause: error }));
      return false;
    }
    this.stats.messages_sent++;
    this.stats.bytes_sent += typeof text === 'string' ? text.length : text.byteLength;
    if (item.pending) this.pending.markSent(item.pending.id);
    return true;
  }

  /** A frame's message: JSON text, or MessagePack in a binary frame; `undefined` after an error. */
  private decodeFrame(raw: unknown): unknown {
    if (typeof raw === 'string') {
      this.stats.bytes_received += raw.length;
      try {
        return JSON.parse(raw);
      } catch (error) {
        this.emitError(clientError('invalid_json', `the server sent invalid JSON: ${raw.slice(0, 80)}`, { cause: error }));
        return undefined;
      }
    }
    const bytes = binaryBytes(raw);
    if (!bytes) {
      this.emitError(clientError('unknown_frame', 'the server sent a frame that is neither text nor binary'));
      return undefined;
    }
    this.stats.bytes_received += bytes.byteLength;
    if (!this.codec) {
      this.emitError(clientError('unknown_frame', 'the server sent a binary frame, and no MessagePack codec was given (options.msgpack)'));
      return undefined;
    }
    try {
      return this.codec.decode(bytes);
    } catch (error) {
      this.emitError(clientError('invalid_json', 'the server sent invalid MessagePack', { cause: error }));
      return undefined;
    }
  }

  private nextId(prefix: string): string {
    return `${prefix}${++this.seq}`;
  }

  // ---------------------------------------------------------------- connection

  private needsDiscovery(): boolean {
    if (this.config) return false;
    return this.options.discover ?? isHttpUrl(this.options.url);
  }

  private runDiscovery(): void {
    const base = httpBase(this.options.url);
    this.discovering = discover(base, this.options.fetch).then((result) => {
      this.discovering = undefined;
      if (this.stopped) return;
      if (typeof result === 'string') {
        this.emitError(clientError('discovery_failed', result, { help: 'the client goes on with the protocol defaults' }));
        if (isHttpUrl(this.options.url)) this.socketUrl = wsUrl(base, DEFAULT_SERVICE_CONFIG.websocketPath);
      } else {
        this.applyConfig(result, base);
      }
      this.openSocket();
    });
  }

  private applyConfig(config: ServiceConfig, base: string): void {
    this.config = config;
    if (isHttpUrl(this.options.url)) this.socketUrl = wsUrl(base, config.websocketPath);
    if (this.options.maxMessageRate === undefined) {
      const rate = config.limits.maxMessageRate;
      this.bucket.configure(rate, rate);
    }
    this.serverHeartbeat = config.limits.heartbeatInterval;
  }

  /** Waits for a discovery in progress (tests and `WavecastProvider`). */
  async ready(): Promise<void> {
    await this.discovering;
  }

  private openSocket(): void {
    if (this.stopped) return;
    const Ctor = this.options.WebSocket ?? (globalThis as { WebSocket?: WebSocketConstructor }).WebSocket;
    if (typeof Ctor !== 'function') {
      this.emitError(clientError('connection_error', 'no WebSocket implementation: pass one as options.WebSocket', { recoverable: false }));
      this.stopped = true;
      this.setState('failed');
      return;
    }
    if (this.msgpack && !this.codec) {
      this.emitError(
        clientError('invalid_argument', "format: 'msgpack' needs a MessagePack codec", {
          recoverable: false,
          help: "pass options.msgpack, e.g. import * as msgpack from '@msgpack/msgpack'",
        }),
      );
      this.stopped = true;
      this.setState('failed');
      return;
    }
    let url = withCredentials(this.socketUrl, { token: this.token, apiKey: this.apiKey });
    if (this.msgpack) url += `${url.includes('?') ? '&' : '?'}format=msgpack`;
    let socket: WebSocketLike;
    try {
      socket = new Ctor(url);
      if (this.msgpack) socket.binaryType = 'arraybuffer';
    } catch (error) {
      this.emitError(clientError('connection_error', `cannot open ${this.socketUrl}`, { cause: error }));
      this.scheduleReconnect();
      return;
    }
    this.socket = socket;
    socket.onopen = () => this.socket === socket && this.handleOpen();
    socket.onmessage = (event) => this.socket === socket && this.handleMessage(event);
    socket.onerror = (event) => this.socket === socket && this.handleSocketError(event);
    socket.onclose = (event) => this.socket === socket && this.handleClose(event);
  }

  private handleOpen(): void {
    const interval = this.options.heartbeatInterval ?? this.serverHeartbeat ?? 30000;
    const timeout = this.options.heartbeatTimeout ?? 2 * interval;
    this.heartbeat = new Heartbeat({
      interval,
      timeout,
      sendPing: () => this.sendHeartbeatPing(),
      onDead: (silent) => this.handleDead(silent),
    });
    this.heartbeat.start();
    const auths = this.authOnOpen;
    this.authOnOpen = [];
    for (const record of auths) this.sendControlTracked(record);
  }

  private sendHeartbeatPing(): void {
    if (!this.admitted) return;
    const id = this.nextId('hb');
    this.pings.set(id, performanceNow());
    if (this.pings.size > 16) this.pings.delete(this.pings.keys().next().value as string);
    this.sendControl({ type: 'ping', id });
  }

  private handleDead(silentMs: number): void {
    this.emitError(
      clientError('heartbeat_timeout', `nothing arrived for ${silentMs} ms; the connection is treated as dead`),
    );
    const socket = this.socket;
    this.dropSocket();
    try {
      socket?.close(4000, 'heartbeat timeout');
    } catch {
      // The socket is abandoned either way.
    }
    this.afterClose(4000, 'heartbeat timeout');
  }

  /**
   * A socket error is normally followed by a close event. Some
   * implementations (Node 20's WebSocket, for a refused connection) fire
   * only the error: a socket already CLOSED is handled as closed at once,
   * and any other gets a bounded wait for its close event.
   */
  private handleSocketError(event: unknown): void {
    this.emitError(clientError('connection_error', 'WebSocket error', { cause: event }));
    const socket = this.socket;
    if (!socket) return;
    if (socket.readyState === CLOSED) {
      this.handleClose({ code: 1006, reason: 'connection failed' });
      return;
    }
    setTimeout(() => {
      if (this.socket === socket && socket.readyState !== OPEN) this.handleClose({ code: 1006, reason: 'no close event after an error' });
    }, 2000);
  }

  private handleClose(event: { code?: number; reason?: string }): void {
    this.dropSocket();
    this.afterClose(event?.code ?? 1006, event?.reason ?? '');
  }

  private afterClose(code: number, reason: string): void {
    this.pending.rollbackSent(() => clientError('connection_lost', `the connection closed (${code}) before the reply came`));
    if (this.stopped) {
      this.setState('disconnected');
      return;
    }
    if (FINAL_CLOSE_CODES.has(code)) {
      this.emitError(
        clientError('connection_closed', `the server closed the connection: ${code} ${reason}`.trim(), {
          recoverable: false,
          help: code === 4011 ? 'a newer connection of the same user replaced this one' : 'check the credentials',
        }),
      );
      this.stopped = true;
      this.setState('failed');
      return;
    }
    this.scheduleReconnect();
  }

  private scheduleReconnect(): void {
    if (!this.opts.autoReconnect) {
      this.stopped = true;
      this.setState('disconnected');
      return;
    }
    if (this.attempts >= this.opts.maxReconnectAttempts) {
      this.emitError(
        clientError('reconnect_failed', `gave up after ${this.attempts} reconnect attempts`, {
          recoverable: false,
          help: 'call connect() to try again',
        }),
      );
      this.stopped = true;
      this.setState('failed');
      return;
    }
    const delay = backoffDelay(this.attempts, {
      base: this.opts.reconnectInterval,
      max: this.opts.maxReconnectInterval,
      random: this.options.random,
    });
    this.attempts++;
    this.stats.reconnect_attempts++;
    this.setState('reconnecting');
    this.reconnectTimer = setTimeout(() => {
      this.reconnectTimer = undefined;
      this.openSocket();
    }, delay);
  }

  /** Forgets the current socket: its later events are ignored. */
  private dropSocket(): void {
    const socket = this.socket;
    this.socket = undefined;
    this.admitted = false;
    this.connectionId = undefined;
    this.heartbeat?.stop();
    this.heartbeat = undefined;
    this.pings.clear();
    if (this.drainTimer !== undefined) clearTimeout(this.drainTimer);
    this.drainTimer = undefined;
    this.rooms.inflight.clear();
    this.rooms.active.clear();
    if (socket) {
      socket.onopen = null;
      socket.onmessage = null;
      socket.onerror = null;
      socket.onclose = null;
    }
  }

  private clearTimers(): void {
    if (this.reconnectTimer !== undefined) clearTimeout(this.reconnectTimer);
    this.reconnectTimer = undefined;
    if (this.drainTimer !== undefined) clearTimeout(this.drainTimer);
    this.drainTimer = undefined;
  }

  private handleAdmitted(frame: ServerFrame): void {
    if (this.admitted) return;
    this.admitted = true;
    this.connectionId = typeof frame.connection_id === 'string' ? frame.connection_id : undefined;
    this.attempts = 0;
    this.stats.connections++;
    if (this.everAdmitted) this.stats.reconnects++;
    this.everAdmitted = true;
    this.stats.connected_at = Date.now();
    if (this.rooms.desired.size > 0) this.sendSubscribe(this.rooms.batches());
    this.setState('connected');
    this.drain();
  }

  // ---------------------------------------------------------------- receiving

  private handleMessage(event: { data?: unknown }): void {
    this.heartbeat?.touch();
    const stats = this.stats;
    stats.messages_received++;
    stats.last_message_at = Date.now();
    const value = this.decodeFrame(event?.data);
    if (value === undefined) return;
    const classified = classifyFrame(value);
    if (!classified) {
      this.emitError(clientError('unknown_frame', `the server sent a frame without a "type": ${JSON.stringify(value).slice(0, 80)}`));
      return;
    }
    const { kind, frame } = classified;
    if (kind === 'publication') this.dispatchPublication(frame);
    else if (kind === 'control') {
      this.handleControl(frame);
      this.dispatch(frame);
    } else if (kind === 'personal') this.dispatch(frame);
    else this.emitError(clientError('unknown_frame', `unknown frame type "${frame.type}" from the server`));
  }

  private dispatch(frame: ServerFrame): void {
    if (frame.type !== 'error') this.emitter.emit(frame.type, frame);
    this.emitter.emit('*', frame);
  }

  private dispatchPublication(frame: ServerFrame): void {
    const channel = frame.channel as string;
    if (!this.rooms.advance(channel, frame.offset)) {
      this.stats.duplicates++;
      return;
    }
    const emitter = this.emitter;
    emitter.emit(frame.type, frame);
    if (frame.type !== 'publication') emitter.emit('publication', frame);
    const inner = innerType(frame);
    if (inner !== undefined && inner !== frame.type && inner !== 'publication' && !RESERVED_TYPES.has(inner)) {
      emitter.emit(inner, frame.data, frame);
    }
    emitter.emit('*', frame);
  }

  private handleControl(frame: ServerFrame): void {
    switch (frame.type) {
      case 'connection_established':
        if (typeof frame.heartbeat_interval_ms === 'number') this.serverHeartbeat = frame.heartbeat_interval_ms;
        this.handleAdmitted(frame);
        break;
      case 'auth_success':
        this.handleAdmitted(frame);
        break;
      case 'subscribe_success':
        this.handleSubscribed(frame as SubscribeSuccess);
        break;
      case 'subscribe_failed':
        this.handleSubscribeFailed(frame);
        break;
      case 'unsubscribe_success':
        if (Array.isArray(frame.channels)) {
          for (const c of frame.channels) this.rooms.active.delete(c as string);
          if (frame.server_side === true) this.rooms.remove(frame.channels as string[]);
        }
        break;
      case 'recovery_required':
        if (Array.isArray(frame.channels)) for (const c of frame.channels) this.rooms.active.delete(c as string);
        this.handleRecoveryRequired(frame);
        break;
      case 'heartbeat':
        this.sendControl({ type: 'pong' });
        break;
      case 'ping':
        this.sendControl(frame.id !== undefined ? { type: 'pong', id: frame.id as string } : { type: 'pong' });
        break;
      case 'pong':
        this.handlePong(frame);
        break;
      case 'refresh_required':
        this.handleRefreshRequired();
        break;
    }
    if (isErrorFrame(frame)) this.emitError(serverError(frame));
    if (frame.id !== undefined || frame.correlation_id !== undefined) this.pending.settleWith(frame);
  }

  private handleSubscribed(frame: SubscribeSuccess): void {
    const id = frame.id !== undefined ? String(frame.id) : undefined;
    const request = id !== undefined ? this.rooms.inflight.get(id) : undefined;
    if (id !== undefined) this.rooms.inflight.delete(id);
    if (Array.isArray(frame.channels)) for (const c of frame.channels) if (typeof c === 'string') this.rooms.active.add(c);
    const positions = frame.positions ?? {};
    const previous = new Map<string, Position>();
    for (const channel of Object.keys(positions)) previous.set(channel, { ...this.rooms.positions.get(channel) });
    this.rooms.applyPositions(positions, new Set(request?.snapshot ? request.channels : []));
    if (!request) return;
    for (const channel of request.channels) {
      const p = positions[channel];
      if (!p || typeof p.recovered !== 'boolean') continue;
      this.notifyRecovery({ channel, recovered: p.recovered, offset: p.offset, epoch: p.epoch, previous: previous.get(channel) ?? {} });
    }
  }

  private notifyRecovery(info: RecoveryInfo): void {
    for (const handler of [...this.recoveryHandlers]) {
      try {
        handler(info);
      } catch (error) {
        this.reportHandlerError('recovery', error);
      }
    }
  }

  private handleSubscribeFailed(frame: ServerFrame): void {
    const id = frame.id !== undefined ? String(frame.id) : undefined;
    const request = id !== undefined ? this.rooms.inflight.get(id) : undefined;
    if (id === undefined || !request) return;
    this.rooms.inflight.delete(id);
    // A refused subscription is not retried on reconnect; the application can subscribe again.
    if (frame.code !== 'unavailable') this.rooms.remove(request.channels);
  }

  private handlePong(frame: ServerFrame): void {
    const id = typeof frame.id === 'string' ? frame.id : undefined;
    if (id === undefined) return;
    const sentAt = this.pings.get(id);
    if (sentAt === undefined) return;
    this.pings.delete(id);
    this.rtt.add(this.stats, performanceNow() - sentAt);
  }

  private handleRecoveryRequired(frame: ServerFrame): void {
    if (!Array.isArray(frame.channels)) return;
    const wanted = (frame.channels as unknown[]).filter(
      (c): c is string => typeof c === 'string' && this.rooms.desired.has(c),
    );
    if (wanted.length > 0) this.sendSubscribe(this.rooms.batches(wanted));
  }

  private handleRefreshRequired(): void {
    const refresh = this.options.refreshToken;
    if (!refresh) return;
    Promise.resolve()
      .then(refresh)
      .then(
        (token) => {
          if (typeof token === 'string' && token.length > 0) this.setToken(token);
        },
        (error) => this.emitError(clientError('handler_error', 'refreshToken failed', { cause: error })),
      );
  }

  // ---------------------------------------------------------------- events

  private setState(next: ConnectionState): void {
    const previous = this.state;
    if (previous === next) return;
    this.state = next;
    for (const handler of [...this.stateHandlers]) {
      try {
        handler(next, previous);
      } catch (error) {
        this.reportHandlerError('state', error);
      }
    }
  }

  private emitError(error: WavecastError): void {
    this.stats.errors++;
    this.lastError = error;
    this.emitter.emit('error', error);
  }

  private reportHandlerError(type: string, error: unknown): void {
    if (type === 'error') return; // An error handler that throws would loop; its error is dropped.
    const message = error instanceof Error ? error.message : String(error);
    this.emitError(clientError('handler_error', `a "${type}" handler threw: ${message}`, { cause: error }));
  }
}

function performanceNow(): number {
  return typeof performance !== 'undefined' ? performance.now() : Date.now();
}
