/**
 * The `wavecast` package: the TypeScript client of the wavecast WebSocket
 * server. The React hooks and provider are in `wavecast/react`.
 */
export {
  WebSocketClient,
  type ConnectionState,
  type MessagePackCodec,
  type RecoveryInfo,
  type WebSocketClientOptions,
  type WebSocketConstructor,
  type WebSocketLike,
} from './client.js';
export { getWebSocketClient, resetWebSocketClient } from './singleton.js';
export { SimulationStream, type SimulationStreamOptions, type StreamState } from './stream.js';
export { decodeField, levelValue, type DecodedField, type EncodedField } from './field.js';
export { discover, parseServiceConfig, DEFAULT_SERVICE_CONFIG, type ServiceConfig } from './discovery.js';
export { publishHttp, fetchStats, fetchHealth, type HttpOptions, type HttpResult, type PublishResult, type ServerStats } from './http.js';
export { backoffDelay, backoffCeiling, type BackoffOptions } from './backoff.js';
export { clientError, serverError, type WavecastError, type ClientErrorCode, type ErrorSource } from './errors.js';
export type { PendingRecord, PendingStatus } from './pending.js';
export type { ConnectionStats } from './stats.js';
export type { RoomOptions, Position } from './rooms.js';
export {
  classifyFrame,
  innerType,
  isValidChannel,
  RESERVED_TYPES,
  type ClientMessage,
  type ServerFrame,
  type Publication,
  type ChannelPosition,
  type ErrorFields,
  type Json,
} from './protocol.js';
export { MONITORING_ROOMS, normalizeAlert, payloadOf, roomOf, severityClass, type Alert, type MonitoringRoom } from './monitoring.js';
export { httpBase, wsUrl } from './url.js';
