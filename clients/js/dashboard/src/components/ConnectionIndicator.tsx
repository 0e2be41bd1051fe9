/**
 * The connection indicator: the client's state in colour (green when
 * connected, amber while connecting or reconnecting, red when stopped), the
 * round-trip time, the last error, and a button to reconnect after the
 * client gave up.
 */
import { useWavecast } from 'wavecast/react';
import { fmt } from './Panel';

const LABELS: Record<string, string> = {
  connected: 'connected',
  connecting: 'connecting…',
  reconnecting: 'reconnecting…',
  disconnected: 'disconnected',
  failed: 'disconnected (gave up)',
};

export function ConnectionIndicator() {
  const { status, connectionStats, lastError, connect } = useWavecast();
  const tone = status === 'connected' ? 'ok' : status === 'connecting' || status === 'reconnecting' ? 'wait' : 'down';
  return (
    <div className={`connection tone-${tone}`} data-testid="connection" data-state={status}>
      <span className="connection-dot" />
      <span className="connection-label">{LABELS[status] ?? status}</span>
      {status === 'connected' && connectionStats.avg_rtt_ms !== null && (
        <span className="muted">RTT {fmt(connectionStats.avg_rtt_ms, 1, ' ms')}</span>
      )}
      {connectionStats.reconnects > 0 && <span className="muted">{connectionStats.reconnects} reconnects</span>}
      {status === 'failed' && (
        <button type="button" className="small" onClick={connect}>
          Reconnect
        </button>
      )}
      {lastError && status !== 'connected' && (
        <span className="connection-error" title={lastError.help ?? ''}>
          {lastError.code}: {lastError.error}
        </span>
      )}
    </div>
  );
}
