/**
 * Resync storm (issue 13, item 6): after a restart of principal and agent
 * with 2,000 Applications, changed before and during the start, a resync costs
 * O(objects) once: the principal sends the autonomous agent at most one
 * `request-update` per object (it sent ~28 per object, plus re-sends).
 */
import assert from "node:assert/strict";
import { after, before, test } from "node:test";
import { restartStorm } from "./fault-scenarios.ts";
import { AUTO, startHarness, type Harness } from "./replication-harness.ts";

let h: Harness;

before(async () => {
  h = await startHarness({ agents: { [AUTO]: { cluster: AUTO, mode: "autonomous" } } });
}, { timeout: 120_000 });

after(async () => {
  await h?.stop();
});

test("a full restart with 2,000 Applications sends at most one request-update per object", { timeout: 420_000 }, async () => {
  const r = await restartStorm(h, { apps: 2000, waitMs: 150_000 });
  process.stdout.write(`# storm: ${JSON.stringify(r)}\n`);
  assert.ok(r.requestUpdates > 0, "the restart resynced the agent");
  assert.ok(r.requestUpdates <= r.objects, `${r.requestUpdates} request-updates for ${r.objects} objects`);
});
