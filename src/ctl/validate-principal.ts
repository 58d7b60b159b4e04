/**
 * `ctl validate principal`: read-only checks of a principal's namespace
 * (operations.md §1.6), in upstream's order and with its check names. Argo CD
 * must be cluster-scoped; the CA, gRPC and resource-proxy certificates and the
 * RSA JWT key must load; on OpenShift a Route host must match the principal's
 * certificate (skipped silently where the Route API does not exist); no
 * Applications may live in the principal namespace; agent cluster Secrets must
 * point at the resource proxy with `?agentName=` and skip reconciliation;
 * redis must admit the principal; the Argo CD components must fit a hub.
 *
 * @example
 *   const results = await principalChecks(kube, "argocd");
 *   results.filter((r) => r.error).length === 0;
 */
import { createPrivateKey } from "node:crypto";
import { isIP } from "node:net";
import type { V1Secret } from "@kubernetes/client-node";
import type { TypedKubeClient as KubeClient } from "../kube/typed-apis.ts";
import { isNotFound } from "../kube/crud.ts";
import { SECRET_TYPE_LABEL, SKIP_RECONCILE_ANNOTATION } from "./cluster-secret.ts";
import { apiMessage, argoCdCr, certFromTlsSecret, check, field, getSecret, principalSecretNames, validityProblem, type CheckResult } from "./validate-support.ts";
import { PRINCIPAL_COMPONENTS, componentsProblem, redisNetworkPolicyProblem } from "./validate-workloads.ts";

const APPS = { group: "argoproj.io", version: "v1alpha1", plural: "applications" };

async function clusterScopedProblem(kube: KubeClient, ns: string): Promise<string | undefined> {
  const cr = await argoCdCr(kube, ns);
  const appNamespaces = (cr?.spec as { applicationNamespaces?: unknown[] } | undefined)?.applicationNamespaces;
  let namespaced = Array.isArray(appNamespaces) && appNamespaces.length > 0;
  if (!namespaced) {
    try {
      const cm = await kube.core.readNamespacedConfigMap({ name: "argocd-cm", namespace: ns });
      namespaced = Boolean(cm.data?.["application.namespaces"]?.trim());
    } catch (err) {
      if (!isNotFound(err)) return `failed to get argocd-cm ConfigMap: ${apiMessage(err)}`;
      if (!cr) return `neither ArgoCD CR nor argocd-cm ConfigMap found in namespace ${ns}`;
    }
  }
  if (namespaced) return "argo CD configured for namespaced mode (applicationNamespaces is set), must be configured for cluster-scoped mode";
  try {
    await kube.custom.listClusterCustomObject({ ...APPS, limit: 1 });
  } catch (err) {
    return `failed to list Applications cluster-wide (required for cluster-scoped mode): ${apiMessage(err)}`;
  }
  return undefined;
}

async function certValidProblem(kube: KubeClient, ns: string, name: string): Promise<string | undefined> {
  return validityProblem(await certFromTlsSecret(kube, ns, name), `certificate in secret ${ns}/${name}`);
}

async function jwtKeyProblem(kube: KubeClient, ns: string, name: string): Promise<string | undefined> {
  const s = await getSecret(kube, ns, name);
  if (!s) return `could not read JWT secret ${ns}/${name}: secret not found`;
  if (!Object.keys(s.data ?? {}).length) return `${ns}/${name}: empty secret`;
  const pem = field(s, "jwt.key");
  if (!pem) return `JWT signing key is missing in secret ${ns}/${name}`;
  const m = /-----BEGIN ([A-Z ]+)-----/.exec(pem);
  if (!m) return `JWT signing key in secret ${ns}/${name} contains malformed PEM data`;
  if (m[1] !== "PRIVATE KEY") return `could not parse JWT signing key from secret ${ns}/${name}: PEM block is "${m[1]}", want PKCS#8 "PRIVATE KEY"`;
  let type: string | undefined;
  try {
    type = createPrivateKey(pem).asymmetricKeyType;
  } catch (err) {
    return `could not parse JWT signing key from secret ${ns}/${name}: ${(err as Error).message}`;
  }
  return type === "rsa" ? undefined : `JWT signing key is not an RSA private key (it is ${type})`;
}

/** Undefined when the Route API is absent or there are no Routes; else the check's outcome. */
async function routeCheck(kube: KubeClient, ns: string, tlsSecret: string): Promise<CheckResult | undefined> {
  try {
    await kube.custom.getAPIResources({ group: "route.openshift.io", version: "v1" });
  } catch (err) {
    if (isNotFound(err)) return undefined;
    return { name: "Checking for OpenShift Route API availability", error: `failed to query OpenShift Route API: ${apiMessage(err)}` };
  }
  let routes: { spec?: { host?: string } }[];
  try {
    routes = ((await kube.custom.listNamespacedCustomObject({ group: "route.openshift.io", version: "v1", namespace: ns, plural: "routes" })) as { items: typeof routes }).items;
  } catch (err) {
    return { name: "Checking for OpenShift Routes in namespace", error: `failed to check for OpenShift Routes in namespace ${ns}: ${apiMessage(err)}` };
  }
  if (!routes.length) return undefined;
  return check("Verifying principal TLS secret ips/dns match Route host (OpenShift)", async () => {
    const cert = await certFromTlsSecret(kube, ns, tlsSecret);
    const hosts = routes.map((r) => r.spec?.host).filter((h): h is string => Boolean(h));
    const matches = (h: string) => (isIP(h) ? cert.checkIP(h) : cert.checkHost(h)) !== undefined;
    return hosts.some(matches) ? undefined : "no OpenShift Route host in namespace matches TLS IPS/DNS";
  });
}

async function managedClusterSecrets(kube: KubeClient, ns: string): Promise<V1Secret[]> {
  const all = (await kube.core.listNamespacedSecret({ namespace: ns, labelSelector: `${SECRET_TYPE_LABEL}=cluster` }).catch((err) => {
    throw new Error(`failed to list secrets in namespace ${ns}: ${apiMessage(err)}`);
  })).items;
  return all.filter((s) => s.metadata?.annotations?.["managed-by"] === "argocd-agent");
}

async function serverUrlProblem(kube: KubeClient, ns: string): Promise<string | undefined> {
  const noHttps: string[] = [];
  const noAgent: string[] = [];
  for (const s of await managedClusterSecrets(kube, ns)) {
    const server = field(s, "server");
    if (!server.startsWith("https://")) noHttps.push(s.metadata!.name!);
    let agentName = "";
    try {
      agentName = new URL(server).searchParams.get("agentName")?.trim() ?? "";
    } catch {
      // Not a URL at all: reported below as missing the parameter.
    }
    if (!agentName) noAgent.push(s.metadata!.name!);
  }
  const parts = [
    ...(noHttps.length ? [`the following agent cluster secrets in ${ns} are not https: ${noHttps.join(", ")}`] : []),
    ...(noAgent.length ? [`the following agent cluster secrets in ${ns} are missing the agentName param: ${noAgent.join(", ")}`] : []),
  ];
  return parts.length ? parts.join("\n") : undefined;
}

async function skipReconcileProblem(kube: KubeClient, ns: string): Promise<string | undefined> {
  const missing = (await managedClusterSecrets(kube, ns)).filter((s) => s.metadata?.annotations?.[SKIP_RECONCILE_ANNOTATION] !== "true").map((s) => s.metadata!.name!);
  return missing.length ? `the following agent cluster secrets in ${ns} are missing the skip-reconcile annotation or it is not set to true: ${missing.join(", ")}` : undefined;
}

async function noApplicationsProblem(kube: KubeClient, ns: string): Promise<string | undefined> {
  let items: unknown[];
  try {
    items = ((await kube.custom.listNamespacedCustomObject({ ...APPS, namespace: ns })) as { items: unknown[] }).items;
  } catch (err) {
    return `failed to list applications in namespace ${ns}: ${apiMessage(err)}`;
  }
  return items.length ? `applications exist in principal namespace ${ns}` : undefined;
}

export async function principalChecks(kube: KubeClient, ns: string): Promise<CheckResult[]> {
  const out: CheckResult[] = [];
  const { names, problems } = await principalSecretNames(kube, ns);
  if (problems.length) out.push({ name: "Reading principal secret names from ArgoCD CR", error: problems.join("\n") });
  out.push(await check("Verifying Argo CD is running in cluster-scoped mode", () => clusterScopedProblem(kube, ns)));
  out.push(await check(`Verifying principal public CA certificate exists and is valid (${ns}/${names.ca})`, async () => void (await certFromTlsSecret(kube, ns, names.ca))));
  out.push(await check(`Verifying principal gRPC TLS certificate exists and is valid (${ns}/${names.tls})`, () => certValidProblem(kube, ns, names.tls)));
  out.push(await check(`Verifying resource proxy TLS certificate exists and is valid (${ns}/${names.resourceProxy})`, () => certValidProblem(kube, ns, names.resourceProxy)));
  out.push(await check(`Verifying JWT signing key exists and is parseable (${ns}/${names.jwt})`, () => jwtKeyProblem(kube, ns, names.jwt)));
  const route = await routeCheck(kube, ns, names.tls);
  if (route) out.push(route);
  out.push(await check(`Verifying no Application CRs defined within the principal's Argo CD namespace: ${ns}`, () => noApplicationsProblem(kube, ns)));
  out.push(await check("Verifying agent cluster secrets contain correct query parameter on server url", () => serverUrlProblem(kube, ns)));
  out.push(await check("Verifying agent cluster secrets contain the skip-reconcile annotation and that it's set to true", () => skipReconcileProblem(kube, ns)));
  out.push(await check("Verifying Argo CD network policy allows for ingress from principal", () => redisNetworkPolicyProblem(kube, ns, "principal")));
  out.push(await check("Verifying deployed Argo CD components on principal", () => componentsProblem(kube, ns, PRINCIPAL_COMPONENTS)));
  return out;
}
