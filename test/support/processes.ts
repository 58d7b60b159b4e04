/**
 * Runs the program (from source, the bundles or the executable) as a child
 * process, collects its output and waits for log lines. Every started process
 * is killed when the test process exits, so a failing test leaves nothing behind.
 */
import { spawn, spawnSync, type ChildProcess, type SpawnOptions } from "node:child_process";
import { createServer } from "node:net";
import { fileURLToPath } from "node:url";

export const ROOT = fileURLToPath(new URL("../../", import.meta.url));
export const EXECUTABLE = `${ROOT}dist/argocd-agent-linux-x64`;
export const DENO = `${ROOT}node_modules/.bin/deno`;

/** How to start the program: from source with this Node, or a built artefact. */
export type Runner = "source" | "cjs" | "executable" | "deno";

export function command(runner: Runner): [string, string[]] {
  switch (runner) {
    case "source":
      return [process.execPath, [`${ROOT}src/main.ts`]];
    case "cjs":
      return [process.execPath, [`${ROOT}dist/argocd-agent.cjs`]];
    case "executable":
      return [EXECUTABLE, []];
    case "deno":
      return [DENO, ["run", "-A", `${ROOT}dist/argocd-agent.mjs`]];
  }
}

export interface RunResult {
  code: number | null;
  stdout: string;
  stderr: string;
}

/** Runs to completion (for --help, version and start-up errors). */
export function runSync(args: string[], env: Record<string, string> = {}, runner: Runner = "source"): RunResult {
  const [bin, pre] = command(runner);
  const res = spawnSync(bin, [...pre, ...args], {
    encoding: "utf8",
    env: { PATH: process.env.PATH ?? "", HOME: process.env.HOME ?? "/tmp", ...env },
    timeout: 30_000,
  });
  return { code: res.status, stdout: res.stdout, stderr: res.stderr };
}

const live = new Set<ChildProcess>();
process.on("exit", () => {
  for (const p of live) p.kill("SIGKILL");
});

export interface Running {
  proc: ChildProcess;
  output(): string;
  waitFor(re: RegExp, timeoutMs?: number): Promise<RegExpMatchArray>;
  stop(signal?: NodeJS.Signals, timeoutMs?: number): Promise<number | null>;
}

/** Starts a long-running component and watches its combined output. */
export function start(args: string[], env: Record<string, string> = {}, runner: Runner = "source", opts: SpawnOptions = {}): Running {
  const [bin, pre] = command(runner);
  return startRaw(bin, [...pre, ...args], env, opts);
}

export function startRaw(bin: string, args: string[], env: Record<string, string> = {}, opts: SpawnOptions = {}): Running {
  const proc = spawn(bin, args, {
    env: { PATH: process.env.PATH ?? "", HOME: process.env.HOME ?? "/tmp", ...env },
    stdio: ["ignore", "pipe", "pipe"],
    ...opts,
  });
  live.add(proc);
  let out = "";
  const waiters = new Set<() => void>();
  const onData = (d: Buffer) => {
    out += d.toString();
    for (const w of waiters) w();
  };
  proc.stdout?.on("data", onData);
  proc.stderr?.on("data", onData);
  const exited = new Promise<number | null>((resolve) =>
    proc.on("exit", (code, sig) => {
      live.delete(proc);
      for (const w of waiters) w();
      resolve(code ?? (sig ? 128 : null));
    }),
  );
  return {
    proc,
    output: () => out,
    waitFor(re, timeoutMs = 20_000) {
      return new Promise((resolve, reject) => {
        const check = () => {
          const m = out.match(re);
          if (m) {
            done();
            resolve(m);
          } else if (proc.exitCode !== null || proc.signalCode !== null) {
            done();
            reject(new Error(`process exited (${proc.exitCode ?? proc.signalCode}) before ${re}; output:\n${out}`));
          }
        };
        const timer = setTimeout(() => {
          done();
          reject(new Error(`timed out after ${timeoutMs} ms waiting for ${re}; output:\n${out}`));
        }, timeoutMs);
        const done = () => {
          clearTimeout(timer);
          waiters.delete(check);
        };
        waiters.add(check);
        check();
      });
    },
    async stop(signal = "SIGTERM", timeoutMs = 10_000) {
      if (proc.exitCode !== null || proc.signalCode !== null) return proc.exitCode;
      proc.kill(signal);
      const timer = setTimeout(() => proc.kill("SIGKILL"), timeoutMs);
      const code = await exited;
      clearTimeout(timer);
      return code;
    },
  };
}

/** A free TCP port on 127.0.0.1 (closed again before it is returned). */
export async function freePort(): Promise<number> {
  const srv = createServer();
  await new Promise<void>((r) => srv.listen(0, "127.0.0.1", () => r()));
  const port = (srv.address() as { port: number }).port;
  await new Promise<void>((r) => srv.close(() => r()));
  return port;
}

/**
 * Principal flags that turn off the live-resource listeners (resource proxy,
 * redis proxy), which are on by default as upstream and need TLS material and
 * fixed ports; for tests about something else.
 */
export const LIVE_ROOMS_OFF = ["--enable-resource-proxy=false", "--disable-redis-proxy=true"];

/**
 * The smallest valid principal: plaintext on loopback with header auth and a
 * generated JWT key, so it needs no certificates and no Kubernetes.
 */
export function principalDevArgs(healthzPort: number, listenPort = 0): string[] {
  return [
    "principal", "-n", "argocd",
    "--listen-host", "127.0.0.1", "--listen-port", String(listenPort),
    "--insecure-plaintext", "--auth", "header:x-agent-id:^(.+)$", "--insecure-jwt-generate",
    "--healthz-port", String(healthzPort), "--metrics-port", "0",
    ...LIVE_ROOMS_OFF,
  ];
}
