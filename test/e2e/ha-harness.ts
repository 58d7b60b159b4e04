/**
 * Set-up of the principal-HA e2e test, all real processes: one etcd and four
 * kube-apiservers (two hub clusters with Argo CD's CRDs, one per principal,
 * and one per agent), two principals run from source with mTLS auth and one
 * shared CA (server certificates with serverAuth + clientAuth, SANs
 * 127.0.0.1/localhost, so each can dial its peer for replication), P1
 * preferring primary and P2 replica, each the other's --ha-peer-address, and
 * a managed and an autonomous agent that reach "the principal" through a real
 * haproxy health-checking both principals' /healthz (the GSLB stand-in).
 * Also the operator's and the prober's tools: `argocd-agent ctl ha …` run
 * asynchronously (the test keeps writing meanwhile), a direct HAAdmin status
 * call for tight polling, health probes, and an mTLS Authenticate + Subscribe
 * probe that tells whether a principal accepts agents.
 */
import { spawn } from "node:child_process";
import { mkdtempSync, readFileSync, rmSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { credentials, Metadata, type ServiceError, status as grpcStatus } from "@grpc/grpc-js";
import { createKubeClient, type KubeClient } from "../support/kube-client.ts";
import { ensureNamespace } from "../../src/kube/crud.ts";
import { AuthenticationClient, type AuthResponse } from "../../src/proto/gen/auth.ts";
import { EventStreamClient } from "../../src/proto/gen/eventstream.ts";
import { HAAdminClient, type HAStatusResponse } from "../../src/proto/gen/haadmin.ts";
import { createCa, issueCertificate } from "../../src/transport/certificates.ts";
import { startHaproxy, type Haproxy } from "../support/haproxy.ts";
import { startKubeEnv, type KubeEnv } from "../support/kube-env.ts";
import { command, freePort, start, type Running } from "../support/processes.ts";
import { AUTO, eventually, MANAGED } from "./replication-harness.ts";

export { AUTO, MANAGED };
export const HUB1 = "hub-1";
export const HUB2 = "hub-2";
const NS = "argocd";

export interface PrincipalProc {
  name: "p1" | "p2";
  hub: string;
  kube: KubeClient;
  grpcPort: number;
  healthzPort: number;
  /** 127.0.0.1:<--ha-admin-port> */
  admin: string;
  proc: Running;
}

export interface HaEnv {
  env: KubeEnv;
  p1: PrincipalProc;
  p2: PrincipalProc;
  lb: Haproxy;
  /** Clients of the agents' clusters. */
  managed: KubeClient;
  auto: KubeClient;
  agents: Map<string, Running>;
  pkiDir: string;
  /** Tails of every component's output, for failure messages. */
  logs(lines?: number): string;
  stop(): Promise<void>;
}

const tail = (s: string, n: number) => s.trimEnd().split("\n").slice(-n).join("\n");

async function writePki(dir: string): Promise<void> {
  const ca = await createCa("argocd-agent-ha-test-ca");
  const files: Record<string, string> = { "ca.crt": ca.cert };
  for (const p of ["principal-1", "principal-2"]) {
    // Used as server certificate towards agents AND as client certificate towards the peer.
    const c = await issueCertificate(ca, { commonName: p, dnsNames: ["localhost"], ipAddresses: ["127.0.0.1"], server: true, client: true });
    Object.assign(files, { [`${p}.crt`]: c.cert, [`${p}.key`]: c.key });
  }
  for (const a of [MANAGED, AUTO, "agent-probe"]) {
    const c = await issueCertificate(ca, { commonName: a, server: false });
    Object.assign(files, { [`${a}.crt`]: c.cert, [`${a}.key`]: c.key });
  }
  for (const [name, pem] of Object.entries(files)) writeFileSync(join(dir, name), pem, { mode: 0o600 });
}

export async function startHaEnv(log: (s: string) => void = () => {}): Promise<HaEnv> {
  log("starting etcd and 4 kube-apiservers (hub-1, hub-2, agent-managed, agent-auto)…");
  const env = await startKubeEnv({ clusters: [HUB1, HUB2, MANAGED, AUTO] });
  const pkiDir = mkdtempSync(join(tmpdir(), "argocd-agent-ha-pki-"));
  const procs: [string, Running][] = [];
  let lb: Haproxy | undefined;
  const agents = new Map<string, Running>();
  const logs = (lines = 25) => [
    ...procs.map(([n, p]) => `--- ${n}\n${tail(p.output(), lines)}`),
    ...(lb ? [`--- haproxy\n${tail(lb.proc.output(), lines)}`] : []),
  ].join("\n");
  const stop = async () => {
    await Promise.all(procs.map(([, p]) => p.stop()));
    await lb?.stop();
    await env.stop();
    rmSync(pkiDir, { recursive: true, force: true });
  };
  try {
    await writePki(pkiDir);
    const pem = (f: string) => join(pkiDir, f);
    // Both hubs are set up alike, as an operator would: the agents' namespaces exist on each.
    for (const hub of [HUB1, HUB2]) {
      const k = createKubeClient(env.cluster(hub).kubeConfig);
      for (const a of [MANAGED, AUTO, "agent-probe"]) await ensureNamespace(k, a);
    }
    const ports = { g1: await freePort(), g2: await freePort(), h1: await freePort(), h2: await freePort(), a1: await freePort(), a2: await freePort() };
    const principal = (name: "p1" | "p2"): PrincipalProc => {
      const me = name === "p1" ? { g: ports.g1, h: ports.h1, a: ports.a1, hub: HUB1, cert: "principal-1" } : { g: ports.g2, h: ports.h2, a: ports.a2, hub: HUB2, cert: "principal-2" };
      const peer = name === "p1" ? { g: ports.g2, cert: "principal-2" } : { g: ports.g1, cert: "principal-1" };
      const proc = start([
        "principal", "-n", NS, "--kubeconfig", env.cluster(me.hub).kubeconfigPath,
        "--listen-host", "127.0.0.1", "--listen-port", String(me.g),
        "--tls-cert", pem(`${me.cert}.crt`), "--tls-key", pem(`${me.cert}.key`), "--root-ca-path", pem("ca.crt"),
        "--auth", "mtls:subject:CN=([^,]+)", "--insecure-jwt-generate", "--allowed-namespaces", "agent-*",
        "--healthz-port", String(me.h), "--metrics-port", "0", "--enable-resource-proxy=false", "--disable-redis-proxy=true",
        "--ha-enabled", "--ha-preferred-role", name === "p1" ? "primary" : "replica",
        "--ha-peer-address", `127.0.0.1:${peer.g}`, "--ha-admin-port", String(me.a),
        "--ha-allowed-replication-clients", peer.cert,
      ]);
      procs.push([`principal ${name} (${me.hub}, grpc ${me.g}, healthz ${me.h}, admin ${me.a})`, proc]);
      return { name, hub: me.hub, kube: createKubeClient(env.cluster(me.hub).kubeConfig), grpcPort: me.g, healthzPort: me.h, admin: `127.0.0.1:${me.a}`, proc };
    };
    log("starting principals P1 (primary, hub-1) and P2 (replica of P1, hub-2)…");
    const p1 = principal("p1");
    const p2 = principal("p2");
    for (const p of [p1, p2]) {
      await eventually(`principal ${p.name} serving /livez`, async () => {
        if (p.proc.proc.exitCode !== null) throw new Error(`principal ${p.name} exited (${p.proc.proc.exitCode}):\n${tail(p.proc.output(), 40)}`);
        return (await probe(p.healthzPort, "/livez")).status === 200;
      }, 60_000);
    }
    lb = await startHaproxy({ backends: [{ name: "p1", port: p1.grpcPort, checkPort: p1.healthzPort }, { name: "p2", port: p2.grpcPort, checkPort: p2.healthzPort }] });
    log(`haproxy (GSLB stand-in) on ${lb.address}, checking GET /healthz of both principals`);
    for (const [agent, mode] of [[MANAGED, "managed"], [AUTO, "autonomous"]] as const) {
      const health = await freePort();
      const proc = start([
        "agent", "-n", NS, "--agent-mode", mode, "--kubeconfig", env.cluster(agent).kubeconfigPath,
        "--server-address", "127.0.0.1", "--server-port", String(lb.port),
        "--creds", "mtls:any", "--root-ca-path", pem("ca.crt"), "--tls-client-cert", pem(`${agent}.crt`), "--tls-client-key", pem(`${agent}.key`),
        "--healthz-port", String(health), "--metrics-port", "0",
      ]);
      procs.push([`agent ${agent} (healthz ${health})`, proc]);
      agents.set(agent, proc);
    }
    return {
      env, p1, p2, lb, agents, pkiDir, logs, stop,
      managed: createKubeClient(env.cluster(MANAGED).kubeConfig),
      auto: createKubeClient(env.cluster(AUTO).kubeConfig),
    };
  } catch (err) {
    const detail = logs(40);
    await stop();
    throw new Error(`${(err as Error).message}\n${detail}`);
  }
}

export interface Probe {
  status: number;
  haState: string | null;
  body: string;
}

/** GET http://127.0.0.1:<port><path>; status 0 when nothing answers. */
export async function probe(port: number, path: string): Promise<Probe> {
  try {
    const res = await fetch(`http://127.0.0.1:${port}${path}`, { signal: AbortSignal.timeout(2000) });
    return { status: res.status, haState: res.headers.get("x-ha-state"), body: await res.text() };
  } catch {
    return { status: 0, haState: null, body: "" };
  }
}

export interface CtlResult {
  code: number | null;
  stdout: string;
  stderr: string;
  ms: number;
}

/** `argocd-agent ctl ha <args>` from source, without blocking the test's event loop. */
export function ctlHa(args: string[], timeoutMs = 120_000): Promise<CtlResult> {
  const [bin, pre] = command("source");
  const t0 = Date.now();
  return new Promise((resolve) => {
    const p = spawn(bin, [...pre, "ctl", "ha", ...args], { env: { PATH: process.env.PATH ?? "", HOME: tmpdir() }, stdio: ["ignore", "pipe", "pipe"] });
    let stdout = "";
    let stderr = "";
    p.stdout.on("data", (d: Buffer) => (stdout += d.toString()));
    p.stderr.on("data", (d: Buffer) => (stderr += d.toString()));
    const timer = setTimeout(() => p.kill("SIGKILL"), timeoutMs);
    p.on("close", (code, signal) => {
      clearTimeout(timer);
      if (signal) stderr += `\n(killed by ${signal}${signal === "SIGKILL" ? ` after ${timeoutMs} ms` : ""})`;
      resolve({ code, stdout, stderr, ms: Date.now() - t0 });
    });
  });
}

/** `ctl ha status -o json` parsed (Go JSON: snake_case keys, zero values omitted). */
export async function ctlStatus(admin: string): Promise<Record<string, unknown>> {
  const r = await ctlHa(["status", "--address", admin, "-o", "json"]);
  if (r.code !== 0) throw new Error(`ctl ha status --address ${admin} exited ${r.code}: ${r.stderr}${r.stdout}`);
  return JSON.parse(r.stdout) as Record<string, unknown>;
}

/** HAAdmin Status over plaintext gRPC, for polling (the test asserts through the ctl elsewhere). */
export function adminStatus(admin: string): Promise<HAStatusResponse> {
  const c = new HAAdminClient(admin, credentials.createInsecure());
  return new Promise<HAStatusResponse>((resolve, reject) => {
    c.status({}, new Metadata(), { deadline: Date.now() + 2000 }, (err, res) => (err ? reject(err) : resolve(res)));
  }).finally(() => c.close());
}

export interface SubscribeProbe {
  authenticated: boolean;
  /** True when the principal answered Subscribe with its response headers (it took the stream). */
  accepted: boolean;
  code?: string;
  details?: string;
}

/** Authenticate (mTLS, as agent-probe) and open Subscribe directly at a principal's gRPC port. */
export async function subscribeProbe(env: HaEnv, grpcPort: number): Promise<SubscribeProbe> {
  const read = (f: string) => readFileSync(join(env.pkiDir, f));
  const creds = credentials.createSsl(read("ca.crt"), read("agent-probe.key"), read("agent-probe.crt"));
  const target = `127.0.0.1:${grpcPort}`;
  const auth = new AuthenticationClient(target, creds);
  const events = new EventStreamClient(target, creds, { channelOverride: auth.getChannel() });
  const failed = (err: ServiceError, authenticated: boolean): SubscribeProbe =>
    ({ authenticated, accepted: false, code: grpcStatus[err.code] ?? String(err.code), details: err.details });
  try {
    let token: string;
    try {
      const res = await new Promise<AuthResponse>((resolve, reject) =>
        auth.authenticate({ method: "mtls", credentials: {}, mode: "autonomous", version: "0.9.0", agentNamespace: NS }, new Metadata(), { deadline: Date.now() + 5000 }, (err, r) => (err ? reject(err) : resolve(r))));
      token = res.accessToken;
    } catch (err) {
      return failed(err as ServiceError, false);
    }
    const md = new Metadata();
    md.set("authorization", token);
    const call = events.subscribe(md);
    return await new Promise<SubscribeProbe>((resolve) => {
      let timer = setTimeout(() => {
        call.cancel();
        resolve({ authenticated: true, accepted: false, code: "no answer within 5s" });
      }, 5000);
      // Headers alone do not prove acceptance (a handler may send them and then fail): the
      // stream must also stay up for a moment.
      call.on("metadata", () => {
        clearTimeout(timer);
        timer = setTimeout(() => {
          call.cancel();
          resolve({ authenticated: true, accepted: true });
        }, 1500);
      });
      call.on("error", (err: ServiceError) => {
        clearTimeout(timer);
        resolve(failed(err, true));
      });
      call.on("data", () => {});
    });
  } finally {
    events.close();
    auth.close();
  }
}
