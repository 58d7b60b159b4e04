/**
 * The four scale scenarios. Each returns plain figures (no pass/fail): the
 * report compares them with the targets.
 */
import { randomUUID } from "node:crypto";
import { setTimeout as sleep } from "node:timers/promises";
import { objectEvent, type JsonObject } from "../../src/events/cloudevent.ts";
import { EventTargets, EventTypes } from "../../src/events/event-types.ts";
import { AGENT_EVENT_SOURCE } from "../../src/agent/connection.ts";
import { establishedConnections, type Fleet } from "./fleet.ts";
import type { PrincipalProcess } from "./principal.ts";
import type { Replication } from "./replication.ts";
import { KiB, MiB, median, percentile, perSecond, round } from "./stats.ts";

/** Event-loop delay of the load generator during a scenario: when high, the figures measure the generator too. */
export interface LoadgenLag {
  p99Ms: number;
  maxMs: number;
}

export interface Ctx {
  principal: PrincipalProcess;
  fleet: Fleet;
  port: number;
  replication: Replication | undefined;
  log(msg: string): void;
}

/** CPU seconds of this process (the load generator), user + system. */
function selfCpu(): number {
  const u = process.cpuUsage();
  return (u.user + u.system) / 1e6;
}

async function until(cond: () => boolean, timeoutMs: number, stepMs = 50): Promise<boolean> {
  const end = Date.now() + timeoutMs;
  while (Date.now() < end) {
    if (cond()) return true;
    await sleep(stepMs);
  }
  return cond();
}

// ------------------------------------------------------------ 1. idle memory

export interface IdleMemoryRow {
  agents: number;
  connected: number;
  tcpConnections: number;
  rampSeconds: number;
  rssMiB: number;
  rssAnonMiB: number;
  /** (RSS − RSS at 0 agents) / agents, as the process runs (garbage included). */
  perAgentKiB: number;
  perAgentAnonKiB: number;
  /** (RSS − RSS at the previous level) / added agents. */
  marginalKiB: number;
  /** After a forced full GC (inspector): RSS and V8 heap used, and their per-agent deltas. */
  gc?: { rssMiB: number; heapUsedMiB: number; perAgentKiB: number; perAgentHeapKiB: number; marginalKiB: number };
}

export interface IdleMemoryResult {
  loadgenLag?: LoadgenLag;
  baselineRssMiB: number;
  baselineRssAnonMiB: number;
  baselineGc?: { rssMiB: number; heapUsedMiB: number };
  heartbeatMs: number;
  settleSeconds: number;
  rows: IdleMemoryRow[];
  loadgenRssMiB: number;
}

export async function idleMemory(ctx: Ctx, levels: number[], settleMs: number): Promise<IdleMemoryResult> {
  const { principal, fleet } = ctx;
  // Start from a collected heap, so "as running" figures at every level carry
  // garbage accumulated since a GC, like the baseline's.
  await principal.memoryAfterGc();
  const base = await principal.settledMemory(settleMs);
  const baseGc = await principal.memoryAfterGc();
  ctx.log(`idle memory: baseline RSS ${round(base.rss / MiB)} MiB (anon ${round(base.rssAnon / MiB)} MiB)` +
    (baseGc ? `, after GC ${round(baseGc.rss / MiB)} MiB, heap used ${round(baseGc.heapUsed / MiB)} MiB` : ""));
  const rows: IdleMemoryRow[] = [];
  let prev = { agents: 0, rss: base.rss, gcRss: baseGc?.rss ?? 0 };
  for (const n of [...levels].sort((a, b) => a - b)) {
    const rampMs = await fleet.grow(n);
    const mem = await principal.settledMemory(settleMs);
    const gc = await principal.memoryAfterGc();
    const row: IdleMemoryRow = {
      agents: n,
      connected: fleet.connectedCount(),
      tcpConnections: await establishedConnections(ctx.port),
      rampSeconds: round(rampMs / 1000),
      rssMiB: round(mem.rss / MiB),
      rssAnonMiB: round(mem.rssAnon / MiB),
      perAgentKiB: round((mem.rss - base.rss) / n / KiB),
      perAgentAnonKiB: round((mem.rssAnon - base.rssAnon) / n / KiB),
      marginalKiB: round((mem.rss - prev.rss) / (n - prev.agents) / KiB),
      ...(gc && baseGc
        ? {
            gc: {
              rssMiB: round(gc.rss / MiB),
              heapUsedMiB: round(gc.heapUsed / MiB),
              perAgentKiB: round((gc.rss - baseGc.rss) / n / KiB),
              perAgentHeapKiB: round((gc.heapUsed - baseGc.heapUsed) / n / KiB),
              marginalKiB: round((gc.rss - prev.gcRss) / (n - prev.agents) / KiB),
            },
          }
        : {}),
    };
    rows.push(row);
    prev = { agents: n, rss: mem.rss, gcRss: gc?.rss ?? 0 };
    ctx.log(`idle memory: ${n} agents (ramp ${row.rampSeconds} s, ${row.tcpConnections} TCP): RSS ${row.rssMiB} MiB, ` +
      `${row.perAgentKiB} KiB/agent (anon ${row.perAgentAnonKiB}), marginal ${row.marginalKiB} KiB/agent` +
      (row.gc ? `; after GC ${row.gc.perAgentKiB} KiB/agent (marginal ${row.gc.marginalKiB}), V8 heap ${row.gc.perAgentHeapKiB} KiB/agent` : ""));
  }
  return {
    baselineRssMiB: round(base.rss / MiB),
    baselineRssAnonMiB: round(base.rssAnon / MiB),
    ...(baseGc ? { baselineGc: { rssMiB: round(baseGc.rss / MiB), heapUsedMiB: round(baseGc.heapUsed / MiB) } } : {}),
    heartbeatMs: fleet.opts.heartbeatMs,
    settleSeconds: settleMs / 1000,
    rows,
    loadgenRssMiB: round(process.memoryUsage().rss / MiB),
  };
}

// ------------------------------------------------------------ 4. heartbeat CPU

export interface HeartbeatCpuResult {
  loadgenLag?: LoadgenLag;
  agents: number;
  heartbeatMs: number;
  windowSeconds: number;
  /** Principal CPU with the same agents on the idle heartbeat interval, for comparison. */
  idleCpuRatio: number;
  cpuSeconds: number;
  /** Principal CPU seconds per wall second (1.0 = one core). */
  cpuRatio: number;
  heartbeatsSent: number;
  heartbeatAcks: number;
  heartbeatsPerSecond: number;
  cpuMicrosPerHeartbeat: number;
  loadgenCpuRatio: number;
}

export async function heartbeatCpu(ctx: Ctx, windowMs: number, heartbeatMs: number, settleMs: number): Promise<HeartbeatCpuResult> {
  const { principal, fleet } = ctx;
  await sleep(settleMs); // e.g. the fleet was just shrunk: let the principal finish those disconnects
  const idleWindow = Math.min(5000, windowMs);
  let c0 = principal.cpuSeconds();
  let t0 = performance.now();
  await sleep(idleWindow);
  const idleCpuRatio = (principal.cpuSeconds() - c0) / ((performance.now() - t0) / 1000);
  const idleHeartbeatMs = fleet.opts.heartbeatMs;
  fleet.setHeartbeat(heartbeatMs);
  await sleep(Math.max(2000, 2 * heartbeatMs)); // every agent past its random first phase
  const sent0 = fleet.sum((a) => a.writer.heartbeatsQueued);
  const acks0 = fleet.sum((a) => a.heartbeatAcks);
  const self0 = selfCpu();
  c0 = principal.cpuSeconds();
  t0 = performance.now();
  await sleep(windowMs);
  const wall = (performance.now() - t0) / 1000;
  const cpu = principal.cpuSeconds() - c0;
  const sent = fleet.sum((a) => a.writer.heartbeatsQueued) - sent0;
  const acks = fleet.sum((a) => a.heartbeatAcks) - acks0;
  const loadgen = (selfCpu() - self0) / wall;
  fleet.setHeartbeat(idleHeartbeatMs);
  const r: HeartbeatCpuResult = {
    agents: fleet.size,
    heartbeatMs,
    windowSeconds: round(wall),
    idleCpuRatio: round(idleCpuRatio, 3),
    cpuSeconds: round(cpu, 2),
    cpuRatio: round(cpu / wall, 3),
    heartbeatsSent: sent,
    heartbeatAcks: acks,
    heartbeatsPerSecond: round(acks / wall),
    cpuMicrosPerHeartbeat: round((cpu / Math.max(1, acks)) * 1e6),
    loadgenCpuRatio: round(loadgen, 3),
  };
  ctx.log(`heartbeat CPU: ${r.agents} agents every ${heartbeatMs} ms, ${r.windowSeconds} s: principal ${r.cpuRatio} CPU s/s ` +
    `(idle ${r.idleCpuRatio}), ${r.heartbeatsPerSecond} acked pings/s, ${r.cpuMicrosPerHeartbeat} µs/ping; load generator ${r.loadgenCpuRatio}`);
  return r;
}

// ------------------------------------------------------------ 3. event burst

export interface BurstResult {
  loadgenLag?: LoadgenLag;
  /** "principal→agents" (replication: Applications created on the control plane) or "agents→principal" (fallback). */
  direction: string;
  note: string;
  agents: number;
  eventsPerAgent: number;
  sent: number;
  /** Acks the receivers generated for the burst's events. */
  acknowledged: number;
  /** Events applied by the receiver (agents: objects held; principal: acked by its handler). */
  applied: number;
  lost: number;
  /** Fallback: the agents' writers re-transmitted (no ack within 5–10 s); replication: duplicate deliveries seen by agents. */
  resent: number;
  seconds: number;
  eventsPerSecond: number;
  latencyMs: { p50: number; p90: number; p99: number; max: number };
  loadgenCpuRatio: number;
  /** Principal CPU seconds per wall second from the burst's start to its last ack. */
  principalCpuRatio: number;
  /** Replication only: how fast the Applications could be created on the API server. */
  createsPerSecond?: number;
}

/** Fallback: every agent sends status-updates of distinct Applications and waits for the principal's acks. */
export async function burstAgentToPrincipal(ctx: Ctx, perAgent: number, timeoutMs: number): Promise<BurstResult> {
  const { fleet } = ctx;
  const sentAt = new Map<string, number>();
  const latencies: number[] = [];
  let lastAck = 0;
  fleet.ackReceived = (_agent, ack, at) => {
    const t = sentAt.get(ack.eventId);
    if (t === undefined) return;
    sentAt.delete(ack.eventId);
    latencies.push(at - t);
    lastAck = at;
  };
  const resent0 = fleet.sum((a) => a.writer.stats().resent);
  const self0 = selfCpu();
  const cpu0 = ctx.principal.cpuSeconds();
  const start = Date.now();
  let sent = 0;
  for (const agent of fleet.agents) {
    for (let j = 0; j < perAgent; j++) {
      const app = {
        metadata: { name: `app-${j}`, namespace: agent.name, uid: randomUUID(), resourceVersion: String(1000 + j) },
        spec: { project: "default", destination: { server: "https://kubernetes.default.svc", namespace: "guestbook" } },
        status: { sync: { status: "Synced", revision: "4e3f1c2" }, health: { status: "Healthy" }, reconciledAt: new Date().toISOString() },
      };
      const ev = objectEvent(EventTypes.statusUpdate, EventTargets.application, app, AGENT_EVENT_SOURCE);
      sentAt.set(ev.eventId, Date.now());
      if (agent.send(ev)) sent++;
    }
  }
  await until(() => latencies.length >= sent, timeoutMs, 20);
  const wall = Math.max(1, (lastAck || Date.now()) - start) / 1000;
  const principalCpu = ctx.principal.cpuSeconds() - cpu0;
  fleet.ackReceived = undefined;
  const acked = latencies.length;
  const r: BurstResult = {
    direction: "agents→principal",
    note: "no replication in this run (not wired into the principal, or --replication off): agents send Application status-updates, the principal's default handler processes and acks them",
    agents: fleet.size,
    eventsPerAgent: perAgent,
    sent,
    acknowledged: acked,
    applied: acked,
    lost: sent - acked,
    resent: fleet.sum((a) => a.writer.stats().resent) - resent0,
    seconds: round(wall, 2),
    eventsPerSecond: round(acked / wall),
    latencyMs: latencySummary(latencies),
    loadgenCpuRatio: round((selfCpu() - self0) / ((Date.now() - start) / 1000), 3),
    principalCpuRatio: round(principalCpu / ((Date.now() - start) / 1000), 3),
  };
  logBurst(ctx, r);
  return r;
}

/** With replication: Applications created on the control plane, one namespace per agent, delivered as creates. */
export async function burstPrincipalToAgents(ctx: Ctx, perAgent: number, timeoutMs: number): Promise<BurstResult> {
  const { fleet } = ctx;
  const repl = ctx.replication!;
  const latencies: number[] = [];
  let lastApplied = 0;
  const tag = `burst-${Date.now().toString(36)}`;
  const burstEvents = new Set<string>();
  const seen = new Set<string>();
  let acked = 0;
  let duplicates = 0;
  fleet.applied = (agent, ev, payload, at) => {
    if (ev.type !== EventTypes.create) return;
    const created = createdAt(payload, tag);
    if (created === undefined) return;
    burstEvents.add(ev.eventId);
    if (seen.has(`${agent.name}/${ev.eventId}`)) {
      duplicates++;
      return;
    }
    seen.add(`${agent.name}/${ev.eventId}`);
    latencies.push(at - created);
    lastApplied = at;
  };
  // EventSession queues the ack right after the handler (our apply) returns.
  fleet.ackQueued = (_agent, ack) => {
    if (burstEvents.delete(ack.eventId)) acked++;
  };
  const self0 = selfCpu();
  const cpu0 = ctx.principal.cpuSeconds();
  const start = Date.now();
  const names = fleet.agents.flatMap((a) => Array.from({ length: perAgent }, (_, j) => ({ ns: a.name, name: `${tag}-${j}` })));
  const createMs = await repl.createApps(names, tag);
  const sent = names.length;
  await until(() => latencies.length >= sent, timeoutMs, 50);
  await until(() => burstEvents.size === 0, 2000, 20);
  const wall = Math.max(1, (lastApplied || Date.now()) - start) / 1000;
  fleet.applied = undefined;
  fleet.ackQueued = undefined;
  const r: BurstResult = {
    direction: "principal→agents",
    note: "Applications created on the control-plane API server (namespace = agent name), replicated by the principal as create events; latency from just before the API create call to the agent holding the object",
    agents: fleet.size,
    eventsPerAgent: perAgent,
    sent,
    acknowledged: acked,
    applied: latencies.length,
    lost: sent - latencies.length,
    resent: duplicates,
    seconds: round(wall, 2),
    eventsPerSecond: round(latencies.length / wall),
    latencyMs: latencySummary(latencies),
    loadgenCpuRatio: round((selfCpu() - self0) / ((Date.now() - start) / 1000), 3),
    principalCpuRatio: round((ctx.principal.cpuSeconds() - cpu0) / ((Date.now() - start) / 1000), 3),
    createsPerSecond: round(sent / (createMs / 1000)),
  };
  logBurst(ctx, r);
  return r;
}

/**
 * With replication: AppProjects matching every agent, created on the control
 * plane; the principal fans each one out to all managed agents. Few API calls,
 * many events: this is the principal's fan-out rate, not the API server's.
 */
export async function burstProjectFanout(ctx: Ctx, projects: number, timeoutMs: number): Promise<BurstResult> {
  const { fleet } = ctx;
  const repl = ctx.replication!;
  const tag = `fanout-${Date.now().toString(36)}`;
  const latencies: number[] = [];
  const seen = new Set<string>();
  const pendingAcks = new Set<string>();
  let acked = 0;
  let duplicates = 0;
  let lastApplied = 0;
  fleet.applied = (agent, ev, payload, at) => {
    if (ev.target !== EventTargets.appProject) return;
    const created = createdAt(payload, tag);
    if (created === undefined) return;
    const key = `${agent.name}/${ev.resourceId}`;
    pendingAcks.add(`${agent.name}/${ev.eventId}`);
    if (seen.has(key)) {
      duplicates++;
      return;
    }
    seen.add(key);
    latencies.push(at - created);
    lastApplied = at;
  };
  fleet.ackQueued = (agent, ack) => {
    if (pendingAcks.delete(`${agent.name}/${ack.eventId}`)) acked++;
  };
  const self0 = selfCpu();
  const cpu0 = ctx.principal.cpuSeconds();
  const start = Date.now();
  await repl.createFanoutProjects(Array.from({ length: projects }, (_, j) => `${tag}-${j}`), tag);
  const sent = projects * fleet.size;
  await until(() => latencies.length >= sent, timeoutMs, 50);
  await until(() => pendingAcks.size === 0, 2000, 20);
  const wall = Math.max(1, (lastApplied || Date.now()) - start) / 1000;
  fleet.applied = undefined;
  fleet.ackQueued = undefined;
  const r: BurstResult = {
    direction: "principal→agents (AppProject fan-out)",
    note: `${projects} AppProject(s) in the principal namespace matching every agent (destination and sourceNamespaces agent-*), each sent by the principal to all managed agents; latency from just before the API create call to the agent holding the object`,
    agents: fleet.size,
    eventsPerAgent: projects,
    sent,
    acknowledged: acked,
    applied: latencies.length,
    lost: sent - latencies.length,
    resent: duplicates,
    seconds: round(wall, 2),
    eventsPerSecond: round(latencies.length / wall),
    latencyMs: latencySummary(latencies),
    loadgenCpuRatio: round((selfCpu() - self0) / ((Date.now() - start) / 1000), 3),
    principalCpuRatio: round((ctx.principal.cpuSeconds() - cpu0) / ((Date.now() - start) / 1000), 3),
  };
  logBurst(ctx, r);
  return r;
}

function createdAt(payload: JsonObject | undefined, tag: string): number | undefined {
  const ann = (payload?.metadata as { annotations?: Record<string, string> } | undefined)?.annotations;
  const v = ann?.["bench.argocd-agent.io/created-at"];
  return v && ann?.["bench.argocd-agent.io/tag"] === tag ? Number(v) : undefined;
}

function latencySummary(xs: number[]): BurstResult["latencyMs"] {
  return { p50: round(percentile(xs, 50)), p90: round(percentile(xs, 90)), p99: round(percentile(xs, 99)), max: round(percentile(xs, 100)) };
}

function logBurst(ctx: Ctx, r: BurstResult): void {
  ctx.log(`burst ${r.direction}: ${r.sent} sent, ${r.acknowledged} acked, ${r.applied} applied, ${r.lost} lost, ${r.resent} re-sent; ` +
    `${r.eventsPerSecond} events/s over ${r.seconds} s; latency p50 ${r.latencyMs.p50} ms, p99 ${r.latencyMs.p99} ms, max ${r.latencyMs.max} ms; ` +
    `CPU s/s principal ${r.principalCpuRatio}, load generator ${r.loadgenCpuRatio}`);
}

// ------------------------------------------------------------ 2. restart

export interface RestartResult {
  loadgenLag?: LoadgenLag;
  label: string;
  agents: number;
  backoff: string;
  stopSeconds: number;
  /** SIGTERM to /healthz answering on the new process. */
  downSeconds: number;
  allReconnected: boolean;
  /** SIGTERM to the last agent's stream established. */
  reconnectAllSeconds: number;
  reconnectP50Seconds: number;
  reconnectP99Seconds: number;
  /** The new principal ready to the last agent back. */
  afterReadySeconds: number;
  /** Successful Authenticate answer to stream established, per agent (principal-side delay). */
  authToStreamMs: { p50: number; p99: number; max: number };
  /**
   * Replication only. An agent is resynced when every resync request it sent in
   * answer to the new principal's request-resource-resync is acked and it holds
   * the Application created for it from SIGTERM on (every `resyncAppEvery`-th agent).
   */
  resyncAllSeconds?: number;
  resynced?: number;
  resyncAppsCreated?: number;
  resyncAppsDelivered?: number;
  /** Replication only: how long creating those Applications took (from SIGTERM, in parallel with the restart). */
  resyncCreateSeconds?: number;
  /** Replication only: create/spec-update events for objects the agent already held, unchanged (the new principal re-sends them). */
  redundantObjectEvents?: number;
  /** Replication only: Application spec-updates received (answers to request-update with a differing checksum). */
  specUpdates?: number;
  authAttempts: number;
  authAttemptsFailed: number;
  peakAuthAttemptsPerSecond: number;
  peakAuthSuccessPerSecond: number;
  /** Authenticate attempts per 1 s bucket from SIGTERM on. */
  authPerSecond: number[];
  errors: Record<string, number>;
}

const RESYNC_APP_EVERY = 10;

export async function restart(ctx: Ctx, label: string, timeoutMs: number): Promise<RestartResult> {
  const { principal, fleet } = ctx;
  const n = fleet.size;
  const repl = ctx.replication;
  const back = new Map<string, number>();
  const held = new Map<string, number>();
  const resyncDone = new Map<string, number>();
  const resynced = new Map<string, number>();
  const resyncTag = `resync-${Date.now().toString(36)}`;
  const newAppFor = new Set(fleet.agents.filter((_, i) => i % RESYNC_APP_EVERY === 0).map((a) => a.name));
  let redundantObjectEvents = 0;
  let specUpdates = 0;
  const checkResynced = (name: string) => {
    if (resynced.has(name) || !resyncDone.has(name) || (newAppFor.has(name) && !held.has(name))) return;
    resynced.set(name, Math.max(resyncDone.get(name)!, held.get(name) ?? 0));
  };
  fleet.authLog = [];
  fleet.authErrors.clear();
  const epoch = Date.now();
  fleet.established = (agent, at) => {
    if (!back.has(agent.name)) back.set(agent.name, at);
  };
  fleet.applied = (agent, ev, payload, at, existed) => {
    if ((ev.type === EventTypes.create || ev.type === EventTypes.specUpdate) && existed) redundantObjectEvents++;
    if (ev.type === EventTypes.specUpdate && ev.target === EventTargets.application) specUpdates++;
    const ann = (payload?.metadata as { annotations?: Record<string, string> } | undefined)?.annotations;
    if (ann?.["bench.argocd-agent.io/tag"] === resyncTag && !held.has(agent.name)) {
      held.set(agent.name, at);
      checkResynced(agent.name);
    }
  };
  fleet.resyncDone = (agent, at) => {
    if (!resyncDone.has(agent.name)) resyncDone.set(agent.name, at);
    checkResynced(agent.name);
  };
  const stopping = principal.stop("SIGTERM");
  // Changes made around the restart (a new Application for every tenth agent,
  // created from SIGTERM on, in parallel so they do not stretch the downtime)
  // must reach the agents: through the new principal's initial list or its watch.
  const creating = repl?.createApps([...newAppFor].map((ns) => ({ ns, name: resyncTag })), resyncTag);
  const stopMs = await stopping;
  await principal.start();
  const ready = Date.now();
  const createMs = await creating;
  const done = () => back.size >= n && (!repl || resynced.size >= n);
  const all = await until(done, timeoutMs, 50);
  const authLog = fleet.authLog;
  fleet.authLog = undefined;
  fleet.established = undefined;
  fleet.applied = undefined;
  fleet.resyncDone = undefined;
  const times = [...back.values()].map((t) => (t - epoch) / 1000);
  const attempts = perSecond(authLog.map((r) => r.at), epoch);
  const successes = perSecond(authLog.filter((r) => r.ok).map((r) => r.at), epoch);
  const lastOk = new Map<string, number>();
  for (const r of authLog) if (r.ok && r.doneAt) lastOk.set(r.agent, r.doneAt);
  const authToStream = [...back].filter(([a]) => lastOk.has(a)).map(([a, t]) => t - lastOk.get(a)!);
  const r: RestartResult = {
    label,
    agents: n,
    backoff: "",
    stopSeconds: round(stopMs / 1000, 2),
    downSeconds: round((ready - epoch) / 1000, 2),
    allReconnected: back.size >= n,
    reconnectAllSeconds: round(Math.max(...times), 2),
    reconnectP50Seconds: round(median(times), 2),
    reconnectP99Seconds: round(percentile(times, 99), 2),
    afterReadySeconds: round(Math.max(...times) - (ready - epoch) / 1000, 2),
    authToStreamMs: { p50: round(percentile(authToStream, 50)), p99: round(percentile(authToStream, 99)), max: round(percentile(authToStream, 100)) },
    ...(repl
      ? {
          resyncAllSeconds: round((Math.max(0, ...resynced.values()) - epoch) / 1000, 2),
          resynced: resynced.size,
          resyncAppsCreated: newAppFor.size,
          resyncAppsDelivered: held.size,
          resyncCreateSeconds: round((createMs ?? 0) / 1000, 2),
          redundantObjectEvents,
          specUpdates,
        }
      : {}),
    authAttempts: authLog.length,
    authAttemptsFailed: authLog.filter((r) => r.ok === false).length,
    peakAuthAttemptsPerSecond: Math.max(0, ...attempts),
    peakAuthSuccessPerSecond: Math.max(0, ...successes),
    authPerSecond: attempts,
    errors: Object.fromEntries(fleet.authErrors),
  };
  if (!all) ctx.log(`restart (${label}): only ${back.size}/${n} agents back${repl ? `, ${resynced.size}/${n} resynced` : ""} within ${timeoutMs / 1000} s`);
  ctx.log(`restart (${label}): principal down ${r.downSeconds} s; all ${back.size}/${n} back ${r.reconnectAllSeconds} s after SIGTERM ` +
    `(p50 ${r.reconnectP50Seconds} s, ${r.afterReadySeconds} s after ready; auth→stream p99 ${r.authToStreamMs.p99} ms)` +
    (r.resyncAllSeconds !== undefined
      ? `, resynced ${r.resynced}/${n} at ${r.resyncAllSeconds} s (new apps ${r.resyncAppsDelivered}/${r.resyncAppsCreated}, created in ${r.resyncCreateSeconds} s; ${r.redundantObjectEvents} events re-sending held objects, ${r.specUpdates} app spec-updates)`
      : "") +
    `; ${r.authAttempts} Authenticate attempts (${r.authAttemptsFailed} failed), peak ${r.peakAuthAttemptsPerSecond}/s`);
  return r;
}
