/**
 * The principal under test, as a child process, measured from outside:
 * VmRSS / RssAnon from /proc/<pid>/status and utime+stime from
 * /proc/<pid>/stat. Its output goes straight to a log file (not through this
 * process) so log volume costs the principal, not the load generator.
 */
import { spawn, type ChildProcess } from "node:child_process";
import { closeSync, openSync, readFileSync } from "node:fs";
import { setTimeout as sleep } from "node:timers/promises";
import { command, principalDevArgs, type Runner } from "../../test/support/processes.ts";

/** Linux USER_HZ; /proc/<pid>/stat counts CPU time in these ticks. */
const CLK_TCK = 100;

export interface PrincipalOptions {
  listenPort: number;
  healthzPort: number;
  runner: Runner;
  logFile: string;
  logLevel: string;
  /** Extra arguments, e.g. --kubeconfig for replication. */
  extraArgs: string[];
  /**
   * Start Node with --inspect on loopback so the bench can force a full GC and
   * read process.memoryUsage() before memory samples (not for the executable).
   */
  inspect: boolean;
}

export interface MemorySample {
  /** Resident set, bytes. */
  rss: number;
  /** Anonymous resident memory (heap, malloc, stacks), bytes. */
  rssAnon: number;
}

/** Memory after a forced full GC, through the inspector. */
export interface GcMemorySample {
  rss: number;
  heapUsed: number;
  heapTotal: number;
  /** C++ objects bound to JS (includes Buffers) — not nghttp2's own allocations. */
  external: number;
}

export class PrincipalProcess {
  readonly opts: PrincipalOptions;
  proc: ChildProcess | undefined;
  private exited: Promise<number | null> | undefined;
  private inspector: Inspector | undefined;

  constructor(opts: PrincipalOptions) {
    this.opts = opts;
  }

  get pid(): number {
    const pid = this.proc?.pid;
    if (pid === undefined) throw new Error("principal is not running");
    return pid;
  }

  /** Starts it and resolves once /healthz answers (the gRPC port is bound before that). Returns ms taken. */
  async start(timeoutMs = 30_000): Promise<number> {
    const t0 = performance.now();
    const [bin, pre] = command(this.opts.runner);
    const fd = openSync(this.opts.logFile, "a");
    const inspect = this.opts.inspect && this.opts.runner !== "executable" ? ["--inspect=127.0.0.1:0"] : [];
    const args = [...inspect, ...pre, ...principalDevArgs(this.opts.healthzPort, this.opts.listenPort), "--log-level", this.opts.logLevel, ...this.opts.extraArgs];
    const proc = spawn(bin, args, {
      env: { PATH: process.env.PATH ?? "", HOME: process.env.HOME ?? "/tmp" },
      stdio: ["ignore", fd, fd],
    });
    closeSync(fd);
    this.proc = proc;
    this.exited = new Promise((resolve) => proc.on("exit", (code, sig) => resolve(code ?? (sig ? 128 : null))));
    const deadline = Date.now() + timeoutMs;
    while (Date.now() < deadline) {
      if (proc.exitCode !== null || proc.signalCode !== null) break;
      const ok = await fetch(`http://127.0.0.1:${this.opts.healthzPort}/healthz`).then((r) => r.ok, () => false);
      if (ok) {
        const url = inspect.length ? [...readFileSync(this.opts.logFile, "utf8").matchAll(/Debugger listening on (ws:\/\/\S+)/g)].pop()?.[1] : undefined;
        this.inspector = url ? new Inspector(url) : undefined;
        return performance.now() - t0;
      }
      await sleep(25);
    }
    const tail = readFileSync(this.opts.logFile, "utf8").slice(-4000);
    await this.stop("SIGKILL");
    throw new Error(`principal did not become healthy within ${timeoutMs} ms; log tail:\n${tail}`);
  }

  /** Sends the signal and waits for the exit (SIGKILL after timeoutMs). Returns ms taken. */
  async stop(signal: NodeJS.Signals = "SIGTERM", timeoutMs = 15_000): Promise<number> {
    const proc = this.proc;
    if (!proc || proc.exitCode !== null || proc.signalCode !== null) return 0;
    const t0 = performance.now();
    this.inspector?.close();
    this.inspector = undefined;
    proc.kill(signal);
    const timer = setTimeout(() => proc.kill("SIGKILL"), timeoutMs);
    await this.exited;
    clearTimeout(timer);
    return performance.now() - t0;
  }

  memory(): MemorySample {
    const status = readFileSync(`/proc/${this.pid}/status`, "utf8");
    const kb = (name: string) => Number(status.match(new RegExp(`^${name}:\\s+(\\d+) kB`, "m"))?.[1] ?? NaN) * 1024;
    return { rss: kb("VmRSS"), rssAnon: kb("RssAnon") };
  }

  /** CPU seconds used so far (user + system). */
  cpuSeconds(): number {
    const stat = readFileSync(`/proc/${this.pid}/stat`, "utf8");
    // Fields after the parenthesised command name; utime and stime are fields 14 and 15.
    const fields = stat.slice(stat.lastIndexOf(")") + 2).split(" ");
    return (Number(fields[11]) + Number(fields[12])) / CLK_TCK;
  }

  /** Forces two full GCs and returns memory afterwards; undefined without the inspector. */
  async memoryAfterGc(): Promise<GcMemorySample | undefined> {
    if (!this.inspector) return undefined;
    await this.inspector.call("HeapProfiler.collectGarbage");
    await this.inspector.call("HeapProfiler.collectGarbage");
    await sleep(500);
    const res = (await this.inspector.call("Runtime.evaluate", { expression: "JSON.stringify(process.memoryUsage())", returnByValue: true })) as { result: { value: string } };
    const m = JSON.parse(res.result.value) as { rss: number; heapUsed: number; heapTotal: number; external: number };
    return { rss: this.memory().rss, heapUsed: m.heapUsed, heapTotal: m.heapTotal, external: m.external };
  }

  /**
   * Waits settleMs, then samples memory every 500 ms for sampleMs and returns
   * the median of each field (RSS moves with GC; one sample is noise).
   */
  async settledMemory(settleMs: number, sampleMs = 2000): Promise<MemorySample> {
    await sleep(settleMs);
    const samples: MemorySample[] = [];
    const end = Date.now() + sampleMs;
    do {
      samples.push(this.memory());
      await sleep(500);
    } while (Date.now() < end);
    const med = (xs: number[]) => [...xs].sort((a, b) => a - b)[Math.floor(xs.length / 2)]!;
    return { rss: med(samples.map((s) => s.rss)), rssAnon: med(samples.map((s) => s.rssAnon)) };
  }
}

/** A minimal Chrome DevTools Protocol client over Node's WebSocket. */
class Inspector {
  private readonly ws: WebSocket;
  private readonly open: Promise<void>;
  private nextId = 1;
  private readonly pending = new Map<number, { resolve: (v: unknown) => void; reject: (e: Error) => void }>();

  constructor(url: string) {
    this.ws = new WebSocket(url);
    this.open = new Promise((resolve, reject) => {
      this.ws.addEventListener("open", () => resolve(), { once: true });
      this.ws.addEventListener("error", () => reject(new Error(`inspector ${url}: connection failed`)), { once: true });
    });
    this.open.catch(() => {});
    this.ws.addEventListener("message", (ev) => {
      const msg = JSON.parse(String(ev.data)) as { id?: number; result?: unknown; error?: { message: string } };
      const p = msg.id !== undefined ? this.pending.get(msg.id) : undefined;
      if (!p) return;
      this.pending.delete(msg.id!);
      if (msg.error) p.reject(new Error(msg.error.message));
      else p.resolve(msg.result);
    });
  }

  async call(method: string, params: object = {}): Promise<unknown> {
    await this.open;
    const id = this.nextId++;
    return new Promise((resolve, reject) => {
      this.pending.set(id, { resolve, reject });
      this.ws.send(JSON.stringify({ id, method, params }));
    });
  }

  close(): void {
    this.ws.close();
  }
}
