/**
 * Network namespaces as "pods" for the mesh tests. Each pod is a netns with
 * loopback up and an `eth0` veth whose peer sits on a bridge in a separate
 * "switch" netns the helper also creates, so no interface, address or route
 * is ever added to the host's own namespace: pods reach each other and
 * nothing else. Everything is deleted by `destroy()` and, as a last resort,
 * when the test process exits (a failing or interrupted test leaves nothing).
 *
 * @example
 *   const net = await createPodNetwork({ subnet: "10.123.7", pods: ["principal", "agent"] });
 *   after(() => net.destroy());
 *   const p = net.pod("principal");            // { netns, ip: "10.123.7.2", … }
 *   p.run("ip", ["-br", "addr"]);              // synchronous exec inside the netns
 *   const proc = p.start(process.execPath, ["src/main.ts", "principal", …]); // Running (test/support/processes.ts)
 */
import { execFileSync, spawnSync, type SpawnOptions } from "node:child_process";
import { randomBytes } from "node:crypto";
import { existsSync, mkdtempSync, rmSync } from "node:fs";
import { connect, createServer, type Server, type Socket } from "node:net";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { startRaw, type Running } from "./processes.ts";

export interface Pod {
  /** Logical name given to createPodNetwork. */
  name: string;
  /** Name of the network namespace (for `ip netns exec`). */
  netns: string;
  /** The pod IP on eth0. */
  ip: string;
  /** Runs a command to completion inside the pod; throws on a non-zero exit unless `allowFail`. */
  run(cmd: string, args: string[], opts?: { allowFail?: boolean; timeoutMs?: number; input?: string }): ExecResult;
  /** Starts a long-running process inside the pod (killed when the test process exits). */
  start(cmd: string, args: string[], env?: Record<string, string>, opts?: SpawnOptions): Running;
  /** True when something listens on TCP `host:port` inside the pod. */
  listening(port: number, host?: string): boolean;
  /** Local addresses of the TCP listeners on `port` inside the pod, as `ss` prints them (e.g. "127.0.0.1:8443", "*:8443"). */
  listeners(port: number): string[];
  /** Polls until something listens on TCP `host:port` inside the pod. */
  waitListening(port: number, host?: string, timeoutMs?: number): Promise<void>;
}

export interface ExecResult {
  code: number | null;
  stdout: string;
  stderr: string;
}

export interface PodNetwork {
  /** The /24 prefix, e.g. "10.123.7"; pods get .2, .3, … in the order given. */
  subnet: string;
  pods: Pod[];
  pod(name: string): Pod;
  /** Deletes every namespace (and with them the veths and the bridge). Idempotent. */
  destroy(): void;
}

export interface PodNetworkOptions {
  /** First three octets of a private /24 used only inside the created namespaces, e.g. "10.123.7". */
  subnet: string;
  /** Logical pod names (lower-case letters, digits, '-'). */
  pods: string[];
}

/** Prefix of every namespace made here: `amesh-<pid base36><random>-<pod>`. */
const PREFIX = "amesh-";

const created = new Set<string>();
const deleteCreated = () => {
  for (const ns of created) spawnSync("ip", ["netns", "delete", ns], { stdio: "ignore" });
  created.clear();
};
process.on("exit", deleteCreated);
for (const sig of ["SIGINT", "SIGTERM", "SIGHUP"] as const) {
  // Delete, then die of the same signal as before (the handler is gone after `once`).
  process.once(sig, () => {
    deleteCreated();
    process.kill(process.pid, sig);
  });
}

/**
 * Namespaces left by a test process that was SIGKILLed (no hook ran): their
 * owner's pid is in the name; delete those whose owner is gone.
 */
function deleteOrphans(): void {
  const res = spawnSync("ip", ["netns", "list"], { encoding: "utf8" });
  for (const line of (res.stdout ?? "").split("\n")) {
    const name = line.split(" ")[0];
    const m = /^amesh-([0-9a-z]+)[0-9a-f]{6}-[a-z0-9-]+$/.exec(name ?? "");
    if (!m || !name) continue;
    const pid = parseInt(m[1]!, 36);
    if (pid !== process.pid && !existsSync(`/proc/${pid}`)) spawnSync("ip", ["netns", "delete", name], { stdio: "ignore" });
  }
}

/** Children die with the test process even if it is SIGKILLed (the kernel sends them SIGKILL). */
const SETPRIV = existsSync("/usr/bin/setpriv") ? "/usr/bin/setpriv" : undefined;

function ip(args: string[]): void {
  try {
    execFileSync("ip", args, { stdio: ["ignore", "pipe", "pipe"], timeout: 10_000 });
  } catch (err) {
    const e = err as { stderr?: Buffer; message: string };
    throw new Error(`ip ${args.join(" ")} failed: ${e.stderr?.toString().trim() || e.message}`);
  }
}

/** Runs `cmd args` inside `netns` and waits for it. */
export function execIn(netns: string, cmd: string, args: string[], opts: { allowFail?: boolean; timeoutMs?: number; input?: string } = {}): ExecResult {
  const res = spawnSync("ip", ["netns", "exec", netns, cmd, ...args], {
    encoding: "utf8",
    timeout: opts.timeoutMs ?? 30_000,
    input: opts.input,
    env: { PATH: process.env.PATH ?? "", HOME: process.env.HOME ?? "/tmp" },
  });
  const out = { code: res.status, stdout: res.stdout ?? "", stderr: res.stderr ?? "" };
  if (!opts.allowFail && out.code !== 0) {
    throw new Error(`in netns ${netns}: ${cmd} ${args.join(" ")} exited ${out.code}${res.error ? ` (${res.error.message})` : ""}\n${out.stdout}${out.stderr}`);
  }
  return out;
}

/**
 * Starts `cmd args` inside `netns` as a watched child. `setpriv` and `ip netns exec`
 * both exec, so the child's pid is the command's own and signals reach it directly.
 */
export function startIn(netns: string, cmd: string, args: string[], env: Record<string, string> = {}, opts: SpawnOptions = {}): Running {
  const argv = ["netns", "exec", netns, cmd, ...args];
  return SETPRIV ? startRaw(SETPRIV, ["--pdeathsig", "SIGKILL", "ip", ...argv], env, opts) : startRaw("ip", argv, env, opts);
}

function makePod(name: string, netns: string, podIp: string): Pod {
  const listeners = (port: number): string[] => {
    const res = spawnSync("ss", ["-N", netns, "-Hltn", `sport = :${port}`], { encoding: "utf8", timeout: 5_000 });
    if (res.status !== 0) throw new Error(`ss -N ${netns} failed: ${res.stderr}`);
    return (res.stdout ?? "").split("\n").filter((l) => l.trim() !== "").map((l) => l.trim().split(/\s+/)[3] ?? "");
  };
  const listening = (port: number, host?: string): boolean => {
    const addrs = listeners(port);
    return host ? addrs.includes(`${host}:${port}`) : addrs.length > 0;
  };
  return {
    name,
    netns,
    ip: podIp,
    run: (cmd, args, opts) => execIn(netns, cmd, args, opts),
    listeners,
    start: (cmd, args, env, opts) => startIn(netns, cmd, args, env, opts),
    listening,
    async waitListening(port, host, timeoutMs = 20_000) {
      const deadline = Date.now() + timeoutMs;
      while (!listening(port, host)) {
        if (Date.now() > deadline) throw new Error(`nothing listens on ${host ?? "*"}:${port} in pod ${name} (${netns}) after ${timeoutMs} ms`);
        await new Promise((r) => setTimeout(r, 100));
      }
    },
  };
}

/**
 * Creates one netns per pod plus a switch netns holding a bridge; each pod's
 * eth0 (subnet.N/24, N = 2, 3, …) is a veth to that bridge.
 */
export async function createPodNetwork(opts: PodNetworkOptions): Promise<PodNetwork> {
  if (!/^10\.\d{1,3}\.\d{1,3}$/.test(opts.subnet)) throw new Error(`subnet must look like "10.123.7", got "${opts.subnet}"`);
  if (opts.pods.length === 0 || opts.pods.length > 200) throw new Error("between 1 and 200 pods");
  for (const p of opts.pods) if (!/^[a-z0-9-]+$/.test(p)) throw new Error(`invalid pod name "${p}"`);
  if (new Set(opts.pods).size !== opts.pods.length) throw new Error("duplicate pod names");

  // Short unique tag: netns names are free-form, but keep them recognisable and collision-free.
  const tag = `${process.pid.toString(36)}${randomBytes(3).toString("hex")}`;
  deleteOrphans();
  const switchNs = `${PREFIX}${tag}-sw`;
  const namespaces: string[] = [];
  const addNs = (ns: string) => {
    ip(["netns", "add", ns]);
    created.add(ns);
    namespaces.push(ns);
  };
  let destroyed = false;
  const destroy = () => {
    if (destroyed) return;
    destroyed = true;
    for (const ns of namespaces.reverse()) {
      spawnSync("ip", ["netns", "delete", ns], { stdio: "ignore", timeout: 10_000 });
      created.delete(ns);
    }
  };

  try {
    addNs(switchNs);
    ip(["-n", switchNs, "link", "set", "lo", "up"]);
    ip(["-n", switchNs, "link", "add", "br0", "type", "bridge"]);
    ip(["-n", switchNs, "link", "set", "br0", "up"]);
    const pods: Pod[] = [];
    opts.pods.forEach((name, i) => {
      const ns = `${PREFIX}${tag}-${name}`;
      addNs(ns);
      const podIp = `${opts.subnet}.${i + 2}`;
      const hostSide = `v${i}`;
      // Both ends are created inside namespaces we own: the bridge port in the switch, eth0 in the pod.
      ip(["-n", switchNs, "link", "add", hostSide, "type", "veth", "peer", "name", "eth0", "netns", ns]);
      ip(["-n", switchNs, "link", "set", hostSide, "master", "br0"]);
      ip(["-n", switchNs, "link", "set", hostSide, "up"]);
      ip(["-n", ns, "link", "set", "lo", "up"]);
      ip(["-n", ns, "addr", "add", `${podIp}/24`, "dev", "eth0"]);
      ip(["-n", ns, "link", "set", "eth0", "up"]);
      pods.push(makePod(name, ns, podIp));
    });
    // Wait for the links to come up (DAD is irrelevant for IPv4; carrier takes a moment).
    const deadline = Date.now() + 5_000;
    for (const p of pods) {
      while (!/state UP|LOWER_UP/.test(execIn(p.netns, "ip", ["link", "show", "eth0"]).stdout)) {
        if (Date.now() > deadline) throw new Error(`eth0 in ${p.netns} did not come up`);
        await new Promise((r) => setTimeout(r, 50));
      }
    }
    return {
      subnet: opts.subnet,
      pods,
      pod(name) {
        const p = pods.find((x) => x.name === name);
        if (!p) throw new Error(`no pod "${name}"`);
        return p;
      },
      destroy,
    };
  } catch (err) {
    destroy();
    throw err;
  }
}

export interface PodBridge {
  /** Where the forwarded service is reachable inside the pod. */
  host: string;
  port: number;
  close(): Promise<void>;
}

// Runs inside the pod: TCP listener on host:port → the Unix socket.
const BRIDGE_SCRIPT = `
const net = require("node:net");
const [host, port, sock] = process.argv.slice(1);
const srv = net.createServer((c) => {
  const u = net.connect(sock);
  c.pipe(u).pipe(c);
  c.on("error", () => u.destroy());
  u.on("error", () => c.destroy());
});
srv.listen(Number(port), host, () => console.log("bridge listening"));
`;

/**
 * Makes a TCP service of the test host (e.g. a kube-apiserver on 127.0.0.1)
 * reachable inside a pod on `listen` (default: the same port on the pod's
 * 127.0.0.1), without any route between the pod and the host: the test
 * process accepts on a Unix socket (file system, not network) and connects to
 * `target`; a small forwarder inside the pod listens on TCP and uses that socket.
 */
export async function bridgeIntoPod(pod: Pod, target: { host: string; port: number }, listen?: { host: string; port: number }): Promise<PodBridge> {
  const at = listen ?? { host: "127.0.0.1", port: target.port };
  const dir = mkdtempSync(join(tmpdir(), "argocd-agent-bridge-"));
  const sock = join(dir, "s");
  const open = new Set<Socket>();
  const server: Server = createServer((c) => {
    const t = connect(target.port, target.host);
    open.add(c).add(t);
    c.pipe(t).pipe(c);
    c.on("error", () => t.destroy());
    t.on("error", () => c.destroy());
    c.on("close", () => open.delete(c));
    t.on("close", () => open.delete(t));
  });
  await new Promise<void>((resolve, reject) => server.once("error", reject).listen(sock, () => resolve()));
  const proc = pod.start(process.execPath, ["-e", BRIDGE_SCRIPT, at.host, String(at.port), sock]);
  const close = async () => {
    await proc.stop("SIGKILL");
    for (const s of open) s.destroy();
    await new Promise<void>((r) => server.close(() => r()));
    rmSync(dir, { recursive: true, force: true });
  };
  try {
    await proc.waitFor(/bridge listening/, 15_000);
  } catch (err) {
    await close();
    throw err;
  }
  return { host: at.host, port: at.port, close };
}
