/**
 * Start-up of the release executables (`npm run bench:release`, after `npm run release`): the
 * x64 one as shipped (V8 code cache in the SEA blob) next to the same executable built without
 * a code cache, which is what the arm64 one has to be, and the arm64 one under
 * qemu-aarch64-static (emulated, so only its own order of magnitude means anything). Wall time
 * and the child's CPU time (user+sys, from /proc/self/stat's cutime/cstime), median of N
 * interleaved runs after one warm-up round; results in bench/results/release-startup.json.
 *
 * @example
 *   npm run release && npm run bench:release -- --runs 21
 */
import { spawnSync } from "node:child_process";
import { existsSync, mkdirSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { injectSeaBlob, makeSeaBlob } from "../scripts/release/sea.ts";
import { ARM64_SYSROOT, QEMU_AARCH64 } from "../test/support/distroless.ts";

const runs = Number(process.argv[process.argv.indexOf("--runs") + 1]) || 15;
const armRuns = Math.max(3, Math.round(runs / 3));
const REL = "dist/release";
if (!existsSync(`${REL}/argocd-agent-linux-x64`)) {
  console.error(`${REL} is missing: run npm run release first`);
  process.exit(1);
}

const work = mkdtempSync(join(tmpdir(), "bench-release-"));
const noCache = join(work, "argocd-agent-linux-x64-no-code-cache");
injectSeaBlob(process.execPath, makeSeaBlob(`${REL}/argocd-agent.cjs`, false, work), noCache);

/** Children's CPU time so far in ms (cutime + cstime, clock ticks of 10 ms). */
function childCpuMs(): number {
  const fields = readFileSync("/proc/self/stat", "utf8").split(") ")[1].split(" ");
  return (Number(fields[13]) + Number(fields[14])) * 10;
}

const runners: Record<string, { cmd: string[]; n: number }> = {
  "x64, code cache (shipped)": { cmd: [`${REL}/argocd-agent-linux-x64`], n: runs },
  "x64, no code cache": { cmd: [noCache], n: runs },
  "arm64 under qemu (emulated, no code cache)": { cmd: [QEMU_AARCH64, "-L", join(ARM64_SYSROOT, ".."), `${REL}/argocd-agent-linux-arm64`], n: armRuns },
};
const cases: Record<string, string[]> = { version: ["version"], "principal --help": ["principal", "--help"] };
const median = (xs: number[]) => {
  const s = [...xs].sort((a, b) => a - b);
  return s.length % 2 ? s[(s.length - 1) / 2] : (s[s.length / 2 - 1] + s[s.length / 2]) / 2;
};

const results: { case: string; runner: string; wallMs: number; cpuMs: number; runs: number }[] = [];
try {
  for (const [caseName, args] of Object.entries(cases)) {
    const wall: Record<string, number[]> = {};
    const cpu: Record<string, number[]> = {};
    for (let i = 0; i <= runs; i++) {
      for (const [name, { cmd, n }] of Object.entries(runners)) {
        if (i > n) continue;
        const c0 = childCpuMs();
        const t0 = performance.now();
        const res = spawnSync(cmd[0], [...cmd.slice(1), ...args], { stdio: "ignore" });
        const ms = performance.now() - t0;
        if (res.status !== 0) throw new Error(`${name} ${args.join(" ")} exited ${res.status}`);
        if (i === 0) continue; // the first round warms the page cache
        (wall[name] ??= []).push(ms);
        (cpu[name] ??= []).push(childCpuMs() - c0);
      }
    }
    for (const name of Object.keys(runners)) {
      results.push({ case: caseName, runner: name, wallMs: +median(wall[name]).toFixed(1), cpuMs: median(cpu[name]), runs: wall[name].length });
    }
  }
} finally {
  rmSync(work, { recursive: true, force: true });
}

const base = (c: string) => results.find((r) => r.case === c && r.runner.startsWith("x64, code"))!;
console.log(`release executables, start-up (median; ${new Date().toISOString()})`);
console.log("| case | executable | runs | wall ms | CPU ms | wall vs shipped x64 |\n|---|---|---|---|---|---|");
for (const r of results) console.log(`| ${r.case} | ${r.runner} | ${r.runs} | ${r.wallMs} | ${r.cpuMs} | ${(r.wallMs / base(r.case).wallMs).toFixed(2)}× |`);
mkdirSync("bench/results", { recursive: true });
writeFileSync("bench/results/release-startup.json", JSON.stringify({ date: new Date().toISOString(), runs, armRuns, results }, null, 2) + "\n");
