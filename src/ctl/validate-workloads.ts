/**
 * `ctl validate` checks on what runs in an Argo CD namespace, shared by the
 * principal and agent sides (operations.md §1.6): a NetworkPolicy for
 * `argocd-redis` must admit our component's pods, and the Argo CD components
 * (Deployments and StatefulSets labelled `app.kubernetes.io/part-of: argocd`,
 * by `app.kubernetes.io/component`) must be the ones that side needs — the
 * principal runs no application controller, an agent no API server or Dex.
 *
 * @example
 *   const err = await redisNetworkPolicyProblem(kube, "argocd", "principal");   // undefined when admitted
 *   const err2 = await componentsProblem(kube, "argocd", PRINCIPAL_COMPONENTS);
 */
import { AppsV1Api, NetworkingV1Api } from "@kubernetes/client-node";
import type { TypedKubeClient as KubeClient } from "../kube/typed-apis.ts";
import { apiMessage } from "./validate-support.ts";

const NAME_LABEL = "app.kubernetes.io/name";

export async function redisNetworkPolicyProblem(kube: KubeClient, namespace: string, side: "principal" | "agent"): Promise<string | undefined> {
  const component = `argocd-agent-${side}`;
  let policies;
  try {
    policies = (await kube.kubeConfig.makeApiClient(NetworkingV1Api).listNamespacedNetworkPolicy({ namespace })).items;
  } catch (err) {
    return `failed to list network policies in namespace ${namespace}: ${apiMessage(err)}`;
  }
  const redis = policies.filter((p) => p.spec?.podSelector?.matchLabels?.[NAME_LABEL] === "argocd-redis");
  if (!redis.length) return `network policy for argo cd redis does not exist in ${namespace}`;
  const admitted = redis.some((p) => (p.spec?.ingress ?? []).some((rule) => (rule._from ?? []).some((peer) => peer.podSelector?.matchLabels?.[NAME_LABEL] === component)));
  return admitted ? undefined : `network policy for argo cd redis does not allow traffic from ${component}`;
}

export interface ComponentRule {
  required: string[];
  forbidden: string[];
}

export const PRINCIPAL_COMPONENTS: ComponentRule = { required: ["repo-server", "redis", "dex-server", "server"], forbidden: ["application-controller", "applicationset-controller"] };
/** The applicationset controller is optional on an agent. */
export const AGENT_COMPONENTS: ComponentRule = { required: ["repo-server", "application-controller", "redis"], forbidden: ["server", "dex-server"] };

/** component → name of the Deployment/StatefulSet that runs it. */
async function argoCdComponents(kube: KubeClient, namespace: string): Promise<Map<string, string>> {
  const apps = kube.kubeConfig.makeApiClient(AppsV1Api);
  const workloads = [...(await apps.listNamespacedDeployment({ namespace })).items, ...(await apps.listNamespacedStatefulSet({ namespace })).items];
  const found = new Map<string, string>();
  for (const w of workloads) {
    const labels = w.metadata?.labels ?? {};
    const component = labels["app.kubernetes.io/component"];
    if (labels["app.kubernetes.io/part-of"] === "argocd" && component) found.set(component, w.metadata!.name!);
  }
  return found;
}

export async function componentsProblem(kube: KubeClient, namespace: string, rule: ComponentRule): Promise<string | undefined> {
  let found: Map<string, string>;
  try {
    found = await argoCdComponents(kube, namespace);
  } catch (err) {
    return `failed to list Argo CD components in namespace ${namespace}: ${apiMessage(err)}`;
  }
  const missing = rule.required.filter((c) => !found.has(c));
  const extra = rule.forbidden.filter((c) => found.has(c)).map((c) => `${c} (${found.get(c)})`);
  const parts = [
    ...(missing.length ? [`the following components were missing: ${missing.join(", ")}`] : []),
    ...(extra.length ? [`the following invalid components were found: ${extra.join(", ")}`] : []),
  ];
  return parts.length ? parts.join("\n") : undefined;
}
