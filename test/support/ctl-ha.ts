/**
 * Helpers for the `argocd-agent ctl ha` tests: the CLI run from source as a
 * child process WITHOUT blocking this process (the servers it talks to may
 * live here), a real principal with `--ha-enabled` and its HA admin port,
 * and a TCP listener that accepts and never answers (a hung admin API).
 *
 * @example
 *   const p = await startHaPrincipal();
 *   const r = await ctlAsync(["ha", "status", "-a", p.adminAddress]);
 */
import { spawn } from "node:child_process";
import { createServer, type Server, type Socket } from "node:net";
import { command, freePort, principalDevArgs, start, type Running } from "./processes.ts";

export interface CtlResult {
  code: number | null;
  stdout: string;
  stderr: string;
  ms: number;
}

/** `argocd-agent ctl …args` from source, stdin = `input` (then closed). */
export function ctlAsync(args: string[], input = "", env: Record<string, string> = {}): Promise<CtlResult> {
  const [bin, pre] = command("source");
  const t0 = Date.now();
  return new Promise((resolve, reject) => {
    const child = spawn(bin, [...pre, "ctl", ...args], {
      env: { PATH: process.env.PATH ?? "", HOME: process.env.HOME ?? "/tmp", ...env },
      stdio: ["pipe", "pipe", "pipe"],
    });
    let stdout = "";
    let stderr = "";
    const timer = setTimeout(() => child.kill("SIGKILL"), 60_000);
    child.stdout.on("data", (d) => (stdout += d));
    child.stderr.on("data", (d) => (stderr += d));
    child.once("error", reject);
    child.once("close", (code) => {
      clearTimeout(timer);
      resolve({ code, stdout, stderr, ms: Date.now() - t0 });
    });
    child.stdin.on("error", () => {}); // the CLI may exit without reading stdin
    child.stdin.end(input);
  });
}

export interface HaPrincipal {
  proc: Running;
  adminPort: number;
  adminAddress: string;
  healthzPort: number;
  stop(): Promise<void>;
}

/**
 * A principal with `--ha-enabled` on loopback (plaintext, header auth, no
 * certificates; it needs no Kubernetes), its admin API on a free port.
 */
export async function startHaPrincipal(extra: string[] = []): Promise<HaPrincipal> {
  const healthzPort = await freePort();
  const adminPort = await freePort();
  const proc = start([...principalDevArgs(healthzPort), "--ha-enabled", "--ha-admin-port", String(adminPort), ...extra]);
  await proc.waitFor(new RegExp(`HA admin API listening.*127\\.0\\.0\\.1:${adminPort}`), 30_000);
  return {
    proc, adminPort, adminAddress: `127.0.0.1:${adminPort}`, healthzPort,
    stop: async () => void (await proc.stop()),
  };
}

/** Accepts TCP connections and never says a word: a hung server. */
export async function startBlackHole(): Promise<{ address: string; close(): Promise<void> }> {
  const sockets = new Set<Socket>();
  const server: Server = createServer((s) => {
    sockets.add(s);
    s.on("error", () => s.destroy());
    s.on("close", () => sockets.delete(s));
  });
  await new Promise<void>((r) => server.listen(0, "127.0.0.1", () => r()));
  return {
    address: `127.0.0.1:${(server.address() as { port: number }).port}`,
    close: async () => {
      for (const s of sockets) s.destroy();
      await new Promise<void>((r) => server.close(() => r()));
    },
  };
}
