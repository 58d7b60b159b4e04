/**
 * The footprint scenarios, each returning plain figures for one run of one
 * variant (no pass/fail):
 *   - exec: a command run to completion (`node -e 0`, `version`): CPU, wall, peak RSS;
 *   - fleet: principal start → ready (CPU, wall), then its RSS with 0 agents and
 *     with each level of simulated agents (bench/scale/fleet.ts: one HTTP/2
 *     connection each, header auth, heartbeats every 30 s);
 *   - pair: a principal and one real managed agent (bench/replication.ts's
 *     flags) on real API servers: agent start → connected, both RSS idle, then
 *     N Applications created and each updated once on the control plane (the
 *     burst); RSS from 5 s and from 15 s after the last update is visible on the
 *     agent (median of 2 s of samples, as every RSS figure here).
 *
 * @example
 *   const figures = await pairRun(ctx, variant); // { agentIdle: ProcSample, agentAfterBurst, … }
 */
import { setTimeout as sleep } from "node:timers/promises";
import { applications, ensureNamespace } from "../../src/kube/crud.ts";
import type { KubeClient } from "../../src/kube/client.ts";
import { applicationInformer } from "../../src/kube/informer.ts";
import type { Application } from "../../src/kube/resources.ts";
import { freePort } from "../../test/support/processes.ts";
import { Fleet } from "../scale/fleet.ts";
import { agentArgs, fleetPrincipalArgs, pairPrincipalArgs, startReady, type Variant } from "./components.ts";
import { runToExit, settledSample, type ExitRun, type ProcSample } from "./proc.ts";

export interface Ctx {
  cp: KubeClient;
  cpKubeconfig: string;
  agentCluster: KubeClient;
  agentKubeconfig: string;
  passwd: string;
  jwtKey: string;
  creds: string;
  settleMs: number;
  log(msg: string): void;
}

export const AGENT = "agent-managed";

export async function execRun(bin: string, args: string[], env?: NodeJS.ProcessEnv): Promise<ExitRun> {
  const r = await runToExit(bin, args, env);
  if (r.code !== 0) throw new Error(`${bin} ${args.join(" ")} exited ${r.code}`);
  return r;
}

export interface FleetFigures {
  readyMs: number;
  readyCpuSeconds: number;
  /** RSS by number of connected simulated agents (0 first). */
  byAgents: { agents: number; sample: ProcSample }[];
}

export async function fleetRun(ctx: Ctx, v: Variant, levels: number[]): Promise<FleetFigures> {
  const ports = { grpc: await freePort(), healthz: await freePort() };
  const p = await startReady(v, fleetPrincipalArgs(ports, ctx.cpKubeconfig, ctx.jwtKey), ports.healthz);
  const fleet = new Fleet({ host: "127.0.0.1", port: ports.grpc, heartbeatMs: 30_000, rampConcurrency: 64 });
  fleet.agentOptions = { managedResync: true };
  try {
    const byAgents: FleetFigures["byAgents"] = [];
    for (const n of [0, ...levels]) {
      if (n > fleet.size) await fleet.grow(n);
      await sleep(ctx.settleMs);
      const sample = await settledSample(p.pid);
      byAgents.push({ agents: n, sample });
      ctx.log(`  ${v.label}: principal with ${n} agents: RSS ${mib(sample.rss)} MiB (anon ${mib(sample.rssAnon)})`);
    }
    return { readyMs: p.readyMs, readyCpuSeconds: p.readyCpuSeconds, byAgents };
  } finally {
    await fleet.shrink(0);
    await p.running.stop("SIGTERM");
  }
}

export interface PairFigures {
  principalReadyMs: number;
  principalReadyCpuSeconds: number;
  agentReadyMs: number;
  agentReadyCpuSeconds: number;
  agentIdle: ProcSample;
  principalIdle: ProcSample;
  agentAfterBurst: ProcSample;
  principalAfterBurst: ProcSample;
  /** The same, 15 s after the burst. */
  agentLater: ProcSample;
  principalLater: ProcSample;
  /** Seconds from the first update written to the last one visible on the agent. */
  burstSeconds: number;
}

function app(name: string, path: string): Application {
  return {
    metadata: { name, namespace: AGENT },
    spec: {
      project: "default",
      source: { repoURL: "https://example.invalid/repo.git", path, targetRevision: "HEAD" },
      destination: { server: "https://kubernetes.default.svc", namespace: "guestbook" },
    },
  } as Application;
}

async function pool<T>(items: T[], n: number, fn: (x: T) => Promise<unknown>): Promise<void> {
  let i = 0;
  await Promise.all(Array.from({ length: Math.min(n, items.length) }, async () => {
    while (i < items.length) await fn(items[i++]!);
  }));
}

async function until(what: string, cond: () => boolean, timeoutMs = 180_000): Promise<void> {
  const end = Date.now() + timeoutMs;
  while (!cond()) {
    if (Date.now() > end) throw new Error(`timed out: ${what}`);
    await sleep(50);
  }
}

const pathOf = (a: Application) => (a.spec["source"] as { path?: string } | undefined)?.path;

export async function pairRun(ctx: Ctx, v: Variant, updates: number): Promise<PairFigures> {
  await ensureNamespace(ctx.cp, AGENT);
  const onAgent = applicationInformer(ctx.agentCluster, { namespace: "argocd" });
  const stopInformer = new AbortController();
  void onAgent.run(stopInformer.signal);
  await onAgent.waitForSync(AbortSignal.timeout(60_000));
  const grpc = await freePort();
  const pPorts = { grpc, healthz: await freePort() };
  const principal = await startReady(v, pairPrincipalArgs(pPorts, ctx.cpKubeconfig, ctx.jwtKey, ctx.passwd), pPorts.healthz);
  const agentHealthz = await freePort();
  let agent: Awaited<ReturnType<typeof startReady>> | undefined;
  const names = Array.from({ length: updates }, (_, i) => `fp-${i}`);
  const cpApps = applications(ctx.cp);
  try {
    agent = await startReady(v, agentArgs(grpc, agentHealthz, ctx.agentKubeconfig, ctx.creds), agentHealthz);
    await sleep(ctx.settleMs);
    const [agentIdle, principalIdle] = await Promise.all([settledSample(agent.pid), settledSample(principal.pid)]);
    ctx.log(`  ${v.label}: agent idle RSS ${mib(agentIdle.rss)} MiB, principal ${mib(principalIdle.rss)} MiB; creating ${updates} Applications`);
    await pool(names, 32, (n) => cpApps.create(app(n, "v1")));
    await until(`${updates} Applications on the agent`, () => onAgent.list().length >= updates);
    const t0 = performance.now();
    await pool(names, 32, (n) => cpApps.patch(AGENT, n, { spec: { source: { path: "v2" } } }));
    await until(`${updates} updates on the agent`, () => onAgent.list().filter((a) => pathOf(a) === "v2").length >= updates);
    const burstSeconds = (performance.now() - t0) / 1000;
    await sleep(5000);
    const [agentAfterBurst, principalAfterBurst] = await Promise.all([settledSample(agent.pid), settledSample(principal.pid)]);
    await sleep(8000);
    const [agentLater, principalLater] = await Promise.all([settledSample(agent.pid), settledSample(principal.pid)]);
    ctx.log(`  ${v.label}: ${updates} updates in ${burstSeconds.toFixed(1)} s; 5 s later agent RSS ${mib(agentAfterBurst.rss)} MiB (peak ${mib(agentAfterBurst.hwm)}), principal ${mib(principalAfterBurst.rss)} MiB; 15 s later ${mib(agentLater.rss)} / ${mib(principalLater.rss)} MiB`);
    return {
      principalReadyMs: principal.readyMs, principalReadyCpuSeconds: principal.readyCpuSeconds,
      agentReadyMs: agent.readyMs, agentReadyCpuSeconds: agent.readyCpuSeconds,
      agentIdle, principalIdle, agentAfterBurst, principalAfterBurst, agentLater, principalLater, burstSeconds,
    };
  } finally {
    await agent?.running.stop("SIGTERM");
    await principal.running.stop("SIGTERM");
    // Clean both clusters directly (nothing replicates now), so the next run starts empty.
    const agentApps = applications(ctx.agentCluster);
    await pool((await cpApps.list(AGENT)).items.map((a) => a.metadata.name!), 32, (n) => cpApps.delete(AGENT, n).catch(() => undefined));
    await pool(onAgent.list().map((a) => a.metadata.name!), 32, (n) => agentApps.delete("argocd", n).catch(() => undefined));
    await until("agent cluster empty", () => onAgent.list().length === 0, 60_000).catch(() => undefined);
    stopInformer.abort();
  }
}

export const mib = (bytes: number): string => (bytes / 1048576).toFixed(1);
