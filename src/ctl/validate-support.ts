/**
 * What the `ctl validate` checks share (operations.md §1.6): the check result
 * type and runner, the names of the Secrets to check, and reading a
 * certificate out of a Secret the way the principal and agent load it.
 * Secret names start from the principal's and agent's own defaults
 * (settings tables), are overridden by the `argocd-agent-params` ConfigMap of
 * the namespace (how our manifests configure them), and then by the first
 * `argocds.argoproj.io/v1beta1` CR of the namespace (as upstream; only when that
 * CRD exists).
 *
 * @example
 *   const names = await principalSecretNames(kube, "argocd");   // { names: { ca, tls, resourceProxy, jwt }, problems }
 *   const cert = await certFromTlsSecret(kube, "argocd", names.names.tls);
 */
import { X509Certificate, createPrivateKey } from "node:crypto";
import type { V1Secret } from "@kubernetes/client-node";
import type { TypedKubeClient as KubeClient } from "../kube/typed-apis.ts";
import { isNotFound } from "../kube/crud.ts";
import { AGENT_SETTINGS } from "../settings/agent-settings.ts";
import { PRINCIPAL_SETTINGS } from "../settings/principal-settings.ts";
import type { SettingDef } from "../settings/types.ts";

export interface CheckResult {
  name: string;
  /** The failure; undefined when the check passed. */
  error?: string;
}

/** Runs one check; a thrown error is its failure. */
export async function check(name: string, fn: () => Promise<string | undefined | void>): Promise<CheckResult> {
  try {
    const error = await fn();
    return error ? { name, error } : { name };
  } catch (err) {
    return { name, error: (err as Error).message };
  }
}

/** An API error's own message (the Status message, not the whole HTTP response). */
export function apiMessage(err: unknown): string {
  const body = (err as { body?: unknown }).body;
  let status: unknown = body;
  if (typeof body === "string") {
    try {
      status = JSON.parse(body);
    } catch {
      status = undefined;
    }
  }
  return (status as { message?: string } | undefined)?.message ?? (err as Error).message ?? String(err);
}

export async function getSecret(kube: KubeClient, namespace: string, name: string): Promise<V1Secret | undefined> {
  try {
    return await kube.core.readNamespacedSecret({ name, namespace });
  } catch (err) {
    if (isNotFound(err)) return undefined;
    throw new Error(`could not read secret ${namespace}/${name}: ${apiMessage(err)}`);
  }
}

export const field = (s: V1Secret, key: string) => (s.data?.[key] ? Buffer.from(s.data[key], "base64").toString("utf8") : "");

/**
 * The leaf certificate of a `kubernetes.io/tls` Secret whose `tls.crt` and
 * `tls.key` form a valid pair — what upstream's TLSCertFromSecret accepts.
 */
export async function certFromTlsSecret(kube: KubeClient, namespace: string, name: string): Promise<X509Certificate> {
  const s = await getSecret(kube, namespace, name);
  if (!s) throw new Error(`could not read TLS secret ${namespace}/${name}: secret not found`);
  if (s.type !== "kubernetes.io/tls") throw new Error(`${namespace}/${name}: not a TLS secret`);
  if (!Object.keys(s.data ?? {}).length) throw new Error(`${namespace}/${name}: empty secret`);
  const crt = field(s, "tls.crt");
  const key = field(s, "tls.key");
  if (!crt || !key) throw new Error(`${namespace}/${name}: either cert or key is missing in the secret`);
  try {
    const cert = new X509Certificate(crt);
    if (!cert.checkPrivateKey(createPrivateKey(key))) throw new Error("private key does not match public key");
    return cert;
  } catch (err) {
    throw new Error(`${namespace}/${name}: invalid cert or key data: ${(err as Error).message}`);
  }
}

/** Undefined when the certificate is valid now, else why not. */
export function validityProblem(cert: X509Certificate, what: string): string | undefined {
  const now = Date.now();
  if (now < cert.validFromDate.getTime()) return `${what} is not yet valid (valid from ${cert.validFromDate.toISOString()})`;
  if (now > cert.validToDate.getTime()) return `${what} expired at ${cert.validToDate.toISOString()}`;
  return undefined;
}

/** The CN of a certificate subject (Node prints one attribute per line). */
export function commonName(cert: X509Certificate): string {
  return cert.subject.split("\n").find((l) => l.startsWith("CN="))?.slice(3).trim() ?? "";
}

/** The first ArgoCD CR of the namespace; undefined when there is none or the CRD is not installed. */
export async function argoCdCr(kube: KubeClient, namespace: string): Promise<Record<string, unknown> | undefined> {
  try {
    const list = (await kube.custom.listNamespacedCustomObject({ group: "argoproj.io", version: "v1beta1", namespace, plural: "argocds" })) as { items?: Record<string, unknown>[] };
    return list.items?.[0];
  } catch (err) {
    if (isNotFound(err)) return undefined;
    throw new Error(`failed to access ArgoCD CR in namespace ${namespace}: ${apiMessage(err)}`);
  }
}

async function paramsConfigMap(kube: KubeClient, namespace: string): Promise<Record<string, string>> {
  try {
    return (await kube.core.readNamespacedConfigMap({ name: "argocd-agent-params", namespace })).data ?? {};
  } catch (err) {
    if (isNotFound(err)) return {};
    throw new Error(`failed to read ConfigMap ${namespace}/argocd-agent-params: ${apiMessage(err)}`);
  }
}

const nested = (o: unknown, path: string[]): unknown => path.reduce<unknown>((v, k) => (v && typeof v === "object" ? (v as Record<string, unknown>)[k] : undefined), o);

type NameSpec<K extends string> = Record<K, { setting: string; cr: string[] }>;

async function secretNames<K extends string>(kube: KubeClient, namespace: string, table: readonly SettingDef[], spec: NameSpec<K>): Promise<{ names: Record<K, string>; problems: string[] }> {
  const problems: string[] = [];
  const params = await paramsConfigMap(kube, namespace).catch((err: Error) => (problems.push(err.message), {} as Record<string, string>));
  const cr = await argoCdCr(kube, namespace).catch((err: Error) => (problems.push(err.message), undefined));
  const names = {} as Record<K, string>;
  for (const [k, { setting, cr: path }] of Object.entries(spec) as [K, { setting: string; cr: string[] }][]) {
    const def = table.find((d) => d.name === setting)!;
    const fromCr = nested(cr, ["spec", "argoCDAgent", ...path]);
    names[k] = typeof fromCr === "string" && fromCr ? fromCr : (def.configMapKey && params[def.configMapKey]) || def.default;
  }
  return { names, problems };
}

export type PrincipalSecretNames = Record<"ca" | "tls" | "resourceProxy" | "jwt", string>;
export type AgentSecretNames = Record<"ca" | "clientTls", string>;

export const principalSecretNames = (kube: KubeClient, namespace: string) =>
  secretNames(kube, namespace, PRINCIPAL_SETTINGS, {
    ca: { setting: "tls-ca-secret-name", cr: ["principal", "tls", "rootCASecretName"] },
    tls: { setting: "tls-secret-name", cr: ["principal", "tls", "secretName"] },
    resourceProxy: { setting: "resource-proxy-secret-name", cr: ["principal", "resourceProxy", "tls", "secretName"] },
    jwt: { setting: "jwt-secret-name", cr: ["principal", "jwt", "secretName"] },
  });

export const agentSecretNames = (kube: KubeClient, namespace: string) =>
  secretNames(kube, namespace, AGENT_SETTINGS, {
    ca: { setting: "root-ca-secret-name", cr: ["agent", "tls", "rootCASecretName"] },
    clientTls: { setting: "tls-secret-name", cr: ["agent", "tls", "secretName"] },
  });
