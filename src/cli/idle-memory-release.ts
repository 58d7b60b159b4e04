/**
 * Gives memory back to the system once a component goes quiet after a burst.
 * V8 (Node 24) keeps the heap pages a regular GC frees: after 1,000 replicated
 * updates the agent's V8 heap is back to ~35 MiB in use, yet its RSS stays
 * ~130 MiB higher, for good, because V8's own memory reducer sees no new GC
 * samples in a quiet process and keeps judging the allocation rate "high".
 * Only a memory-reducing GC returns those pages (issue #19, bench/footprint.ts).
 *
 * Every `intervalMs` this checks the event-loop utilisation of the last
 * interval and the resident set: after `quietChecks` quiet intervals in a row,
 * with RSS grown by at least `growthBytes` and `growthRatio` over what it was
 * after the last release (a large principal needs proportionally more),
 * it runs one memory-reducing full GC (synchronous; ~0.1–0.3 s of CPU for the
 * agent's heap), at most once per `minSpacingMs`. A busy process is never
 * interrupted: under sustained load the loop is not quiet. The GC function is
 * obtained once through `--expose-gc` in a fresh vm context (V8's `gc` with
 * `flavor: "last-resort"`); the flag is switched off again right after.
 *
 * @example
 *   const release = new IdleMemoryRelease({ onRelease: (r) => log.debug("memory released", r) });
 *   release.start();   // timer is unref'd: never keeps the process alive
 *   release.stop();
 */
import { performance, type EventLoopUtilization } from "node:perf_hooks";
import { setFlagsFromString } from "node:v8";
import { runInNewContext } from "node:vm";

export interface IdleMemoryReleaseOptions {
  intervalMs: number;
  /** Event-loop utilisation (0..1) below which an interval counts as quiet. */
  quietUtilization: number;
  /** Quiet intervals in a row before a release. */
  quietChecks: number;
  /** Growth of RSS over the level after the last release that makes a release worth it: both must be reached. */
  growthBytes: number;
  growthRatio: number;
  minSpacingMs: number;
  /** Called after each release with what it achieved. */
  onRelease?: (r: ReleaseResult) => void;
  /** Test seams. */
  now?: () => number;
  rss?: () => number;
  utilization?: () => number;
  collect?: () => void;
}

export interface ReleaseResult {
  rssBeforeMiB: number;
  rssAfterMiB: number;
  ms: number;
}

export const IDLE_MEMORY_RELEASE_DEFAULTS = {
  intervalMs: 1000,
  quietUtilization: 0.03,
  quietChecks: 5,
  growthBytes: 24 * 1048576,
  growthRatio: 0.25,
  minSpacingMs: 30_000,
} as const;

type GcFunction = (opts: { type: "major"; execution: "sync"; flavor: "last-resort" }) => void;

let gcFunction: GcFunction | undefined;

/** V8's gc(), without requiring the process to start with --expose-gc. */
function memoryReducingGc(): void {
  if (!gcFunction) {
    const exposed = (globalThis as { gc?: GcFunction }).gc;
    if (exposed) gcFunction = exposed;
    else {
      setFlagsFromString("--expose-gc");
      try {
        gcFunction = runInNewContext("gc") as GcFunction;
      } finally {
        setFlagsFromString("--no-expose-gc");
      }
    }
  }
  gcFunction({ type: "major", execution: "sync", flavor: "last-resort" });
}

/** RSS in bytes; 0 where it cannot be read (no /proc, e.g. a bare chroot), which keeps releases off. */
function residentBytes(): number {
  try {
    return process.memoryUsage.rss();
  } catch {
    return 0;
  }
}

function loopUtilization(): () => number {
  let last: EventLoopUtilization = performance.eventLoopUtilization();
  return () => {
    const now = performance.eventLoopUtilization();
    const u = performance.eventLoopUtilization(now, last).utilization;
    last = now;
    return u;
  };
}

export class IdleMemoryRelease {
  private readonly o: Required<Omit<IdleMemoryReleaseOptions, "onRelease">> & Pick<IdleMemoryReleaseOptions, "onRelease">;
  private quiet = 0;
  private baseline: number;
  private lastRelease = -Infinity;
  private timer: NodeJS.Timeout | undefined;

  constructor(opts: Partial<IdleMemoryReleaseOptions> = {}) {
    this.o = {
      ...IDLE_MEMORY_RELEASE_DEFAULTS,
      now: () => performance.now(),
      rss: residentBytes,
      utilization: loopUtilization(),
      collect: memoryReducingGc,
      ...opts,
    };
    for (const k of ["intervalMs", "quietChecks", "growthBytes", "growthRatio", "minSpacingMs"] as const) {
      if (!(this.o[k] > 0)) throw new RangeError(`IdleMemoryRelease: ${k} must be positive (got ${this.o[k]})`);
    }
    if (!(this.o.quietUtilization > 0 && this.o.quietUtilization <= 1)) throw new RangeError(`IdleMemoryRelease: quietUtilization must be in (0, 1] (got ${this.o.quietUtilization})`);
    this.baseline = this.o.rss();
  }

  /** One check (what the timer runs); returns the release it made, if any. */
  check(): ReleaseResult | undefined {
    this.quiet = this.o.utilization() < this.o.quietUtilization ? this.quiet + 1 : 0;
    if (this.quiet < this.o.quietChecks) return undefined;
    const t = this.o.now();
    if (t - this.lastRelease < this.o.minSpacingMs) return undefined;
    const before = this.o.rss();
    const grown = before - this.baseline;
    if (grown < this.o.growthBytes || grown < this.baseline * this.o.growthRatio) return undefined;
    this.o.collect();
    const after = this.o.rss();
    this.lastRelease = this.o.now();
    this.baseline = after;
    this.quiet = 0;
    const r = { rssBeforeMiB: mib(before), rssAfterMiB: mib(after), ms: Math.round(this.lastRelease - t) };
    this.o.onRelease?.(r);
    return r;
  }

  start(): void {
    if (this.timer) return;
    this.timer = setInterval(() => this.check(), this.o.intervalMs);
    this.timer.unref();
  }

  stop(): void {
    clearInterval(this.timer);
    this.timer = undefined;
  }
}

const mib = (b: number) => Math.round((b / 1048576) * 10) / 10;
