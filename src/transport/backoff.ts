/**
 * Reconnect delays: exponential backoff with full jitter (a random wait in
 * [0, min(cap, base·factorⁿ)]), so a fleet of agents does not reconnect in
 * lockstep after a principal restart. Upstream waits 1 s ×1.2 without jitter;
 * we grow as slowly (×1.2): with doubling, an agent whose principal was down
 * for 5 s waited up to 16 s more after it was back (bench/replication.ts
 * caught a 12.5 s wait), with ×1.2 the ceiling at that point is about 3 s.
 */
export interface BackoffOptions {
  baseMs: number;
  capMs: number;
  factor: number;
  random?: () => number;
}

export const RECONNECT_BACKOFF: BackoffOptions = { baseMs: 1000, capMs: 30_000, factor: 1.2 };

export class FullJitterBackoff {
  private attempt = 0;
  private readonly opts: BackoffOptions;

  constructor(opts: BackoffOptions = RECONNECT_BACKOFF) {
    if (!(opts.baseMs > 0) || !(opts.capMs >= opts.baseMs) || !(opts.factor >= 1)) {
      throw new RangeError(`invalid backoff: base ${opts.baseMs} ms, cap ${opts.capMs} ms, factor ${opts.factor}`);
    }
    this.opts = opts;
  }

  /** The next wait in milliseconds. */
  next(): number {
    const ceiling = Math.min(this.opts.capMs, this.opts.baseMs * this.opts.factor ** this.attempt);
    this.attempt++;
    return Math.floor((this.opts.random ?? Math.random)() * ceiling);
  }

  reset(): void {
    this.attempt = 0;
  }
}

/** Sleeps, or resolves early (false) when the signal aborts. */
export function sleep(ms: number, signal?: AbortSignal): Promise<boolean> {
  return new Promise((resolve) => {
    if (signal?.aborted) return resolve(false);
    const t = setTimeout(() => {
      signal?.removeEventListener("abort", onAbort);
      resolve(true);
    }, ms);
    const onAbort = () => {
      clearTimeout(t);
      resolve(false);
    };
    signal?.addEventListener("abort", onAbort, { once: true });
  });
}
