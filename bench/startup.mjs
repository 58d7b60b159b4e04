#!/usr/bin/env node
// Start-up time of the three ways to run the program, measured in one run so
// the ratios are comparable on a noisy machine: `version` and `principal --help`
// (which loads every module and renders the settings table), median of N runs.
// Usage: npm run bench:startup [-- --runs 21]
import { spawnSync } from "node:child_process";
import { existsSync, writeFileSync, mkdirSync } from "node:fs";

const runs = Number(process.argv[process.argv.indexOf("--runs") + 1]) || 15;
if (!existsSync("dist/argocd-agent-linux-x64")) {
  console.error("dist/ is missing: run npm run build first");
  process.exit(1);
}
const runners = {
  "executable (Node SEA)": ["dist/argocd-agent-linux-x64"],
  "node dist/argocd-agent.cjs": [process.execPath, "dist/argocd-agent.cjs"],
  "deno run -A dist/argocd-agent.mjs": ["node_modules/.bin/deno", "run", "-A", "dist/argocd-agent.mjs"],
};
const cases = { version: ["version"], "principal --help": ["principal", "--help"] };

const median = (xs) => {
  const s = [...xs].sort((a, b) => a - b);
  return s.length % 2 ? s[(s.length - 1) / 2] : (s[s.length / 2 - 1] + s[s.length / 2]) / 2;
};

const results = [];
for (const [caseName, args] of Object.entries(cases)) {
  const times = Object.fromEntries(Object.keys(runners).map((r) => [r, []]));
  // Interleave runners so machine noise hits all of them alike.
  for (let i = 0; i < runs + 1; i++) {
    for (const [name, [bin, ...pre]] of Object.entries(runners)) {
      const t0 = performance.now();
      const res = spawnSync(bin, [...pre, ...args], { stdio: "ignore" });
      const ms = performance.now() - t0;
      if (res.status !== 0) throw new Error(`${name} ${args.join(" ")} exited ${res.status}`);
      if (i > 0) times[name].push(ms); // the first round warms the page cache
    }
  }
  for (const [name, xs] of Object.entries(times)) results.push({ case: caseName, runner: name, medianMs: +median(xs).toFixed(1), runs: xs.length });
}

const base = (c) => results.find((r) => r.case === c && r.runner.startsWith("node "))?.medianMs ?? 1;
console.log(`start-up time, median of ${runs} runs (${new Date().toISOString()})`);
console.log("| case | runner | median ms | vs node cjs |\n|---|---|---|---|");
for (const r of results) console.log(`| ${r.case} | ${r.runner} | ${r.medianMs} | ${(r.medianMs / base(r.case)).toFixed(2)}× |`);
mkdirSync("bench/results", { recursive: true });
writeFileSync("bench/results/startup.json", JSON.stringify({ date: new Date().toISOString(), runs, results }, null, 2) + "\n");
