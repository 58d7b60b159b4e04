/**
 * Repository and repo-creds Secrets on a managed agent (operations.md §3.3):
 * the watch covers project-scoped secrets of both types in the agent
 * namespace (skip-sync and --label-selector as for every kind); an existing
 * secret of the same name that the agent did not create is never taken over
 * (the event fails and is logged, as upstream). Everything else is
 * ManagedDataObjects' rules.
 *
 * @example
 *   ctx.dataKinds = [agentRepositories(ctx, labelSelector), agentGpgKeys(ctx, labelSelector)];
 */
import { secrets } from "../../kube/core-objects.ts";
import { secretInformer } from "../../kube/informer.ts";
import type { Secret } from "../../kube/resources.ts";
import { DataKinds, isRepoSecret, repoSecretSelector } from "../secret-objects.ts";
import type { AgentContext } from "./agent-context.ts";
import { ManagedDataObjects } from "./agent-data-objects.ts";

export function agentRepositories(ctx: AgentContext, userLabelSelector: string): ManagedDataObjects<Secret> {
  const informer = secretInformer(ctx.kube, { namespace: ctx.namespace, labelSelector: repoSecretSelector(userLabelSelector), filter: isRepoSecret });
  return new ManagedDataObjects<Secret>(ctx, { ...DataKinds.repository, client: secrets(ctx.kube), informer, adoptUnstamped: false, dropLastApplied: true });
}
