/**
 * Resident memory of another process, read from /proc (Linux), for the tests
 * and benches that bound what a misbehaving peer can make the principal hold.
 */
import { readFileSync } from "node:fs";

/** VmRSS of a process in MiB. */
export function rssMiB(pid: number): number {
  const m = readFileSync(`/proc/${pid}/status`, "utf8").match(/^VmRSS:\s+(\d+) kB/m);
  if (!m) throw new Error(`no VmRSS for pid ${pid}`);
  return Math.round(Number(m[1]) / 1024);
}

/** Samples VmRSS every `everyMs` until stopped; reports the peak. */
export function watchRss(pid: number, everyMs = 200): { peak(): number; stop(): number } {
  let peak = rssMiB(pid);
  const timer = setInterval(() => {
    try {
      peak = Math.max(peak, rssMiB(pid));
    } catch {
      /* process gone */
    }
  }, everyMs);
  return {
    peak: () => peak,
    stop: () => {
      clearInterval(timer);
      return peak;
    },
  };
}
