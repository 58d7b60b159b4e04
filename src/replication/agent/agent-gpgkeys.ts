/**
 * The GPG keys ConfigMap (`argocd-gpg-keys-cm`) on a managed agent
 * (operations.md §3.3): watched by name in the agent namespace (skip-sync and
 * --label-selector as for every kind); an existing ConfigMap the agent did not
 * create counts as a source-UID mismatch, so the mismatch policy decides
 * (recreate, or upsert in place), as upstream.
 *
 * @example
 *   ctx.dataKinds = [agentRepositories(ctx, labelSelector), agentGpgKeys(ctx, labelSelector)];
 */
import { configMaps } from "../../kube/core-objects.ts";
import { configMapInformer } from "../../kube/informer.ts";
import type { ConfigMap } from "../../kube/resources.ts";
import { DataKinds, gpgKeysWatch, isGpgKeysConfigMap } from "../secret-objects.ts";
import type { AgentContext } from "./agent-context.ts";
import { ManagedDataObjects } from "./agent-data-objects.ts";

export function agentGpgKeys(ctx: AgentContext, userLabelSelector: string): ManagedDataObjects<ConfigMap> {
  const informer = configMapInformer(ctx.kube, { namespace: ctx.namespace, ...gpgKeysWatch(userLabelSelector), filter: isGpgKeysConfigMap });
  return new ManagedDataObjects<ConfigMap>(ctx, { ...DataKinds.gpgKey, client: configMaps(ctx.kube), informer, adoptUnstamped: true, dropLastApplied: false });
}
