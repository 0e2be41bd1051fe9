/**
 * The wavecast wire protocol v1, as the client sees it (docs/protocol.md).
 *
 * Frame types, the reserved server types, and `classifyFrame`, which decides
 * what an incoming JSON value is: a control frame, a publication delivery, a
 * personal message, or something unknown. Classification never throws.
 */

/** A JSON value as it arrives from `JSON.parse`. */
export type Json = null | boolean | number | string | Json[] | { [key: string]: Json };

/** The error fields shared by `error`, `auth_failed`, `subscribe_failed`, `unsubscribe_failed`. */
export interface ErrorFields {
  code: string;
  error: string;
  recoverable: boolean;
  help?: string;
  timestamp?: string;
}

/** Any frame the server sends: `type` first, then type-specific fields. */
export interface ServerFrame {
  type: string;
  [key: string]: unknown;
}

/** A publication delivery: `{type, channel, data, offset?, timestamp}`. */
export interface Publication<T = unknown> extends ServerFrame {
  channel: string;
  data: T;
  offset?: number;
  timestamp?: string;
}

/** One channel's position in its log, from `subscribe_success`. */
export interface ChannelPosition {
  offset?: number;
  epoch?: string;
  recovered?: boolean;
}

export interface SubscribeSuccess extends ServerFrame {
  type: 'subscribe_success';
  channels: string[];
  positions?: Record<string, ChannelPosition>;
  server_side?: boolean;
}

/** A message the client sends. `type` is required; `id` is added for replies. */
export interface ClientMessage {
  type: string;
  id?: string | number;
  [key: string]: unknown;
}

/**
 * Types the server uses for its own frames and refuses as event types
 * (protocol §9). A frame with one of these types is never a delivery.
 */
export const RESERVED_TYPES: ReadonlySet<string> = new Set([
  'connection_established',
  'init',
  'subscribe_success',
  'subscribe_failed',
  'unsubscribe_success',
  'unsubscribe_failed',
  'publish_success',
  'pong',
  'heartbeat',
  'error',
  'dropped',
  'auth',
  'auth_success',
  'auth_failed',
  'refresh',
  'refresh_required',
  'refresh_success',
  'history',
]);

/** Control frames that are not reserved but that the server sends (protocol §5, mfn.md §5). */
const OTHER_CONTROL_TYPES: ReadonlySet<string> = new Set([
  'recovery_required',
  'ping',
  'feature_update',
  'simulation_state',
  'simulation_complete',
  'stream_error',
]);

/** Frames that carry the error fields of protocol §6. */
export const ERROR_FRAME_TYPES: ReadonlySet<string> = new Set([
  'error',
  'auth_failed',
  'subscribe_failed',
  'unsubscribe_failed',
  'stream_error',
]);

export type FrameKind = 'control' | 'publication' | 'personal' | 'unknown';

export interface Classified {
  kind: FrameKind;
  frame: ServerFrame;
}

function isObject(value: unknown): value is Record<string, unknown> {
  return typeof value === 'object' && value !== null && !Array.isArray(value);
}

/**
 * Decides what a parsed JSON value is. A value that is not an object, or has
 * no string `type`, is `unknown`. Stream frames carry a `stream_id` and are
 * control frames even though they are not reserved.
 */
export function classifyFrame(value: unknown): Classified | null {
  if (!isObject(value) || typeof value.type !== 'string' || value.type.length === 0) {
    return null;
  }
  const frame = value as ServerFrame;
  if (RESERVED_TYPES.has(frame.type) || OTHER_CONTROL_TYPES.has(frame.type)) {
    return { kind: 'control', frame };
  }
  if (typeof frame.channel === 'string') {
    return { kind: 'publication', frame };
  }
  if ('data' in frame) {
    return { kind: 'personal', frame };
  }
  return { kind: 'unknown', frame };
}

/** True for a frame that carries the error fields. */
export function isErrorFrame(frame: ServerFrame): boolean {
  return ERROR_FRAME_TYPES.has(frame.type);
}

/** The inner event type of a publication whose `data` is `{type: string, …}`, if any. */
export function innerType(publication: ServerFrame): string | undefined {
  const data = publication.data;
  if (isObject(data) && typeof data.type === 'string' && data.type.length > 0) {
    return data.type;
  }
  return undefined;
}

/** A channel name is 1-255 bytes of letters, digits and `_ - : . @ # /` (protocol §8). */
export function isValidChannel(name: unknown): name is string {
  return typeof name === 'string' && /^[A-Za-z0-9_\-:.@#/]{1,255}$/.test(name);
}
