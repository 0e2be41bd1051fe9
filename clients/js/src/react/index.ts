/**
 * `wavecast/react`: the FOG hooks and Netra's provider. React (18 or 19)
 * is a peer dependency of this entry point only.
 */
export {
  useWebSocket,
  useWebSocketMessage,
  useWebSocketData,
  useWebSocketHistory,
  useRealtimeMetrics,
  useNodeStatus,
  useTaskProgress,
  useAlerts,
  useResourceMonitor,
  useTopology,
  type ClientOptions,
  type UseWebSocketResult,
  type UseWebSocketDataResult,
  type UseHistoryResult,
  type UseAlertsResult,
} from './hooks.js';
export {
  WavecastProvider,
  useWavecast,
  useEnhancedWebSocket,
  EnhancedWebSocketProvider,
  type WavecastContextValue,
  type WavecastProviderProps,
} from './provider.js';
