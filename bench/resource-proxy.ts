#!/usr/bin/env node
/**
 * Resource proxy benchmark against real API servers (etcd + kube-apiservers from
 * test/support/kube-env.ts), the principal and a managed agent as child processes from
 * source over mutual TLS. This process is only the client.
 *
 * Figures (median of --runs; each run a fresh principal and agent):
 *   1. GET of one tracked ConfigMap, sequential: direct to the agent's API server vs through
 *      the resource proxy (HTTPS client certificate → principal → gRPC → agent → API server),
 *      p50/p99 and the ratio, measured in the same run.
 *   2. Application replication (create on the control plane → visible on the agent), p50/p99,
 *      idle and while --inflight proxied requests are kept in flight the whole time, and the
 *      ratio (the live lane must not slow replication). The load runs back to back, so on a
 *      small machine it also measures CPU contention; the served rate is printed with it.
 *
 * Usage: npm run bench:resource-proxy [-- --runs 3 --gets 300 --apps 60 --inflight 50]
 */
import { mkdtempSync, rmSync } from "node:fs";
import { Agent as HttpsAgent, request as httpsRequest } from "node:https";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { parseArgs } from "node:util";
import { setTimeout as sleep } from "node:timers/promises";
import { createKubeClient } from "../test/support/kube-client.ts";
import { applications, ensureNamespace } from "../src/kube/crud.ts";
import { kubeRequest } from "../src/kube/raw-request.ts";
import type { Application } from "../src/kube/resources.ts";
import { configureLogging } from "../src/observability/log.ts";
import { startKubeEnv } from "../test/support/kube-env.ts";
import { createTestPki } from "../test/support/pki.ts";
import { freePort, start, type Running } from "../test/support/processes.ts";

const { values: args } = parseArgs({
  options: {
    runs: { type: "string", default: "3" },
    gets: { type: "string", default: "300" },
    apps: { type: "string", default: "60" },
    inflight: { type: "string", default: "50" },
  },
});
const RUNS = Number(args.runs);
const GETS = Number(args.gets);
const APPS = Number(args.apps);
const INFLIGHT = Number(args.inflight);
const AGENT = "agent-managed";
const NS = "bench";
configureLogging({ defaultLevel: "error" });

const pct = (xs: number[], p: number) => {
  const s = [...xs].sort((a, b) => a - b);
  return s[Math.min(s.length - 1, Math.max(0, Math.ceil((p / 100) * s.length) - 1))]!;
};
const median = (xs: number[]) => pct(xs, 50);
const r1 = (x: number) => Math.round(x * 10) / 10;

async function until(what: string, fn: () => Promise<boolean> | boolean, ms = 120_000): Promise<void> {
  const end = Date.now() + ms;
  while (!(await fn())) {
    if (Date.now() > end) throw new Error(`timed out: ${what}`);
    await sleep(20);
  }
}

const env = await startKubeEnv({ clusters: ["control-plane", AGENT] });
const pki = await createTestPki();
const client = await pki.agent(AGENT);
const cp = createKubeClient(env.cluster("control-plane").kubeConfig);
const wl = createKubeClient(env.cluster(AGENT).kubeConfig);
await ensureNamespace(cp, AGENT);
await ensureNamespace(wl, NS);
const cm = { apiVersion: "v1", kind: "ConfigMap", metadata: { name: "tracked", namespace: NS, annotations: { "argocd.argoproj.io/tracking-id": `app:/ConfigMap:${NS}/tracked` } }, data: { k: "v".repeat(1000) } };
await kubeRequest(wl.kubeConfig, { method: "POST", path: `/api/v1/namespaces/${NS}/configmaps`, body: JSON.stringify(cm), contentType: "application/json" });
const objectPath = `/api/v1/namespaces/${NS}/configmaps/tracked`;

interface RunFigures { direct: number[]; proxied: number[]; replIdle: number[]; replBusy: number[]; loadRate: number }

async function oneRun(run: number): Promise<RunFigures> {
  const grpc = await freePort();
  const rpPort = await freePort();
  const tmp = mkdtempSync(join(tmpdir(), "bench-rp-"));
  const procs: Running[] = [];
  try {
    procs.push(start([
      "principal", "-n", "argocd", "--kubeconfig", env.cluster("control-plane").kubeconfigPath, "--listen-host", "127.0.0.1", "--listen-port", String(grpc),
      "--tls-cert", pki.server.certFile, "--tls-key", pki.server.keyFile, "--root-ca-path", pki.caFile, "--auth", "mtls:subject:CN=([^,]+)",
      "--insecure-jwt-generate", "--allowed-namespaces", AGENT, "--metrics-port", "0", "--healthz-port", "0", "--log-level", "error,principal=info",
      "--resource-proxy-port", String(rpPort), "--resource-proxy-cert-path", pki.server.certFile, "--resource-proxy-key-path", pki.server.keyFile, "--resource-proxy-ca-path", pki.caFile,
      "--disable-redis-proxy=true",
    ]));
    await procs[0]!.waitFor(/principal started/, 60_000);
    procs.push(start([
      "agent", "-n", "argocd", "--agent-mode", "managed", "--kubeconfig", env.cluster(AGENT).kubeconfigPath, "--server-address", "127.0.0.1", "--server-port", String(grpc),
      "--creds", "mtls:any", "--root-ca-path", pki.caFile, "--tls-client-cert", client.certFile, "--tls-client-key", client.keyFile,
      "--metrics-port", "0", "--healthz-port", "0", "--log-level", "error",
    ]));
    const agent = new HttpsAgent({ keepAlive: true, maxSockets: INFLIGHT + 4, ca: [pki.ca.cert], cert: client.cert, key: client.key });
    const proxied = () => new Promise<number>((resolve, reject) => {
      const req = httpsRequest({ host: "127.0.0.1", port: rpPort, path: objectPath, agent }, (res) => {
        res.resume();
        res.on("end", () => resolve(res.statusCode ?? 0));
      });
      req.on("error", reject);
      req.end();
    });
    await until("the proxy answers for the agent", async () => (await proxied().catch(() => 0)) === 200);
    // 1. sequential GETs, direct vs proxied, interleaved in blocks so drift hits both.
    const direct: number[] = [];
    const viaProxy: number[] = [];
    for (let i = 0; i < GETS; i++) {
      let t = performance.now();
      const d = await kubeRequest(wl.kubeConfig, { method: "GET", path: objectPath });
      if (d.status !== 200) throw new Error(`direct GET ${d.status}`);
      direct.push(performance.now() - t);
      t = performance.now();
      const s = await proxied();
      if (s !== 200) throw new Error(`proxied GET ${s}`);
      viaProxy.push(performance.now() - t);
    }
    // 2. replication latency, idle vs with INFLIGHT proxied requests in flight all the time.
    const repl = async (tag: string): Promise<number[]> => {
      const out: number[] = [];
      for (let i = 0; i < APPS; i++) {
        const name = `r${run}-${tag}-${i}`;
        const app = { metadata: { name, namespace: AGENT }, spec: { project: "default", source: { repoURL: "https://example.invalid/r.git", path: "p", targetRevision: "HEAD" }, destination: { server: "https://kubernetes.default.svc", namespace: NS } } } as Application;
        const t = performance.now();
        await applications(cp).create(app);
        await until(`${name} on the agent`, async () => (await applications(wl).get("argocd", name)) !== undefined, 30_000);
        out.push(performance.now() - t);
        await sleep(50);
      }
      return out;
    };
    const replIdle = await repl("idle");
    let busy = true;
    let errors = 0;
    let served = 0;
    const loadStart = performance.now();
    const load = Array.from({ length: INFLIGHT }, async () => {
      while (busy) if ((await proxied().catch(() => 0)) !== 200) errors++;
      else served++;
    });
    const replBusy = await repl("busy");
    busy = false;
    await Promise.all(load);
    const loadRate = served / ((performance.now() - loadStart) / 1000);
    if (errors) console.error(`run ${run}: ${errors} proxied requests failed under load`);
    agent.destroy();
    return { direct, proxied: viaProxy, replIdle, replBusy, loadRate };
  } finally {
    await Promise.all(procs.map((p) => p.stop()));
    rmSync(tmp, { recursive: true, force: true });
  }
}

const rows: { directP50: number; directP99: number; proxP50: number; proxP99: number; ratio: number; idleP50: number; idleP99: number; busyP50: number; busyP99: number; replRatio: number; loadRate: number }[] = [];
try {
  for (let run = 1; run <= RUNS; run++) {
    const f = await oneRun(run);
    const row = {
      directP50: pct(f.direct, 50), directP99: pct(f.direct, 99), proxP50: pct(f.proxied, 50), proxP99: pct(f.proxied, 99),
      ratio: pct(f.proxied, 50) / pct(f.direct, 50),
      idleP50: pct(f.replIdle, 50), idleP99: pct(f.replIdle, 99), busyP50: pct(f.replBusy, 50), busyP99: pct(f.replBusy, 99),
      replRatio: pct(f.replBusy, 50) / pct(f.replIdle, 50),
      loadRate: f.loadRate,
    };
    rows.push(row);
    console.error(`run ${run}: ${JSON.stringify(Object.fromEntries(Object.entries(row).map(([k, v]) => [k, r1(v)])))}`);
  }
} finally {
  await env.stop();
  pki.cleanup();
}
const m = (k: keyof (typeof rows)[number]) => r1(median(rows.map((r) => r[k])));
console.log(`\n### Resource proxy (median of ${RUNS} runs; ${GETS} sequential GETs each; ${APPS} Applications per phase)\n`);
console.log("| figure | p50 ms | p99 ms |");
console.log("|---|---|---|");
console.log(`| GET direct to the agent's API server | ${m("directP50")} | ${m("directP99")} |`);
console.log(`| GET through the resource proxy | ${m("proxP50")} | ${m("proxP99")} |`);
console.log(`| Application create → on agent, idle | ${m("idleP50")} | ${m("idleP99")} |`);
console.log(`| Application create → on agent, ${INFLIGHT} proxied requests in flight (back to back: ${m("loadRate")} req/s served) | ${m("busyP50")} | ${m("busyP99")} |`);
console.log(`\nproxied/direct GET p50 ratio: ${m("ratio")}; replication busy/idle p50 ratio: ${m("replRatio")}`);
