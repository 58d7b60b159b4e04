/**
 * The per-agent Argo CD cluster secrets on the principal (behavior.md §7):
 * Secrets in the principal namespace labelled
 * `argocd.argoproj.io/secret-type=cluster` with a non-empty
 * `argocd-agent.argoproj-labs.io/agent-name` label. They map an agent to the
 * cluster name Argo CD knows it by (the secret's `name` field), which is what
 * an autonomous agent's mirrored Applications must name as destination.
 *
 * Upstream refuses a second secret for the same agent; so do we: the oldest
 * secret wins and the others are logged. Unlike upstream, a missing secret
 * does not stop replication (see README "Differences from upstream").
 *
 * @example
 *   const clusters = new ClusterSecrets(kube, "argocd");
 *   void clusters.run(signal); await clusters.waitForSync(signal);
 *   clusters.clusterName("agent-a"); // "agent-a" unless its secret says otherwise
 */
import type { KubeClient } from "../kube/client.ts";
import { secretInformer, type Informer } from "../kube/informer.ts";
import type { Secret } from "../kube/resources.ts";
import { getLogger } from "../observability/log.ts";

const log = getLogger("replication");

export const CLUSTER_SECRET_TYPE_LABEL = "argocd.argoproj.io/secret-type";
export const AGENT_NAME_LABEL = "argocd-agent.argoproj-labs.io/agent-name";

/** The agent a cluster secret belongs to, if any. */
export function agentOfSecret(s: Secret): string | undefined {
  return s.metadata.labels?.[AGENT_NAME_LABEL] || undefined;
}

/** The secret's cluster name (`data.name`, base64; `stringData.name` when present), if set. */
export function clusterNameOfSecret(s: Secret): string | undefined {
  const plain = s.stringData?.["name"];
  if (plain) return plain;
  const b64 = s.data?.["name"];
  if (!b64) return undefined;
  const name = Buffer.from(b64, "base64").toString("utf8");
  return name || undefined;
}

const created = (s: Secret): string => `${s.metadata.creationTimestamp ?? ""}\u0000${s.metadata.name ?? ""}`;

/** An agent's cluster secrets, oldest first (the first is the one that counts). */
export function clusterSecretsOf(secrets: readonly Secret[], agent: string): Secret[] {
  return secrets.filter((s) => agentOfSecret(s) === agent).sort((a, b) => (created(a) < created(b) ? -1 : created(a) > created(b) ? 1 : 0));
}

export class ClusterSecrets {
  readonly informer: Informer<Secret>;
  private readonly warned = new Set<string>();

  constructor(kube: KubeClient, namespace: string) {
    this.informer = secretInformer(kube, {
      namespace,
      labelSelector: `${CLUSTER_SECRET_TYPE_LABEL}=cluster,${AGENT_NAME_LABEL}`,
      filter: (s) => agentOfSecret(s) !== undefined,
    });
  }

  /** The secret Argo CD uses for this agent's cluster: the oldest one carrying its label. */
  secretFor(agent: string): Secret | undefined {
    const mine = clusterSecretsOf(this.informer.list(), agent);
    if (mine.length > 1) {
      const key = mine.map((s) => s.metadata.name).join(",");
      if (!this.warned.has(key)) {
        this.warned.add(key);
        log.error("more than one cluster secret for an agent; using the oldest", { agent, secrets: key, using: mine[0]!.metadata.name });
      }
    }
    return mine[0];
  }

  /** The destination name of this agent's cluster: its secret's `name`, else the agent name. */
  clusterName(agent: string): string {
    const s = this.secretFor(agent);
    return (s && clusterNameOfSecret(s)) || agent;
  }
}
