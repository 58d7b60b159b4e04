// Idle memory release (src/cli/idle-memory-release.ts): when it releases (the
// policy, with fixed samples) and that the release really gives freed heap
// pages back to the system (the real V8 GC, in this process).
import { test } from "node:test";
import assert from "node:assert/strict";
import { IdleMemoryRelease, type IdleMemoryReleaseOptions } from "../../src/cli/idle-memory-release.ts";

const MiB = 1048576;

/** A release driven by scripted utilisation and RSS; counts collections. */
function scripted(opts: Partial<IdleMemoryReleaseOptions> = {}) {
  const s = { rss: 100 * MiB, util: 0, now: 0, collected: 0, afterCollect: 90 * MiB };
  const r = new IdleMemoryRelease({
    intervalMs: 1000, quietUtilization: 0.1, quietChecks: 3, growthBytes: 24 * MiB, growthRatio: 0.25, minSpacingMs: 30_000,
    now: () => s.now,
    rss: () => s.rss,
    utilization: () => s.util,
    collect: () => {
      s.collected++;
      s.rss = s.afterCollect;
    },
    ...opts,
  });
  const tick = (util: number) => {
    s.util = util;
    s.now += 1000;
    return r.check();
  };
  return { s, r, tick };
}

test("releases after the configured quiet intervals in a row, once RSS grew enough", () => {
  const { s, tick } = scripted();
  s.rss = 140 * MiB; // +40 MiB over the 100 MiB at start
  assert.equal(tick(0.02), undefined);
  assert.equal(tick(0.02), undefined);
  const r = tick(0.02);
  assert.deepEqual(r && { before: r.rssBeforeMiB, after: r.rssAfterMiB }, { before: 140, after: 90 });
  assert.equal(s.collected, 1);
});

test("a busy interval starts the count again; a busy process is never collected", () => {
  const { s, tick } = scripted();
  s.rss = 300 * MiB;
  for (let i = 0; i < 20; i++) tick(i % 3 === 2 ? 0.5 : 0.01);
  assert.equal(s.collected, 0, "never three quiet intervals in a row");
  for (let i = 0; i < 20; i++) tick(0.9);
  assert.equal(s.collected, 0);
});

test("no release without growth: by bytes over the last level, and by ratio for a large process", () => {
  const small = scripted();
  small.s.rss = 120 * MiB; // +20 MiB < 24 MiB
  for (let i = 0; i < 10; i++) small.tick(0);
  assert.equal(small.s.collected, 0);
  let rss = 400 * MiB;
  const big = new IdleMemoryRelease({ now: () => 0, rss: () => rss, utilization: () => 0, collect: () => {}, quietChecks: 1 });
  rss = 480 * MiB; // +80 MiB, but < 25 % of 400 MiB
  assert.equal(big.check(), undefined);
  rss = 510 * MiB;
  assert.ok(big.check(), "+110 MiB is over 25 %");
});

test("at most one release per minSpacingMs; the level after a release is the new baseline", () => {
  const { s, tick } = scripted();
  s.rss = 200 * MiB;
  for (let i = 0; i < 3; i++) tick(0);
  assert.equal(s.collected, 1);
  s.rss = 200 * MiB; // grew again right away
  for (let i = 0; i < 10; i++) tick(0);
  assert.equal(s.collected, 1, "within 30 s of the last release");
  for (let i = 0; i < 30; i++) tick(0);
  assert.equal(s.collected, 2);
  s.afterCollect = 200 * MiB; // this time nothing is given back: 200 MiB becomes the level
  s.rss = 200 * MiB;
  for (let i = 0; i < 40; i++) tick(0);
  assert.equal(s.collected, 3);
  for (let i = 0; i < 120; i++) tick(0);
  assert.equal(s.collected, 3, "no repeated collections at a level that is really in use");
});

test("bad options are refused with a RangeError naming the option", () => {
  assert.throws(() => new IdleMemoryRelease({ intervalMs: 0 }), /intervalMs must be positive/);
  assert.throws(() => new IdleMemoryRelease({ quietUtilization: 1.5 }), /quietUtilization must be in \(0, 1\]/);
  assert.throws(() => new IdleMemoryRelease({ growthRatio: -1 }), /growthRatio must be positive/);
});

test("the real release gives the pages a regular GC keeps back to the system", () => {
  const r = new IdleMemoryRelease({ quietChecks: 1, utilization: () => 0 }); // the level now is the baseline
  // Grow the heap by ~200 MiB of short-lived objects, then drop them.
  let keep: unknown[] = [];
  for (let i = 0; i < 1_500_000; i++) keep.push({ i, s: `x${i}`, a: [i, i] });
  keep = [];
  assert.equal(keep.length, 0);
  const released = r.check();
  assert.ok(released, "a release ran");
  assert.ok(released.rssBeforeMiB - released.rssAfterMiB > 64, `RSS ${released.rssBeforeMiB} → ${released.rssAfterMiB} MiB`);
});
