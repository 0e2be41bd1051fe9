/**
 * Liveness of one connection. Every `interval` ms it sends a `ping` (whose
 * `pong` gives the round-trip time); the client answers the server's
 * `heartbeat` elsewhere. A connection on which nothing arrives for
 * `timeout` ms is declared dead. Incoming frames are counted, not timed,
 * so the hot path costs one increment; the check runs every `timeout / 4`.
 */

export interface HeartbeatOptions {
  interval: number;
  timeout: number;
  sendPing: () => void;
  onDead: (silentForMs: number) => void;
}

export class Heartbeat {
  private pingTimer: ReturnType<typeof setInterval> | undefined;
  private checkTimer: ReturnType<typeof setInterval> | undefined;
  private seen = 0;
  private lastSeen = 0;
  private silentFor = 0;

  constructor(private readonly options: HeartbeatOptions) {}

  /** Counts an incoming frame. */
  touch(): void {
    this.seen++;
  }

  start(): void {
    this.stop();
    const { interval, timeout } = this.options;
    if (interval > 0) this.pingTimer = setInterval(() => this.options.sendPing(), interval);
    if (timeout > 0) {
      const period = Math.max(1, Math.floor(timeout / 4));
      this.lastSeen = this.seen;
      this.silentFor = 0;
      this.checkTimer = setInterval(() => this.check(period), period);
    }
  }

  private check(period: number): void {
    if (this.seen !== this.lastSeen) {
      this.lastSeen = this.seen;
      this.silentFor = 0;
      return;
    }
    this.silentFor += period;
    if (this.silentFor >= this.options.timeout) {
      const silent = this.silentFor;
      this.stop();
      this.options.onDead(silent);
    }
  }

  stop(): void {
    if (this.pingTimer !== undefined) clearInterval(this.pingTimer);
    if (this.checkTimer !== undefined) clearInterval(this.checkTimer);
    this.pingTimer = undefined;
    this.checkTimer = undefined;
  }
}
