/**
 * One simulation stream (docs/mfn.md §5) on `/ws/simulation_live` or
 * `/ws/stream_features`: INIT → SUBSCRIBE → frames → END. The server says
 * nothing before `init`, so `start` sends `init`, waits for its reply, then
 * subscribes. Heartbeats are answered with `pong`. A stream does not
 * reconnect: a run that is cut off ends with state `error`. Like the
 * channel client, it reports failures as `error` events and never throws.
 */
import type { WebSocketConstructor, WebSocketLike } from './client.js';
import { Emitter, type Handler } from './emitter.js';
import { clientError, serverError, type WavecastError } from './errors.js';
import { isErrorFrame, type ServerFrame } from './protocol.js';
import { withCredentials } from './url.js';

export type StreamState = 'idle' | 'connecting' | 'running' | 'complete' | 'stopped' | 'error';

export interface SimulationStreamOptions {
  /** `ws://host:port/ws/simulation_live` or `.../ws/stream_features`. */
  url: string;
  token?: string;
  apiKey?: string;
  WebSocket?: WebSocketConstructor;
}

export class SimulationStream {
  private readonly emitter = new Emitter((type, error) => {
    // An `error` handler that throws is not reported again: that would loop.
    if (type !== 'error') this.fail(clientError('handler_error', `a "${type}" handler threw`, { cause: error }), false);
  });
  private socket: WebSocketLike | undefined;
  private state: StreamState = 'idle';
  private streamId = '';
  private params: Record<string, unknown> = {};
  private readonly streamType: string;

  constructor(private readonly options: SimulationStreamOptions) {
    this.streamType = /stream_features\/?(\?|$)/.test(options.url) ? 'stream_features' : 'simulation_live';
  }

  getState(): StreamState {
    return this.state;
  }

  on<T = ServerFrame>(type: string, handler: Handler<T>): () => void {
    return this.emitter.on(type, handler);
  }

  /** Opens the connection and starts a run with these parameters. */
  start(params: Record<string, unknown>, streamId = `run${Date.now() % 1e9}`): void {
    this.close();
    this.params = params;
    this.streamId = streamId;
    const Ctor = this.options.WebSocket ?? (globalThis as { WebSocket?: WebSocketConstructor }).WebSocket;
    if (typeof Ctor !== 'function') {
      this.fail(clientError('connection_error', 'no WebSocket implementation', { recoverable: false }));
      return;
    }
    let socket: WebSocketLike;
    try {
      socket = new Ctor(withCredentials(this.options.url, { token: this.options.token, apiKey: this.options.apiKey }));
    } catch (error) {
      this.fail(clientError('connection_error', `cannot open ${this.options.url}`, { cause: error }));
      return;
    }
    this.socket = socket;
    this.setState('connecting');
    socket.onopen = () => this.socket === socket && this.send({ type: 'init', protocol_version: '1.0', id: 'init' });
    socket.onmessage = (event) => this.socket === socket && this.handle(event?.data);
    socket.onerror = () => this.socket === socket && this.fail(clientError('connection_error', 'WebSocket error'), false);
    socket.onclose = (event) => {
      if (this.socket !== socket) return;
      this.socket = undefined;
      if (this.state === 'connecting' || this.state === 'running') {
        this.fail(clientError('connection_closed', `the stream connection closed (${event?.code ?? 1006})`));
      }
    };
  }

  /** Ends the run: `unsubscribe`, then close. */
  stop(): void {
    if (this.state === 'running') this.send({ type: 'unsubscribe', stream_id: this.streamId, id: 'stop' });
    this.close();
    if (this.state === 'running' || this.state === 'connecting') this.setState('stopped');
  }

  private close(): void {
    const socket = this.socket;
    this.socket = undefined;
    if (!socket) return;
    socket.onopen = socket.onmessage = socket.onerror = socket.onclose = null;
    try {
      socket.close(1000, 'stream stopped');
    } catch {
      // Nothing more to do with an abandoned socket.
    }
  }

  private send(message: Record<string, unknown>): void {
    try {
      this.socket?.send(JSON.stringify(message));
    } catch (error) {
      this.fail(clientError('connection_error', 'sending on the stream failed', { cause: error }), false);
    }
  }

  private handle(raw: unknown): void {
    let frame: ServerFrame;
    try {
      frame = JSON.parse(String(raw));
    } catch (error) {
      this.emitter.emit('error', clientError('invalid_json', 'the server sent invalid JSON', { cause: error }));
      return;
    }
    if (typeof frame !== 'object' || frame === null || typeof frame.type !== 'string') {
      this.emitter.emit('error', clientError('unknown_frame', 'the server sent a frame without a "type"'));
      return;
    }
    this.control(frame);
    if (frame.type !== 'error') this.emitter.emit(frame.type, frame);
    this.emitter.emit('*', frame);
  }

  private control(frame: ServerFrame): void {
    switch (frame.type) {
      case 'init':
        this.send({ type: 'subscribe', stream_type: this.streamType, stream_id: this.streamId, params: this.params, id: 'start' });
        break;
      case 'subscribe_success':
        this.setState('running');
        break;
      case 'heartbeat':
        this.send({ type: 'pong' });
        break;
      case 'simulation_complete':
        this.setState('complete');
        this.close();
        break;
    }
    if (isErrorFrame(frame)) {
      const ends = frame.type === 'subscribe_failed' || frame.type === 'stream_error';
      this.fail(serverError(frame), ends);
    }
  }

  private fail(error: WavecastError, ends = true): void {
    this.emitter.emit('error', error);
    if (ends) {
      this.close();
      this.setState('error');
    }
  }

  private setState(state: StreamState): void {
    if (this.state === state) return;
    this.state = state;
    this.emitter.emit('state', state);
  }
}
