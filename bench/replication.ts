#!/usr/bin/env node
/**
 * Replication benchmark against real API servers (test/support/kube-env.ts:
 * etcd + one kube-apiserver per cluster). The principal and two agents
 * (managed, autonomous) run as child processes from source, logging at warn;
 * this process only writes Applications and watches for them with informers.
 *
 * Figures (each run starts fresh processes; the kube env is shared):
 *   1. create → visible latency, principal → managed agent (p50/p99), creates paced at --pace/s
 *   2. create → visible latency, autonomous agent → principal mirror (p50/p99)
 *   3. sustained updates/s for one agent: --apps Applications exist on the
 *      agent; each is updated once on the control plane (--writers in
 *      parallel); measured from the first write until every update is
 *      visible on the agent; compared with the control plane's write ceiling
 *      (the same patches with nothing replicating, measured in the same run)
 *   3b. catch-up for one agent: the managed agent is stopped, every app
 *      changes, the agent reconnects; time until all changes are applied
 *      (the replication path alone, not bounded by this process's writes)
 *   4. resync after a principal restart: the same --apps Applications are
 *      changed while the principal is down; time from its restart until all
 *      changes are on the agent (and nothing was deleted)
 * Upstream's measured figure is about 10 events/s per agent; target ≥ 200/s.
 *
 * Prints a markdown table (median of --runs) and writes bench/results/replication.json.
 * Usage: npm run bench:replication [-- --runs 2 --apps 1000 --samples 100]
 */
import { mkdirSync, mkdtempSync, readdirSync, readFileSync, rmSync, writeFileSync } from "node:fs";
import { cpus, tmpdir } from "node:os";
import { join } from "node:path";
import { parseArgs } from "node:util";
import { setTimeout as sleep } from "node:timers/promises";
import { bcryptHash } from "../src/auth/bcrypt.ts";
import { createKubeClient, type KubeClient } from "../test/support/kube-client.ts";
import { applications, ensureNamespace } from "../src/kube/crud.ts";
import { applicationInformer, type Informer } from "../src/kube/informer.ts";
import type { Application } from "../src/kube/resources.ts";
import { configureLogging } from "../src/observability/log.ts";
import { startKubeEnv, type KubeEnv } from "../test/support/kube-env.ts";
import { freePort, ROOT, start, type Running } from "../test/support/processes.ts";

const { values: args } = parseArgs({
  options: {
    runs: { type: "string", default: "2" },
    apps: { type: "string", default: "1000" },
    samples: { type: "string", default: "100" },
    pace: { type: "string", default: "20" },
    writers: { type: "string", default: "96" },
    out: { type: "string", default: join(ROOT, "bench/results") },
    help: { type: "boolean", short: "h", default: false },
  },
});
if (args.help) {
  process.stdout.write("node bench/replication.ts [--runs 2] [--apps 1000] [--samples 100] [--pace 20] [--writers 96] [--out bench/results]\n");
  process.exit(0);
}
const RUNS = Number(args.runs);
const APPS = Number(args.apps);
const SAMPLES = Number(args.samples);
const PACE = Number(args.pace);
const WRITERS = Number(args.writers);
const DEADLINE_MS = 180_000; // per wait: the bench is bounded even when replication is broken

configureLogging({ defaultLevel: "error" });

const MANAGED = "agent-managed";
const AUTO = "agent-auto";
const NS = "argocd";

// ---------------------------------------------------------------- helpers

function percentile(xs: number[], p: number): number {
  const s = [...xs].sort((a, b) => a - b);
  return s[Math.min(s.length - 1, Math.max(0, Math.ceil((p / 100) * s.length) - 1))]!;
}
/** The middle value; the mean of the two middle values for an even count. */
function median(xs: number[]): number {
  const s = [...xs].sort((a, b) => a - b);
  const m = Math.floor(s.length / 2);
  return s.length % 2 ? s[m]! : (s[m - 1]! + s[m]!) / 2;
}
const round = (x: number, d = 1): number => Math.round(x * 10 ** d) / 10 ** d;

function appObject(name: string, namespace: string, path: string): Application {
  return {
    metadata: { name, namespace },
    spec: {
      project: "default",
      source: { repoURL: "https://example.invalid/repo.git", path, targetRevision: "HEAD" },
      destination: { server: "https://kubernetes.default.svc", namespace: "guestbook" },
      syncPolicy: { automated: { prune: true, selfHeal: true } },
    },
  } as Application;
}
const pathOf = (a: Application): string | undefined => (a.spec["source"] as { path?: string } | undefined)?.path;

/** Runs `fn` over `items` with at most `n` in flight. */
async function pool<T>(items: T[], n: number, fn: (x: T) => Promise<void>): Promise<void> {
  let i = 0;
  await Promise.all(Array.from({ length: Math.min(n, items.length) }, async () => {
    while (i < items.length) await fn(items[i++]!);
  }));
}

/** An informer that resolves "when does object X first satisfy P" with the time it was observed. */
class Watcher {
  readonly informer: Informer<Application>;
  private readonly waiters = new Map<string, { pred: (a: Application | undefined) => boolean; resolve: (t: number) => void }[]>();
  private readonly controller = new AbortController();
  private readonly namespace: string;

  constructor(kube: KubeClient, namespace: string) {
    this.namespace = namespace;
    this.informer = applicationInformer(kube, { namespace });
    const check = (a: Application | undefined, name: string) => {
      const ws = this.waiters.get(name);
      if (!ws) return;
      const now = performance.now();
      const left = ws.filter((w) => {
        if (!w.pred(a)) return true;
        w.resolve(now);
        return false;
      });
      if (left.length) this.waiters.set(name, left);
      else this.waiters.delete(name);
    };
    this.informer.addHandlers({
      onAdd: (a) => check(a, a.metadata.name!),
      onUpdate: (_o, a) => check(a, a.metadata.name!),
      onDelete: (a) => check(undefined, a.metadata.name!),
    });
    void this.informer.run(this.controller.signal);
  }

  async ready(): Promise<void> {
    await this.informer.waitForSync(AbortSignal.timeout(60_000));
  }

  /** performance.now() when `name` first satisfies `pred` (now, if it already does). */
  when(name: string, pred: (a: Application | undefined) => boolean): Promise<number> {
    if (pred(this.informer.get(this.namespace, name))) return Promise.resolve(performance.now());
    return new Promise((resolve) => {
      const ws = this.waiters.get(name) ?? [];
      ws.push({ pred, resolve });
      this.waiters.set(name, ws);
    });
  }

  count(pred: (a: Application) => boolean = () => true): number {
    return this.informer.list().filter(pred).length;
  }

  close(): void {
    this.controller.abort();
  }
}

function withDeadline<T>(p: Promise<T>, what: string, ms = DEADLINE_MS): Promise<T> {
  let timer: NodeJS.Timeout;
  return Promise.race([
    p.finally(() => clearTimeout(timer)),
    new Promise<never>((_, reject) => (timer = setTimeout(() => reject(new Error(`timed out after ${ms} ms: ${what}`)), ms))),
  ]);
}

async function httpOk(port: number, path: string): Promise<boolean> {
  try {
    const res = await fetch(`http://127.0.0.1:${port}${path}`, { signal: AbortSignal.timeout(1000) });
    return res.status === 200;
  } catch {
    return false;
  }
}

async function waitHttp(port: number, path: string, what: string, proc: Running): Promise<void> {
  const deadline = Date.now() + 60_000;
  while (!(await httpOk(port, path))) {
    if (proc.proc.exitCode !== null) throw new Error(`${what} exited:\n${proc.output().slice(-3000)}`);
    if (Date.now() > deadline) throw new Error(`${what} not ready:\n${proc.output().slice(-3000)}`);
    await sleep(50);
  }
}

// ---------------------------------------------------------------- CPU accounting

interface CpuSample {
  role: string;
  seconds: number;
}

/** CPU seconds (user+system) of this process and each child, by pid, with a short role name. */
function cpuByRole(roles: Map<number, string>): Map<number, CpuSample> {
  const out = new Map<number, CpuSample>();
  for (const pid of [process.pid, ...childPids()]) {
    try {
      const stat = readFileSync(`/proc/${pid}/stat`, "utf8");
      const f = stat.slice(stat.lastIndexOf(")") + 2).split(" ");
      const ticks = Number(f[11]) + Number(f[12]);
      const cmd = readFileSync(`/proc/${pid}/cmdline`, "utf8");
      const role = pid === process.pid ? "bench (writes, watches)" : roles.get(pid) ?? (cmd.includes("kube-apiserver") ? "kube-apiservers (3)" : cmd.includes("etcd") ? "etcd" : "other");
      out.set(pid, { role, seconds: ticks / 100 });
    } catch {
      // exited
    }
  }
  return out;
}

function childPids(): number[] {
  const out: number[] = [];
  for (const d of readdirSync("/proc")) {
    if (!/^\d+$/.test(d)) continue;
    try {
      const stat = readFileSync(`/proc/${d}/stat`, "utf8");
      const ppid = Number(stat.slice(stat.lastIndexOf(")") + 2).split(" ")[1]);
      if (ppid === process.pid) out.push(Number(d));
    } catch {
      // gone
    }
  }
  return out;
}

/** CPU used between two samples, by role; a process started in between counts from zero, one that exited is not counted. */
function cpuDelta(a: Map<number, CpuSample>, b: Map<number, CpuSample>): Record<string, number> {
  const out: Record<string, number> = {};
  for (const [pid, { role, seconds }] of b) out[role] = round((out[role] ?? 0) + seconds - (a.get(pid)?.seconds ?? 0), 2);
  return out;
}

/** apiserver_request_total by verb+resource (diagnostics: BENCH_APISERVER_METRICS=1). */
async function apiRequests(kube: KubeClient): Promise<Map<string, number>> {
  const text = await kube.core.getAPIResources().then(() => undefined, () => undefined).then(async () => {
    const { RequestContext, HttpMethod } = await import("@kubernetes/client-node");
    const { fetch } = await import("undici");
    const ctx = new RequestContext(`${kube.server}/metrics`, HttpMethod.GET);
    await kube.kubeConfig.applySecurityAuthentication(ctx);
    const res = await fetch(ctx.getUrl(), { headers: ctx.getHeaders(), dispatcher: ctx.getDispatcher() as never });
    return res.text();
  });
  const out = new Map<string, number>();
  for (const line of text.split("\n")) {
    if (!line.startsWith("apiserver_request_total{")) continue;
    const verb = /verb="([^"]*)"/.exec(line)?.[1];
    const resource = /resource="([^"]*)"/.exec(line)?.[1];
    const code = /code="([^"]*)"/.exec(line)?.[1];
    const k = `${verb}:${resource}:${code}`;
    out.set(k, (out.get(k) ?? 0) + Number(line.slice(line.lastIndexOf(" ") + 1)));
  }
  return out;
}

// ---------------------------------------------------------------- processes

interface Setup {
  /** pid → role of the processes we started. */
  roles: Map<number, string>;
  env: KubeEnv;
  tmp: string;
  cp: KubeClient;
  managed: KubeClient;
  auto: KubeClient;
  grpcPort: number;
}

/** NODE_OPTIONS passes through (e.g. --cpu-prof for profiling the components). */
const childEnv = (): Record<string, string> => (process.env["NODE_OPTIONS"] ? { NODE_OPTIONS: process.env["NODE_OPTIONS"] } : {});

async function startPrincipalProc(s: Setup): Promise<Running> {
  const healthz = await freePort();
  const p = start([
    "principal", "--namespace", "argocd", "--listen-host", "127.0.0.1", "--listen-port", String(s.grpcPort), "--insecure-plaintext",
    "--auth", `userpass:${join(s.tmp, "passwd")}`, "--insecure-jwt-generate", "--healthz-port", String(healthz), "--metrics-port", "0",
    "--kubeconfig", s.env.cluster("control-plane").kubeconfigPath, "--allowed-namespaces", "agent-*", "--log-level", process.env["BENCH_PRINCIPAL_LOG_LEVEL"] ?? "warn", "--enable-resource-proxy=false", "--disable-redis-proxy=true",
  ], childEnv());
  s.roles.set(p.proc.pid!, "principal");
  await waitHttp(healthz, "/readyz", "principal", p);
  return p;
}

/** Agent health ports by process (200 only while connected to the principal). */
const agentHealthz = new WeakMap<Running, number>();

async function startAgentProc(s: Setup, name: string, mode: "managed" | "autonomous"): Promise<Running> {
  const healthz = await freePort();
  const p = start([
    "agent", "--server-address", "127.0.0.1", "--server-port", String(s.grpcPort), "--insecure-plaintext",
    "--creds", `userpass:${join(s.tmp, `creds-${name}`)}`, "--namespace", NS, "--agent-mode", mode,
    "--kubeconfig", s.env.cluster(name).kubeconfigPath, "--healthz-port", String(healthz), "--metrics-port", "0", "--log-level", process.env["BENCH_AGENT_LOG_LEVEL"] ?? "warn",
  ], childEnv());
  s.roles.set(p.proc.pid!, `agent (${mode})`);
  agentHealthz.set(p, healthz);
  await waitHttp(healthz, "/readyz", `agent ${name}`, p); // 200 only while connected
  return p;
}

// ---------------------------------------------------------------- scenarios

interface RunFigures {
  p2aP50: number;
  p2aP99: number;
  a2pP50: number;
  a2pP99: number;
  /** Seconds to create APPS apps on the control plane and see them all on the agent. */
  bulkCreateS: number;
  updatesPerS: number;
  /** The same APPS patches to the control plane with no principal or agent running: what this machine accepts at most. */
  ceilingPerS: number;
  /** updatesPerS / ceilingPerS, in percent. */
  ofCeilingPct: number;
  updateWriteS: number;
  updateTotalS: number;
  /** Catch-up: seconds from the managed agent's reconnect until all APPS changes made while it was away are applied. */
  catchupS: number;
  catchupPerS: number;
  resyncReadyS: number;
  /** Principal start → the managed agent connected again (its reconnect backoff). */
  resyncReconnectS: number;
  resyncTotalS: number;
  resyncApplyS: number;
  lostAfterResync: number;
  /** CPU seconds per process in the live-update, catch-up and resync phases. */
  cpu: { updates: Record<string, number>; catchup: Record<string, number>; resync: Record<string, number> };
}

async function paced<T>(n: number, perSecond: number, fn: (i: number) => Promise<T>): Promise<T[]> {
  const out: Promise<T>[] = [];
  const t0 = performance.now();
  for (let i = 0; i < n; i++) {
    const due = t0 + (i * 1000) / perSecond;
    const wait = due - performance.now();
    if (wait > 0) await sleep(wait);
    out.push(fn(i));
  }
  return Promise.all(out);
}

/**
 * The control plane's write ceiling on this machine right now: APPS apps in a
 * namespace nobody replicates, each patched once by the same writer pool,
 * with no principal or agent running. Sustained replication can at best
 * match it (every replicated update is this write plus the agent's).
 */
async function writeCeiling(s: Setup, prefix: string): Promise<number> {
  const ns = "bench-ceiling";
  await ensureNamespace(s.cp, ns);
  const cpApps = applications(s.cp);
  const names = Array.from({ length: APPS }, (_, i) => `${prefix}-ceiling-${i}`);
  await pool(names, WRITERS, async (n) => void (await cpApps.create(appObject(n, ns, "v1"))));
  const t0 = performance.now();
  await pool(names, WRITERS, async (n) => void (await cpApps.patch(ns, n, { spec: { source: { path: "v2" } } })));
  const perS = APPS / ((performance.now() - t0) / 1000);
  await pool(names, WRITERS, async (n) => void (await cpApps.delete(ns, n).catch(() => undefined)));
  return perS;
}

async function oneRun(s: Setup, run: number): Promise<RunFigures> {
  const prefix = `r${run}`;
  process.stderr.write(`run ${run}: control-plane write ceiling\n`);
  const ceilingPerS = await writeCeiling(s, prefix);
  const cpApps = applications(s.cp);
  const managedApps = applications(s.managed);
  const autoApps = applications(s.auto);
  const onAgent = new Watcher(s.managed, NS);
  const mirrors = new Watcher(s.cp, AUTO);
  await Promise.all([onAgent.ready(), mirrors.ready()]);
  let principal = await startPrincipalProc(s);
  const agents = [await startAgentProc(s, MANAGED, "managed"), await startAgentProc(s, AUTO, "autonomous")];
  try {
    // 1. principal → managed agent latency
    process.stderr.write(`run ${run}: latency principal → agent\n`);
    const p2a = await paced(SAMPLES, PACE, async (i) => {
      const name = `${prefix}-lat-p-${i}`;
      const seen = onAgent.when(name, (a) => Boolean(a));
      const t0 = performance.now();
      await cpApps.create(appObject(name, MANAGED, "v1"));
      return (await withDeadline(seen, `${name} on agent`)) - t0;
    });
    // 2. autonomous agent → principal latency
    process.stderr.write(`run ${run}: latency agent → principal\n`);
    const a2p = await paced(SAMPLES, PACE, async (i) => {
      const name = `${prefix}-lat-a-${i}`;
      const seen = mirrors.when(name, (a) => Boolean(a));
      const t0 = performance.now();
      await autoApps.create(appObject(name, NS, "v1"));
      return (await withDeadline(seen, `mirror of ${name}`)) - t0;
    });
    // 3. sustained updates for one agent
    process.stderr.write(`run ${run}: ${APPS} apps, bulk create\n`);
    const names = Array.from({ length: APPS }, (_, i) => `${prefix}-bulk-${i}`);
    const c0 = performance.now();
    const created = Promise.all(names.map((n) => withDeadline(onAgent.when(n, (a) => Boolean(a)), `${n} on agent`)));
    await pool(names, WRITERS, async (n) => void (await cpApps.create(appObject(n, MANAGED, "v1"))));
    await created;
    const bulkCreateS = (performance.now() - c0) / 1000;
    process.stderr.write(`run ${run}: ${APPS} updates\n`);
    const m0 = process.env["BENCH_APISERVER_METRICS"] ? await Promise.all([apiRequests(s.cp), apiRequests(s.managed)]) : undefined;
    const cpu0 = cpuByRole(s.roles);
    const u0 = performance.now();
    const updated = Promise.all(names.map((n) => withDeadline(onAgent.when(n, (a) => a !== undefined && pathOf(a) === "v2"), `${n} v2 on agent`)));
    await pool(names, WRITERS, async (n) => void (await cpApps.patch(MANAGED, n, { spec: { source: { path: "v2" } } })));
    const updateWriteS = (performance.now() - u0) / 1000;
    const lastSeen = Math.max(...(await updated));
    const updateTotalS = (lastSeen - u0) / 1000;
    const updateCpuS = cpuDelta(cpu0, cpuByRole(s.roles));
    if (m0) {
      const m1 = await Promise.all([apiRequests(s.cp), apiRequests(s.managed)]);
      for (const [i, label] of ["control-plane", "agent-managed"].entries()) {
        const d = [...m1[i]!].map(([k, v]) => [k, v - (m0[i]!.get(k) ?? 0)] as const).filter(([, v]) => v > 0).sort((a, b) => b[1] - a[1]);
        process.stderr.write(`API requests during updates, ${label}: ${d.slice(0, 12).map(([k, v]) => `${k}=${v}`).join(" ")}\n`);
      }
    }
    // 3b. catch-up: the replication path alone, without the control-plane writes in the way
    process.stderr.write(`run ${run}: agent away while ${APPS} apps change, then reconnects\n`);
    await agents[0]!.stop();
    await pool(names, WRITERS, async (n) => void (await cpApps.patch(MANAGED, n, { spec: { source: { path: "v2b" } } })));
    const caught = Promise.all(names.map((n) => withDeadline(onAgent.when(n, (a) => a !== undefined && pathOf(a) === "v2b"), `${n} v2b on agent`)));
    const cpuK0 = cpuByRole(s.roles);
    agents[0] = await startAgentProc(s, MANAGED, "managed");
    const k0 = performance.now(); // connected (its health endpoint answers 200 only then)
    const catchupS = (Math.max(...(await caught)) - k0) / 1000;
    const catchupCpuS = cpuDelta(cpuK0, cpuByRole(s.roles));
    // 4. resync after a principal restart
    process.stderr.write(`run ${run}: principal restart, ${APPS} changed while down\n`);
    await principal.stop();
    await pool(names, WRITERS, async (n) => void (await cpApps.patch(MANAGED, n, { spec: { source: { path: "v3" } } })));
    const before = onAgent.count((a) => a.metadata.name!.startsWith(`${prefix}-bulk-`));
    const cpuR0 = cpuByRole(s.roles);
    const resynced = Promise.all(names.map((n) => withDeadline(onAgent.when(n, (a) => a !== undefined && pathOf(a) === "v3"), `${n} v3 on agent`)));
    const r0 = performance.now();
    principal = await startPrincipalProc(s);
    const resyncReadyS = (performance.now() - r0) / 1000;
    await waitHttp(agentHealthz.get(agents[0]!)!, "/readyz", "agent reconnect", agents[0]!);
    const resyncReconnectS = (performance.now() - r0) / 1000;
    const resyncTimes = (await resynced).map((t) => (t - r0) / 1000).sort((a, b) => a - b);
    const resyncTotalS = resyncTimes.at(-1)!;
    process.stderr.write(`run ${run}: resync arrivals after start: p50 ${round(percentile(resyncTimes, 50), 2)} s, p90 ${round(percentile(resyncTimes, 90), 2)} s, p99 ${round(percentile(resyncTimes, 99), 2)} s, last 5 ${resyncTimes.slice(-5).map((x) => round(x, 2)).join(" ")} s\n`);
    const resyncCpuS = cpuDelta(cpuR0, cpuByRole(s.roles));
    await sleep(1000);
    const lostAfterResync = before - onAgent.count((a) => a.metadata.name!.startsWith(`${prefix}-bulk-`));
    // Clean up through replication, so the next run starts empty.
    process.stderr.write(`run ${run}: cleanup\n`);
    const all = (await cpApps.list(MANAGED)).items.map((a) => a.metadata.name!);
    await pool(all, WRITERS, async (n) => void (await cpApps.delete(MANAGED, n).catch(() => undefined)));
    const locals = (await autoApps.list(NS)).items.map((a) => a.metadata.name!);
    await pool(locals, WRITERS, async (n) => void (await autoApps.delete(NS, n).catch(() => undefined)));
    const deadline = Date.now() + 120_000;
    while ((onAgent.count() > 0 || mirrors.count() > 0) && Date.now() < deadline) await sleep(200);
    if (onAgent.count() > 0 || mirrors.count() > 0) {
      process.stderr.write(`cleanup incomplete (agent ${onAgent.count()}, mirrors ${mirrors.count()}); deleting directly\n`);
      for (const a of (await managedApps.list(NS)).items) await managedApps.delete(NS, a.metadata.name!).catch(() => undefined);
    }
    return {
      p2aP50: round(percentile(p2a, 50)), p2aP99: round(percentile(p2a, 99)),
      a2pP50: round(percentile(a2p, 50)), a2pP99: round(percentile(a2p, 99)),
      bulkCreateS: round(bulkCreateS, 2),
      updatesPerS: round(APPS / updateTotalS, 0), ceilingPerS: round(ceilingPerS, 0), ofCeilingPct: round((100 * APPS) / updateTotalS / ceilingPerS, 0), updateWriteS: round(updateWriteS, 2), updateTotalS: round(updateTotalS, 2),
      catchupS: round(catchupS, 2), catchupPerS: round(APPS / catchupS, 0),
      resyncReadyS: round(resyncReadyS, 2), resyncReconnectS: round(resyncReconnectS, 2), resyncTotalS: round(resyncTotalS, 2), resyncApplyS: round(resyncTotalS - resyncReconnectS, 2), lostAfterResync,
      cpu: { updates: updateCpuS, catchup: catchupCpuS, resync: resyncCpuS },
    };
  } finally {
    for (const a of agents) await a.stop();
    await principal.stop();
    if (process.env["BENCH_KEEP_LOGS"]) {
      writeFileSync(join(process.env["BENCH_KEEP_LOGS"], `run${run}-agent-managed.log`), agents[0]!.output());
      writeFileSync(join(process.env["BENCH_KEEP_LOGS"], `run${run}-principal.log`), principal.output());
    }
    onAgent.close();
    mirrors.close();
  }
}

// ---------------------------------------------------------------- main

async function main(): Promise<void> {
  const t0 = Date.now();
  const env = await startKubeEnv({ clusters: ["control-plane", MANAGED, AUTO] });
  const tmp = mkdtempSync(join(tmpdir(), "bench-replication-"));
  try {
    // The bench's own writes reuse connections too: its write rate is not what is measured.
    const cp = createKubeClient(env.cluster("control-plane").kubeConfig);
    for (const ns of [MANAGED, AUTO]) await ensureNamespace(cp, ns);
    const lines: string[] = [];
    for (const a of [MANAGED, AUTO]) {
      lines.push(`${a}:${await bcryptHash(`secret-${a}`, 4)}`);
      writeFileSync(join(tmp, `creds-${a}`), `${a}:secret-${a}\n`);
    }
    writeFileSync(join(tmp, "passwd"), lines.join("\n") + "\n");
    const s: Setup = {
      roles: new Map(),
      env, tmp, cp,
      managed: createKubeClient(env.cluster(MANAGED).kubeConfig),
      auto: createKubeClient(env.cluster(AUTO).kubeConfig),
      grpcPort: await freePort(),
    };
    const runs: RunFigures[] = [];
    for (let r = 1; r <= RUNS; r++) runs.push(await oneRun(s, r));
    type Scalar = Exclude<keyof RunFigures, "cpu">;
    const med = (k: Scalar) => round(median(runs.map((x) => x[k])), 2);
    const rows: [string, string, string][] = [
      ["create → visible, principal → managed agent, p50", `${med("p2aP50")} ms`, runs.map((x) => x.p2aP50).join(", ")],
      ["create → visible, principal → managed agent, p99", `${med("p2aP99")} ms`, runs.map((x) => x.p2aP99).join(", ")],
      ["create → visible, autonomous agent → principal, p50", `${med("a2pP50")} ms`, runs.map((x) => x.a2pP50).join(", ")],
      ["create → visible, autonomous agent → principal, p99", `${med("a2pP99")} ms`, runs.map((x) => x.a2pP99).join(", ")],
      [`bulk create of ${APPS} apps until all on the agent`, `${med("bulkCreateS")} s`, runs.map((x) => x.bulkCreateS).join(", ")],
      [`sustained updates, one agent (${APPS} updates until all visible)`, `${med("updatesPerS")} /s`, runs.map((x) => x.updatesPerS).join(", ")],
      ["  of which: writing the updates to the control plane", `${med("updateWriteS")} s`, runs.map((x) => x.updateWriteS).join(", ")],
      [`  control-plane write ceiling: the same ${APPS} patches, nothing replicating`, `${med("ceilingPerS")} /s`, runs.map((x) => x.ceilingPerS).join(", ")],
      ["  sustained replication as a share of that ceiling", `${med("ofCeilingPct")} %`, runs.map((x) => x.ofCeilingPct).join(", ")],
      [`catch-up, one agent: ${APPS} changes made while it was away, from reconnect until all applied`, `${med("catchupPerS")} /s`, runs.map((x) => x.catchupPerS).join(", ")],
      [`resync after principal restart: process start → ready`, `${med("resyncReadyS")} s`, runs.map((x) => x.resyncReadyS).join(", ")],
      ["resync after principal restart: process start → agent reconnected", `${med("resyncReconnectS")} s`, runs.map((x) => x.resyncReconnectS).join(", ")],
      [`resync after principal restart: start → all ${APPS} changes on agent`, `${med("resyncTotalS")} s`, runs.map((x) => x.resyncTotalS).join(", ")],
      [`  of which: agent reconnected → all ${APPS} changes on agent`, `${med("resyncApplyS")} s`, runs.map((x) => x.resyncApplyS).join(", ")],
      ["apps lost on the agent by the resync", `${med("lostAfterResync")}`, runs.map((x) => x.lostAfterResync).join(", ")],
    ];
    const table = [
      `Replication benchmark — ${RUNS} runs (median; per-run values), ${APPS} apps, ${SAMPLES} latency samples at ${PACE}/s, ${WRITERS} writers; ` +
        `Node ${process.version}, ${cpus().length} CPUs; upstream reference ≈ 10 events/s per agent`,
      "",
      "| metric | median | runs |",
      "|---|---|---|",
      ...rows.map(([m, v, r]) => `| ${m} | ${v} | ${r} |`),
      "",
      "CPU seconds per phase (run 1; all processes of this bench, the API servers included):",
      "",
      "| phase | " + Object.keys(runs[0]!.cpu.updates).join(" | ") + " |",
      "|---|" + Object.keys(runs[0]!.cpu.updates).map(() => "---|").join(""),
      ...(["updates", "catchup", "resync"] as const).map((ph) => `| ${ph} | ${Object.keys(runs[0]!.cpu.updates).map((k) => runs[0]!.cpu[ph][k] ?? 0).join(" | ")} |`),
    ].join("\n");
    process.stdout.write(table + "\n");
    mkdirSync(args.out!, { recursive: true });
    writeFileSync(
      join(args.out!, "replication.json"),
      JSON.stringify({ date: new Date().toISOString(), node: process.version, cpus: cpus().length, apps: APPS, samples: SAMPLES, pace: PACE, writers: WRITERS, upstreamEventsPerSecond: 10, runs, median: Object.fromEntries((Object.keys(runs[0]!) as (keyof RunFigures)[]).filter((k): k is Scalar => k !== "cpu").map((k) => [k, med(k)])), durationS: round((Date.now() - t0) / 1000, 0) }, null, 2) + "\n",
    );
  } finally {
    await env.stop();
    rmSync(tmp, { recursive: true, force: true });
  }
}

main().then(
  () => process.exit(0),
  (err) => {
    process.stderr.write(`bench failed: ${(err as Error).stack ?? err}\n`);
    process.exit(1);
  },
);
