/**
 * AppProjects on the principal (behavior.md §2.5, §3.2, §5): projects in the
 * principal namespace go to the managed agents they match, as agent-specific
 * copies; projects of autonomous agents are mirrored as `<agent>-<name>` and
 * protected like mirrored apps.
 */
import type { AgentEvent, JsonObject } from "../../events/cloudevent.ts";
import { EventTargets, EventTypes } from "../../events/event-types.ts";
import { specChecksum, type Checksum } from "../../events/resync.ts";
import { isAlreadyExists, isNotFound, retryOnConflict } from "../../kube/crud.ts";
import type { AppProject, LooseRecord } from "../../kube/resources.ts";
import { getLogger } from "../../observability/log.ts";
import type { AgentRecord } from "../../principal/agent-registry.ts";
import type { HandlerOutcome } from "../../transport/event-session.ts";
import { errorText, failure, rejected } from "../kube-errors.ts";
import { globMatch, namespaceMatcher } from "../namespace-match.ts";
import { compact, freshCopy, objectFromPayload, same, SOURCE_UID, sourceUidOf } from "../objects.ts";
import { keyOf, principalEvent, sendTo, type PrincipalContext } from "./principal-context.ts";

const log = getLogger("replication");

type Destination = { name?: string; server?: string; namespace?: string };
const destinations = (p: AppProject): Destination[] => (Array.isArray(p.spec["destinations"]) ? (p.spec["destinations"] as Destination[]) : []);

/** The `agentName` query parameter of a resource-proxy server URL (Go url.Parse + Query().Get). */
function agentNameOfServer(server: string | undefined): string | undefined {
  if (!server || server === "*") return undefined;
  const q = server.indexOf("?");
  if (q < 0) return undefined;
  try {
    return new URLSearchParams(server.slice(q + 1).split("#")[0]).get("agentName") || undefined;
  } catch {
    return undefined;
  }
}

/** Does a destination point at this agent (name glob, server `*`, or `?agentName=` glob)? Deny entries never do. */
function destinationMatches(d: Destination, agent: string): boolean {
  if (d.name) return globMatch(d.name, agent);
  if (d.server === "*") return true;
  const fromUrl = agentNameOfServer(d.server);
  return fromUrl !== undefined && globMatch(fromUrl, agent);
}

/**
 * DoesAgentMatchWithProject: a `!glob` destination name matching the agent
 * withholds the project; otherwise one destination must match, and under
 * namespace-based mapping the agent must also match `sourceNamespaces`.
 */
export function projectMatchesAgent(p: AppProject, agent: string, destinationBased = false): boolean {
  const dests = destinations(p);
  if (dests.some((d) => d.name?.startsWith("!") && globMatch(d.name.slice(1), agent))) return false;
  if (!dests.some((d) => destinationMatches(d, agent))) return false;
  if (destinationBased) return true;
  const sourceNamespaces = Array.isArray(p.spec["sourceNamespaces"]) ? (p.spec["sourceNamespaces"] as string[]).filter((x) => typeof x === "string") : [];
  return namespaceMatcher(sourceNamespaces)(agent);
}

/**
 * AgentSpecificAppProject: matching destinations rewritten to in-cluster, no
 * roles; sourceNamespaces dropped (namespace-based) or kept (destination-based,
 * where apps live in many namespaces on the agent).
 */
export function agentProjectCopy(p: AppProject, agent: string, destinationBased = false): AppProject {
  const dests = destinations(p)
    .filter((d) => destinationMatches(d, agent))
    .map((d) => compact({ ...d, name: "in-cluster", server: "https://kubernetes.default.svc" }));
  const { sourceNamespaces, roles: _r, ...spec } = p.spec;
  return {
    metadata: compact({ name: p.metadata.name, namespace: p.metadata.namespace, uid: p.metadata.uid, resourceVersion: p.metadata.resourceVersion, labels: p.metadata.labels, annotations: p.metadata.annotations }),
    spec: { ...spec, destinations: dests, ...(destinationBased && sourceNamespaces !== undefined ? { sourceNamespaces } : {}) },
  };
}

export function projectChecksumForAgent(copy: AppProject): Checksum | null {
  const sum = specChecksum(copy as never, "AppProject");
  return sum.ok ? sum.value : null;
}

const isMirror = (p: AppProject): boolean => Boolean(sourceUidOf(p));

/** Principal projects this managed agent should have. */
export function managedProjectsFor(ctx: PrincipalContext, agent: string): AppProject[] {
  return ctx.projectInformer.list().filter((p) => !isMirror(p) && projectMatchesAgent(p, agent, ctx.destinationBased));
}

export function mirroredProjectsOf(ctx: PrincipalContext, agent: string): AppProject[] {
  return ctx.projectInformer.list().filter((p) => isMirror(p) && (p.spec["sourceNamespaces"] as string[] | undefined)?.[0] === agent);
}

const managedAgents = (ctx: PrincipalContext): string[] => ctx.registry.all().filter((r) => r.mode === "managed").map((r) => r.agent);

/** On every connect of a managed agent: its current projects (upstream sendCurrentStateToAgent). */
export function sendProjectsTo(ctx: PrincipalContext, agent: string): void {
  for (const p of managedProjectsFor(ctx, agent)) sendTo(ctx, agent, principalEvent(ctx, EventTypes.specUpdate, EventTargets.appProject, agentProjectCopy(p, agent, ctx.destinationBased)));
}

export function onProjectAdded(ctx: PrincipalContext, p: AppProject): void {
  if (isMirror(p)) {
    const key = keyOf(p.metadata.namespace, p.metadata.name);
    if (!ctx.mirrorSpecs.has(key)) ctx.mirrorSpecs.set(key, structuredClone(p.spec));
    return;
  }
  for (const agent of managedAgents(ctx)) {
    if (projectMatchesAgent(p, agent, ctx.destinationBased)) sendTo(ctx, agent, principalEvent(ctx, EventTypes.create, EventTargets.appProject, agentProjectCopy(p, agent, ctx.destinationBased)));
  }
}

export function onProjectUpdated(ctx: PrincipalContext, old: AppProject, p: AppProject): void {
  if (ctx.selfWrites.isOwn(p)) return;
  if (isMirror(p)) {
    const key = keyOf(p.metadata.namespace, p.metadata.name);
    const cached = ctx.mirrorSpecs.get(key);
    if (cached && !same(cached, p.spec) && !p.metadata.deletionTimestamp) {
      void retryOnConflict(async () => {
        const cur = await ctx.projects.get(p.metadata.namespace!, p.metadata.name!);
        if (cur && !same(cur.spec, ctx.mirrorSpecs.get(key))) ctx.selfWrites.record(await ctx.projects.update({ ...cur, spec: structuredClone(ctx.mirrorSpecs.get(key)!) }));
      }).catch((err) => log.warn("could not revert mirrored AppProject", { appProject: key, error: errorText(err) }));
    }
    return;
  }
  for (const agent of managedAgents(ctx)) {
    if (projectMatchesAgent(p, agent, ctx.destinationBased)) sendTo(ctx, agent, principalEvent(ctx, EventTypes.specUpdate, EventTargets.appProject, agentProjectCopy(p, agent, ctx.destinationBased)));
    else if (projectMatchesAgent(old, agent, ctx.destinationBased)) sendTo(ctx, agent, principalEvent(ctx, EventTypes.delete, EventTargets.appProject, agentProjectCopy(old, agent, ctx.destinationBased)));
  }
}

export function onProjectDeleted(ctx: PrincipalContext, p: AppProject): void {
  if (isMirror(p)) {
    const key = keyOf(p.metadata.namespace, p.metadata.name);
    if (ctx.expectedDeletes.delete(key)) return void ctx.mirrorSpecs.delete(key);
    const copy = freshCopy(p);
    copy.spec = structuredClone(ctx.mirrorSpecs.get(key) ?? p.spec);
    void ctx.projects.create(copy).then((c) => ctx.selfWrites.record(c), (err) => {
      if (!isAlreadyExists(err)) log.warn("could not recreate mirrored AppProject", { appProject: key, error: errorText(err) });
    });
    return;
  }
  for (const agent of managedAgents(ctx)) {
    if (projectMatchesAgent(p, agent, ctx.destinationBased)) sendTo(ctx, agent, principalEvent(ctx, EventTypes.delete, EventTargets.appProject, agentProjectCopy(p, agent, ctx.destinationBased)));
  }
}

/** Role policy lines of an autonomous project, renamed for the control plane (processAppProjectEventRoleLine). */
function rewritePolicy(line: string, agent: string, project: string, role: string): string {
  const f = line.split(",").map((x) => x.trim());
  if (f.length !== 6 || f[0] !== "p" || f[1] !== `proj:${project}:${role}` || !["applications", "applicationsets", "logs", "exec"].includes(f[2]!)) return line;
  const obj = f[4]!.startsWith(`${project}/`) ? `${agent}-${project}/${agent}/${f[4]!.slice(project.length + 1)}` : f[4]!;
  return [f[0], `proj:${agent}-${project}:${role}`, f[2], f[3], obj, f[5]].join(", ");
}

export function projectMirrorOf(ctx: Pick<PrincipalContext, "namespace" | "clusters">, agent: string, remote: AppProject): AppProject {
  const name = `${agent}-${remote.metadata.name}`;
  if (name.length > 253) throw new Error(`project name ${name} is longer than 253 characters`);
  const roles = Array.isArray(remote.spec["roles"]) ? (remote.spec["roles"] as LooseRecord[]) : undefined;
  const cluster = ctx.clusters.clusterName(agent);
  return {
    metadata: compact({ name, namespace: ctx.namespace, labels: remote.metadata.labels, annotations: { ...(remote.metadata.annotations ?? {}), [SOURCE_UID]: remote.metadata.uid ?? "" } }),
    spec: compact({
      ...remote.spec,
      sourceNamespaces: [agent],
      // The cluster's Argo CD name, as in the mirrored apps' destinations (upstream: the agent name).
      destinations: destinations(remote).map((d) => compact({ ...d, name: cluster, server: "*" })),
      roles: roles?.map((r) => ({ ...r, policies: Array.isArray(r["policies"]) ? (r["policies"] as string[]).map((l) => rewritePolicy(l, agent, remote.metadata.name!, String(r["name"]))) : r["policies"] })),
    }),
  };
}

export async function handleProjectFromAgent(ctx: PrincipalContext, rec: AgentRecord, ev: AgentEvent, payload: JsonObject | undefined): Promise<HandlerOutcome | void> {
  if (rec.mode !== "autonomous") return rejected(log, "AppProject events are only accepted from autonomous agents", { agent: rec.agent, event_type: ev.type });
  const parsed = objectFromPayload<AppProject>(payload, ev.type !== EventTypes.delete);
  if (!parsed.ok) return rejected(log, "rejected AppProject event from agent", { agent: rec.agent, event_type: ev.type, reason: parsed.error });
  const remote = parsed.obj;
  const name = `${rec.agent}-${remote.metadata.name}`;
  const key = keyOf(ctx.namespace, name);
  try {
    if (ev.type === EventTypes.delete) {
      const cur = await ctx.projects.get(ctx.namespace, name);
      if (!cur || (remote.metadata.uid && sourceUidOf(cur) !== remote.metadata.uid)) return;
      ctx.expectedDeletes.add(key);
      await ctx.projects.delete(ctx.namespace, name, { uid: cur.metadata.uid }).catch((err) => {
        ctx.expectedDeletes.delete(key);
        if (!isNotFound(err)) throw err;
      });
      return;
    }
    if (ev.type !== EventTypes.create && ev.type !== EventTypes.specUpdate) return rejected(log, "unsupported AppProject event", { agent: rec.agent, event_type: ev.type });
    const want = projectMirrorOf(ctx, rec.agent, remote);
    ctx.mirrorSpecs.set(key, structuredClone(want.spec));
    await retryOnConflict(async () => {
      const cur = await ctx.projects.get(ctx.namespace, name);
      if (!cur) return ctx.selfWrites.record(await ctx.projects.create(want));
      const next = { ...cur, metadata: { ...cur.metadata, labels: want.metadata.labels, annotations: want.metadata.annotations }, spec: want.spec };
      if (!same(next.metadata, cur.metadata) || !same(next.spec, cur.spec)) ctx.selfWrites.record(await ctx.projects.update(compact(next) as AppProject));
    });
  } catch (err) {
    log.error("applying AppProject event failed", { agent: rec.agent, appProject: name, error: errorText(err) });
    return failure(err);
  }
}
