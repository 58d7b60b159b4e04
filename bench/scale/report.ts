/**
 * Results of the scale bench as JSON (latest run + a short history) and as a
 * markdown report with the targets next to the figures and, for the key
 * figures, the median over the runs in the history made with the same options.
 */
import { existsSync, mkdirSync, readFileSync, writeFileSync } from "node:fs";
import { join } from "node:path";
import type { BurstResult, HeartbeatCpuResult, IdleMemoryResult, RestartResult } from "./scenarios.ts";
import { median, round } from "./stats.ts";

export interface RunResult {
  date: string;
  /** Identifies comparable runs (same scenario sizes). */
  optionsKey: string;
  options: Record<string, unknown>;
  environment: Record<string, unknown>;
  idleMemory?: IdleMemoryResult;
  heartbeatCpu?: HeartbeatCpuResult;
  burst?: BurstResult;
  fanout?: BurstResult;
  restart?: RestartResult;
  restartProductBackoff?: RestartResult;
  errors: Record<string, string>;
  durationSeconds: number;
}

interface ResultsFile {
  latest: RunResult;
  history: RunResult[];
}

const HISTORY = 10;

export const TARGETS = {
  idleKiBPerAgent: 64,
  restartSeconds: 30,
  lostEvents: 0,
};

export function writeResults(dir: string, run: RunResult): { json: string; md: string; comparable: RunResult[] } {
  mkdirSync(dir, { recursive: true });
  const jsonPath = join(dir, "scale.json");
  let history: RunResult[] = [];
  if (existsSync(jsonPath)) {
    try {
      history = (JSON.parse(readFileSync(jsonPath, "utf8")) as ResultsFile).history ?? [];
    } catch {
      history = [];
    }
  }
  history = [...history, run].slice(-HISTORY);
  const file: ResultsFile = { latest: run, history };
  writeFileSync(jsonPath, JSON.stringify(file, null, 2) + "\n");
  const comparable = history.filter((r) => r.optionsKey === run.optionsKey);
  const md = markdown(run, comparable);
  const mdPath = join(dir, "scale.md");
  writeFileSync(mdPath, md);
  return { json: jsonPath, md: mdPath, comparable };
}

const ok = (good: boolean) => (good ? "✅" : "❌");
const lag = (r: { loadgenLag?: { p99Ms: number; maxMs: number } }) =>
  r.loadgenLag ? ` Load generator event-loop delay p99 ${r.loadgenLag.p99Ms} ms, max ${r.loadgenLag.maxMs} ms.` : "";

export function markdown(run: RunResult, comparable: RunResult[]): string {
  const out: string[] = [];
  const p = (s = "") => out.push(s);
  p(`# Scale bench (bench/scale.ts)`);
  p();
  p(`Run ${run.date}, ${run.durationSeconds} s. Options: \`${JSON.stringify(run.options)}\`.`);
  p(`Environment: \`${JSON.stringify(run.environment)}\`.`);
  p();
  p(`Figures, not pass/fail: one Node process simulates all agents (one HTTP/2 connection each, header auth as a mesh ` +
    `sidecar would inject it, JWT on Subscribe, heartbeats, every event acked), the principal runs as a separate process and is ` +
    `measured from /proc (VmRSS, RssAnon, utime+stime). Load generator and principal share the machine's cores.`);
  p();

  const keys = keyFigures(run);
  if (comparable.length > 1) {
    p(`## Key figures: median of ${comparable.length} runs with the same options`);
    p();
    p(`| figure | median | runs | target |`);
    p(`|---|---|---|---|`);
    for (const [name, { target }] of Object.entries(keys)) {
      const values = comparable.map((r) => keyFigures(r)[name]?.value).filter((v): v is number => typeof v === "number" && Number.isFinite(v));
      p(`| ${name} | ${round(median(values), 2)} | ${values.join(", ")} | ${target ?? ""} |`);
    }
    p();
  }

  if (run.idleMemory) {
    const m = run.idleMemory;
    p(`## 1. Idle principal memory per connected agent`);
    p();
    p(`Baseline (0 agents): RSS ${m.baselineRssMiB} MiB, RssAnon ${m.baselineRssAnonMiB} MiB` +
      (m.baselineGc ? `; after a forced full GC RSS ${m.baselineGc.rssMiB} MiB, V8 heap used ${m.baselineGc.heapUsedMiB} MiB` : "") +
      `. Heartbeats every ${m.heartbeatMs / 1000} s; settle ${m.settleSeconds} s, then the median of 500 ms samples ("as running", garbage included), ` +
      `then two full GCs forced through the inspector ("after GC"). Per agent = Δ over the 0-agent baseline / N; marginal = Δ over the previous level / added agents. ` +
      `Load generator RSS at the end: ${m.loadgenRssMiB} MiB.${lag(m)}`);
    p();
    p(`| agents | TCP conns | ramp s | RSS MiB | KiB/agent as running | marginal | RSS after GC MiB | KiB/agent after GC | marginal after GC | V8 heap KiB/agent | < ${TARGETS.idleKiBPerAgent} KiB (after GC) |`);
    p(`|---|---|---|---|---|---|---|---|---|---|---|`);
    for (const r of m.rows) {
      const g = r.gc;
      p(`| ${r.agents} | ${r.tcpConnections} | ${r.rampSeconds} | ${r.rssMiB} | ${r.perAgentKiB} | ${r.marginalKiB} | ${g?.rssMiB ?? "–"} | ${g?.perAgentKiB ?? "–"} | ${g?.marginalKiB ?? "–"} | ${g?.perAgentHeapKiB ?? "–"} | ${ok((g?.perAgentKiB ?? r.perAgentKiB) < TARGETS.idleKiBPerAgent)} |`);
    }
    p();
  }
  for (const [title, r] of [
    ["2. Principal restart", run.restart],
    ["2b. Principal restart, reconnect backoff as AgentConnection had it (never reset)", run.restartProductBackoff],
  ] as const) {
    if (!r) continue;
    p(`## ${title}`);
    p();
    p(`${r.agents} agents, ${r.label}. SIGTERM, then the principal restarted on the same port.${lag(r)}`);
    p();
    p(`| figure | value |`);
    p(`|---|---|`);
    p(`| SIGTERM → process exited | ${r.stopSeconds} s |`);
    p(`| SIGTERM → new principal healthy | ${r.downSeconds} s |`);
    p(`| SIGTERM → all agents' streams established | ${r.reconnectAllSeconds} s ${ok(r.allReconnected && r.reconnectAllSeconds < TARGETS.restartSeconds)} (target < ${TARGETS.restartSeconds} s) |`);
    p(`| median / p99 agent back | ${r.reconnectP50Seconds} s / ${r.reconnectP99Seconds} s |`);
    p(`| new principal healthy → last agent back | ${r.afterReadySeconds} s |`);
    p(`| successful Authenticate → stream established, p50 / p99 / max | ${r.authToStreamMs.p50} / ${r.authToStreamMs.p99} / ${r.authToStreamMs.max} ms |`);
    if (r.resyncAllSeconds !== undefined) {
      p(`| SIGTERM → all agents resynced (their request-updates answering the new principal's request-resource-resync acked, and the Application created for them from SIGTERM on held) | ${r.resyncAllSeconds} s (${r.resynced}/${r.agents}) ${ok(r.resynced === r.agents && r.resyncAllSeconds < TARGETS.restartSeconds)} |`);
      p(`| Applications created from SIGTERM on (every 10th agent): delivered / created, creation time | ${r.resyncAppsDelivered} / ${r.resyncAppsCreated}, ${r.resyncCreateSeconds} s |`);
      p(`| create/spec-update events re-sending objects the agents already held / Application spec-updates answering request-update | ${r.redundantObjectEvents} / ${r.specUpdates} |`);
    }
    else p(`| resync | not measured: the principal has no replication yet |`);
    p(`| Authenticate attempts (failed) | ${r.authAttempts} (${r.authAttemptsFailed}) |`);
    p(`| peak Authenticate attempts / s | ${r.peakAuthAttemptsPerSecond} |`);
    p(`| peak successful Authenticate / s | ${r.peakAuthSuccessPerSecond} |`);
    p(`| attempts per 1 s bucket from SIGTERM | ${r.authPerSecond.join(" ")} |`);
    p(`| errors seen by agents | ${JSON.stringify(r.errors)} |`);
    p();
  }
  for (const [title, b] of [["3. Event burst", run.burst], ["3b. Fan-out burst", run.fanout]] as const) {
    if (!b) continue;
    p(`## ${title} (${b.direction})`);
    p();
    p(`${b.note}.${lag(b)}`);
    p();
    p(`| agents | events/agent | sent | acknowledged | applied | lost | re-sent | seconds | events/s | p50 ms | p90 ms | p99 ms | max ms |`);
    p(`|---|---|---|---|---|---|---|---|---|---|---|---|---|`);
    p(`| ${b.agents} | ${b.eventsPerAgent} | ${b.sent} | ${b.acknowledged} | ${b.applied} | ${b.lost} ${ok(b.lost === 0)} | ${b.resent} | ${b.seconds} | ${b.eventsPerSecond} | ${b.latencyMs.p50} | ${b.latencyMs.p90} | ${b.latencyMs.p99} | ${b.latencyMs.max} |`);
    p();
    if (b.createsPerSecond !== undefined) p(`API server create rate during the burst: ${b.createsPerSecond}/s.`);
    p(`CPU during the burst (s per wall s): principal ${b.principalCpuRatio}, load generator ${b.loadgenCpuRatio}.`);
    p();
  }
  if (run.heartbeatCpu) {
    const c = run.heartbeatCpu;
    p(`## 4. Principal CPU during steady heartbeats`);
    p();
    p(`Idle interval measured over 5 s first, then ${c.windowSeconds} s with every agent pinging every ${c.heartbeatMs / 1000} s (random phase).${lag(c)}`);
    p();
    p(`| agents | interval | window s | principal CPU s / wall s | same agents, idle interval | acked pings/s | CPU µs per ping | load generator CPU s/s |`);
    p(`|---|---|---|---|---|---|---|---|`);
    p(`| ${c.agents} | ${c.heartbeatMs / 1000} s | ${c.windowSeconds} | ${c.cpuRatio} | ${c.idleCpuRatio} | ${c.heartbeatsPerSecond} | ${c.cpuMicrosPerHeartbeat} | ${c.loadgenCpuRatio} |`);
    p();
  }
  if (Object.keys(run.errors).length) {
    p(`## Errors`);
    p();
    for (const [k, v] of Object.entries(run.errors)) p(`- ${k}: ${v.split("\n")[0]}`);
    p();
  }
  return out.join("\n");
}

/** The figures worth a median across runs. */
export function keyFigures(run: RunResult): Record<string, { value: number; target?: string }> {
  const k: Record<string, { value: number; target?: string }> = {};
  for (const r of run.idleMemory?.rows ?? []) {
    k[`idle KiB/agent @${r.agents} (as running)`] = { value: r.perAgentKiB };
    if (r.gc) {
      k[`idle KiB/agent @${r.agents} (after GC)`] = { value: r.gc.perAgentKiB, target: `< ${TARGETS.idleKiBPerAgent}` };
      k[`idle marginal KiB/agent @${r.agents} (after GC)`] = { value: r.gc.marginalKiB };
      k[`idle V8 heap KiB/agent @${r.agents}`] = { value: r.gc.perAgentHeapKiB };
    }
  }
  if (run.restart) {
    k["restart: all back (s after SIGTERM)"] = { value: run.restart.reconnectAllSeconds, target: `< ${TARGETS.restartSeconds}` };
    k["restart: peak Authenticate/s"] = { value: run.restart.peakAuthAttemptsPerSecond };
    if (run.restart.resyncAllSeconds !== undefined) k["restart: all resynced (s)"] = { value: run.restart.resyncAllSeconds, target: `< ${TARGETS.restartSeconds}` };
    k["restart: principal down (s)"] = { value: run.restart.downSeconds };
  }
  if (run.restartProductBackoff) k["restart, never-reset backoff: all back (s)"] = { value: run.restartProductBackoff.reconnectAllSeconds, target: `< ${TARGETS.restartSeconds}` };
  if (run.burst) {
    k["burst events/s"] = { value: run.burst.eventsPerSecond };
    k["burst p50 ms"] = { value: run.burst.latencyMs.p50 };
    k["burst p99 ms"] = { value: run.burst.latencyMs.p99 };
    k["burst lost"] = { value: run.burst.lost, target: "0" };
  }
  if (run.fanout) {
    k["fan-out events/s"] = { value: run.fanout.eventsPerSecond };
    k["fan-out p50 ms"] = { value: run.fanout.latencyMs.p50 };
    k["fan-out p99 ms"] = { value: run.fanout.latencyMs.p99 };
    k["fan-out lost"] = { value: run.fanout.lost, target: "0" };
  }
  if (run.heartbeatCpu) {
    k["heartbeat CPU s/s"] = { value: run.heartbeatCpu.cpuRatio };
    k["CPU µs per ping"] = { value: run.heartbeatCpu.cpuMicrosPerHeartbeat };
  }
  return k;
}
