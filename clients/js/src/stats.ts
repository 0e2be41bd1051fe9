/**
 * Connection statistics (Netra's `connectionStats`): messages and bytes in
 * and out, reconnects, queue and error counts, and the round-trip latency
 * measured with `ping`/`pong`. Counters only grow; `snapshot` copies them.
 */

export interface ConnectionStats {
  messages_sent: number;
  messages_received: number;
  bytes_sent: number;
  bytes_received: number;
  /** Connections admitted (first connect included). */
  connections: number;
  /** Admitted connections after the first one. */
  reconnects: number;
  /** Reconnect attempts scheduled. */
  reconnect_attempts: number;
  errors: number;
  /** Messages waiting in the offline queue now. */
  queued: number;
  /** Messages dropped because the offline queue was full. */
  queue_dropped: number;
  /** Messages that waited for the client-side rate limit. */
  rate_limited: number;
  /** Publications dropped as duplicates (offset already seen). */
  duplicates: number;
  /** Latest round-trip time in ms, or null before the first pong. */
  rtt_ms: number | null;
  /** Mean of the last 32 round trips, in ms. */
  avg_rtt_ms: number | null;
  min_rtt_ms: number | null;
  connected_at: number | null;
  last_message_at: number | null;
}

export function emptyStats(): ConnectionStats {
  return {
    messages_sent: 0,
    messages_received: 0,
    bytes_sent: 0,
    bytes_received: 0,
    connections: 0,
    reconnects: 0,
    reconnect_attempts: 0,
    errors: 0,
    queued: 0,
    queue_dropped: 0,
    rate_limited: 0,
    duplicates: 0,
    rtt_ms: null,
    avg_rtt_ms: null,
    min_rtt_ms: null,
    connected_at: null,
    last_message_at: null,
  };
}

/** Keeps the last 32 round trips for the average. */
export class RttWindow {
  private readonly samples: number[] = [];

  add(stats: ConnectionStats, rtt: number): void {
    this.samples.push(rtt);
    if (this.samples.length > 32) this.samples.shift();
    stats.rtt_ms = rtt;
    stats.min_rtt_ms = stats.min_rtt_ms === null ? rtt : Math.min(stats.min_rtt_ms, rtt);
    stats.avg_rtt_ms = this.samples.reduce((a, b) => a + b, 0) / this.samples.length;
  }
}
