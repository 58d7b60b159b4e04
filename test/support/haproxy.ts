/**
 * A real haproxy (Debian package `haproxy`) for tests: one TCP-mode frontend
 * on a free loopback port in front of a set of backend servers, each
 * health-checked by HTTP on its own port (`option httpchk GET <path>`, 2xx =
 * up). A server marked down has its open sessions shut
 * (`on-marked-down shutdown-sessions`), so long-lived gRPC connections move
 * too. The HA e2e test uses it as the GSLB / global load balancer that sits in
 * front of two principals and follows whichever answers `/healthz` with 200.
 * TLS passes through untouched (TCP mode), so clients see the backends'
 * certificates. `states()` reads the servers' check status from the admin
 * socket (`show stat`).
 *
 * @example
 *   const lb = await startHaproxy({ backends: [{ name: "p1", port: 8443, checkPort: 8003 }] });
 *   await lb.waitForStates({ p1: "UP" });
 *   … dial 127.0.0.1:${lb.port} …
 *   await lb.stop();
 */
import { spawnSync } from "node:child_process";
import { mkdtempSync, rmSync, writeFileSync } from "node:fs";
import { createConnection } from "node:net";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { setTimeout as sleep } from "node:timers/promises";
import { freePort, startRaw, type Running } from "./processes.ts";

export interface HaproxyBackend {
  /** Server name in haproxy (letters, digits, - and _). */
  name: string;
  /** Where traffic goes (host 127.0.0.1). */
  port: number;
  /** Port of the HTTP health endpoint. */
  checkPort: number;
}

export interface HaproxyOptions {
  backends: HaproxyBackend[];
  /** Health check request path (default /healthz). */
  checkPath?: string;
  /** Interval between checks (default 300 ms); a server flips after `fall`/`rise` (default 2) checks. */
  checkIntervalMs?: number;
  fall?: number;
  rise?: number;
}

/** haproxy's check status of a server: "UP", "DOWN", "UP 1/2" (going down), "DOWN 1/2" (going up), "no check"… */
export type ServerStates = Record<string, string>;

export interface Haproxy {
  port: number;
  /** 127.0.0.1:<port> */
  address: string;
  proc: Running;
  /** The haproxy.cfg written, for failure messages. */
  config: string;
  states(): Promise<ServerStates>;
  /** Waits until every named server has exactly the given status; fails with the last states after the timeout. */
  waitForStates(want: ServerStates, timeoutMs?: number): Promise<void>;
  stop(): Promise<void>;
}

const NAME = /^[A-Za-z0-9_-]+$/;

export function haproxyConfig(o: HaproxyOptions, port: number, socket: string): string {
  if (o.backends.length === 0) throw new Error("haproxy needs at least one backend");
  for (const b of o.backends) if (!NAME.test(b.name)) throw new Error(`invalid haproxy server name "${b.name}"`);
  const inter = o.checkIntervalMs ?? 300;
  const path = o.checkPath ?? "/healthz";
  if (!/^\/[\x21-\x7e]*$/.test(path)) throw new Error(`invalid health check path "${path}"`);
  return [
    "global",
    "  maxconn 512",
    `  stats socket ${socket} mode 600 level admin`,
    "  log stdout format raw local0 info",
    "defaults",
    "  mode tcp",
    "  log global",
    "  option dontlog-normal",
    "  timeout connect 2s",
    // gRPC event streams are long-lived and may be idle between heartbeats.
    "  timeout client 1h",
    "  timeout server 1h",
    "  timeout check 1s",
    "frontend principal",
    `  bind 127.0.0.1:${port}`,
    "  no log", // connection lines; server state changes are still logged by the backend
    "  default_backend principals",
    "backend principals",
    `  option httpchk GET ${path}`,
    "  http-check expect status 200",
    `  default-server inter ${inter} fastinter ${inter} downinter ${inter} fall ${o.fall ?? 2} rise ${o.rise ?? 2} on-marked-down shutdown-sessions`,
    ...o.backends.map((b) => `  server ${b.name} 127.0.0.1:${b.port} check port ${b.checkPort}`),
    "",
  ].join("\n");
}

/** One admin-socket command; resolves with the whole answer. */
function adminCommand(socket: string, cmd: string): Promise<string> {
  return new Promise((resolve, reject) => {
    const c = createConnection({ path: socket });
    let out = "";
    const timer = setTimeout(() => c.destroy(new Error(`haproxy admin socket: no answer to "${cmd}" within 2s`)), 2000);
    c.on("connect", () => c.write(`${cmd}\n`));
    c.on("data", (d) => (out += d.toString()));
    c.on("error", (err) => {
      clearTimeout(timer);
      reject(err);
    });
    c.on("end", () => {
      clearTimeout(timer);
      resolve(out);
    });
  });
}

/** Server statuses from `show stat` CSV (backend "principals", server rows only). */
export function parseShowStat(csv: string): ServerStates {
  const lines = csv.split("\n").filter((l) => l.trim() !== "");
  const header = lines[0]?.replace(/^# /, "").split(",") ?? [];
  const [px, sv, st] = ["pxname", "svname", "status"].map((k) => header.indexOf(k));
  if (px < 0 || sv < 0 || st < 0) throw new Error(`unexpected haproxy "show stat" answer: ${csv.slice(0, 200)}`);
  const states: ServerStates = {};
  for (const l of lines.slice(1)) {
    const f = l.split(",");
    if (f[px] === "principals" && f[sv] !== "BACKEND" && f[sv] !== "FRONTEND") states[f[sv]] = f[st];
  }
  return states;
}

export async function startHaproxy(o: HaproxyOptions): Promise<Haproxy> {
  const dir = mkdtempSync(join(tmpdir(), "argocd-agent-haproxy-"));
  const socket = join(dir, "admin.sock");
  const port = await freePort();
  const config = haproxyConfig(o, port, socket);
  const cfgFile = join(dir, "haproxy.cfg");
  writeFileSync(cfgFile, config);
  const check = spawnSync("haproxy", ["-c", "-q", "-f", cfgFile], { encoding: "utf8" });
  if (check.error) throw new Error(`haproxy not runnable (Debian package haproxy; scripts/setup.sh installs it): ${check.error.message}`);
  if (check.status !== 0) throw new Error(`haproxy rejected its configuration:\n${check.stderr}${check.stdout}\n${config}`);
  // -db: stay in the foreground, logs to our pipe.
  const proc = startRaw("haproxy", ["-db", "-f", cfgFile]);
  const stop = async () => {
    await proc.stop();
    rmSync(dir, { recursive: true, force: true });
  };
  const states = async () => parseShowStat(await adminCommand(socket, "show stat"));
  const deadline = Date.now() + 10_000;
  for (;;) {
    if (proc.proc.exitCode !== null) {
      await stop();
      throw new Error(`haproxy exited (${proc.proc.exitCode}):\n${proc.output()}`);
    }
    const up = await states().then(() => true, () => false);
    if (up) break;
    if (Date.now() > deadline) {
      await stop();
      throw new Error(`haproxy admin socket not answering after 10s:\n${proc.output()}`);
    }
    await sleep(50);
  }
  return {
    port,
    address: `127.0.0.1:${port}`,
    proc,
    config,
    states,
    async waitForStates(want, timeoutMs = 20_000) {
      const until = Date.now() + timeoutMs;
      let last: ServerStates = {};
      for (;;) {
        last = await states().catch(() => last);
        if (Object.entries(want).every(([name, s]) => last[name] === s)) return;
        if (Date.now() > until) {
          throw new Error(`haproxy servers not ${JSON.stringify(want)} after ${timeoutMs} ms: ${JSON.stringify(last)}\n${proc.output()}`);
        }
        await sleep(100);
      }
    },
    stop,
  };
}
