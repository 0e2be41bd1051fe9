/**
 * Client-side token bucket, matching the server's message rate (protocol
 * §3): `rate` tokens per second, at most `burst` stored. Each message the
 * client sends takes one token. `rate <= 0` means no limit.
 */

export class TokenBucket {
  private tokens: number;
  private last: number;

  constructor(
    private rate: number,
    private burst: number,
    private readonly now: () => number = () => Date.now(),
  ) {
    this.tokens = burst;
    this.last = now();
  }

  /** Changes the rate and burst (from service discovery). Keeps the tokens it has, capped. */
  configure(rate: number, burst: number): void {
    this.refill();
    this.rate = rate;
    this.burst = burst;
    this.tokens = Math.min(this.tokens, burst);
  }

  get limited(): boolean {
    return this.rate > 0;
  }

  private refill(): void {
    const now = this.now();
    const elapsed = Math.max(0, now - this.last) / 1000;
    this.last = now;
    if (this.rate > 0) this.tokens = Math.min(this.burst, this.tokens + elapsed * this.rate);
  }

  /** Takes a token if one is available. */
  tryTake(): boolean {
    if (this.rate <= 0) return true;
    this.refill();
    if (this.tokens >= 1) {
      this.tokens -= 1;
      return true;
    }
    return false;
  }

  /** Milliseconds until the next token is available (0 if one is). */
  waitTime(): number {
    if (this.rate <= 0) return 0;
    this.refill();
    if (this.tokens >= 1) return 0;
    return Math.ceil(((1 - this.tokens) / this.rate) * 1000);
  }
}
