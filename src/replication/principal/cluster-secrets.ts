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
 *   void clusters.informer.run(signal); await clusters.informer.waitForSync(signal);
 *   clusters.clusterName("agent-a"); // "agent-a" unless its secret says otherwise
 */
import type { KubeClient } from "../../kube/client.ts";
import { secretInformer, type Informer } from "../../kube/informer.ts";
import type { Secret } from "../../kube/resources.ts";
import { getLogger } from "../../observability/log.ts";

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

/** Cluster secrets grouped by agent, each group oldest first (the first is the one that counts). */
export function clusterSecretsByAgent(secrets: readonly Secret[]): Map<string, Secret[]> {
  const byAgent = new Map<string, Secret[]>();
  for (const s of secrets) {
    const agent = agentOfSecret(s);
    if (agent === undefined) continue;
    const group = byAgent.get(agent);
    if (group) group.push(s);
    else byAgent.set(agent, [s]);
  }
  for (const group of byAgent.values()) group.sort((a, b) => (created(a) < created(b) ? -1 : created(a) > created(b) ? 1 : 0));
  return byAgent;
}

/** One agent's cluster secrets, oldest first. */
export function clusterSecretsOf(secrets: readonly Secret[], agent: string): Secret[] {
  return clusterSecretsByAgent(secrets).get(agent) ?? [];
}

export class ClusterSecrets {
  readonly informer: Informer<Secret>;
  private readonly warned = new Set<string>();
  /** Agent → cluster name, rebuilt on first use after any secret changes (lookups happen per mirrored event). */
  private names: Map<string, string> | undefined;

  constructor(kube: KubeClient, namespace: string) {
    this.informer = secretInformer(kube, {
      namespace,
      labelSelector: `${CLUSTER_SECRET_TYPE_LABEL}=cluster,${AGENT_NAME_LABEL}`,
      filter: (s) => agentOfSecret(s) !== undefined,
    });
    const changed = () => (this.names = undefined);
    this.informer.addHandlers({ onAdd: changed, onUpdate: changed, onDelete: changed });
  }

  /** The destination name of this agent's cluster: its (oldest) secret's `name`, else the agent name. */
  clusterName(agent: string): string {
    this.names ??= this.index();
    return this.names.get(agent) ?? agent;
  }

  private index(): Map<string, string> {
    const names = new Map<string, string>();
    for (const [agent, mine] of clusterSecretsByAgent(this.informer.list())) {
      if (mine.length > 1) {
        const key = mine.map((s) => s.metadata.name).join(",");
        if (!this.warned.has(key)) {
          this.warned.add(key);
          log.error("more than one cluster secret for an agent; using the oldest", { agent, secrets: key, using: mine[0]!.metadata.name });
        }
      }
      const name = clusterNameOfSecret(mine[0]!);
      if (name) names.set(agent, name);
    }
    return names;
  }
}
