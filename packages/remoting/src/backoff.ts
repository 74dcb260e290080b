export interface BackoffOptions {
  initialDelayMs?: number; // default 100
  maxDelayMs?: number; // default 5000
  /** Fraction of the delay removed at random, so many clients do not reconnect in lockstep. */
  jitter?: number; // default 0.2
  random?: () => number;
}

/** Exponential reconnect back-off: 100 ms doubling to 5 s, each delay shortened by up to 20 %. */
export class ReconnectBackoff {
  private readonly initialDelayMs: number;
  private readonly maxDelayMs: number;
  private readonly jitter: number;
  private readonly random: () => number;
  private failures = 0;

  constructor(options: BackoffOptions = {}) {
    this.initialDelayMs = options.initialDelayMs ?? 100;
    this.maxDelayMs = options.maxDelayMs ?? 5000;
    this.jitter = Math.min(Math.max(options.jitter ?? 0.2, 0), 1);
    this.random = options.random ?? Math.random;
  }

  /** Delay before the next attempt after one more failure. */
  nextDelayMs(): number {
    const base = Math.min(this.maxDelayMs, this.initialDelayMs * 2 ** Math.min(this.failures, 30));
    this.failures++;
    return Math.round(base * (1 - this.jitter * this.random()));
  }

  /** A connection worked: start over from the initial delay. */
  reset(): void {
    this.failures = 0;
  }
}
