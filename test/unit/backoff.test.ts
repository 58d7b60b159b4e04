// Reconnect backoff: full jitter under a ceiling that grows by the factor up
// to the cap (pure logic, with a fixed "random").
import { test } from "node:test";
import assert from "node:assert/strict";
import { FullJitterBackoff, RECONNECT_BACKOFF } from "../../src/transport/backoff.ts";

test("the ceiling grows by the factor up to the cap; the wait is a fraction of it", () => {
  const top = new FullJitterBackoff({ baseMs: 1000, capMs: 5000, factor: 2, random: () => 0.999999 });
  assert.deepEqual([1, 2, 3, 4, 5].map(() => top.next()), [999, 1999, 3999, 4999, 4999]);
  const half = new FullJitterBackoff({ baseMs: 1000, capMs: 5000, factor: 2, random: () => 0.5 });
  assert.deepEqual([1, 2, 3].map(() => half.next()), [500, 1000, 2000]);
  half.reset();
  assert.equal(half.next(), 500, "reset starts over");
});

test("the agent's reconnect ceiling grows like upstream's 1 s ×1.2: short outages mean short waits", () => {
  const b = new FullJitterBackoff({ ...RECONNECT_BACKOFF, random: () => 0.999999 });
  const ceilings = Array.from({ length: 8 }, () => b.next());
  assert.deepEqual(ceilings, [999, 1199, 1439, 1727, 2073, 2488, 2985, 3583]);
  // After ~5 s of failed attempts (upstream's sum of waits), the next wait is at most ~2.5 s, not 16 s.
  let sum = 0;
  const c = new FullJitterBackoff({ ...RECONNECT_BACKOFF, random: () => 0.999999 });
  let next = c.next();
  while (sum + next < 5000) {
    sum += next;
    next = c.next();
  }
  assert.ok(next <= 2500, `next wait ${next} ms after ${sum} ms of waiting`);
  const capped = new FullJitterBackoff({ ...RECONNECT_BACKOFF, random: () => 0.999999 });
  for (let i = 0; i < 100; i++) capped.next();
  assert.equal(capped.next(), RECONNECT_BACKOFF.capMs - 1, "capped");
});

test("invalid options are refused", () => {
  assert.throws(() => new FullJitterBackoff({ baseMs: 0, capMs: 10, factor: 2 }), RangeError);
  assert.throws(() => new FullJitterBackoff({ baseMs: 10, capMs: 5, factor: 2 }), RangeError);
  assert.throws(() => new FullJitterBackoff({ baseMs: 10, capMs: 50, factor: 0.5 }), RangeError);
});
