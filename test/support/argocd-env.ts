/**
 * The whole system with real Argo CD, for the e2e test test/e2e/argocd-real.test.ts and the
 * demo (scripts/demo.ts): kube-apiservers for the hub ("control-plane") and each workload
 * cluster (test/support/kube-env.ts), a git repository on `git daemon` (argocd-git.ts), real
 * Argo CD on every cluster (argocd.ts: repo-server + application-controller on the workload
 * clusters, repo-server + argocd-server at the hub), and our principal and agents as child
 * processes (the CLI from source) over mutual TLS, identity from the client certificate's CN.
 *
 * @example
 *   const env = await startArgoCdEnv({ managed: ["agent-managed"], autonomous: ["agent-autonomous"] });
 *   after(() => env.stop());
 *   await applications(env.hubKube).create(managedApp("guestbook", "agent-managed", env.git.url, "guestbook"));
 *   const seen = await env.api.getApp("guestbook", "agent-managed");   // what argocd-server sees
 */
import { mkdirSync, mkdtempSync, readFileSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { setTimeout as sleep } from "node:timers/promises";
import { createKubeClient, type KubeClient } from "./kube-client.ts";
import { ensureNamespace } from "../../src/kube/crud.ts";
import type { Application } from "../../src/kube/resources.ts";
import { createCa, issueCertificate } from "../../src/transport/certificates.ts";
import { ArgoCdApi } from "./argocd-api.ts";
import { startGitRepo, type GitRepo } from "./argocd-git.ts";
import { ADMIN_PASSWORD, ARGOCD_NS, findArgoCd, startArgoCd, type ArgoCdInstance } from "./argocd.ts";
import { startKubeEnv, type KubeClusterHandle, type KubeEnv, type KubeEnvOptions } from "./kube-env.ts";
import { registerTempDir, removeTempDir, sweepStaleTempDirs } from "./kube-processes.ts";
import { freePort, runSync, start, type Running } from "./processes.ts";

export const HUB = "control-plane";
const TEMP_PREFIX = "argocd-agent-real-argocd-";

export interface ArgoCdEnvOptions {
  managed?: string[];
  autonomous?: string[];
  /** Controller --app-resync seconds on the workload clusters (default 30). */
  appResyncSeconds?: number;
  /** Progress messages (the demo prints them). */
  log?: (msg: string) => void;
  /**
   * Live resources as a user wires them: the principal's resource proxy (cluster Secrets written
   * by `argocd-agent ctl agent create`) and redis proxy (argocd-server's --redis), the agents
   * reading their Argo CD's redis.
   */
  liveResources?: boolean;
  /** kube-env options for every API server, e.g. `{ apiserverFlags: ["--feature-gates=…"] }` (a kubelet stand-in's exec). */
  kubeEnv?: Pick<KubeEnvOptions, "apiserverFlags">;
}

export interface ArgoCdEnv {
  kube: KubeEnv;
  hub: KubeClusterHandle;
  hubKube: KubeClient;
  kubeOf(cluster: string): KubeClient;
  git: GitRepo;
  argocd: Map<string, ArgoCdInstance>;
  /** argocd-server at the hub, logged in as admin. */
  api: ArgoCdApi;
  principal: Running;
  agents: Map<string, Running>;
  /** Agent name → its healthz port (GET /readyz is 200 while connected). */
  agentHealthPorts: Map<string, number>;
  /** With liveResources: the principal's resource proxy and redis proxy ports on 127.0.0.1. */
  resourceProxyPort?: number;
  redisProxyPort?: number;
  /** Recent output of every component, for failure messages. */
  logs(): string;
  stop(): Promise<void>;
}

interface LivePorts {
  resourceProxy: number;
  redisProxy: number;
  /** Argo CD's redis at the hub (the redis proxy's backend). */
  hubRedis: string;
  pki: { ca: string; cert: string; key: string };
}

/**
 * Extra principal flags, in one place. Without live resources both proxies stay off (upstream
 * has them on by default; they need TLS material and Argo CD's redis).
 */
export function principalExtraArgs(live?: LivePorts): string[] {
  if (!live) return ["--enable-resource-proxy=false", "--disable-redis-proxy=true"];
  return [
    "--enable-resource-proxy=true", "--resource-proxy-port", String(live.resourceProxy),
    "--resource-proxy-cert-path", live.pki.cert, "--resource-proxy-key-path", live.pki.key, "--resource-proxy-ca-path", live.pki.ca,
    "--disable-redis-proxy=false", "--redis-proxy-port", String(live.redisProxy), "--redis-server-address", live.hubRedis,
  ];
}

/** Extra agent flags, in one place (see principalExtraArgs): the agent's own Argo CD redis. */
export function agentExtraArgs(agentRedis?: string): string[] {
  return agentRedis ? ["--redis-addr", agentRedis] : [];
}

export async function startArgoCdEnv(opts: ArgoCdEnvOptions = {}): Promise<ArgoCdEnv> {
  const log = opts.log ?? (() => {});
  const managed = opts.managed ?? [];
  const autonomous = opts.autonomous ?? [];
  const workloads = [...managed, ...autonomous];
  findArgoCd(); // fail before starting anything if Argo CD is not built
  log(`starting etcd and kube-apiservers (${[HUB, ...workloads].join(", ")})…`);
  const kube = await startKubeEnv({ ...opts.kubeEnv, clusters: [HUB, ...workloads], namespaces: [ARGOCD_NS], crds: false });
  sweepStaleTempDirs(tmpdir(), TEMP_PREFIX);
  const dir = mkdtempSync(join(tmpdir(), TEMP_PREFIX));
  registerTempDir(dir); // removed at exit even if stop() is never reached
  const argocd = new Map<string, ArgoCdInstance>();
  const agents = new Map<string, Running>();
  const agentHealthPorts = new Map<string, number>();
  let principal: Running | undefined;
  let git: GitRepo | undefined;
  const procs = () => [...(principal ? [principal] : []), ...agents.values()];
  const stop = async () => {
    await Promise.all(procs().map((p) => p.stop()));
    await Promise.all([...argocd.values()].map((a) => a.stop()));
    await git?.stop();
    await kube.stop();
    removeTempDir(dir);
  };
  const logs = () => [
    ...[...argocd.values()].map((a) => a.logs()),
    ...(principal ? [`--- principal\n${tail(principal.output())}`] : []),
    ...[...agents].map(([n, a]) => `--- agent ${n}\n${tail(a.output())}`),
  ].join("\n");
  try {
    const hub = kube.cluster(HUB);
    const hubKube = createKubeClient(hub.kubeConfig);
    const clients = new Map<string, KubeClient>([[HUB, hubKube]]);
    const kubeOf = (c: string) => clients.get(c) ?? clients.set(c, createKubeClient(kube.cluster(c).kubeConfig)).get(c)!;
    git = await startGitRepo(join(dir, "git"));
    log(`git repository served at ${git.url} (commit ${git.head().slice(0, 7)})`);

    log("starting real Argo CD: redis + repo-server + argocd-server at the hub, redis + repo-server + application-controller per workload cluster…");
    // With live resources argocd-server uses the principal's redis proxy (started below).
    const liveRp = opts.liveResources ? { resourceProxy: await freePort(), redisProxy: await freePort() } : undefined;
    const started = await Promise.all([
      startArgoCd({
        cluster: hub, workDir: join(dir, HUB), components: ["server"],
        applicationNamespaces: ["agent-*"], projectSourceNamespaces: ["agent-*"],
        serverRedis: liveRp ? `127.0.0.1:${liveRp.redisProxy}` : undefined,
      }),
      ...workloads.map((c) => startArgoCd({ cluster: kube.cluster(c), workDir: join(dir, c), components: ["controller"], appResyncSeconds: opts.appResyncSeconds })),
    ].map((p) => p.catch((err: Error) => err)));
    for (const s of started) if (!(s instanceof Error)) argocd.set(s.name, s);
    const failed = started.find((s) => s instanceof Error);
    if (failed) throw failed;
    const api = new ArgoCdApi(argocd.get(HUB)!.serverUrl!, "admin", ADMIN_PASSWORD);
    await api.login();

    // On the hub each agent's Applications live in a namespace named after the agent.
    for (const agent of workloads) await ensureNamespace(hubKube, agent);
    const pki = await writePki(dir, workloads);
    const live = liveRp ? { ...liveRp, hubRedis: argocd.get(HUB)!.redis, pki } : undefined;
    const grpcPort = await freePort();
    principal = start([
      "principal", "-n", ARGOCD_NS, "--kubeconfig", hub.kubeconfigPath,
      "--listen-host", "127.0.0.1", "--listen-port", String(grpcPort),
      "--tls-cert", pki.cert, "--tls-key", pki.key, "--root-ca-path", pki.ca,
      "--auth", "mtls:subject:CN=([^,]+)", "--insecure-jwt-generate", "--allowed-namespaces", workloads.join(","),
      "--healthz-port", String(await freePort()), "--metrics-port", "0",
      ...principalExtraArgs(live),
    ]);
    await principal.waitFor(/principal started/, 60_000);
    log(`principal listening on 127.0.0.1:${grpcPort} (mTLS)`);
    if (live) {
      await registerAgentClusters(hubKube, hub.kubeconfigPath, dir, workloads, live.resourceProxy);
      log(`resource proxy on 127.0.0.1:${live.resourceProxy}, redis proxy on 127.0.0.1:${live.redisProxy}; cluster Secrets written by argocd-agent ctl agent create`);
    }
    for (const agent of workloads) {
      const health = await freePort();
      agentHealthPorts.set(agent, health);
      agents.set(agent, start([
        "agent", "-n", ARGOCD_NS, "--agent-mode", managed.includes(agent) ? "managed" : "autonomous",
        "--kubeconfig", kube.cluster(agent).kubeconfigPath, "--server-address", "127.0.0.1", "--server-port", String(grpcPort),
        "--creds", "mtls:any", "--root-ca-path", pki.ca,
        "--tls-client-cert", join(dir, "pki", `${agent}.crt`), "--tls-client-key", join(dir, "pki", `${agent}.key`),
        "--heartbeat-interval", "10s", "--healthz-port", String(health), "--metrics-port", "0",
        ...agentExtraArgs(live ? argocd.get(agent)!.redis : undefined),
      ]));
    }
    for (const [agent, port] of agentHealthPorts) await waitReady(agent, port, agents.get(agent)!);
    log(`agents connected: ${workloads.join(", ")}`);
    return { kube, hub, hubKube, kubeOf, git, argocd, api, principal, agents, agentHealthPorts, logs, stop, resourceProxyPort: live?.resourceProxy, redisProxyPort: live?.redisProxy };
  } catch (err) {
    const detail = logs();
    await stop();
    throw new Error(`${(err as Error).message}\n${detail}`);
  }
}

/**
 * What a user does at the hub: the CA in Secret argocd-agent-ca (here the env's CA, which also
 * signs the principal's and agents' certificates), then `argocd-agent ctl agent create` per agent.
 */
async function registerAgentClusters(hubKube: KubeClient, kubeconfig: string, dir: string, agents: string[], rpPort: number): Promise<void> {
  const b64 = (f: string) => readFileSync(join(dir, "pki", f)).toString("base64");
  await hubKube.core.createNamespacedSecret({
    namespace: ARGOCD_NS,
    body: { metadata: { name: "argocd-agent-ca" }, type: "kubernetes.io/tls", data: { "tls.crt": b64("ca.crt"), "tls.key": b64("ca.key") } },
  });
  for (const agent of agents) {
    const r = runSync(["ctl", "--kubeconfig", kubeconfig, "--principal-namespace", ARGOCD_NS, "agent", "create", agent, "--resource-proxy-server", `127.0.0.1:${rpPort}`]);
    if (r.code !== 0) throw new Error(`argocd-agent ctl agent create ${agent} failed: ${r.stderr}`);
  }
}

async function writePki(dir: string, agents: string[]): Promise<{ ca: string; cert: string; key: string }> {
  mkdirSync(join(dir, "pki"));
  const ca = await createCa("argocd-agent-real-argocd-ca");
  const files: Record<string, string> = { "ca.crt": ca.cert, "ca.key": ca.key };
  const srv = await issueCertificate(ca, { commonName: "principal", dnsNames: ["localhost"], ipAddresses: ["127.0.0.1"], client: false });
  Object.assign(files, { "principal.crt": srv.cert, "principal.key": srv.key });
  for (const agent of agents) {
    const c = await issueCertificate(ca, { commonName: agent, server: false });
    Object.assign(files, { [`${agent}.crt`]: c.cert, [`${agent}.key`]: c.key });
  }
  for (const [name, pem] of Object.entries(files)) writeFileSync(join(dir, "pki", name), pem, { mode: 0o600 });
  return { ca: join(dir, "pki", "ca.crt"), cert: join(dir, "pki", "principal.crt"), key: join(dir, "pki", "principal.key") };
}

async function waitReady(agent: string, port: number, proc: Running): Promise<void> {
  const deadline = Date.now() + 60_000;
  while (!(await fetch(`http://127.0.0.1:${port}/readyz`).then((r) => r.ok, () => false))) {
    if (proc.proc.exitCode !== null) throw new Error(`agent ${agent} exited:\n${tail(proc.output())}`);
    if (Date.now() > deadline) throw new Error(`agent ${agent} not connected after 60s:\n${tail(proc.output())}`);
    await sleep(200);
  }
}

const tail = (s: string, n = 20) => s.trimEnd().split("\n").slice(-n).join("\n");

/** Where an app's manifests come from: a path of the env's git repository. */
function source(repoURL: string, path: string) {
  return { repoURL, path, targetRevision: "HEAD" };
}

/**
 * A managed app as created at the hub (in the agent's namespace). `auto` adds automated sync
 * (prune, self-heal); without it the app syncs only when asked.
 */
export function managedApp(name: string, agent: string, repoURL: string, path: string, auto = true): Application {
  return {
    apiVersion: "argoproj.io/v1alpha1", kind: "Application",
    metadata: { name, namespace: agent },
    spec: {
      project: "default", source: source(repoURL, path),
      destination: { server: "https://kubernetes.default.svc", namespace: name },
      syncPolicy: { ...(auto ? { automated: { prune: true, selfHeal: true } } : {}), syncOptions: ["CreateNamespace=true"] },
    },
  } as Application;
}

/** An autonomous app as created on the workload cluster itself (namespace argocd), auto-synced. */
export function autonomousApp(name: string, repoURL: string, path: string): Application {
  return managedApp(name, ARGOCD_NS, repoURL, path, true);
}

export interface AppStatusView {
  sync?: string;
  health?: string;
  revision?: string;
  phase?: string;
}

/** The parts of an Application's status the demo and the tests look at. */
export function statusOf(app: Application | undefined): AppStatusView {
  const s = app?.status as {
    sync?: { status?: string; revision?: string }; health?: { status?: string }; operationState?: { phase?: string };
  } | undefined;
  return { sync: s?.sync?.status, health: s?.health?.status, revision: s?.sync?.revision, phase: s?.operationState?.phase };
}
