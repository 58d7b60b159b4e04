/**
 * API server faults (issue 13, items 4 and 5), with a TCP gate in front of a
 * real kube-apiserver playing "down" (connections refused, open ones reset):
 *
 * - a 30 s outage of the API server the copies are written to, while the
 *   originals change: the control plane (an autonomous agent's mirrors) or a
 *   managed agent's own. Every copy converges within 10 s of recovery; they
 *   used to wait for the peer's re-send backoff (15 s to minutes);
 * - an agent process started 30 s before its API server answers stays alive
 *   and unready (it used to exit after --informer-sync-timeout), then
 *   connects and replicates.
 */
import assert from "node:assert/strict";
import { setTimeout as sleep } from "node:timers/promises";
import { after, before, test } from "node:test";
import type { Application } from "../../src/kube/resources.ts";
import { freePort, start } from "../support/processes.ts";
import { startTcpGate, type TcpGate } from "../support/tcp-gate.ts";
import { apiOutage } from "./fault-scenarios.ts";
import { app, apps, AUTO, eventually, MANAGED, startHarness, type Harness } from "./replication-harness.ts";

const NS = "argocd";
const OUTAGE_MS = 30_000;
const RECOVERY_BOUND_MS = 10_000;
let h: Harness;
const gates: TcpGate[] = [];

before(async () => {
  h = await startHarness();
}, { timeout: 120_000 });

after(async () => {
  for (const g of gates) await g.stop();
  await h?.stop();
});

for (const [agent, down] of [[AUTO, "control-plane"], [MANAGED, "managed agent's"]] as const) {
  test(`a 30 s ${down} API outage converges within 10 s of recovery`, { timeout: 150_000 }, async () => {
    const r = await apiOutage(h, { agent, apps: 15, outageMs: OUTAGE_MS, waitMs: RECOVERY_BOUND_MS });
    process.stdout.write(`# outage ${down}: ${JSON.stringify(r)}\n`);
    assert.equal(r.lost, 0, `${r.lost} of 15 copies still stale ${RECOVERY_BOUND_MS / 1000} s after recovery`);
  });
}

test("an agent process started 30 s before its API server answers waits, then replicates", { timeout: 150_000 }, async () => {
  const gate = await startTcpGate(h.env.cluster(AUTO), { open: false });
  gates.push(gate);
  await h.startPrincipal();
  const healthz = await freePort();
  const agent = start([
    "agent", "--server-address", "127.0.0.1", "--server-port", String(h.port), "--insecure-plaintext",
    "--creds", `userpass:${h.credsFile(AUTO)}`, "--namespace", NS, "--agent-mode", "autonomous",
    "--kubeconfig", gate.kubeconfigPath, "--informer-sync-timeout", "10s",
    "--healthz-port", String(healthz), "--metrics-port", "0",
  ]);
  const probe = async (path: string) => (await fetch(`http://127.0.0.1:${healthz}${path}`).catch(() => undefined))?.status;
  let exitCode: number | null;
  try {
    await sleep(OUTAGE_MS);
    assert.equal(agent.proc.exitCode, null, `the agent exited while waiting for its API server:\n${agent.output()}`);
    assert.equal(await probe("/healthz"), 200, "alive while waiting");
    assert.equal(await probe("/readyz"), 503, "not ready while waiting");

    await gate.open();
    const opened = Date.now();
    await eventually("agent ready once its API server answers", async () => (await probe("/readyz")) === 200, 30_000);
    const readyAfterMs = Date.now() - opened;
    await apps(h.auto).create(app("late-api", NS) as Application);
    await eventually("app of the late agent mirrored", () => apps(h.cp).get(AUTO, "late-api"), 20_000);
    process.stdout.write(`# late API server: agent ready ${readyAfterMs} ms and app mirrored ${Date.now() - opened} ms after it answered\n`);
  } finally {
    exitCode = await agent.stop();
    await h.stopPrincipal();
  }
  assert.equal(exitCode, 0, `agent exit code; output:\n${agent.output().slice(-3000)}`);
});
