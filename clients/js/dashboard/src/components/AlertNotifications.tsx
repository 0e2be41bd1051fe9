/**
 * AlertNotifications (FOG): the live feed of the `alerts` room, newest
 * first, the last 100, coloured by severity (critical / warning / info),
 * with the anomaly (z-score) or threshold details.
 */
import { severityClass, type Alert } from 'wavecast';
import { useAlerts, useWavecast } from 'wavecast/react';
import { fmt, NoData, Panel } from './Panel';

function detail(a: Alert): string {
  const parts: string[] = [];
  if (a.value !== undefined) parts.push(`value ${fmt(a.value, 2)}`);
  if (a.threshold !== undefined) parts.push(`threshold ${fmt(a.threshold, 2)}`);
  if (a.z_score !== undefined) parts.push(`z = ${fmt(a.z_score, 2)}`);
  if (a.message) parts.push(a.message);
  return parts.join(' · ');
}

export function AlertNotifications() {
  const { client } = useWavecast();
  const { alerts, clearAlerts } = useAlerts(client);
  const counts = { critical: 0, warning: 0, info: 0 };
  for (const a of alerts) counts[severityClass(a.severity)]++;
  return (
    <Panel
      title="Alerts"
      subtitle={alerts.length > 0 ? `${alerts.length} (last 100)` : 'room alerts'}
      testId="alerts"
      actions={
        alerts.length > 0 && (
          <button type="button" className="small" onClick={clearAlerts}>
            Clear
          </button>
        )
      }
    >
      {alerts.length === 0 ? (
        <NoData room="alerts" />
      ) : (
        <>
          <div className="kv-row">
            <span className="kv sev-critical-text">critical {counts.critical}</span>
            <span className="kv sev-warning-text">warning {counts.warning}</span>
            <span className="kv sev-info-text">info {counts.info}</span>
          </div>
          <ul className="alert-list">
            {alerts.map((a) => (
              <li key={a.id} className={`alert sev-${severityClass(a.severity)}`} data-testid="alert" data-severity={a.severity}>
                <span className="alert-sev">{a.severity}</span>
                <span className="alert-type">{a.type.replace(/_/g, ' ')}</span>
                {a.metric && <code className="alert-metric">{a.metric}</code>}
                <span className="alert-detail">{detail(a)}</span>
                <time className="alert-time">{a.timestamp.slice(11, 19)}</time>
              </li>
            ))}
          </ul>
        </>
      )}
    </Panel>
  );
}
