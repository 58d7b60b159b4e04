/** Small numeric helpers for the scale bench. */

/** Nearest-rank percentile (p in 0..100); NaN for an empty list. */
export function percentile(xs: readonly number[], p: number): number {
  if (xs.length === 0) return NaN;
  const s = [...xs].sort((a, b) => a - b);
  return s[Math.min(s.length - 1, Math.max(0, Math.ceil((p / 100) * s.length) - 1))]!;
}

export function median(xs: readonly number[]): number {
  if (xs.length === 0) return NaN;
  const s = [...xs].sort((a, b) => a - b);
  const m = s.length >> 1;
  return s.length % 2 ? s[m]! : (s[m - 1]! + s[m]!) / 2;
}

export function round(x: number, digits = 1): number {
  const f = 10 ** digits;
  return Math.round(x * f) / f;
}

/** Counts of timestamps per 1 s bucket, from the first timestamp on. */
export function perSecond(times: readonly number[], from = Math.min(...times)): number[] {
  const buckets: number[] = [];
  for (const t of times) {
    const i = Math.floor((t - from) / 1000);
    if (i < 0) continue;
    while (buckets.length <= i) buckets.push(0);
    buckets[i]!++;
  }
  return buckets;
}

export const KiB = 1024;
export const MiB = 1024 * 1024;
