/**
 * --buffer-informer-event-interval end to end against real API servers: a
 * burst of changes to one Application on the agent's cluster reaches the
 * principal as at most two events (the first at once, the rest folded into
 * one when the window ends), and the principal ends with the last state.
 * Managed agent: status updates; autonomous agent: spec updates.
 */
import assert from "node:assert/strict";
import { after, before, test } from "node:test";
import type { Application } from "../../src/kube/resources.ts";
import { EventTypes } from "../../src/events/event-types.ts";
import { app, apps, AUTO, eventually, MANAGED, pathOf, startHarness, type Harness } from "./replication-harness.ts";

const WORKLOAD = "workload";
const AUTO_NS = "auto-home";
const WINDOW = "3s";
let h: Harness;

before(async () => {
  h = await startHarness({
    clusters: [WORKLOAD],
    agents: { [MANAGED]: { cluster: WORKLOAD, mode: "managed" }, [AUTO]: { cluster: WORKLOAD, mode: "autonomous" } },
  });
  await h.startPrincipal();
  await h.startAgent(MANAGED, { bufferInformerEventInterval: WINDOW });
  await h.startAgent(AUTO, { namespace: AUTO_NS, bufferInformerEventInterval: WINDOW });
}, { timeout: 120_000 });

after(async () => {
  await h?.stop();
});

const wl = () => h.kube(WORKLOAD);
/** First transmissions of one event type by an agent so far. */
const sent = (agent: string, type: string) => h.agent(agent)!.connection.writer.statsByType().get(type)?.sent ?? 0;

test("autonomous agent: a burst of spec edits reaches the principal as at most two spec-updates, ending in the last", { timeout: 60_000 }, async () => {
  await apps(wl()).create(app("burst", AUTO_NS, "v0") as Application);
  await eventually("mirror created", () => apps(h.cp).get(AUTO, "burst"));
  const before = sent(AUTO, EventTypes.specUpdate);
  for (let i = 1; i <= 6; i++) await apps(wl()).patch(AUTO_NS, "burst", { spec: { source: { path: `v${i}` } } });
  await eventually("first edit on the principal at once", async () => pathOf(await apps(h.cp).get(AUTO, "burst")) !== "v0");
  await eventually("last edit on the principal after the window", async () => pathOf(await apps(h.cp).get(AUTO, "burst")) === "v6", 15_000);
  const n = sent(AUTO, EventTypes.specUpdate) - before;
  assert.ok(n >= 1 && n <= 2, `6 edits inside one ${WINDOW} window were sent as ${n} spec-updates`);
  assert.ok((h.agent(AUTO)!.replication?.throttle?.coalesced ?? 0) >= 4, "the held edits were folded");
});

test("managed agent: a burst of status changes reaches the principal as at most two status-updates, ending in the last", { timeout: 60_000 }, async () => {
  await apps(h.cp).create(app("status-burst", MANAGED) as Application);
  await eventually("on the agent", () => apps(wl()).get("argocd", "status-burst"));
  const before = sent(MANAGED, EventTypes.statusUpdate);
  for (let i = 1; i <= 6; i++) {
    const cur = (await apps(wl()).get("argocd", "status-burst"))!;
    await apps(wl()).updateStatus({ ...cur, status: { sync: { status: "OutOfSync", revision: `r${i}` } } });
  }
  const revision = (a: Application | undefined) => (a?.status?.["sync"] as { revision?: string } | undefined)?.revision;
  await eventually("last status on the principal after the window", async () => revision(await apps(h.cp).get(MANAGED, "status-burst")) === "r6", 15_000);
  const n = sent(MANAGED, EventTypes.statusUpdate) - before;
  assert.ok(n >= 1 && n <= 2, `6 status changes inside one ${WINDOW} window were sent as ${n} status-updates`);
  // A deletion is not held back by the window.
  await apps(h.cp).delete(MANAGED, "status-burst");
  await eventually("deleted on the agent", async () => !(await apps(wl()).get("argocd", "status-burst")));
});
