/**
 * Real Argo CD (v3.5.1, built by scripts/setup-argocd.sh) as local processes against one of
 * the test kube-apiservers: a redis-server on a free loopback port, an `argocd-repo-server`,
 * and, as asked, an `argocd-application-controller` (workload clusters) and an `argocd-server`
 * (the hub: `--insecure` on loopback, local admin with a known password). Argo CD's CRDs (from
 * the module's manifests/crds), its ConfigMaps/Secrets and the `default` AppProject are
 * installed first. All processes go through kube-processes.ts (own process group, killed with
 * the test process), logs under `workDir`.
 *
 * @example
 *   const cd = await startArgoCd({ cluster: env.cluster("agent-managed"), workDir, components: ["controller"] });
 *   after(() => cd.stop());
 *   // cd.redis, cd.repoServer ("127.0.0.1:port"), cd.serverUrl (argocd-server only), cd.logs()
 *
 * Binaries: $ARGOCD_AGENT_ARGOCD_DIR or ~/.cache/argocd-agent-ts/argocd (bin/argocd, the
 * hack/ wrappers, bin/kustomize, crds/). Missing ones are an error naming the set-up script.
 */
import { existsSync, mkdirSync, readdirSync, readFileSync } from "node:fs";
import { connect } from "node:net";
import { homedir } from "node:os";
import { join } from "node:path";
import { setTimeout as sleep } from "node:timers/promises";
import { CoreV1Api, CustomObjectsApi, type KubeConfig } from "@kubernetes/client-node";
import { parse as parseYaml } from "yaml";
import { bcryptHash } from "../../src/auth/bcrypt.ts";
import { isAlreadyExists, isNotFound } from "../../src/kube/crud.ts";
import type { KubeClusterHandle } from "./kube-env.ts";
import { freePort, logTail, startProcess, stopProcess, type ManagedProcess } from "./kube-processes.ts";

export const ARGOCD_NS = "argocd";
export const ADMIN_PASSWORD = "argocd-agent-ts-admin";

export interface ArgoCdInstall {
  dir: string;
  /** The multi-call binary; the component comes from ARGOCD_BINARY_NAME. */
  argocd: string;
  /** Goes first on the components' PATH (git-verify-wrapper.sh, gpg-wrapper.sh, kustomize). */
  binDir: string;
  crdDir: string;
}

export function argoCdCacheDir(): string {
  return process.env.ARGOCD_AGENT_ARGOCD_DIR || join(homedir(), ".cache", "argocd-agent-ts", "argocd");
}

/** The cache filled by scripts/setup-argocd.sh; throws with the fix when something is missing. */
export function findArgoCd(): ArgoCdInstall {
  const dir = argoCdCacheDir();
  const install = { dir, argocd: join(dir, "bin", "argocd"), binDir: join(dir, "bin"), crdDir: join(dir, "crds") };
  const need = [install.argocd, join(dir, "bin", "git-verify-wrapper.sh"), join(dir, "bin", "kustomize"), join(dir, "crds", "application-crd.yaml")];
  const missing = need.filter((p) => !existsSync(p));
  if (missing.length) {
    throw new Error(`Argo CD not found (missing ${missing.join(", ")}). Run scripts/setup-argocd.sh once ` +
      "(it builds Argo CD v3.5.1 from the Go module proxy into that cache), or set ARGOCD_AGENT_ARGOCD_DIR.");
  }
  return install;
}

export type Component = "controller" | "server";

export interface ArgoCdOptions {
  cluster: KubeClusterHandle;
  /** Logs, TLS/SSH/GnuPG dirs and TMPDIR of every component live under it. */
  workDir: string;
  /** Besides redis and the repo-server (default: ["controller"]). */
  components?: Component[];
  /** argocd-server's --application-namespaces (apps in any namespace), e.g. ["agent-*"]. */
  applicationNamespaces?: string[];
  /** The default AppProject's sourceNamespaces (the hub needs the agents' namespaces). */
  projectSourceNamespaces?: string[];
  /** Controller --app-resync seconds (how often it compares with git without being asked). */
  appResyncSeconds?: number;
  /** argocd-server's --redis instead of this instance's redis (the principal's redis proxy). */
  serverRedis?: string;
}

export interface ArgoCdInstance {
  name: string;
  redis: string;
  repoServer: string;
  /** http://127.0.0.1:port of argocd-server, if started. */
  serverUrl?: string;
  processes: ManagedProcess[];
  /** Last lines of every component's log, for failure messages. */
  logs(lines?: number): string;
  stop(): Promise<void>;
}

/** Installs Argo CD's objects on the cluster and starts the components; stops them all on failure. */
export async function startArgoCd(opts: ArgoCdOptions): Promise<ArgoCdInstance> {
  const install = findArgoCd();
  const name = opts.cluster.name;
  const processes: ManagedProcess[] = [];
  const inst: ArgoCdInstance = {
    name, redis: "", repoServer: "", processes,
    logs: (lines = 25) => processes.map((p) => `--- ${p.name} (${p.logPath})\n${logTail(p, lines)}`).join("\n"),
    stop: async () => void (await Promise.all(processes.map((p) => stopProcess(p)))),
  };
  try {
    mkdirSync(opts.workDir, { recursive: true });
    await installArgoCdObjects(opts.cluster.kubeConfig, install, opts.projectSourceNamespaces ?? []);
    const redisPort = await freePort();
    const redis = startProcess(`redis ${name}`, "redis-server", [
      "--port", String(redisPort), "--bind", "127.0.0.1", "--save", "", "--appendonly", "no",
      "--dir", opts.workDir, "--protected-mode", "no",
    ], join(opts.workDir, "redis.log"));
    processes.push(redis);
    inst.redis = `127.0.0.1:${redisPort}`;
    await waitFor(redis, "redis PING", () => redisPing(redisPort));

    const [repoPort, repoMetrics] = [await freePort(), await freePort()];
    inst.repoServer = `127.0.0.1:${repoPort}`;
    const repo = startComponent(install, opts, "argocd-repo-server", [
      "--address", "127.0.0.1", "--port", String(repoPort), "--metrics-address", "127.0.0.1",
      "--metrics-port", String(repoMetrics), "--redis", inst.redis, "--disable-tls", "--client-ca-path", "",
      "--loglevel", "warn",
    ]);
    processes.push(repo);
    const comps = opts.components ?? ["controller"];
    const waits = [waitFor(repo, "repo-server metrics", () => httpOk(`http://127.0.0.1:${repoMetrics}/metrics`))];
    if (comps.includes("controller")) {
      const metrics = await freePort();
      const ctl = startComponent(install, opts, "argocd-application-controller", [
        "--namespace", ARGOCD_NS, "--redis", inst.redis, "--repo-server", inst.repoServer, "--repo-server-plaintext",
        "--metrics-port", String(metrics), "--hydrator-enabled=false", "--app-resync", String(opts.appResyncSeconds ?? 30),
        "--self-heal-timeout-seconds", "2", "--loglevel", "warn",
      ]);
      processes.push(ctl);
      waits.push(waitFor(ctl, "application-controller metrics", () => httpOk(`http://127.0.0.1:${metrics}/metrics`)));
    }
    if (comps.includes("server")) {
      const [port, metrics] = [await freePort(), await freePort()];
      const srv = startComponent(install, opts, "argocd-server", [
        "--namespace", ARGOCD_NS, "--insecure", "--address", "127.0.0.1", "--port", String(port),
        "--metrics-address", "127.0.0.1", "--metrics-port", String(metrics), "--redis", opts.serverRedis ?? inst.redis,
        "--repo-server", inst.repoServer, "--repo-server-plaintext", "--dex-server", "", "--staticassets", opts.workDir,
        "--loglevel", "warn",
        ...(opts.applicationNamespaces?.length ? ["--application-namespaces", opts.applicationNamespaces.join(",")] : []),
      ]);
      processes.push(srv);
      inst.serverUrl = `http://127.0.0.1:${port}`;
      waits.push(waitFor(srv, "argocd-server /healthz", () => httpOk(`${inst.serverUrl}/healthz`)));
    }
    await Promise.all(waits);
    return inst;
  } catch (err) {
    await inst.stop();
    throw err;
  }
}

function startComponent(install: ArgoCdInstall, opts: ArgoCdOptions, component: string, args: string[]): ManagedProcess {
  const home = join(opts.workDir, component);
  for (const d of ["tmp", "tls", "ssh", "gnupg"]) mkdirSync(join(home, d), { recursive: true, mode: 0o700 });
  const env = {
    ARGOCD_BINARY_NAME: component,
    KUBECONFIG: opts.cluster.kubeconfigPath,
    ARGOCD_FAKE_IN_CLUSTER: "true",
    ARGOCD_GPG_ENABLED: "false",
    TMPDIR: join(home, "tmp"),
    ARGOCD_TLS_DATA_PATH: join(home, "tls"),
    ARGOCD_SSH_DATA_PATH: join(home, "ssh"),
    ARGOCD_GNUPGHOME: join(home, "gnupg"),
    PATH: `${install.binDir}:${process.env.PATH ?? "/usr/bin:/bin"}`,
    // Go garbage collection less often: the clusters are small, CPU on a 2-core box is not.
    GOGC: "200",
  };
  // startProcess passes its own environment on; `env` adds ours (it execs, so pdeathsig holds).
  const envArgs = Object.entries(env).map(([k, v]) => `${k}=${v}`);
  return startProcess(`${component} ${opts.cluster.name}`, "env", [...envArgs, install.argocd, ...args], join(opts.workDir, `${component}.log`));
}

/** CRDs, argocd-cm, argocd-rbac-cm, argocd-cmd-params-cm, argocd-secret (known admin password) and the default AppProject. */
export async function installArgoCdObjects(kc: KubeConfig, install: ArgoCdInstall, sourceNamespaces: string[] = []): Promise<void> {
  const custom = kc.makeApiClient(CustomObjectsApi);
  const core = kc.makeApiClient(CoreV1Api);
  const crds = readdirSync(install.crdDir).filter((f) => f.endsWith(".yaml"))
    .map((f) => parseYaml(readFileSync(join(install.crdDir, f), "utf8")) as CrdDoc);
  for (const crd of crds) await createOrReplaceCrd(custom, crd);
  await ensureNs(core, ARGOCD_NS);
  // Argo CD's settings manager only sees objects labelled part-of=argocd.
  const labels = { "app.kubernetes.io/part-of": "argocd" };
  const cm = (name: string, data: Record<string, string>) => ({ metadata: { name, namespace: ARGOCD_NS, labels }, data });
  const secretData = {
    "server.secretkey": "argocd-agent-ts-test-secret-key",
    "admin.password": await bcryptHash(ADMIN_PASSWORD, 4),
    "admin.passwordMtime": new Date().toISOString().replace(/\.\d+Z$/, "Z"),
  };
  const objects: [string, () => Promise<unknown>][] = [
    ["argocd-cm", () => core.createNamespacedConfigMap({ namespace: ARGOCD_NS, body: cm("argocd-cm", { "admin.enabled": "true" }) })],
    ["argocd-rbac-cm", () => core.createNamespacedConfigMap({ namespace: ARGOCD_NS, body: cm("argocd-rbac-cm", {}) })],
    ["argocd-cmd-params-cm", () => core.createNamespacedConfigMap({ namespace: ARGOCD_NS, body: cm("argocd-cmd-params-cm", {}) })],
    ["argocd-secret", () => core.createNamespacedSecret({ namespace: ARGOCD_NS, body: { metadata: { name: "argocd-secret", namespace: ARGOCD_NS, labels }, type: "Opaque", stringData: secretData } })],
  ];
  for (const [, create] of objects) await create().catch((err) => { if (!isAlreadyExists(err)) throw err; });
  const project = {
    apiVersion: "argoproj.io/v1alpha1", kind: "AppProject", metadata: { name: "default", namespace: ARGOCD_NS },
    spec: { sourceRepos: ["*"], destinations: [{ server: "*", namespace: "*" }], clusterResourceWhitelist: [{ group: "*", kind: "*" }], ...(sourceNamespaces.length ? { sourceNamespaces } : {}) },
  };
  await retry("create default AppProject", () =>
    custom.createNamespacedCustomObject({ group: "argoproj.io", version: "v1alpha1", namespace: ARGOCD_NS, plural: "appprojects", body: project })
      .catch((err) => { if (!isAlreadyExists(err)) throw err; }));
}

interface CrdDoc { metadata: { name: string; resourceVersion?: string }; spec: { group: string; names: { plural: string }; versions: { name: string }[] } }
const CRD_API = { group: "apiextensions.k8s.io", version: "v1", plural: "customresourcedefinitions" };

/** Argo CD's CRD replaces one already there (kube-env's minimal test CRDs), then is polled until listable. */
async function createOrReplaceCrd(api: CustomObjectsApi, crd: CrdDoc): Promise<void> {
  try {
    await api.createClusterCustomObject({ ...CRD_API, body: crd });
  } catch (err) {
    if (!isAlreadyExists(err)) throw err;
    await retry(`replace CRD ${crd.metadata.name}`, async () => {
      const cur = (await api.getClusterCustomObject({ ...CRD_API, name: crd.metadata.name })) as CrdDoc;
      await api.replaceClusterCustomObject({ ...CRD_API, name: crd.metadata.name, body: { ...crd, metadata: { ...crd.metadata, resourceVersion: cur.metadata.resourceVersion } } });
    });
  }
  // Not `kubectl wait --for condition=established`: a list that succeeds is what matters.
  const { group, versions, names } = crd.spec;
  await retry(`CRD ${crd.metadata.name} served`, () =>
    api.listCustomObjectForAllNamespaces({ group, version: versions[0].name, resourcePlural: names.plural, limit: 1 }));
}

async function ensureNs(core: CoreV1Api, name: string): Promise<void> {
  await core.readNamespace({ name }).catch(async (err) => {
    if (!isNotFound(err)) throw err;
    await core.createNamespace({ body: { metadata: { name } } }).catch((e) => { if (!isAlreadyExists(e)) throw e; });
  });
}

async function retry<T>(what: string, fn: () => Promise<T>, timeoutMs = 30_000): Promise<T> {
  const deadline = Date.now() + timeoutMs;
  for (;;) {
    try {
      return await fn();
    } catch (err) {
      if (Date.now() > deadline) throw new Error(`${what}: ${(err as Error).message}`);
      await sleep(200);
    }
  }
}

async function waitFor(proc: ManagedProcess, what: string, check: () => Promise<boolean>, timeoutMs = 120_000): Promise<void> {
  const deadline = Date.now() + timeoutMs;
  for (;;) {
    if (proc.exited) throw new Error(`${proc.name} exited (${JSON.stringify(proc.exited)}) before ${what}:\n${logTail(proc)}`);
    if (await check()) return;
    if (Date.now() > deadline) throw new Error(`timed out waiting for ${what}:\n${logTail(proc)}`);
    await sleep(200);
  }
}

const httpOk = (url: string) => fetch(url, { signal: AbortSignal.timeout(2000) }).then((r) => (r.body?.cancel(), r.ok), () => false);

function redisPing(port: number): Promise<boolean> {
  return new Promise((resolve) => {
    const s = connect(port, "127.0.0.1", () => s.write("PING\r\n"));
    s.setTimeout(1000, () => (s.destroy(), resolve(false)));
    s.on("data", (d) => (s.destroy(), resolve(d.toString().startsWith("+PONG"))));
    s.on("error", () => resolve(false));
  });
}
