/**
 * The Argo CD cluster Secret that points Argo CD at an agent through the
 * principal's resource proxy (operations.md §1.4): `cluster-<agent>` in the
 * principal namespace, labelled for Argo CD and for the principal's agent →
 * cluster mapping, `server` = `https://<resource-proxy>?agentName=<agent>`,
 * `config` = Argo CD's ClusterConfig JSON with the client certificate; and
 * the way back (`readClusterSecret`, `withCluster`) for inspect/reconfigure.
 *
 * @example
 *   const secret = clusterSecret({ agent: "prod-1", namespace: "argocd", resourceProxy: "argocd-agent-resource-proxy:9090",
 *     certPem, keyPem, caPem, labels: { env: "prod" } });
 *   await kube.core.createNamespacedSecret({ namespace: "argocd", body: secret });
 */
import type { V1Secret } from "@kubernetes/client-node";

export const AGENT_NAME_LABEL = "argocd-agent.argoproj-labs.io/agent-name";
export const SECRET_TYPE_LABEL = "argocd.argoproj.io/secret-type";
export const SKIP_RECONCILE_ANNOTATION = "argocd.argoproj.io/skip-reconcile";

export interface ClusterSecretInput {
  agent: string;
  namespace: string;
  /** `host:port` of the resource proxy as Argo CD's server reaches it. */
  resourceProxy: string;
  certPem: string;
  keyPem: string;
  caPem: string;
  labels?: Record<string, string>;
  bearerToken?: string;
}

const DNS1123_SUBDOMAIN = /^[a-z0-9]([-a-z0-9]*[a-z0-9])?(\.[a-z0-9]([-a-z0-9]*[a-z0-9])?)*$/;

/** Upstream's address rule: `IP:port` or `host:port`, host a DNS-1123 subdomain, port 1–65535. */
export function resourceProxyAddressError(address: string): string | undefined {
  const m = /^(\[[0-9a-fA-F:.]+\]|[^:]+):(\d+)$/.exec(address);
  if (!m) return `"${address}" is not host:port`;
  const [, host, port] = m;
  if (!(Number(port) >= 1 && Number(port) <= 65535)) return `port ${port} is out of range`;
  const isIp = /^\d{1,3}(\.\d{1,3}){3}$/.test(host!) || host!.startsWith("[");
  if (!isIp && !(host!.length <= 253 && DNS1123_SUBDOMAIN.test(host!))) return `host "${host}" is neither an IP nor a DNS name`;
  return undefined;
}

export function agentNameError(agent: string): string | undefined {
  return agent.length <= 253 && DNS1123_SUBDOMAIN.test(agent) ? undefined : `agent name "${agent}" is not a DNS-1123 subdomain`;
}

const b64 = (s: string) => Buffer.from(s).toString("base64");
const unb64 = (s: string | undefined) => (s ? Buffer.from(s, "base64").toString("utf8") : "");

/** Argo CD's `server` for an agent: the resource proxy address plus the agent's name, unescaped as upstream. */
export function agentServerUrl(resourceProxy: string, agent: string): string {
  return `https://${resourceProxy.replace(/\/+$/, "")}?agentName=${agent}`;
}

export function clusterSecret(i: ClusterSecretInput): V1Secret {
  // Field order as Go's encoding/json writes ClusterConfig.
  const config = {
    ...(i.bearerToken ? { bearerToken: i.bearerToken } : {}),
    tlsClientConfig: { insecure: false, certData: b64(i.certPem), keyData: b64(i.keyPem), caData: b64(i.caPem) },
  };
  const server = agentServerUrl(i.resourceProxy, i.agent);
  return {
    apiVersion: "v1",
    kind: "Secret",
    metadata: {
      name: `cluster-${i.agent}`,
      namespace: i.namespace,
      labels: { ...i.labels, [SECRET_TYPE_LABEL]: "cluster", [AGENT_NAME_LABEL]: i.agent },
      annotations: { [SKIP_RECONCILE_ANNOTATION]: "true", "managed-by": "argocd-agent" },
    },
    data: { name: b64(i.agent), server: b64(server), config: b64(JSON.stringify(config)) },
  };
}

/** An agent's cluster as Argo CD reads it from the Secret (its `SecretToCluster`), with `config` kept whole. */
export interface AgentCluster {
  server: string;
  name: string;
  /** Argo CD's ClusterConfig; fields this CLI does not know are kept as they are. */
  config: Record<string, unknown> & { username?: string; password?: string; tlsClientConfig?: Record<string, unknown> };
}

/** Reads `server`, `name` and `config` of a cluster Secret; a `config` that is not JSON throws. */
export function readClusterSecret(secret: V1Secret): AgentCluster {
  const raw = unb64(secret.data?.config);
  let config: AgentCluster["config"] = {};
  if (raw) {
    try {
      config = JSON.parse(raw) as AgentCluster["config"];
    } catch (err) {
      throw new Error(`invalid cluster secret ${secret.metadata?.name}: config is not JSON: ${(err as Error).message}`);
    }
    if (typeof config !== "object" || config === null || Array.isArray(config)) throw new Error(`invalid cluster secret ${secret.metadata?.name}: config is not a JSON object`);
  }
  return { server: unb64(secret.data?.server).replace(/\/+$/, ""), name: unb64(secret.data?.name), config };
}

export type TlsAsset = "cert" | "key" | "ca";
const ASSET_FIELD: Record<TlsAsset, string> = { cert: "certData", key: "keyData", ca: "caData" };

/** The PEM of one TLS asset of the cluster's config ("" when absent). */
export function clusterTlsAsset(c: AgentCluster, asset: TlsAsset): string {
  const v = c.config.tlsClientConfig?.[ASSET_FIELD[asset]];
  return typeof v === "string" ? unb64(v) : "";
}

/** Sets PEM TLS assets (stored base64 inside the JSON, as Go encodes []byte). */
export function setClusterTls(c: AgentCluster, pems: Partial<Record<TlsAsset, string>>): void {
  const tls: Record<string, unknown> = { insecure: false, ...c.config.tlsClientConfig };
  for (const [asset, pem] of Object.entries(pems)) tls[ASSET_FIELD[asset as TlsAsset]] = b64(pem);
  c.config.tlsClientConfig = tls;
}

const CONFIG_ORDER = ["username", "password", "bearerToken", "tlsClientConfig", "awsAuthConfig", "execProviderConfig", "disableCompression", "proxyUrl"];
const TLS_ORDER = ["insecure", "serverName", "certData", "keyData", "caData"];

function ordered(o: Record<string, unknown>, order: string[]): Record<string, unknown> {
  const out: Record<string, unknown> = {};
  // Go's omitempty: no empty strings, and no false booleans except tlsClientConfig.insecure (no omitempty).
  for (const k of [...order, ...Object.keys(o).filter((k) => !order.includes(k))]) {
    if (o[k] !== undefined && o[k] !== "" && (o[k] !== false || k === "insecure")) out[k] = o[k];
  }
  return out;
}

/**
 * The Secret with the cluster written back as upstream's ClusterToSecret does:
 * `server` (trailing `/` trimmed), `name` (falls back to `server`), `config` in
 * Go's field order; labels and annotations kept, plus the secret-type label and
 * `managed-by: argocd-agent`; other data keys (namespaces, shard, project …) kept.
 */
export function withCluster(secret: V1Secret, c: AgentCluster): V1Secret {
  const { tlsClientConfig, ...rest } = c.config;
  const config = ordered({ ...rest, tlsClientConfig: ordered({ insecure: false, ...tlsClientConfig }, TLS_ORDER) }, CONFIG_ORDER);
  const server = c.server.replace(/\/+$/, "");
  return {
    ...secret,
    metadata: {
      ...secret.metadata,
      labels: { ...secret.metadata?.labels, [SECRET_TYPE_LABEL]: "cluster" },
      annotations: { ...secret.metadata?.annotations, "managed-by": "argocd-agent" },
    },
    data: { ...secret.data, server: b64(server), name: b64(c.name || server), config: b64(JSON.stringify(config)) },
  };
}
