/**
 * Fault scenarios of issue 13 against the replication harness, shared by the
 * e2e tests (which assert) and bench/faults-replication.ts (which prints):
 *
 * - apiOutage: the principal's API server is down while an autonomous
 *   agent's apps change; how long after recovery the mirrors converge.
 * - restartStorm: principal and agent restart with thousands of apps changed
 *   before and during the start; what the resync cost (request-updates per
 *   object, re-sends, memory).
 */
import { setTimeout as sleep } from "node:timers/promises";
import { EventTypes } from "../../src/events/event-types.ts";
import type { Application } from "../../src/kube/resources.ts";
import { resyncStats } from "../../src/replication/principal/resync-stats.ts";
import { startTcpGate } from "../support/tcp-gate.ts";
import { app, apps, AUTO, eventually, pathOf, type Harness } from "./replication-harness.ts";

const NS = "argocd";

/** Runs `fn` over `items`, `width` at a time. */
async function inBatches<T>(items: T[], width: number, fn: (item: T) => Promise<unknown>): Promise<void> {
  for (let i = 0; i < items.length; i += width) await Promise.all(items.slice(i, i + width).map(fn));
}

export interface OutageResult {
  /** Mirrors still stale when the wait ended. */
  lost: number;
  /** From the API server's return until every mirror converged (or the wait ended). */
  convergedAfterMs: number;
}

/** Principal (behind a gate) + AUTO must not be running; both are stopped at the end. */
export async function apiOutage(h: Harness, opts: { apps: number; outageMs: number; waitMs: number }): Promise<OutageResult> {
  const gate = await startTcpGate(h.env.cluster("control-plane"));
  try {
    await h.startPrincipal({ kubeconfig: gate.kubeconfigPath });
    await h.startAgent(AUTO);
    const names = Array.from({ length: opts.apps }, (_, i) => `outage-${i}`);
    await inBatches(names, 50, (n) => apps(h.auto).create(app(n, NS) as Application));
    const mirrorPaths = async () => Promise.all(names.map(async (n) => pathOf(await apps(h.cp).get(AUTO, n))));
    await eventually("mirrors before the outage", async () => (await mirrorPaths()).every(Boolean), 60_000);

    await gate.close();
    await inBatches(names, 50, (n) => apps(h.auto).patch(NS, n, { spec: { source: { path: "during-outage" } } }));
    await sleep(opts.outageMs);
    if ((await mirrorPaths()).some((p) => p === "during-outage")) throw new Error("the gate did not keep the principal from its API server");

    await gate.open();
    const recovered = Date.now();
    let stale = names.length;
    while (Date.now() - recovered < opts.waitMs) {
      stale = (await mirrorPaths()).filter((p) => p !== "during-outage").length;
      if (stale === 0) break;
      await sleep(100);
    }
    return { lost: stale, convergedAfterMs: Date.now() - recovered };
  } finally {
    await h.stopAgent(AUTO);
    await h.stopPrincipal();
    await gate.stop();
  }
}

export interface StormResult {
  /** Objects on either side after the restart (union of names). */
  objects: number;
  /** request-update events the principal sent the agent (first transmissions). */
  requestUpdates: number;
  /** Re-sends of unacknowledged events by the principal to the agent. */
  resent: number;
  /** Resync rounds started, skipped while running, duplicates acked only. */
  resyncRuns: number;
  convergedAfterMs: number;
  rssMiB: number;
}

const mirrorState = async (h: Harness) => new Map((await apps(h.cp).list(AUTO)).items.map((a) => [a.metadata.name!, pathOf(a)]));
const agentState = async (h: Harness) => new Map((await apps(h.auto).list(NS)).items.map((a) => [a.metadata.name!, pathOf(a)]));

function sameState(a: Map<string, string | undefined>, b: Map<string, string | undefined>): boolean {
  return a.size === b.size && [...a].every(([k, v]) => b.get(k) === v);
}

/** Principal and AUTO must not be running; they are left running (stats readable). */
export async function restartStorm(h: Harness, opts: { apps: number; waitMs: number }): Promise<StormResult> {
  const quiet = { logLevel: "warn" };
  await h.startPrincipal(quiet);
  await h.startAgent(AUTO, quiet);
  const names = Array.from({ length: opts.apps }, (_, i) => `storm-${i}`);
  await inBatches(names, 50, (n) => apps(h.auto).create(app(n, NS) as Application));
  await eventually("all apps mirrored", async () => (await apps(h.cp).list(AUTO)).items.length === names.length, opts.waitMs);
  await h.stopAgent(AUTO);
  await h.stopPrincipal();

  // Changes while everything is down: 5 % changed, 2.5 % deleted, 2.5 % new.
  const n20 = Math.ceil(opts.apps / 20);
  await inBatches(names.slice(0, n20), 50, (n) => apps(h.auto).patch(NS, n, { spec: { source: { path: "while-down" } } }));
  await inBatches(names.slice(-n20 / 2), 50, (n) => apps(h.auto).delete(NS, n));
  await inBatches(Array.from({ length: n20 / 2 }, (_, i) => `storm-new-${i}`), 50, (n) => apps(h.auto).create(app(n, NS) as Application));

  const started = Date.now();
  const duringStart = inBatches(names.slice(n20, 2 * n20), 10, (n) => apps(h.auto).patch(NS, n, { spec: { source: { path: "during-start" } } }));
  await Promise.all([h.startPrincipal(quiet), h.startAgent(AUTO, quiet), duringStart]);
  await eventually("mirrors equal the agent's apps", async () => sameState(await agentState(h), await mirrorState(h)), opts.waitMs);
  const convergedAfterMs = Date.now() - started;
  const writer = h.principal()!.server.registry.get(AUTO)!.writer;
  await eventually("principal has nothing left to send the agent", () => {
    const b = writer.backlog();
    return b.inFlight + b.unsent === 0;
  }, opts.waitMs);
  const objects = new Set([...(await agentState(h)).keys(), ...(await mirrorState(h)).keys(), ...names]).size;
  const byType = writer.statsByType();
  return {
    objects,
    requestUpdates: byType.get(EventTypes.requestUpdate)?.sent ?? 0,
    resent: writer.stats().resent,
    resyncRuns: resyncStats.runs.get(AUTO) ?? 0,
    convergedAfterMs,
    rssMiB: Math.round(process.memoryUsage().rss / 2 ** 20),
  };
}
