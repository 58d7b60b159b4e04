/**
 * API server faults (issue 13, items 4 and 5), with a TCP gate in front of a
 * real kube-apiserver playing "down" (connections refused, open ones reset):
 *
 * - a 30 s control-plane outage while an autonomous agent's apps change: the
 *   mirrors converge within 10 s of recovery (they used to wait for the
 *   agent's re-send backoff, ~150 s);
 * - an agent started 30 s before its API server answers stays alive (it used
 *   to exit after --informer-sync-timeout) and replicates once it does.
 */
import assert from "node:assert/strict";
import { setTimeout as sleep } from "node:timers/promises";
import { after, before, test } from "node:test";
import type { Application } from "../../src/kube/resources.ts";
import { startTcpGate, type TcpGate } from "../support/tcp-gate.ts";
import { apiOutage } from "./fault-scenarios.ts";
import { app, apps, AUTO, eventually, startHarness, type Harness } from "./replication-harness.ts";

const NS = "argocd";
const OUTAGE_MS = 30_000;
let h: Harness;
const gates: TcpGate[] = [];

before(async () => {
  h = await startHarness({ agents: { [AUTO]: { cluster: AUTO, mode: "autonomous" } } });
}, { timeout: 120_000 });

after(async () => {
  for (const g of gates) await g.stop();
  await h?.stop();
});

test("a 30 s control-plane API outage converges within 10 s of recovery", { timeout: 150_000 }, async () => {
  const r = await apiOutage(h, { apps: 14, outageMs: OUTAGE_MS, waitMs: 10_000 });
  assert.equal(r.lost, 0, `${r.lost} of 14 mirrors still stale 10 s after recovery`);
  assert.ok(r.convergedAfterMs <= 10_000, `converged ${r.convergedAfterMs} ms after recovery`);
});

test("an agent started 30 s before its API server answers waits, then replicates", { timeout: 150_000 }, async () => {
  const gate = await startTcpGate(h.env.cluster(AUTO), { open: false });
  gates.push(gate);
  await h.startPrincipal();
  try {
    await lateAgent(gate);
  } finally {
    await h.stopAgent(AUTO);
    await h.stopPrincipal();
  }
});

async function lateAgent(gate: TcpGate): Promise<void> {
  let settled: "pending" | "started" | Error = "pending";
  const starting = h.startAgent(AUTO, { kubeconfig: gate.kubeconfigPath, informerSyncTimeout: "10s" }).then(
    () => (settled = "started"),
    (err: Error) => (settled = err),
  );
  await sleep(30_000);
  assert.equal(settled, "pending", `agent must still be waiting for its API server (got ${String(settled)})`);

  await gate.open();
  await starting;
  assert.equal(settled, "started", `agent started once its API server answered (got ${String(settled)})`);
  await apps(h.auto).create(app("late-api", NS) as Application);
  await eventually("app of the late agent mirrored", () => apps(h.cp).get(AUTO, "late-api"), 20_000);
}
