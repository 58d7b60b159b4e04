/**
 * The footprint bench's report: medians of the runs per variant, each next to
 * Node's own floor measured in the same run (`node -e 0`: peak RSS and CPU),
 * written as bench/results/footprint-<date>.md and bench/results/footprint.json.
 *
 * @example
 *   const { md } = writeFootprint("bench/results", result);
 */
import { mkdirSync, writeFileSync } from "node:fs";
import { join } from "node:path";
import type { ExitRun, ProcSample } from "./proc.ts";
import type { FleetFigures, PairFigures } from "./scenarios.ts";

export interface VariantRuns {
  label: string;
  runner: string;
  version: ExitRun[];
  fleet: FleetFigures[];
  pair: PairFigures[];
}

export interface FootprintResult {
  date: string;
  durationSeconds: number;
  options: Record<string, unknown>;
  environment: Record<string, unknown>;
  floor: ExitRun[];
  variants: VariantRuns[];
  errors: Record<string, string>;
}

const MiB = 1048576;

function median(xs: number[]): number {
  const s = [...xs].sort((a, b) => a - b);
  const m = s.length >> 1;
  return s.length === 0 ? NaN : s.length % 2 ? s[m]! : (s[m - 1]! + s[m]!) / 2;
}

const fmt = (x: number, d: number) => (Number.isFinite(x) ? x.toFixed(d) : "–");

interface Row {
  figure: string;
  unit: string;
  digits: number;
  /** Values of each run. */
  values: (v: VariantRuns) => number[];
  /** "rss" and "cpu" rows are also shown as a multiple of the node -e 0 floor. */
  floor?: "rss" | "cpu" | "wall";
}

function rows(levels: number[], updates: number): Row[] {
  const fleetAt = (n: number, k: keyof ProcSample) => (v: VariantRuns) => v.fleet.map((f) => f.byAgents.find((b) => b.agents === n)?.sample[k] ?? NaN);
  const perAgent = (n: number) => (v: VariantRuns) =>
    v.fleet.map((f) => {
      const at = f.byAgents.find((b) => b.agents === n)?.sample.rss ?? NaN;
      return (at - f.byAgents[0]!.sample.rss) / 1024 / n;
    });
  const pair = (fn: (p: PairFigures) => number) => (v: VariantRuns) => v.pair.map(fn);
  return [
    { figure: "`version`: CPU", unit: "s", digits: 2, values: (v) => v.version.map((r) => r.cpuSeconds), floor: "cpu" },
    { figure: "`version`: wall", unit: "ms", digits: 0, values: (v) => v.version.map((r) => r.wallMs), floor: "wall" },
    { figure: "`version`: peak RSS", unit: "MiB", digits: 1, values: (v) => v.version.map((r) => r.peakRssBytes / MiB), floor: "rss" },
    { figure: "principal start → ready: CPU", unit: "s", digits: 2, values: (v) => v.fleet.map((f) => f.readyCpuSeconds), floor: "cpu" },
    { figure: "principal start → ready: wall", unit: "ms", digits: 0, values: (v) => v.fleet.map((f) => f.readyMs), floor: "wall" },
    { figure: "principal RSS, 0 agents", unit: "MiB", digits: 1, values: (v) => fleetAt(0, "rss")(v).map((b) => b / MiB), floor: "rss" },
    { figure: "  of which anonymous (heap, malloc)", unit: "MiB", digits: 1, values: (v) => fleetAt(0, "rssAnon")(v).map((b) => b / MiB) },
    ...levels.flatMap((n): Row[] => [
      { figure: `principal RSS, ${n.toLocaleString("en")} simulated agents`, unit: "MiB", digits: 1, values: (v) => fleetAt(n, "rss")(v).map((b) => b / MiB), floor: "rss" },
      { figure: `  per agent over 0 agents`, unit: "KiB", digits: 1, values: perAgent(n) },
    ]),
    { figure: "agent start → connected: CPU", unit: "s", digits: 2, values: pair((p) => p.agentReadyCpuSeconds), floor: "cpu" },
    { figure: "agent start → connected: wall", unit: "ms", digits: 0, values: pair((p) => p.agentReadyMs), floor: "wall" },
    { figure: "agent RSS idle (one connection)", unit: "MiB", digits: 1, values: pair((p) => p.agentIdle.rss / MiB), floor: "rss" },
    { figure: "  of which anonymous (heap, malloc)", unit: "MiB", digits: 1, values: pair((p) => p.agentIdle.rssAnon / MiB) },
    { figure: "agent RSS 5 s after the burst", unit: "MiB", digits: 1, values: pair((p) => p.agentAfterBurst.rss / MiB), floor: "rss" },
    { figure: "  of which anonymous (heap, malloc)", unit: "MiB", digits: 1, values: pair((p) => p.agentAfterBurst.rssAnon / MiB) },
    { figure: "agent RSS 15 s after the burst", unit: "MiB", digits: 1, values: pair((p) => p.agentLater.rss / MiB), floor: "rss" },
    { figure: "agent peak RSS (whole run)", unit: "MiB", digits: 1, values: pair((p) => p.agentLater.hwm / MiB), floor: "rss" },
    { figure: "principal RSS, 1 agent, idle", unit: "MiB", digits: 1, values: pair((p) => p.principalIdle.rss / MiB), floor: "rss" },
    { figure: "principal RSS, 1 agent, 5 s after the burst", unit: "MiB", digits: 1, values: pair((p) => p.principalAfterBurst.rss / MiB), floor: "rss" },
    { figure: "principal RSS, 1 agent, 15 s after the burst", unit: "MiB", digits: 1, values: pair((p) => p.principalLater.rss / MiB), floor: "rss" },
    { figure: "burst: updates visible on the agent", unit: "/s", digits: 0, values: pair((p) => updates / p.burstSeconds) },
    // The cost side of V8 heap settings: CPU for the creates and the burst (idle sample → 5 s after the last update).
    { figure: "burst: agent CPU (creates + updates)", unit: "s", digits: 2, values: pair((p) => p.agentAfterBurst.cpuSeconds - p.agentIdle.cpuSeconds) },
    { figure: "burst: principal CPU (creates + updates)", unit: "s", digits: 2, values: pair((p) => p.principalAfterBurst.cpuSeconds - p.principalIdle.cpuSeconds) },
  ];
}

export function markdown(r: FootprintResult): string {
  const updates = Number(r.options["updates"]);
  const levels = (r.options["agents"] as number[]) ?? [];
  const floor = {
    rss: median(r.floor.map((f) => f.peakRssBytes / MiB)),
    cpu: median(r.floor.map((f) => f.cpuSeconds)),
    wall: median(r.floor.map((f) => f.wallMs)),
  };
  const out: string[] = [];
  out.push("# Footprint bench (bench/footprint.ts)", "");
  out.push(`Run ${r.date}, ${r.durationSeconds} s. Options: \`${JSON.stringify(r.options)}\`.`);
  out.push(`Environment: \`${JSON.stringify(r.environment)}\`.`, "");
  out.push(
    "Figures, not pass/fail. Every process is measured from outside through /proc (VmRSS, VmHWM, RssAnon; utime+stime). " +
      "RSS of a running component is the median of 2 s of samples taken after it settled. " +
      "Medians of the runs; per-run values in brackets. Node's floor, `node -e 0` in the same run: " +
      `peak RSS ${fmt(floor.rss, 1)} MiB, CPU ${fmt(floor.cpu, 2)} s, wall ${fmt(floor.wall, 0)} ms (median of ${r.floor.length}).`,
    "",
  );
  // Each variant is compared with the first one run the same way (the same runner): before/after builds, flags.
  const bases = r.variants.map((v, i) => r.variants.findIndex((b, j) => j < i && b.runner === v.runner));
  const head = ["figure", ...r.variants.map((v) => v.label), ...r.variants.flatMap((v, i) => (bases[i]! >= 0 ? [`${v.label} / ${r.variants[bases[i]!]!.label}`] : []))];
  out.push(`| ${head.join(" | ")} |`, `|${head.map(() => "---").join("|")}|`);
  for (const row of rows(levels, updates)) {
    const meds = r.variants.map((v) => median(row.values(v)));
    const cells = r.variants.map((v, i) => {
      const vals = row.values(v);
      if (!vals.length) return "–";
      const ratio = row.floor ? ` · ${fmt(meds[i]! / floor[row.floor], 2)}× floor` : "";
      return `${fmt(meds[i]!, row.digits)} ${row.unit}${ratio} [${vals.map((x) => fmt(x, row.digits)).join(", ")}]`;
    });
    bases.forEach((b, i) => b >= 0 && cells.push(fmt(meds[i]! / meds[b]!, 2)));
    out.push(`| ${row.figure} | ${cells.join(" | ")} |`);
  }
  out.push("");
  out.push(
    "Scenarios: `version` run to completion; a principal (header auth, plaintext on loopback, replication against a real " +
      "kube-apiserver, resource and redis proxies off) started until /readyz answers 200, then measured with 0 and then " +
      `${levels.join(" and ")} simulated agents connected (bench/scale/fleet.ts: one HTTP/2 connection each, heartbeats every 30 s); ` +
      `a principal (userpass) and one real managed agent, each against its own kube-apiserver: the agent from start until connected, ` +
      `idle, then ${updates.toLocaleString("en")} Applications created and each updated once on the control plane (the burst), ` +
      "and both processes measured from 5 s and from 15 s after the last update was visible on the agent.",
  );
  if (Object.keys(r.errors).length) {
    out.push("", "## Errors", "");
    for (const [k, e] of Object.entries(r.errors)) out.push(`- ${k}: \`${e.split("\n")[0]}\``);
  }
  return out.join("\n") + "\n";
}

export function writeFootprint(dir: string, r: FootprintResult): { md: string; json: string } {
  mkdirSync(dir, { recursive: true });
  const md = join(dir, `footprint-${r.date.slice(0, 10)}.md`);
  const json = join(dir, "footprint.json");
  writeFileSync(md, markdown(r));
  writeFileSync(json, JSON.stringify(r, null, 2) + "\n");
  return { md, json };
}
