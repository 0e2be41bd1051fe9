/** A titled card, and the explicit "no data yet in room X" state of the monitoring components. */
import type { ReactNode } from 'react';

export function Panel(props: { title: string; subtitle?: ReactNode; className?: string; testId?: string; actions?: ReactNode; children: ReactNode }) {
  return (
    <section className={`panel ${props.className ?? ''}`} data-testid={props.testId}>
      <header className="panel-head">
        <h2>{props.title}</h2>
        {props.subtitle !== undefined && <span className="panel-sub">{props.subtitle}</span>}
        {props.actions !== undefined && <span className="panel-actions">{props.actions}</span>}
      </header>
      <div className="panel-body">{props.children}</div>
    </section>
  );
}

export function NoData({ room }: { room: string }) {
  return (
    <div className="nodata" data-testid={`nodata-${room}`}>
      No data yet in room <code>{room}</code>
    </div>
  );
}

/** A horizontal bar for a percentage, coloured by level. */
export function Bar({ value, label }: { value: number | undefined; label?: string }) {
  const v = value ?? 0;
  const level = v >= 90 ? 'bad' : v >= 70 ? 'warn' : 'good';
  return (
    <div className="bar" title={label}>
      <div className={`bar-fill ${level}`} style={{ width: `${v}%` }} />
      <span className="bar-text">{value === undefined ? '–' : `${v.toFixed(0)}%`}</span>
    </div>
  );
}

export function fmt(value: number | undefined, digits = 0, unit = ''): string {
  if (value === undefined || !Number.isFinite(value)) return '–';
  return `${value.toLocaleString('en-US', { maximumFractionDigits: digits, minimumFractionDigits: digits })}${unit}`;
}

export function ago(date: Date | null): string {
  if (!date) return '';
  const s = Math.max(0, Math.round((Date.now() - date.getTime()) / 1000));
  return s < 2 ? 'just now' : `${s} s ago`;
}
