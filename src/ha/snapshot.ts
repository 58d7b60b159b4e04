/**
 * What a replica needs to start from (operations.md §4.5): a
 * ReplicationSnapshot built from the active principal's informer caches, and
 * the answers to ConfirmMissingResources. Per agent (the registry's agents ∪
 * the agents that own objects): mode, connected, and its resources —
 * Applications (hub objects mapped to it, autonomous mirrors included),
 * AppProjects (autonomous: its mirrored projects; managed: the principal
 * projects sent to it, as they are on the hub, not the agent's copy) and
 * Repository secrets sent to it. Principal resources: self-registered cluster
 * Secrets. ApplicationSets are not in it: this principal does not watch them.
 * Resource.data is the object's JSON as the API server returned it;
 * spec_checksum stays empty (as upstream's).
 *
 * @example
 *   const snap = buildSnapshot(replication.context(), forwarder.lastSequence());
 */
import type { Application, KubeObject } from "../kube/resources.ts";
import type { AgentState, ConfirmMissingResourcesRequest, ConfirmMissingResourcesResponse, MissingResourceResult, ReplicationSnapshot, Resource } from "../proto/gen/replication.ts";
import { SELF_REGISTERED_LABEL } from "../registration/self-registration.ts";
import { sourceUidOf } from "../replication/objects.ts";
import { agentForApp, type PrincipalContext } from "../replication/principal/principal-context.ts";
import { managedProjectsFor, mirroredProjectsOf } from "../replication/principal/principal-projects.ts";
import { PrincipalRepositories } from "../replication/principal/principal-repositories.ts";

export const ResourceKinds = {
  application: "Application",
  appProject: "AppProject",
  applicationSet: "ApplicationSet",
  repository: "Repository",
  clusterSecret: "ClusterSecret",
} as const;

export function resourceOf(kind: string, obj: KubeObject): Resource {
  return {
    name: obj.metadata.name ?? "",
    namespace: obj.metadata.namespace ?? "",
    kind,
    uid: obj.metadata.uid ?? "",
    specChecksum: Buffer.alloc(0),
    data: Buffer.from(JSON.stringify(obj), "utf8"),
  };
}

const selfRegistered = (s: KubeObject): boolean => s.metadata.labels?.[SELF_REGISTERED_LABEL] === "true";

function repositoriesOf(ctx: PrincipalContext): PrincipalRepositories | undefined {
  return ctx.dataKinds?.find((k): k is PrincipalRepositories => k instanceof PrincipalRepositories);
}

/** The agent a mirrored project belongs to (its only source namespace). */
function mirrorProjectAgent(p: KubeObject & { spec?: Record<string, unknown> }): string | undefined {
  const ns = p.spec?.["sourceNamespaces"];
  return Array.isArray(ns) && typeof ns[0] === "string" ? ns[0] : undefined;
}

function agentState(ctx: PrincipalContext, agent: string, apps: Application[]): AgentState {
  const rec = ctx.registry.get(agent);
  const mirrors = mirroredProjectsOf(ctx, agent);
  const autonomous = rec ? rec.mode === "autonomous" : apps.some((a) => sourceUidOf(a)) || mirrors.length > 0;
  const resources = apps.map((a) => resourceOf(ResourceKinds.application, a));
  for (const p of autonomous ? mirrors : managedProjectsFor(ctx, agent)) resources.push(resourceOf(ResourceKinds.appProject, p));
  const repos = repositoriesOf(ctx);
  if (repos && !autonomous) {
    for (const s of repos.informer.list()) if (repos.recipients(s).has(agent)) resources.push(resourceOf(ResourceKinds.repository, s));
  }
  return { name: agent, mode: autonomous ? "autonomous" : "managed", connected: Boolean(rec?.connection), resources };
}

/** The snapshot at `lastSequence`; empty (agents and resources) when replication does not run. */
export function buildSnapshot(ctx: PrincipalContext | undefined, lastSequence: number): ReplicationSnapshot {
  const snapshot: ReplicationSnapshot = { agents: [], lastSequenceNum: String(lastSequence), principalResources: [] };
  if (!ctx) return snapshot;
  const appsByAgent = new Map<string, Application[]>();
  for (const rec of ctx.registry.all()) appsByAgent.set(rec.agent, []);
  for (const app of ctx.appInformer.list()) {
    const agent = agentForApp(ctx, app);
    if (!agent) continue;
    const list = appsByAgent.get(agent);
    if (list) list.push(app);
    else appsByAgent.set(agent, [app]);
  }
  for (const p of ctx.projectInformer.list()) {
    const agent = sourceUidOf(p) ? mirrorProjectAgent(p) : undefined;
    if (agent && !appsByAgent.has(agent)) appsByAgent.set(agent, []);
  }
  for (const [agent, apps] of [...appsByAgent].sort(([a], [b]) => a.localeCompare(b))) snapshot.agents.push(agentState(ctx, agent, apps));
  for (const s of ctx.clusters.informer.list()) {
    if (selfRegistered(s)) snapshot.principalResources.push(resourceOf(ResourceKinds.clusterSecret, s));
  }
  return snapshot;
}

function lookup(ctx: PrincipalContext, r: Resource): KubeObject | undefined | string {
  switch (r.kind) {
    case ResourceKinds.application:
      return ctx.appInformer.get(r.namespace, r.name);
    case ResourceKinds.appProject:
      return ctx.projectInformer.get(r.namespace, r.name);
    case ResourceKinds.repository: {
      const repos = repositoriesOf(ctx);
      return repos ? repos.informer.get(r.namespace, r.name) : "repository secrets are not watched";
    }
    case ResourceKinds.clusterSecret: {
      const s = ctx.clusters.informer.get(r.namespace, r.name);
      return s && selfRegistered(s) ? s : undefined;
    }
    case ResourceKinds.applicationSet:
      return "ApplicationSets are not watched by this principal";
    default:
      return `unknown resource kind ${JSON.stringify(r.kind)}`;
  }
}

/**
 * Whether resources a replica holds but the snapshot lacked still exist here:
 * `exists` (with data), `deleted`, or `unknown` (with a reason) — all
 * `unknown` when the sequence moved since the replica's snapshot.
 */
export function confirmMissing(ctx: PrincipalContext | undefined, req: ConfirmMissingResourcesRequest, currentSequence: number): ConfirmMissingResourcesResponse {
  const unknown = (resource: Resource, reason: string): MissingResourceResult => ({ resource, status: "unknown", reason });
  if (String(currentSequence) !== String(req.snapshotSequenceNum)) {
    const reason = `snapshot sequence ${req.snapshotSequenceNum} no longer current, current sequence ${currentSequence}`;
    return { results: req.resources.map((r) => unknown(r, reason)) };
  }
  if (!ctx) return { results: req.resources.map((r) => unknown(r, "replication is not running on this principal")) };
  return {
    results: req.resources.map((r): MissingResourceResult => {
      const found = lookup(ctx, r);
      if (typeof found === "string") return unknown(r, found);
      if (!found) return { resource: r, status: "deleted", reason: "" };
      return { resource: resourceOf(r.kind, found), status: "exists", reason: "" };
    }),
  };
}
