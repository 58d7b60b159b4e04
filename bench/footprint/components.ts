/**
 * The principal and agent processes of the footprint bench, started from one
 * build (a "variant": the executable, the CJS bundle under node, or source),
 * with the flags of bench/scale.ts (header-auth principal for simulated
 * agents) and bench/replication.ts (userpass principal + a real managed agent,
 * both against real kube-apiservers), resource and redis proxies off. Time to ready is measured from spawn to
 * the first 200 on /readyz, with the process's CPU seconds at that moment.
 *
 * @example
 *   const v = variant("executable", "dist");
 *   const p = await startReady(v, fleetPrincipalArgs(ports, kubeconfig, jwtKey), ports.healthz);
 *   // p.readyMs, p.readyCpuSeconds, p.pid; await p.running.stop();
 */
import { existsSync } from "node:fs";
import { basename, join, resolve } from "node:path";
import { setTimeout as sleep } from "node:timers/promises";
import { LIVE_ROOMS_OFF, ROOT, startRaw, type Running } from "../../test/support/processes.ts";
import { cpuSeconds } from "./proc.ts";

export type RunnerName = "executable" | "cjs" | "source";

/** One build under test and how to start it. */
export interface Variant {
  label: string;
  runner: RunnerName;
  bin: string;
  pre: string[];
  /** NODE_OPTIONS for every process of this variant (e.g. V8 heap flags); none when empty. */
  nodeOptions: string;
}

/** The environment a variant's processes get: PATH, HOME and its NODE_OPTIONS. */
export function variantEnv(v: Variant): NodeJS.ProcessEnv {
  return { PATH: process.env.PATH ?? "", HOME: process.env.HOME ?? "/tmp", ...(v.nodeOptions ? { NODE_OPTIONS: v.nodeOptions } : {}) };
}

/** The command for a runner; `dist` is the build directory (default dist/). */
export function variant(runner: RunnerName, dist: string, nodeOptions = ""): Variant {
  const dir = resolve(ROOT, dist);
  const label = `${runner}${dir === resolve(ROOT, "dist") ? "" : ` (${basename(dir)})`}${nodeOptions ? ` ${nodeOptions}` : ""}`;
  let v: Variant;
  if (runner === "source") return { label: `source${nodeOptions ? ` ${nodeOptions}` : ""}`, runner, bin: process.execPath, pre: [join(ROOT, "src/main.ts")], nodeOptions };
  if (runner === "cjs") v = { label, runner, bin: process.execPath, pre: [join(dir, "argocd-agent.cjs")], nodeOptions };
  else if (runner === "executable") v = { label, runner, bin: join(dir, "argocd-agent-linux-x64"), pre: [], nodeOptions };
  else throw new Error(`--runner must be executable, cjs or source (got ${String(runner)})`);
  const file = v.pre[0] ?? v.bin;
  if (!existsSync(file)) throw new Error(`${file} is missing: run npm run build first (or pass --runner source)`);
  return v;
}

export interface Ports {
  grpc: number;
  healthz: number;
}

const LOG_LEVEL = ["--log-level", "warn"];

/**
 * The JWT signing key comes from a file, as in a deployment (from a Secret):
 * --insecure-jwt-generate would add an RSA key generation of random length to
 * the start-up CPU.
 */
function principalArgs(p: Ports, kubeconfig: string, jwtKey: string, auth: string): string[] {
  return [
    "principal", "--namespace", "argocd", "--listen-host", "127.0.0.1", "--listen-port", String(p.grpc), "--insecure-plaintext",
    "--auth", auth, "--jwt-key", jwtKey, "--healthz-port", String(p.healthz), "--metrics-port", "0",
    "--kubeconfig", kubeconfig, "--allowed-namespaces", "agent-*", ...LIVE_ROOMS_OFF, ...LOG_LEVEL,
  ];
}

/** The scale bench's principal (header auth for simulated agents) with replication against the control plane. */
export function fleetPrincipalArgs(p: Ports, kubeconfig: string, jwtKey: string): string[] {
  return principalArgs(p, kubeconfig, jwtKey, "header:x-agent-id:^(.+)$");
}

/** The replication bench's principal: userpass auth for a real agent. */
export function pairPrincipalArgs(p: Ports, kubeconfig: string, jwtKey: string, passwd: string): string[] {
  return principalArgs(p, kubeconfig, jwtKey, `userpass:${passwd}`);
}

/** A managed agent as in the replication bench; ready (200 on /readyz) only once connected to the principal. */
export function agentArgs(grpcPort: number, healthz: number, kubeconfig: string, credsFile: string): string[] {
  return [
    "agent", "--server-address", "127.0.0.1", "--server-port", String(grpcPort), "--insecure-plaintext",
    "--creds", `userpass:${credsFile}`, "--namespace", "argocd", "--agent-mode", "managed",
    "--kubeconfig", kubeconfig, "--healthz-port", String(healthz), "--metrics-port", "0", ...LOG_LEVEL,
  ];
}

export interface Started {
  running: Running;
  pid: number;
  /** Spawn → first 200 on /readyz. */
  readyMs: number;
  /** CPU seconds the process had used when it turned ready. */
  readyCpuSeconds: number;
}

/** Spawns the variant with args and waits for 200 on /readyz (polled every 10 ms). */
export async function startReady(v: Variant, args: string[], healthz: number, timeoutMs = 60_000): Promise<Started> {
  const t0 = performance.now();
  const running = startRaw(v.bin, [...v.pre, ...args], v.nodeOptions ? { NODE_OPTIONS: v.nodeOptions } : {});
  const pid = running.proc.pid!;
  const deadline = Date.now() + timeoutMs;
  for (;;) {
    const ok = await fetch(`http://127.0.0.1:${healthz}/readyz`, { signal: AbortSignal.timeout(1000) }).then((r) => r.status === 200, () => false);
    if (ok) {
      const readyMs = performance.now() - t0;
      return { running, pid, readyMs, readyCpuSeconds: cpuSeconds(pid) };
    }
    if (running.proc.exitCode !== null || running.proc.signalCode !== null) throw new Error(`${v.label} ${args[0]} exited:\n${running.output().slice(-3000)}`);
    if (Date.now() > deadline) {
      await running.stop("SIGKILL");
      throw new Error(`${v.label} ${args[0]} not ready after ${timeoutMs} ms:\n${running.output().slice(-3000)}`);
    }
    await sleep(10);
  }
}
