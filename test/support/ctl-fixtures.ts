/**
 * Helpers for the `argocd-agent ctl` e2e tests: the CLI run from source as a
 * user runs it (own HOME, a kubeconfig with one context per test cluster,
 * optional piped stdin), Secrets written and replaced in one call,
 * certificates made in-process (ECDSA via src/transport/certificates.ts, and
 * an RSA pair shaped like upstream argocd-agentctl's: serial 1,
 * `O=DO NOT USE IN PRODUCTION`), and CRDs that make an API exist
 * (ArgoCD operator CR, OpenShift Route), Argo CD components as bare
 * Deployments/StatefulSets and the redis NetworkPolicy.
 *
 * @example
 *   const kubeconfig = writeMergedKubeconfig(dir, [env.cluster("hub"), env.cluster("spoke")], "spoke");
 *   const r = runCtl({ kubeconfig, home }, ["agent", "list"]);
 *   await putSecret(kube, "argocd", { metadata: { name: "x" }, type: "Opaque", data: { a: b64("1") } });
 */
import "reflect-metadata";
import { spawnSync } from "node:child_process";
import { readFileSync, writeFileSync } from "node:fs";
import { join } from "node:path";
import { setTimeout as sleep } from "node:timers/promises";
import { webcrypto } from "node:crypto";
import * as x509 from "@peculiar/x509";
import { ApiextensionsV1Api, AppsV1Api, CoreV1Api, CustomObjectsApi, NetworkingV1Api, type KubeConfig, type V1Secret } from "@kubernetes/client-node";
import { parse as parseYaml, stringify as toYaml } from "yaml";
import type { KubeClient } from "./kube-client.ts";
import { isAlreadyExists, isNotFound } from "../../src/kube/crud.ts";
import type { KubeClusterHandle } from "./kube-env.ts";
import { command } from "./processes.ts";

x509.cryptoProvider.set(webcrypto as unknown as Crypto);

export const b64 = (s: string) => Buffer.from(s).toString("base64");
export const unb64 = (s: string | undefined) => Buffer.from(s ?? "", "base64").toString("utf8");
export const DAY_MS = 86_400_000;

export interface CtlRun {
  code: number | null;
  stdout: string;
  stderr: string;
}

/**
 * A KubeClient without src/kube/connections.ts's connection reuse: the test
 * talks to the API servers in bursts with long idle gaps (while CLI processes
 * run), and a reused HTTP/2 connection the API server closed (GOAWAY) in such a
 * gap fails the next POST instead of reconnecting.
 */
export function plainKubeClient(kc: KubeConfig): KubeClient {
  return {
    kubeConfig: kc, core: kc.makeApiClient(CoreV1Api), custom: kc.makeApiClient(CustomObjectsApi),
    server: kc.getCurrentCluster()?.server ?? "", context: kc.getCurrentContext(), qps: 0, burst: 0,
  };
}

/** `argocd-agent ctl --kubeconfig <kubeconfig> …args` from source, HOME = `home`, stdin = `input`. */
export function runCtl(where: { kubeconfig: string; home: string }, args: string[], input = ""): CtlRun {
  const [bin, pre] = command("source");
  const res = spawnSync(bin, [...pre, "ctl", "--kubeconfig", where.kubeconfig, ...args], {
    encoding: "utf8",
    input,
    env: { PATH: process.env.PATH ?? "", HOME: where.home },
    timeout: 60_000,
  });
  return { code: res.status, stdout: res.stdout, stderr: res.stderr };
}

/** One kubeconfig with a context per cluster (named like the cluster), current context `current`. */
export function writeMergedKubeconfig(dir: string, clusters: KubeClusterHandle[], current: string): string {
  const merged = { apiVersion: "v1", kind: "Config", clusters: [] as unknown[], users: [] as unknown[], contexts: [] as unknown[], "current-context": current };
  for (const c of clusters) {
    const doc = parseYaml(readFileSync(c.kubeconfigPath, "utf8")) as {
      clusters: { name: string; cluster: unknown }[]; users: { name: string; user: unknown }[];
      contexts: { name: string; context: { cluster: string; user: string } }[]; "current-context": string;
    };
    const ctx = doc.contexts.find((x) => x.name === doc["current-context"])!.context;
    merged.clusters.push({ name: `${c.name}-cluster`, cluster: doc.clusters.find((x) => x.name === ctx.cluster)!.cluster });
    merged.users.push({ name: `${c.name}-user`, user: doc.users.find((x) => x.name === ctx.user)!.user });
    merged.contexts.push({ name: c.name, context: { cluster: `${c.name}-cluster`, user: `${c.name}-user` } });
  }
  const path = join(dir, "kubeconfig-merged.yaml");
  writeFileSync(path, toYaml(merged), { mode: 0o600 });
  return path;
}

/** Creates the Secret, or replaces one of the same name wholesale (type included). */
export async function putSecret(kube: KubeClient, namespace: string, secret: V1Secret): Promise<void> {
  const name = secret.metadata!.name!;
  const body = { apiVersion: "v1", kind: "Secret", ...secret, metadata: { ...secret.metadata, namespace } };
  try {
    await kube.core.createNamespacedSecret({ namespace, body });
  } catch (err) {
    if (!isAlreadyExists(err)) throw err;
    const current = await kube.core.readNamespacedSecret({ name, namespace });
    if ((current.type ?? "Opaque") !== (body.type ?? "Opaque")) {
      // A Secret's type is immutable: replace it by a new one.
      await kube.core.deleteNamespacedSecret({ name, namespace });
      await kube.core.createNamespacedSecret({ namespace, body });
      return;
    }
    await kube.core.replaceNamespacedSecret({ name, namespace, body: { ...body, metadata: { ...body.metadata, resourceVersion: current.metadata?.resourceVersion } } });
  }
}

export async function deleteSecret(kube: KubeClient, namespace: string, name: string): Promise<void> {
  await kube.core.deleteNamespacedSecret({ name, namespace }).catch((err) => {
    if (!isNotFound(err)) throw err;
  });
}

export const tlsSecret = (name: string, cert: string, key: string): V1Secret =>
  ({ metadata: { name }, type: "kubernetes.io/tls", data: { "tls.crt": b64(cert), "tls.key": b64(key) } });

const pemOf = (label: string, der: ArrayBuffer) => `-----BEGIN ${label}-----\n${Buffer.from(der).toString("base64").replace(/(.{64})/g, "$1\n").trimEnd()}\n-----END ${label}-----\n`;

/**
 * An RSA CA and a client certificate for `agent` as upstream's argocd-agentctl
 * issues them (serial 1, O=DO NOT USE IN PRODUCTION, PKCS#8 keys), as PEM.
 */
export async function upstreamStyleClientPem(agent: string): Promise<{ cert: string; key: string; ca: string }> {
  const alg = { name: "RSASSA-PKCS1-v1_5", hash: "SHA-256", publicExponent: new Uint8Array([1, 0, 1]), modulusLength: 2048 };
  const caKeys = (await webcrypto.subtle.generateKey(alg, true, ["sign", "verify"])) as CryptoKeyPair;
  const now = Date.now();
  const ca = await x509.X509CertificateGenerator.createSelfSigned({
    serialNumber: "01", name: "CN=argocd-agent-ca, O=DO NOT USE IN PRODUCTION", notBefore: new Date(now), notAfter: new Date(now + 3650 * DAY_MS),
    signingAlgorithm: alg, keys: caKeys,
    extensions: [new x509.BasicConstraintsExtension(true, undefined, true), new x509.KeyUsagesExtension(x509.KeyUsageFlags.digitalSignature | x509.KeyUsageFlags.keyCertSign, true)],
  });
  const keys = (await webcrypto.subtle.generateKey(alg, true, ["sign", "verify"])) as CryptoKeyPair;
  const leaf = await x509.X509CertificateGenerator.create({
    serialNumber: "01", subject: `CN=${agent}, O=DO NOT USE IN PRODUCTION`, issuer: ca.subject, notBefore: new Date(now), notAfter: new Date(now + 180 * DAY_MS),
    signingAlgorithm: alg, publicKey: keys.publicKey, signingKey: caKeys.privateKey,
    extensions: [
      new x509.BasicConstraintsExtension(false, undefined, true),
      new x509.KeyUsagesExtension(x509.KeyUsageFlags.digitalSignature | x509.KeyUsageFlags.keyCertSign, true),
      new x509.ExtendedKeyUsageExtension([x509.ExtendedKeyUsage.clientAuth]),
    ],
  });
  return { cert: leaf.toString("pem") + "\n", key: pemOf("PRIVATE KEY", await webcrypto.subtle.exportKey("pkcs8", keys.privateKey)), ca: ca.toString("pem") + "\n" };
}

/**
 * The cluster Secret of operations.md §1.4 exactly as upstream's `agent create`
 * writes it (no type, `config` JSON with base64 PEM fields in Go's order).
 */
export function upstreamClusterSecret(agent: string, resourceProxy: string, pem: { cert: string; key: string; ca: string }): V1Secret {
  const config = `{"tlsClientConfig":{"insecure":false,"certData":"${b64(pem.cert)}","keyData":"${b64(pem.key)}","caData":"${b64(pem.ca)}"}}`;
  return {
    metadata: {
      name: `cluster-${agent}`,
      labels: { "argocd.argoproj.io/secret-type": "cluster", "argocd-agent.argoproj-labs.io/agent-name": agent },
      annotations: { "argocd.argoproj.io/skip-reconcile": "true", "managed-by": "argocd-agent" },
    },
    data: { name: b64(agent), server: b64(`https://${resourceProxy}?agentName=${agent}`), config: b64(config) },
  };
}

/** Installs a namespaced CRD whose objects accept any spec, and waits until its API answers. */
export async function installOpenCrd(kube: KubeClient, group: string, version: string, kind: string, plural: string): Promise<void> {
  const ext = kube.kubeConfig.makeApiClient(ApiextensionsV1Api);
  await ext.createCustomResourceDefinition({
    body: {
      metadata: { name: `${plural}.${group}` },
      spec: {
        group, scope: "Namespaced", names: { kind, plural, singular: kind.toLowerCase(), listKind: `${kind}List` },
        versions: [{ name: version, served: true, storage: true, schema: { openAPIV3Schema: { type: "object", x_kubernetes_preserve_unknown_fields: true } } }],
      },
    },
  }).catch((err) => {
    if (!isAlreadyExists(err)) throw err;
  });
  for (let i = 0; ; i++) {
    try {
      await kube.custom.listClusterCustomObject({ group, version, plural });
      return;
    } catch (err) {
      if (i > 100) throw err;
      await sleep(200);
    }
  }
}

/** A Deployment (or StatefulSet) labelled as the Argo CD `component`; nothing runs it on a bare API server. */
export async function putArgoCdComponent(kube: KubeClient, namespace: string, component: string, name = `argocd-${component}`, kind: "Deployment" | "StatefulSet" = "Deployment"): Promise<void> {
  const labels = { "app.kubernetes.io/part-of": "argocd", "app.kubernetes.io/component": component, "app.kubernetes.io/name": name };
  const spec = { selector: { matchLabels: { "app.kubernetes.io/name": name } }, template: { metadata: { labels }, spec: { containers: [{ name: "main", image: "registry.invalid/argocd:1" }] } } };
  const apps = kube.kubeConfig.makeApiClient(AppsV1Api);
  const metadata = { name, labels };
  const create = kind === "Deployment"
    ? apps.createNamespacedDeployment({ namespace, body: { metadata, spec } })
    : apps.createNamespacedStatefulSet({ namespace, body: { metadata, spec: { ...spec, serviceName: name } } });
  await create.catch((err) => {
    if (!isAlreadyExists(err)) throw err;
  });
}

export async function deleteDeployment(kube: KubeClient, namespace: string, name: string): Promise<void> {
  await kube.kubeConfig.makeApiClient(AppsV1Api).deleteNamespacedDeployment({ name, namespace }).catch((err) => {
    if (!isNotFound(err)) throw err;
  });
}

/** NetworkPolicy `argocd-redis-network-policy` selecting argocd-redis and admitting pods named `from`. */
export async function putRedisNetworkPolicy(kube: KubeClient, namespace: string, from: string[]): Promise<void> {
  const net = kube.kubeConfig.makeApiClient(NetworkingV1Api);
  const name = "argocd-redis-network-policy";
  await net.deleteNamespacedNetworkPolicy({ name, namespace }).catch((err) => {
    if (!isNotFound(err)) throw err;
  });
  if (!from.length) return;
  await net.createNamespacedNetworkPolicy({
    namespace,
    body: {
      metadata: { name },
      spec: {
        podSelector: { matchLabels: { "app.kubernetes.io/name": "argocd-redis" } },
        policyTypes: ["Ingress"],
        ingress: [{ _from: from.map((n) => ({ podSelector: { matchLabels: { "app.kubernetes.io/name": n } } })), ports: [{ port: 6379, protocol: "TCP" }] }],
      },
    },
  });
}
