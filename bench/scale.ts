#!/usr/bin/env node
/**
 * Scale harness: one principal (child process, plaintext on loopback, header
 * auth) and N simulated agents in this process, each on its own HTTP/2
 * connection. Scenarios:
 *   1. idle principal memory per connected agent (--agents levels)
 *   4. principal CPU during steady 1 s heartbeats (--fleet agents)
 *   3. an event burst: principal→agents through replication when the principal
 *      has it (Applications in each agent's namespace), else agents→principal
 *      status-updates
 *   3b. (replication) a fan-out burst: AppProjects matching every agent
 *   2. a principal restart: time until every agent is back (and resynced with
 *      replication), Authenticate attempts per second
 *   2b. (full run only) the same restart with the reconnect backoff never
 *      reset, as src/agent/connection.ts had it
 * Writes bench/results/scale.{json,md}. Figures only, no pass/fail.
 *
 * Usage: npm run bench:scale [-- --quick] [-- --agents 100,1000,5000 --fleet 1000 ...]
 */
import { mkdirSync, rmSync, statSync } from "node:fs";
import { cpus, totalmem } from "node:os";
import { join } from "node:path";
import { parseArgs } from "node:util";
import { monitorEventLoopDelay } from "node:perf_hooks";
import { freePort, ROOT, type Runner } from "../test/support/processes.ts";
import { configureLogging } from "../src/observability/log.ts";
import { Fleet } from "./scale/fleet.ts";
import { PrincipalProcess } from "./scale/principal.ts";
import { Replication, replicationAvailable } from "./scale/replication.ts";
import { writeResults, type RunResult } from "./scale/report.ts";
import { burstAgentToPrincipal, burstPrincipalToAgents, burstProjectFanout, heartbeatCpu, idleMemory, restart, type Ctx, type LoadgenLag } from "./scale/scenarios.ts";
import { round } from "./scale/stats.ts";
import { RECONNECT_BACKOFF } from "../src/transport/backoff.ts";

const ALL = ["idle", "cpu", "burst", "fanout", "restart", "restart-never-reset"] as const;

const { values: args } = parseArgs({
  options: {
    quick: { type: "boolean", default: false },
    agents: { type: "string" },
    fleet: { type: "string" },
    settle: { type: "string" },
    "cpu-window": { type: "string" },
    "heartbeat-interval": { type: "string", default: "1" },
    "idle-heartbeat": { type: "string", default: "30" },
    "burst-events": { type: "string" },
    "fanout-projects": { type: "string" },
    scenarios: { type: "string" },
    runner: { type: "string", default: "source" },
    replication: { type: "string", default: "auto" },
    "principal-log-level": { type: "string", default: "info" },
    "ramp-concurrency": { type: "string", default: "64" },
    "no-inspect": { type: "boolean", default: false },
    "keep-logs": { type: "boolean", default: false },
    out: { type: "string", default: join(ROOT, "bench/results") },
    help: { type: "boolean", short: "h", default: false },
  },
});

if (args.help) {
  process.stdout.write(`node bench/scale.ts [options]
  --quick                   smaller and shorter: --agents 100,1000, settle 3 s, CPU window 10 s, 5 events/agent, no 2b
  --agents 100,1000,5000    connected-agent levels for the idle memory scenario
  --fleet 1000              agents for the CPU, burst and restart scenarios
  --settle 5                seconds to let the principal settle before memory samples
  --cpu-window 20           seconds of steady heartbeats measured
  --heartbeat-interval 1    heartbeat interval (s) in the CPU scenario
  --idle-heartbeat 30       heartbeat interval (s) otherwise (0: none, the agent's default)
  --burst-events N          events per agent in the burst (default 10, quick 5; with replication 2, quick 1)
  --fanout-projects 5       AppProjects matching every agent in the fan-out burst (replication only; quick 2)
  --scenarios ${ALL.join(",")}
  --runner source|cjs|executable   how to run the principal (default: source)
  --replication auto|on|off        principal→agent burst via a real API server (auto: when src/replication is wired in)
  --principal-log-level info
  --no-inspect              do not start the principal with --inspect (no forced GC / heap figures)
  --ramp-concurrency 64     connection set-ups in flight while adding agents
  --keep-logs               keep the principal's log (always kept when a scenario failed)
  --out bench/results
`);
  process.exit(0);
}

const quick = args.quick!;
if (!["auto", "on", "off"].includes(args.replication!)) throw new Error(`--replication must be auto, on or off`);
const useReplication = args.replication === "on" || (args.replication === "auto" && replicationAvailable());
const num = (v: string | undefined, dflt: number) => (v === undefined ? dflt : Number(v));
const options = {
  quick,
  agents: (args.agents ?? (quick ? "100,1000" : "100,1000,5000")).split(",").map(Number).filter((n) => n > 0),
  fleet: num(args.fleet, 1000),
  settleSeconds: num(args.settle, quick ? 3 : 5),
  cpuWindowSeconds: num(args["cpu-window"], quick ? 10 : 20),
  heartbeatSeconds: num(args["heartbeat-interval"], 1),
  idleHeartbeatSeconds: num(args["idle-heartbeat"], 30),
  // Through replication every event is an Application created on the API server, which is the slow part.
  burstEvents: num(args["burst-events"], useReplication ? (quick ? 1 : 2) : quick ? 5 : 10),
  fanoutProjects: num(args["fanout-projects"], quick ? 2 : 5),
  scenarios: (args.scenarios?.split(",") ?? ALL.filter((s) => !(quick && s === "restart-never-reset"))) as string[],
  runner: args.runner as Runner,
  replication: args.replication!,
  principalLogLevel: args["principal-log-level"]!,
  rampConcurrency: num(args["ramp-concurrency"], 64),
  inspect: !args["no-inspect"],
};
for (const s of options.scenarios) if (!(ALL as readonly string[]).includes(s)) throw new Error(`unknown scenario ${s}; use ${ALL.join(",")}`);

// The simulated agents' own logs would only measure our terminal.
configureLogging({ defaultLevel: "warning" });

const started = performance.now();
const log = (msg: string) => process.stdout.write(`[${((performance.now() - started) / 1000).toFixed(1).padStart(6)} s] ${msg}\n`);
const workDir = join("/tmp", `argocd-agent-scale-${process.pid}`);
mkdirSync(workDir, { recursive: true });

const port = await freePort();
const healthz = await freePort();
let replication: Replication | undefined;
const errors: Record<string, string> = {};
const run: Partial<RunResult> = {};

const principal = new PrincipalProcess({
  listenPort: port,
  healthzPort: healthz,
  runner: options.runner,
  logFile: join(workDir, "principal.log"),
  logLevel: options.principalLogLevel,
  extraArgs: [],
  inspect: options.inspect,
});
const fleet = new Fleet({ host: "127.0.0.1", port, heartbeatMs: options.idleHeartbeatSeconds * 1000, rampConcurrency: options.rampConcurrency });
if (useReplication) fleet.agentOptions = { managedResync: true };
const cleanup = () => principal.proc?.kill("SIGKILL");
process.on("exit", cleanup);
process.on("SIGINT", () => process.exit(130));
process.on("SIGTERM", () => process.exit(143));

async function scenario<T extends { loadgenLag?: LoadgenLag }>(name: string, fn: () => Promise<T>): Promise<T | undefined> {
  if (!options.scenarios.includes(name)) return undefined;
  const lag = monitorEventLoopDelay({ resolution: 10 });
  lag.enable();
  try {
    const r = await fn();
    lag.disable();
    r.loadgenLag = { p99Ms: round(lag.percentile(99) / 1e6), maxMs: round(lag.max / 1e6) };
    log(`${name}: load generator event-loop delay p99 ${r.loadgenLag.p99Ms} ms, max ${r.loadgenLag.maxMs} ms`);
    return r;
  } catch (err) {
    lag.disable();
    errors[name] = (err as Error).stack ?? String(err);
    log(`${name} failed: ${(err as Error).message.split("\n")[0]}`);
    return undefined;
  }
}

try {
  if (useReplication) {
    log("replication: starting a control-plane kube-apiserver");
    replication = await Replication.start();
    principal.opts.extraArgs.push(...replication.principalArgs());
  }
  log(`principal (${options.runner}) on 127.0.0.1:${port}, log ${principal.opts.logFile}`);
  const startMs = await principal.start();
  log(`principal healthy after ${round(startMs)} ms`);
  const ctx: Ctx = { principal, fleet, port, replication, log };
  if (replication) {
    const t0 = performance.now();
    await replication.ensureNamespaces(Array.from({ length: options.fleet }, (_, i) => `agent-${i}`));
    log(`replication: ${options.fleet} agent namespaces ready in ${round((performance.now() - t0) / 1000)} s`);
  }

  run.idleMemory = await scenario("idle", () => idleMemory(ctx, options.agents, options.settleSeconds * 1000));

  if (fleet.size > options.fleet) await fleet.shrink(options.fleet);
  else if (fleet.size < options.fleet) {
    const ms = await fleet.grow(options.fleet);
    log(`fleet: ${fleet.size} agents connected in ${round(ms / 1000)} s`);
  }

  run.heartbeatCpu = await scenario("cpu", () => heartbeatCpu(ctx, options.cpuWindowSeconds * 1000, options.heartbeatSeconds * 1000, options.settleSeconds * 1000));
  run.burst = await scenario("burst", () =>
    replication ? burstPrincipalToAgents(ctx, options.burstEvents, 120_000) : burstAgentToPrincipal(ctx, options.burstEvents, 60_000));
  run.fanout = replication ? await scenario("fanout", () => burstProjectFanout(ctx, options.fanoutProjects, 120_000)) : undefined;
  run.restart = await scenario("restart", async () => {
    const b = RECONNECT_BACKOFF;
    const r = await restart(ctx, `reconnect backoff reset once connected (full jitter, ${b.baseMs / 1000} s ×${b.factor}, cap ${b.capMs / 1000} s)`, 120_000);
    r.backoff = "on-connect";
    return r;
  });
  run.restartProductBackoff = await scenario("restart-never-reset", async () => {
    // As if every agent had already lived through 5 disconnects with a backoff that is never reset.
    for (const a of fleet.agents) a.setBackoff("never", 5);
    try {
      const b = RECONNECT_BACKOFF;
      const ceiling = Math.min(b.capMs, b.baseMs * b.factor ** 5) / 1000;
      const r = await restart(ctx, `backoff never reset, 5 earlier disconnects (first wait drawn from [0, ${round(ceiling, 2)} s))`, 120_000);
      r.backoff = "never";
      return r;
    } finally {
      for (const a of fleet.agents) a.setBackoff("on-connect");
    }
  });
} catch (err) {
  errors.setup = (err as Error).stack ?? String(err);
  log(`setup failed: ${(err as Error).message}`);
} finally {
  await fleet.shrink(0).catch(() => {});
  await principal.stop("SIGTERM").catch(() => 0);
  await replication?.stop().catch(() => {});
}

const result: RunResult = {
  date: new Date().toISOString(),
  optionsKey: JSON.stringify([options.agents, options.fleet, options.burstEvents, options.fanoutProjects, options.cpuWindowSeconds, options.heartbeatSeconds, options.runner, useReplication]),
  options,
  environment: {
    node: process.version,
    cpus: `${cpus().length}× ${cpus()[0]?.model ?? "?"}`,
    memoryGiB: round(totalmem() / 2 ** 30),
    principal: options.runner,
    replication: useReplication,
    principalLogBytes: statSync(principal.opts.logFile, { throwIfNoEntry: false })?.size ?? 0,
  },
  ...run,
  errors,
  durationSeconds: round((performance.now() - started) / 1000),
};
const written = writeResults(args.out!, result);
log(`wrote ${written.md} and ${written.json} (${written.comparable.length} comparable run(s) in the history)`);
if (Object.keys(errors).length === 0 && !args["keep-logs"]) rmSync(workDir, { recursive: true, force: true });
else log(`principal log kept: ${principal.opts.logFile}`);
process.exit(Object.keys(errors).length ? 1 : 0);
