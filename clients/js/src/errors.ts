/**
 * Typed error events. Every failure the client reports, from the server or
 * from itself, is a `WavecastError` delivered to `on('error')` handlers: the
 * client never throws into the application.
 */
import type { ServerFrame } from './protocol.js';

/** Where an error came from: a server frame, or the client itself. */
export type ErrorSource = 'server' | 'client';

/** Stable codes for errors the client raises itself. */
export type ClientErrorCode =
  | 'invalid_json'
  | 'unknown_frame'
  | 'connection_error'
  | 'connection_closed'
  | 'handler_error'
  | 'queue_overflow'
  | 'reconnect_failed'
  | 'heartbeat_timeout'
  | 'ack_timeout'
  | 'connection_lost'
  | 'discovery_failed'
  | 'invalid_argument'
  | 'not_connected';

export interface WavecastError {
  type: 'error';
  /** A stable code: the server's (protocol §6) or one of `ClientErrorCode`. */
  code: string;
  /** A human-readable message. Do not parse it. */
  error: string;
  /** Whether retrying or carrying on can succeed. */
  recoverable: boolean;
  /** A hint for the developer, when there is one. */
  help?: string;
  source: ErrorSource;
  /** The type of the server frame that carried the error (`error`, `subscribe_failed`, ...). */
  frameType?: string;
  /** The server frame, for server errors. */
  frame?: ServerFrame;
  /** The request id the error answers, if any. */
  id?: string | number;
  /** The underlying exception or event, for client errors. */
  cause?: unknown;
  timestamp: string;
}

/** Builds a client-side error event. */
export function clientError(
  code: ClientErrorCode,
  message: string,
  options: { recoverable?: boolean; help?: string; cause?: unknown; id?: string | number } = {},
): WavecastError {
  return {
    type: 'error',
    code,
    error: message,
    recoverable: options.recoverable ?? true,
    help: options.help,
    source: 'client',
    cause: options.cause,
    id: options.id,
    timestamp: new Date().toISOString(),
  };
}

/** Turns a server frame with the error fields (protocol §6) into an error event. */
export function serverError(frame: ServerFrame): WavecastError {
  const id = frame.id ?? frame.correlation_id;
  return {
    type: 'error',
    code: typeof frame.code === 'string' ? frame.code : 'unknown',
    error: typeof frame.error === 'string' ? frame.error : `server sent ${frame.type}`,
    recoverable: frame.recoverable !== false,
    help: typeof frame.help === 'string' ? frame.help : undefined,
    source: 'server',
    frameType: frame.type,
    frame,
    id: typeof id === 'string' || typeof id === 'number' ? id : undefined,
    timestamp: typeof frame.timestamp === 'string' ? frame.timestamp : new Date().toISOString(),
  };
}
