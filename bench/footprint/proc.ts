/**
 * Measures a process from outside, through /proc: resident memory (VmRSS,
 * RssAnon, RssFile, peak VmHWM) and CPU seconds (utime + stime). For a
 * short-lived command, `runToExit` polls the child synchronously until it is
 * a zombie: the event loop does not run meanwhile, so Node has not reaped it
 * and its /proc/<pid>/stat still holds the final CPU times of all its threads
 * (the peak RSS is the last VmHWM read, at most one poll before it exited).
 * Node offers no wait4() rusage for children; this needs no external tool.
 *
 * @example
 *   const r = await runToExit(process.execPath, ["-e", "0"]);
 *   // { cpuSeconds: 0.03, wallMs: 41, peakRssBytes: 44_000_000, code: 0 }
 *   const s = procSample(child.pid); // { rss, rssAnon, rssFile, hwm, cpuSeconds }
 */
import { spawn } from "node:child_process";
import { readFileSync } from "node:fs";

/** Linux USER_HZ; /proc/<pid>/stat counts CPU time in these ticks. */
const CLK_TCK = 100;

export interface ProcSample {
  rss: number;
  rssAnon: number;
  rssFile: number;
  /** Peak resident set so far (VmHWM). */
  hwm: number;
  cpuSeconds: number;
}

export interface ExitRun {
  code: number | null;
  cpuSeconds: number;
  wallMs: number;
  peakRssBytes: number;
}

function statFields(pid: number): string[] {
  const stat = readFileSync(`/proc/${pid}/stat`, "utf8");
  // Fields after the parenthesised command name: [0] state, [11] utime, [12] stime.
  return stat.slice(stat.lastIndexOf(")") + 2).split(" ");
}

/** CPU seconds used so far by pid (user + system, all threads). */
export function cpuSeconds(pid: number): number {
  const f = statFields(pid);
  return (Number(f[11]) + Number(f[12])) / CLK_TCK;
}

export function procSample(pid: number): ProcSample {
  const status = readFileSync(`/proc/${pid}/status`, "utf8");
  const kb = (name: string) => Number(status.match(new RegExp(`^${name}:\\s+(\\d+) kB`, "m"))?.[1] ?? NaN) * 1024;
  return { rss: kb("VmRSS"), rssAnon: kb("RssAnon"), rssFile: kb("RssFile"), hwm: kb("VmHWM"), cpuSeconds: cpuSeconds(pid) };
}

const pause = new Int32Array(new SharedArrayBuffer(4));

/** Runs a command to completion (output discarded) and measures it; see the module comment. */
export async function runToExit(bin: string, args: string[], env: NodeJS.ProcessEnv = { PATH: process.env.PATH ?? "", HOME: process.env.HOME ?? "/tmp" }): Promise<ExitRun> {
  const t0 = performance.now();
  const child = spawn(bin, args, { stdio: "ignore", env });
  const exited = new Promise<number | null>((resolve, reject) => {
    child.once("exit", (code) => resolve(code));
    child.once("error", reject);
  });
  const pid = child.pid;
  if (pid === undefined) throw new Error(`${bin}: could not start (${await exited.catch((e: Error) => e.message)})`);
  let peak = 0;
  let cpu = 0;
  let wallMs = 0;
  for (;;) {
    let f: string[];
    try {
      f = statFields(pid);
    } catch {
      throw new Error(`${bin} ${args.join(" ")}: /proc/${pid} vanished before it could be measured`);
    }
    if (f[0] === "Z") {
      wallMs = performance.now() - t0;
      cpu = (Number(f[11]) + Number(f[12])) / CLK_TCK;
      break;
    }
    const hwm = /^VmHWM:\s+(\d+) kB/m.exec(readFileSync(`/proc/${pid}/status`, "utf8"));
    if (hwm) peak = Math.max(peak, Number(hwm[1]) * 1024);
    Atomics.wait(pause, 0, 0, 1);
  }
  const code = await exited;
  return { code, cpuSeconds: cpu, wallMs, peakRssBytes: peak };
}

/** Median of each field over samples taken every intervalMs for durationMs (RSS moves with GC). */
export async function settledSample(pid: number, durationMs = 2000, intervalMs = 250): Promise<ProcSample> {
  const samples: ProcSample[] = [];
  const end = Date.now() + durationMs;
  do {
    samples.push(procSample(pid));
    await new Promise((r) => setTimeout(r, intervalMs));
  } while (Date.now() < end);
  const med = (k: keyof ProcSample) => [...samples.map((s) => s[k])].sort((a, b) => a - b)[Math.floor(samples.length / 2)]!;
  return { rss: med("rss"), rssAnon: med("rssAnon"), rssFile: med("rssFile"), hwm: med("hwm"), cpuSeconds: samples.at(-1)!.cpuSeconds };
}
