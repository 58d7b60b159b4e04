#!/usr/bin/env node
/**
 * Footprint bench (issue #19): what the shipped program costs where every
 * cluster pays it, next to Node's own floor (`node -e 0`) measured in the
 * same run. For each build variant (the executable and the CJS bundle under
 * node by default), interleaved run by run so machine noise hits all alike:
 *   - `version`: CPU seconds, wall, peak RSS (median of --exec-runs);
 *   - principal start → /readyz 200: CPU and wall; its RSS with 0 agents and
 *     with --agents simulated agents (bench/scale/fleet.ts);
 *   - one real managed agent (bench/replication.ts's flags): start → connected,
 *     RSS idle and 5 s after a burst of --updates Application updates, and the
 *     principal's RSS next to it.
 * The principal and agents talk to real kube-apiservers (test/support/kube-env.ts).
 * Writes bench/results/footprint-<date>.md and footprint.json. Figures only.
 *
 * Usage: npm run bench:footprint [-- --runs 3 --runner executable,cjs --dist dist --agents 100,1000 --updates 1000]
 */
import { generateKeyPairSync } from "node:crypto";
import { mkdtempSync, readFileSync, rmSync, writeFileSync } from "node:fs";
import { cpus, loadavg, release, tmpdir, totalmem } from "node:os";
import { join } from "node:path";
import { parseArgs } from "node:util";
import { bcryptHash } from "../src/auth/bcrypt.ts";
import { createKubeClient } from "../test/support/kube-client.ts";
import { ensureNamespace } from "../src/kube/crud.ts";
import { configureLogging } from "../src/observability/log.ts";
import { startKubeEnv } from "../test/support/kube-env.ts";
import { ROOT } from "../test/support/processes.ts";
import { variant, variantEnv, type RunnerName, type Variant } from "./footprint/components.ts";
import { writeFootprint, type FootprintResult, type VariantRuns } from "./footprint/report.ts";
import { AGENT, execRun, fleetRun, pairRun, type Ctx } from "./footprint/scenarios.ts";

const SCENARIOS = ["exec", "fleet", "pair"] as const;

const { values: args } = parseArgs({
  options: {
    runs: { type: "string", default: "3" },
    "exec-runs": { type: "string", default: "7" },
    runner: { type: "string", default: "executable,cjs" },
    dist: { type: "string", default: "dist" },
    "node-options": { type: "string", multiple: true },
    agents: { type: "string", default: "100,1000" },
    updates: { type: "string", default: "1000" },
    settle: { type: "string", default: "5" },
    scenarios: { type: "string", default: SCENARIOS.join(",") },
    out: { type: "string", default: join(ROOT, "bench/results") },
    help: { type: "boolean", short: "h", default: false },
  },
});
if (args.help) {
  process.stdout.write(`node bench/footprint.ts [options]
  --runs 3                  runs of the principal and agent scenarios (medians)
  --exec-runs 7             runs of node -e 0 and version
  --runner executable,cjs   how to run the program: executable, cjs (node on the bundle), source
  --dist dist               build directories, comma-separated (each measured with each runner, interleaved)
  --node-options=...        NODE_OPTIONS for the program's processes, e.g. --node-options=--max-semi-space-size=4;
                            repeat to compare several in the same run (--node-options= for none); the executable
                            starts with its own --max-semi-space-size (SEA execArgv), which wins over NODE_OPTIONS's
  --agents 100,1000         simulated-agent levels for the principal's RSS
  --updates 1000            Applications created, then each updated once, for the agent's burst
  --settle 5                seconds a component settles before its RSS is sampled
  --scenarios ${SCENARIOS.join(",")}
  --out bench/results
`);
  process.exit(0);
}

const positive = (flag: string, raw: string): number => {
  const n = Number(raw);
  if (!Number.isInteger(n) || n < 1) {
    process.stderr.write(`--${flag} must be a positive integer (got ${raw})\n`);
    process.exit(2);
  }
  return n;
};
const options = {
  runs: positive("runs", args.runs!),
  execRuns: positive("exec-runs", args["exec-runs"]!),
  runners: args.runner!.split(",") as RunnerName[],
  dists: args.dist!.split(","),
  nodeOptions: args["node-options"] ?? [""],
  agents: args.agents!.split(",").map((n) => positive("agents", n)),
  updates: positive("updates", args.updates!),
  settleSeconds: positive("settle", args.settle!),
  scenarios: args.scenarios!.split(","),
};
for (const s of options.scenarios) {
  if (!(SCENARIOS as readonly string[]).includes(s)) {
    process.stderr.write(`--scenarios: unknown scenario ${s}; use ${SCENARIOS.join(",")}\n`);
    process.exit(2);
  }
}
let variants: Variant[];
try {
  variants = options.dists.flatMap((d) => options.runners.flatMap((r) => options.nodeOptions.map((o) => variant(r, d, o))));
} catch (err) {
  process.stderr.write(`${(err as Error).message}\n`);
  process.exit(2);
}

configureLogging({ defaultLevel: "error" });
const started = performance.now();
const log = (msg: string) => process.stdout.write(`[${((performance.now() - started) / 1000).toFixed(1).padStart(6)} s] ${msg}\n`);
const runsOf: VariantRuns[] = variants.map((v) => ({ label: v.label, runner: v.runner, version: [], fleet: [], pair: [] }));
const floor: FootprintResult["floor"] = [];
const errors: Record<string, string> = {};
const wants = (s: string) => options.scenarios.includes(s);
const load0 = loadavg()[0]!;

if (wants("exec")) {
  log(`node -e 0 and version, ${options.execRuns} runs each`);
  for (let i = 0; i < options.execRuns + 1; i++) {
    const f = await execRun(process.execPath, ["-e", "0"]);
    const vs = [];
    for (const v of variants) vs.push(await execRun(v.bin, [...v.pre, "version"], variantEnv(v)));
    if (i === 0) continue; // the first round warms the page cache
    floor.push(f);
    vs.forEach((r, j) => runsOf[j]!.version.push(r));
  }
}

if (wants("fleet") || wants("pair")) {
  log("starting kube-apiservers (control plane, agent cluster)");
  const env = await startKubeEnv({ clusters: ["control-plane", AGENT] });
  const tmp = mkdtempSync(join(tmpdir(), "bench-footprint-"));
  try {
    writeFileSync(join(tmp, "passwd"), `${AGENT}:${await bcryptHash(`secret-${AGENT}`, 4)}\n`);
    writeFileSync(join(tmp, "creds"), `${AGENT}:secret-${AGENT}\n`);
    const { privateKey } = generateKeyPairSync("rsa", { modulusLength: 2048 });
    writeFileSync(join(tmp, "jwt.key"), privateKey.export({ type: "pkcs8", format: "pem" }));
    const cp = createKubeClient(env.cluster("control-plane").kubeConfig);
    const ctx: Ctx = {
      cp, cpKubeconfig: env.cluster("control-plane").kubeconfigPath,
      agentCluster: createKubeClient(env.cluster(AGENT).kubeConfig), agentKubeconfig: env.cluster(AGENT).kubeconfigPath,
      passwd: join(tmp, "passwd"), jwtKey: join(tmp, "jwt.key"), creds: join(tmp, "creds"), settleMs: options.settleSeconds * 1000, log,
    };
    if (wants("fleet")) {
      const most = Math.max(0, ...options.agents);
      log(`creating ${most} agent namespaces on the control plane`);
      const names = Array.from({ length: most }, (_, i) => `agent-${i}`);
      let next = 0;
      await Promise.all(Array.from({ length: 16 }, async () => {
        while (next < names.length) await ensureNamespace(cp, names[next++]!);
      }));
    }
    for (let run = 1; run <= options.runs; run++) {
      for (const [i, v] of variants.entries()) {
        for (const s of ["fleet", "pair"] as const) {
          if (!wants(s)) continue;
          log(`run ${run}/${options.runs}, ${v.label}: ${s}`);
          try {
            if (s === "fleet") runsOf[i]!.fleet.push(await fleetRun(ctx, v, options.agents));
            else runsOf[i]!.pair.push(await pairRun(ctx, v, options.updates));
          } catch (err) {
            errors[`${v.label} ${s} run ${run}`] = (err as Error).stack ?? String(err);
            log(`${v.label} ${s} failed: ${(err as Error).message.split("\n")[0]}`);
          }
        }
      }
    }
  } finally {
    await env.stop();
    rmSync(tmp, { recursive: true, force: true });
  }
}

const result: FootprintResult = {
  date: new Date().toISOString(),
  durationSeconds: Math.round((performance.now() - started) / 1000),
  options: { ...options, variants: variants.map((v) => v.label) },
  environment: {
    node: process.version,
    cpus: `${cpus().length}× ${cpus()[0]?.model ?? "?"}`,
    memoryGiB: Math.round((totalmem() / 2 ** 30) * 10) / 10,
    kernel: release(),
    loadAverage1m: { start: Math.round(load0 * 100) / 100, end: Math.round(loadavg()[0]! * 100) / 100 },
    // One non-ASCII byte makes V8 hold the whole bundle source as a two-byte string (+4 MiB in every process).
    nonAsciiBundleBytes: Object.fromEntries(variants.filter((v) => v.runner === "cjs").map((v) => [v.label, readFileSync(v.pre[0]!).filter((b) => b > 127).length])),
  },
  floor,
  variants: runsOf,
  errors,
};
const written = writeFootprint(args.out!, result);
process.stdout.write("\n" + readFileSync(written.md, "utf8"));
log(`wrote ${written.md} and ${written.json}`);
process.exit(Object.keys(errors).length ? 1 : 0);
