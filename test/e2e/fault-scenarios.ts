/**
 * Fault scenarios of issue 13 against the replication harness, shared by the
 * e2e tests (which assert) and bench/faults-replication.ts (which prints):
 *
 * - apiOutage: the API server the copies are written to is down while the
 *   originals change (control plane for an autonomous agent's mirrors, the
 *   agent's own for a managed agent); how long after recovery the copies
 *   converge, and how many did not.
 * - restartStorm: principal and agent restart with thousands of apps changed
 *   before and during the start; what the resync cost (request-updates per
 *   object, re-sends, memory).
 */
import { setTimeout as sleep } from "node:timers/promises";
import { EventTypes } from "../../src/events/event-types.ts";
import type { EventWriter } from "../../src/events/event-writer.ts";
import type { KubeClient } from "../support/kube-client.ts";
import type { Application } from "../../src/kube/resources.ts";
import { resyncStats } from "../../src/replication/principal/resync-stats.ts";
import { startTcpGate } from "../support/tcp-gate.ts";
import { app, apps, AUTO, eventually, MANAGED, pathOf, type Harness } from "./replication-harness.ts";

const NS = "argocd";

/** Runs `fn` over `items`, `width` at a time. */
async function inBatches<T>(items: T[], width: number, fn: (item: T) => Promise<unknown>): Promise<void> {
  for (let i = 0; i < items.length; i += width) await Promise.all(items.slice(i, i + width).map(fn));
}

/** Where an agent's apps are written (`source`) and where their copies land (`target`). */
interface Route {
  agent: typeof AUTO | typeof MANAGED;
  source: KubeClient;
  sourceNs: string;
  target: KubeClient;
  targetNs: string;
  /** kube-env cluster of `target`. */
  targetCluster: string;
}

function routeOf(h: Harness, agent: typeof AUTO | typeof MANAGED): Route {
  return agent === AUTO
    ? { agent, source: h.auto, sourceNs: NS, target: h.cp, targetNs: AUTO, targetCluster: "control-plane" }
    : { agent, source: h.cp, sourceNs: MANAGED, target: h.managed, targetNs: NS, targetCluster: MANAGED };
}

/** Source path of every app in `ns` whose name starts with `prefix`, by name. */
async function paths(k: KubeClient, ns: string, prefix = ""): Promise<Map<string, string | undefined>> {
  const items = (await apps(k).list(ns)).items.filter((a) => a.metadata.name!.startsWith(prefix));
  return new Map(items.map((a) => [a.metadata.name!, pathOf(a)]));
}

export interface OutageResult {
  /** Copies still stale when the wait ended. */
  lost: number;
  /** From the API server's return until every copy converged (or the wait ended). */
  convergedAfterMs: number;
}

export interface OutageOptions {
  /**
   * AUTO: the control plane is down (the principal cannot write the mirrors);
   * MANAGED: the managed agent's API server is down (it cannot write its apps).
   */
  agent: typeof AUTO | typeof MANAGED;
  apps: number;
  outageMs: number;
  waitMs: number;
  /** The originals change in this many waves spread over the outage (default 3). */
  waves?: number;
}

/**
 * The principal and `agent` must not be running; both are stopped at the end.
 * Changes come in waves, the last one 1/waves of the outage before recovery:
 * a write retried only by the peer's re-send backoff (5–10 s, then 20–40 s)
 * lands 15 s or more after recovery, one retried on the API server's return
 * within a second or two.
 */
export async function apiOutage(h: Harness, opts: OutageOptions): Promise<OutageResult> {
  const r = routeOf(h, opts.agent);
  const gate = await startTcpGate(h.env.cluster(r.targetCluster));
  const behindGate = { kubeconfig: gate.kubeconfigPath };
  try {
    await h.startPrincipal(r.agent === AUTO ? behindGate : {});
    await h.startAgent(r.agent, r.agent === MANAGED ? behindGate : {});
    const names = Array.from({ length: opts.apps }, (_, i) => `outage-${i}`);
    await inBatches(names, 50, (n) => apps(r.source).create(app(n, r.sourceNs) as Application));
    await eventually("copies before the outage", async () => {
      const copies = await paths(r.target, r.targetNs);
      return names.every((n) => copies.get(n) === "guestbook");
    }, 60_000);

    await gate.close();
    const closed = Date.now();
    const waves = opts.waves ?? 3;
    for (let w = 0; w < waves; w++) {
      await sleep(closed + (w * opts.outageMs) / waves - Date.now());
      const wave = names.filter((_, i) => i % waves === w);
      await inBatches(wave, 50, (n) => apps(r.source).patch(r.sourceNs, n, { spec: { source: { path: "during-outage" } } }));
    }
    await sleep(closed + opts.outageMs - Date.now());
    await gate.open();
    const recovered = Date.now();
    let stale = names.length;
    while (Date.now() - recovered < opts.waitMs) {
      const copies = await paths(r.target, r.targetNs);
      stale = names.filter((n) => copies.get(n) !== "during-outage").length;
      if (stale === 0) break;
      await sleep(100);
    }
    return { lost: stale, convergedAfterMs: Date.now() - recovered };
  } finally {
    await h.stopAgent(r.agent);
    await h.stopPrincipal();
    await gate.stop();
  }
}

export interface StormResult {
  /** Objects on either side after the restart (union of names). */
  objects: number;
  /**
   * request-update events sent in the restart's resync by the side that asks
   * (autonomous agent: the principal; managed agent: the agent).
   */
  requestUpdates: number;
  /** request-update events the other side sent (none expected). */
  requestUpdatesBack: number;
  /** Re-sends of unacknowledged events by the asking side. */
  resent: number;
  /** Resync rounds the principal started with the agent after the restart. */
  resyncRuns: number;
  convergedAfterMs: number;
  rssMiB: number;
}

function sameState(a: Map<string, string | undefined>, b: Map<string, string | undefined>): boolean {
  return a.size === b.size && [...a].every(([k, v]) => b.get(k) === v);
}

/** The principal and `agent` must not be running; they are left running (stats readable). */
export async function restartStorm(h: Harness, opts: { agent: typeof AUTO | typeof MANAGED; apps: number; waitMs: number }): Promise<StormResult> {
  const r = routeOf(h, opts.agent);
  const p = `storm-${opts.agent === AUTO ? "a" : "m"}`;
  await h.startPrincipal();
  await h.startAgent(r.agent);
  const names = Array.from({ length: opts.apps }, (_, i) => `${p}-${i}`);
  await inBatches(names, 50, (n) => apps(r.source).create(app(n, r.sourceNs) as Application));
  await eventually("all apps copied", async () => (await paths(r.target, r.targetNs, `${p}-`)).size === names.length, opts.waitMs);
  await h.stopAgent(r.agent);
  await h.stopPrincipal();

  // Changes while everything is down: 5 % changed, 2.5 % deleted, 2.5 % new.
  const n20 = Math.ceil(opts.apps / 20);
  await inBatches(names.slice(0, n20), 50, (n) => apps(r.source).patch(r.sourceNs, n, { spec: { source: { path: "while-down" } } }));
  await inBatches(names.slice(-n20 / 2), 50, (n) => apps(r.source).delete(r.sourceNs, n));
  await inBatches(Array.from({ length: n20 / 2 }, (_, i) => `${p}-new-${i}`), 50, (n) => apps(r.source).create(app(n, r.sourceNs) as Application));

  const runsBefore = resyncStats.runs.get(r.agent) ?? 0;
  const started = Date.now();
  const duringStart = inBatches(names.slice(n20, 2 * n20), 10, (n) => apps(r.source).patch(r.sourceNs, n, { spec: { source: { path: "during-start" } } }));
  await Promise.all([h.startPrincipal(), h.startAgent(r.agent), duringStart]);
  const state = (k: KubeClient, ns: string) => paths(k, ns, `${p}-`);
  await eventually("copies equal the originals", async () => sameState(await state(r.source, r.sourceNs), await state(r.target, r.targetNs)), opts.waitMs);
  const convergedAfterMs = Date.now() - started;
  const principalWriter = h.principal()!.server.registry.get(r.agent)!.writer;
  const agentWriter = h.agent(r.agent)!.connection.writer;
  const idle = (w: EventWriter) => {
    const b = w.backlog();
    return b.inFlight + b.unsent === 0;
  };
  await eventually("nothing left to send either way", () => idle(principalWriter) && idle(agentWriter), opts.waitMs);
  // Everything the resync covers (in the bench, also the outage scenario's apps).
  const objects = new Set([...(await paths(r.source, r.sourceNs)).keys(), ...(await paths(r.target, r.targetNs)).keys(), ...names]).size;
  const [asking, answering] = r.agent === AUTO ? [principalWriter, agentWriter] : [agentWriter, principalWriter];
  const requestUpdates = (w: EventWriter) => w.statsByType().get(EventTypes.requestUpdate)?.sent ?? 0;
  return {
    objects,
    requestUpdates: requestUpdates(asking),
    requestUpdatesBack: requestUpdates(answering),
    resent: asking.stats().resent,
    resyncRuns: (resyncStats.runs.get(r.agent) ?? 0) - runsBefore,
    convergedAfterMs,
    rssMiB: Math.round(process.memoryUsage().rss / 2 ** 20),
  };
}
