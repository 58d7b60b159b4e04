/**
 * Resync storm (issue 13, item 6): after a restart of principal and agent
 * with 2,000 Applications, changed before and during the start, a resync costs
 * O(objects) once: the side that asks sends at most one `request-update` per
 * object. Before the fix the principal sent an autonomous agent ~8.5 per
 * object plus ~12,000 re-sends: every start trigger (the agent's connect, the
 * agent's own request-resource-resync, each re-send of it and of
 * request-synced-resource-list) ran a whole new round.
 */
import assert from "node:assert/strict";
import { after, afterEach, before, test } from "node:test";
import { configureLogging } from "../../src/observability/log.ts";
import { restartStorm } from "./fault-scenarios.ts";
import { AUTO, MANAGED, startHarness, type Harness } from "./replication-harness.ts";

const APPS = 2000;
let h: Harness;

before(async () => {
  configureLogging({ defaultLevel: "warning" }); // tens of thousands of event lines otherwise
  h = await startHarness();
}, { timeout: 120_000 });

afterEach(async () => {
  await h?.stopAgent(AUTO);
  await h?.stopAgent(MANAGED);
  await h?.stopPrincipal();
});

after(async () => {
  await h?.stop();
});

test("autonomous agent: a full restart with 2,000 Applications sends at most one request-update per object", { timeout: 240_000 }, async () => {
  const r = await restartStorm(h, { agent: AUTO, apps: APPS, waitMs: 150_000 });
  process.stdout.write(`# storm autonomous: ${JSON.stringify(r)}\n`);
  assert.ok(r.requestUpdates >= APPS * 0.95, `the restart resynced the agent (${r.requestUpdates} request-updates)`);
  assert.ok(r.requestUpdates <= r.objects, `${r.requestUpdates} request-updates for ${r.objects} objects`);
  assert.equal(r.requestUpdatesBack, 0, "an autonomous agent never sends request-update");
  assert.ok(r.resent <= r.objects, `${r.resent} re-sends for ${r.objects} objects`);
});

test("managed agent: a full restart with 2,000 Applications sends at most one request-update per object", { timeout: 240_000 }, async () => {
  const r = await restartStorm(h, { agent: MANAGED, apps: APPS, waitMs: 150_000 });
  process.stdout.write(`# storm managed: ${JSON.stringify(r)}\n`);
  assert.ok(r.requestUpdates >= APPS * 0.95, `the restart resynced the agent (${r.requestUpdates} request-updates)`);
  assert.ok(r.requestUpdates <= r.objects, `${r.requestUpdates} request-updates for ${r.objects} objects`);
  assert.equal(r.requestUpdatesBack, 0, "the principal never sends a managed agent request-update");
  assert.ok(r.resent <= r.objects, `${r.resent} re-sends for ${r.objects} objects`);
});
