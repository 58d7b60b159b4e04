/**
 * Re-send delays of an unacknowledged event, with the same shape as the Go
 * event writer's `wait.Backoff{Duration: 5s, Factor: 4, Jitter: 1, Cap: 2m}`:
 * each step waits base + random·jitter·base, then base grows ×factor until it
 * reaches the cap, where it stays (retries never stop). With the defaults the
 * waits are 5–10 s, 20–40 s, 80–160 s, then 120–240 s forever.
 *
 * @example
 *   const b = new RetryBackoff(DEFAULT_RETRY_BACKOFF, Math.random);
 *   const waitMs = b.next();
 */

export interface RetryBackoffConfig {
  initialMs: number;
  factor: number;
  /** Fraction of the base added at random: 1 means up to +100 %. */
  jitter: number;
  /** Largest base delay (before jitter). */
  capMs: number;
}

export const DEFAULT_RETRY_BACKOFF: Readonly<RetryBackoffConfig> = {
  initialMs: 5_000,
  factor: 4,
  jitter: 1,
  capMs: 120_000,
};

export class RetryBackoff {
  private baseMs: number;
  private readonly config: Readonly<RetryBackoffConfig>;
  private readonly random: () => number;

  /** `random` returns a number in [0, 1), like Math.random (injectable for tests). */
  constructor(config: Readonly<RetryBackoffConfig>, random: () => number) {
    if (!(config.initialMs >= 0) || !(config.factor >= 1) || !(config.jitter >= 0) || !(config.capMs >= 0)) {
      throw new RangeError(`invalid retry backoff ${JSON.stringify(config)}`);
    }
    this.config = config;
    this.random = random;
    this.baseMs = Math.min(config.initialMs, config.capMs);
  }

  /** The delay before the next attempt; advances the base for the attempt after. */
  next(): number {
    const base = this.baseMs;
    this.baseMs = Math.min(base * this.config.factor, this.config.capMs);
    return base + this.random() * this.config.jitter * base;
  }
}
