/**
 * envtest-style Kubernetes for tests: real kube-apiserver processes on
 * loopback, one per simulated cluster, all sharing one etcd (each under its
 * own --etcd-prefix, so they see disjoint data). Argo CD's own Application and
 * AppProject CRDs (upstream's, test/support/upstream-crds.ts) and the requested
 * namespaces are installed before startKubeEnv() resolves.
 *
 * @example
 *   const env = await startKubeEnv({ clusters: ["control-plane", "agent-managed"] });
 *   after(() => env.stop());
 *   const cp = env.cluster("control-plane"); // { kubeconfigPath, server, kubeConfig, ns }
 *
 * Binaries: see findKubeBinaries() ($KUBEBUILDER_ASSETS, PATH, then the cache
 * filled by scripts/setup-kube-tools.sh). Missing binaries are an error, not a skip.
 *
 * Existing cluster instead: set ARGOCD_AGENT_TEST_KUBECONFIG=/path/to/kubeconfig.
 * Nothing is started; every "cluster" uses that kubeconfig (current context),
 * and isolation comes from namespaces only: `cluster.ns("argocd")` is then
 * "<cluster>-argocd" (it is "argocd" on private API servers), so tests must
 * always go through ns(). The CRDs are created only if missing, and stop()
 * deletes the namespaces it created.
 */
import { mkdirSync, mkdtempSync, writeFileSync } from "node:fs";
import { request } from "node:https";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { setTimeout as sleep } from "node:timers/promises";
import { CustomObjectsApi, KubeConfig } from "@kubernetes/client-node";
import { stringify as toYaml } from "yaml";
import { createKubeClient } from "./kube-client.ts";
import { ensureNamespace, isAlreadyExists } from "../../src/kube/crud.ts";
import { generatePki, type KubePki } from "./kube-certs.ts";
import { argoCdCrds } from "./upstream-crds.ts";
import {
  findKubeBinaries, freePort, type KubeBinaries, logTail, registerTempDir, removeTempDir, startProcess, stopProcess, sweepStaleTempDirs, type ManagedProcess,
} from "./kube-processes.ts";

export interface KubeClusterHandle {
  name: string;
  kubeconfigPath: string;
  server: string;
  kubeConfig: KubeConfig;
  /** Real name of a test namespace (identity here; prefixed on a shared external cluster). */
  ns(name: string): string;
}

export interface KubeEnv {
  clusters: KubeClusterHandle[];
  cluster(name: string): KubeClusterHandle;
  /** True when all clusters are one external cluster (ARGOCD_AGENT_TEST_KUBECONFIG). */
  shared: boolean;
  /**
   * The private API servers' PKI (undefined on a shared cluster). The API
   * servers trust kubelets whose serving certificate this CA signed (the
   * serving certificate, 127.0.0.1, is one) and present the admin certificate
   * to them, so tests can put a kubelet stand-in behind them.
   */
  pki?: KubePki;
  stop(): Promise<void>;
}

export interface KubeEnvOptions {
  clusters: string[];
  /** Namespaces to create in every cluster (default ["argocd"]). */
  namespaces?: string[];
  /** Install the argoproj.io CRDs (default true). */
  crds?: boolean;
  /** More kube-apiserver flags, e.g. ["--feature-gates=X=false"]. */
  apiserverFlags?: string[];
}

const STARTUP_TIMEOUT_MS = 90_000;
const TEMP_PREFIX = "argocd-agent-kube-env-";

export async function startKubeEnv(opts: KubeEnvOptions): Promise<KubeEnv> {
  for (const name of opts.clusters) {
    if (!/^[a-z0-9]([-a-z0-9]*[a-z0-9])?$/.test(name)) throw new Error(`invalid cluster name "${name}"`);
  }
  if (new Set(opts.clusters).size !== opts.clusters.length) throw new Error("duplicate cluster names");
  const external = process.env.ARGOCD_AGENT_TEST_KUBECONFIG;
  return external ? startOnExternalCluster(external, opts) : startLocal(opts);
}

async function startLocal(opts: KubeEnvOptions): Promise<KubeEnv> {
  const bins = findKubeBinaries();
  sweepStaleTempDirs(tmpdir(), TEMP_PREFIX);
  const dir = mkdtempSync(join(tmpdir(), TEMP_PREFIX));
  registerTempDir(dir);
  const processes: ManagedProcess[] = [];
  const stop = async () => {
    await Promise.all(processes.map((p) => stopProcess(p)));
    removeTempDir(dir);
  };
  try {
    mkdirSync(join(dir, "pki"));
    const pki = generatePki(join(dir, "pki"));
    const etcdUrl = await startEtcd(bins, dir, processes);
    const clusters = await Promise.all(
      opts.clusters.map((name) => startApiserver(bins.kubeApiserver, name, etcdUrl, pki, dir, processes, opts.apiserverFlags ?? [])),
    );
    await Promise.all(clusters.map((c) => prepareCluster(c, opts, (n) => n)));
    return { clusters, cluster: pick(clusters), shared: false, pki, stop };
  } catch (err) {
    await stop();
    throw err;
  }
}

async function startEtcd(bins: KubeBinaries, dir: string, processes: ManagedProcess[]): Promise<string> {
  const [clientPort, peerPort] = [await freePort(), await freePort()];
  const clientUrl = `http://127.0.0.1:${clientPort}`;
  const peerUrl = `http://127.0.0.1:${peerPort}`;
  const proc = startProcess("etcd", bins.etcd, [
    "--name=kube-env",
    `--data-dir=${join(dir, "etcd")}`,
    `--listen-client-urls=${clientUrl}`,
    `--advertise-client-urls=${clientUrl}`,
    `--listen-peer-urls=${peerUrl}`,
    `--initial-advertise-peer-urls=${peerUrl}`,
    `--initial-cluster=kube-env=${peerUrl}`,
    "--log-level=warn",
    // Test data: durability buys nothing and fsync costs a lot (flag exists since etcd 3.5).
    ...(bins.etcdVersion >= 3.5 ? ["--unsafe-no-fsync=true"] : []),
  ], join(dir, "etcd.log"));
  processes.push(proc);
  await waitUntil(proc, "etcd /health", async () => {
    const res = await fetch(`${clientUrl}/health`).catch(() => undefined);
    return res?.ok === true && (await res.json() as { health?: string }).health === "true";
  });
  return clientUrl;
}

async function startApiserver(
  bin: string, name: string, etcdUrl: string, pki: KubePki, dir: string, processes: ManagedProcess[], extraFlags: string[],
): Promise<KubeClusterHandle> {
  const port = await freePort();
  const server = `https://127.0.0.1:${port}`;
  const certDir = join(dir, `apiserver-${name}`);
  mkdirSync(certDir);
  const proc = startProcess(`kube-apiserver ${name}`, bin, [
    `--etcd-servers=${etcdUrl}`,
    `--etcd-prefix=/clusters/${name}`, // the isolation between simulated clusters
    "--bind-address=127.0.0.1",
    "--advertise-address=127.0.0.1",
    `--secure-port=${port}`,
    `--cert-dir=${certDir}`,
    `--tls-cert-file=${pki.serverCert}`,
    `--tls-private-key-file=${pki.serverKey}`,
    `--client-ca-file=${pki.caCert}`,
    `--service-account-issuer=https://${name}.kube-env.invalid`,
    `--service-account-key-file=${pki.serviceAccountPub}`,
    `--service-account-signing-key-file=${pki.serviceAccountKey}`,
    "--service-cluster-ip-range=10.0.0.0/24",
    "--authorization-mode=RBAC",
    "--allow-privileged=true",
    // Start-up speed: no priority-and-fairness bootstrap, no endpoint reconciler loop,
    // and no ServiceAccount admission (there is no token controller to create SAs).
    "--enable-priority-and-fairness=false",
    "--endpoint-reconciler-type=none",
    "--disable-admission-plugins=ServiceAccount",
    "--profiling=false",
    // No kubelets here, but a test may register a Node backed by a kubelet stand-in (pod logs, exec).
    `--kubelet-client-certificate=${pki.adminCert}`,
    `--kubelet-client-key=${pki.adminKey}`,
    `--kubelet-certificate-authority=${pki.caCert}`,
    ...extraFlags,
  ], join(dir, `apiserver-${name}.log`));
  processes.push(proc);

  const kubeconfigPath = join(dir, `kubeconfig-${name}.yaml`);
  writeFileSync(kubeconfigPath, kubeconfigYaml(name, server, pki), { mode: 0o600 });
  await waitUntil(proc, `kube-apiserver ${name} /readyz`, () => readyz(server, pki));
  const kubeConfig = new KubeConfig();
  kubeConfig.loadFromFile(kubeconfigPath);
  return { name, kubeconfigPath, server, kubeConfig, ns: (n) => n };
}

function kubeconfigYaml(name: string, server: string, pki: KubePki): string {
  const b64 = (s: string) => Buffer.from(s).toString("base64");
  return toYaml({
    apiVersion: "v1",
    kind: "Config",
    clusters: [{ name, cluster: { server, "certificate-authority-data": b64(pki.pem.ca) } }],
    users: [{
      name: `${name}-admin`,
      user: { "client-certificate-data": b64(pki.pem.adminCert), "client-key-data": b64(pki.pem.adminKey) },
    }],
    contexts: [{ name, context: { cluster: name, user: `${name}-admin` } }],
    "current-context": name,
  });
}

function readyz(server: string, pki: KubePki): Promise<boolean> {
  return new Promise((resolve) => {
    const req = request(`${server}/readyz`, {
      ca: pki.pem.ca, cert: pki.pem.adminCert, key: pki.pem.adminKey, timeout: 2000,
    }, (res) => {
      res.resume();
      resolve(res.statusCode === 200);
    });
    req.on("error", () => resolve(false));
    req.on("timeout", () => req.destroy());
    req.end();
  });
}

/** Polls `check` until true; fails fast with the log tail if the process dies. */
async function waitUntil(proc: ManagedProcess, what: string, check: () => Promise<boolean>): Promise<void> {
  const deadline = Date.now() + STARTUP_TIMEOUT_MS;
  for (;;) {
    if (proc.exited) {
      throw new Error(`${proc.name} exited (${JSON.stringify(proc.exited)}) before ${what}:\n${logTail(proc)}`);
    }
    if (await check()) return;
    if (Date.now() > deadline) throw new Error(`timed out waiting for ${what}:\n${logTail(proc)}`);
    await sleep(50);
  }
}

/** CRDs and namespaces, on a private or a shared cluster. */
async function prepareCluster(c: KubeClusterHandle, opts: KubeEnvOptions, ns: (n: string) => string): Promise<void> {
  if (opts.crds ?? true) await installCrds(c.kubeConfig);
  const kube = createKubeClient(c.kubeConfig);
  for (const name of opts.namespaces ?? ["argocd"]) await ensureNamespace(kube, ns(name));
}

// CRDs go through the generic custom-objects API: the typed ApiextensionsV1Api serializer only
// knows camelCase model fields and silently drops `x-kubernetes-preserve-unknown-fields`.
const CRD_API = { group: "apiextensions.k8s.io", version: "v1", plural: "customresourcedefinitions" };

interface Crd {
  metadata: { name: string };
  spec: { group: string; names: { plural: string; kind: string }; versions: { name: string }[] };
  status?: { conditions?: { type: string; status: string }[] };
}

async function installCrds(kubeConfig: KubeConfig): Promise<void> {
  const api = kubeConfig.makeApiClient(CustomObjectsApi);
  const crds = argoCdCrds() as unknown as Crd[];
  await Promise.all(crds.map(async (body) => {
    try {
      await api.createClusterCustomObject({ ...CRD_API, body });
    } catch (err) {
      if (!isAlreadyExists(err)) throw err;
    }
  }));
  const deadline = Date.now() + 30_000;
  for (const crd of crds) {
    await waitUntilServed(api, crd, deadline);
  }
}

/**
 * "Established" means the resource is served, but its watch cache may still answer
 * "storage is (re)initializing", and the first write of a custom resource blocks for
 * ~2 s on a fresh API server. A list and a dry-run create absorb both here, so tests
 * start on a fully warm server.
 */
async function waitUntilServed(api: CustomObjectsApi, crd: Crd, deadline: number): Promise<void> {
  const { group, versions, names } = crd.spec;
  const version = versions[0].name;
  const kind = crd.spec.names.kind;
  for (;;) {
    const current = (await api.getClusterCustomObject({ ...CRD_API, name: crd.metadata.name })) as Crd;
    const established = current.status?.conditions?.some((c) => c.type === "Established" && c.status === "True");
    const listed = established && (await api
      .listCustomObjectForAllNamespaces({ group, version, resourcePlural: names.plural, limit: 1 })
      .then(() => true, () => false));
    if (listed) break;
    if (Date.now() > deadline) throw new Error(`CRD ${crd.metadata.name} not served after 30s`);
    await sleep(50);
  }
  // Valid for Argo CD's schemas (an Application needs a project and a destination).
  const spec = kind === "Application" ? { project: "default", destination: {} } : {};
  const body = { apiVersion: `${group}/${version}`, kind, metadata: { name: "warm-up" }, spec };
  await api.createNamespacedCustomObject({ group, version, plural: names.plural, namespace: "default", body, dryRun: "All" });
}

async function startOnExternalCluster(kubeconfigPath: string, opts: KubeEnvOptions): Promise<KubeEnv> {
  const created: { kube: ReturnType<typeof createKubeClient>; name: string }[] = [];
  const clusters = opts.clusters.map((name): KubeClusterHandle => {
    const kubeConfig = new KubeConfig();
    kubeConfig.loadFromFile(kubeconfigPath);
    const server = kubeConfig.getCurrentCluster()?.server ?? "";
    return { name, kubeconfigPath, server, kubeConfig, ns: (n) => `${name}-${n}` };
  });
  for (const c of clusters) {
    await prepareCluster(c, opts, c.ns);
    const kube = createKubeClient(c.kubeConfig);
    for (const n of opts.namespaces ?? ["argocd"]) created.push({ kube, name: c.ns(n) });
  }
  const stop = async () => {
    await Promise.all(created.map(({ kube, name }) => kube.core.deleteNamespace({ name }).catch(() => {})));
  };
  return { clusters, cluster: pick(clusters), shared: true, stop };
}

function pick(clusters: KubeClusterHandle[]): (name: string) => KubeClusterHandle {
  return (name) => {
    const c = clusters.find((x) => x.name === name);
    if (!c) throw new Error(`no cluster "${name}" in this kube env (have: ${clusters.map((x) => x.name).join(", ")})`);
    return c;
  };
}
