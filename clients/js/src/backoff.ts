/**
 * Exponential backoff with full jitter: attempt n (from 0) waits a uniformly
 * random time in [0, min(max, base * 2^n)). The random source is injectable
 * so that tests can pin it.
 */

export interface BackoffOptions {
  /** The first ceiling, in ms. */
  base: number;
  /** The largest ceiling, in ms. */
  max: number;
  /** A source of numbers in [0, 1). */
  random?: () => number;
}

/** The ceiling of attempt `attempt` (0-based): `min(max, base * 2^attempt)`. */
export function backoffCeiling(attempt: number, base: number, max: number): number {
  // 2^attempt overflows to Infinity for large attempts; min() handles it.
  return Math.min(max, base * Math.pow(2, Math.max(0, attempt)));
}

/** The delay before reconnect attempt `attempt` (0-based), with full jitter. */
export function backoffDelay(attempt: number, options: BackoffOptions): number {
  const random = options.random ?? Math.random;
  const r = Math.min(Math.max(random(), 0), 1);
  return Math.floor(r * backoffCeiling(attempt, options.base, options.max));
}
