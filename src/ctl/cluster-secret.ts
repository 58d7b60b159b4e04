/**
 * The Argo CD cluster Secret that points Argo CD at an agent through the
 * principal's resource proxy (operations.md §1.4): `cluster-<agent>` in the
 * principal namespace, labelled for Argo CD and for the principal's agent →
 * cluster mapping, `server` = `https://<resource-proxy>?agentName=<agent>`,
 * `config` = Argo CD's ClusterConfig JSON with the client certificate.
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

export function clusterSecret(i: ClusterSecretInput): V1Secret {
  // Field order as Go's encoding/json writes ClusterConfig.
  const config = {
    ...(i.bearerToken ? { bearerToken: i.bearerToken } : {}),
    tlsClientConfig: { insecure: false, certData: b64(i.certPem), keyData: b64(i.keyPem), caData: b64(i.caPem) },
  };
  const server = `https://${i.resourceProxy.replace(/\/+$/, "")}?agentName=${i.agent}`;
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
