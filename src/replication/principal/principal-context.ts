/**
 * What the principal's replication parts share: clients, caches, the agent
 * registry (per-agent persistent EventWriters) and the principal identity.
 */
import type { AgentEvent } from "../../events/cloudevent.ts";
import { Annotations, EventSources, EventTargets, EventTypes, Extensions } from "../../events/event-types.ts";
import { objectEvent } from "../../events/cloudevent.ts";
import type { EventTarget, EventType } from "../../events/event-types.ts";
import type { KubeClient } from "../../kube/client.ts";
import type { CustomResourceClient } from "../../kube/crud.ts";
import type { Informer } from "../../kube/informer.ts";
import type { Application, AppProject, LooseRecord } from "../../kube/resources.ts";
import type { AgentRegistry } from "../../principal/agent-registry.ts";
import type { NamespaceMatcher } from "../namespace-match.ts";
import type { SelfWrites } from "../objects.ts";
import type { ClusterSecrets } from "./cluster-secrets.ts";
import type { ResyncRounds } from "../resync-rounds.ts";
import type { PrincipalDataKind } from "./principal-data-kinds.ts";

export interface PrincipalContext {
  kube: KubeClient;
  apps: CustomResourceClient<Application>;
  projects: CustomResourceClient<AppProject>;
  /** The principal's own namespace (projects live here). */
  namespace: string;
  principalUid: string;
  registry: AgentRegistry;
  allowed: NamespaceMatcher;
  appInformer: Informer<Application>;
  projectInformer: Informer<AppProject>;
  selfWrites: SelfWrites;
  /** Specs of autonomous mirrors (apps and projects) keyed "ns/name": what user edits are reverted to. */
  mirrorSpecs: Map<string, LooseRecord>;
  /** Mirrors we are deleting ourselves ("ns/name"), so the informer delete is not reverted. */
  expectedDeletes: Set<string>;
  namespaceCreate: { enable: boolean; pattern: RegExp | undefined; labels: Record<string, string> };
  /** --destination-based-mapping: managed apps go to the agent named by spec.destination.name. */
  destinationBased: boolean;
  /** Managed apps ("ns/name") → the agent they were last sent to (destination changes, redis proxy routing). */
  appAgents: Map<string, string>;
  /** The agents' Argo CD cluster secrets (cluster names). */
  clusters: ClusterSecrets;
  /** One resync at a time per agent, one request-update per object per resync. */
  resyncRounds: ResyncRounds;
  /** Repository secrets and the GPG ConfigMap (principal-data-kinds.ts); set at start. */
  dataKinds?: PrincipalDataKind[];
  /** Principal HA (src/ha/), when --ha-enabled. */
  ha?: PrincipalHaHooks;
}

/** What replication asks of principal HA (src/ha/principal-ha.ts). */
export interface PrincipalHaHooks {
  /** False while this principal is passive: nothing is queued for agents, informer changes are not acted on. */
  accepting(): boolean;
  /** A principal → agent event (or, for AppProjects, the project change), for the replicas. */
  outbound(agent: string, ev: AgentEvent): void;
}

/** Targets whose agent-bound events are forwarded to HA replicas as they are queued (AppProjects: once per change, principal-ha-gate.ts; GPG keys: never, as upstream). */
const FORWARDED_TARGETS: ReadonlySet<string> = new Set([EventTargets.application, EventTargets.repository]);

/**
 * Queues an event for an agent; the agent's writer holds it while it is
 * disconnected. A passive HA principal queues nothing (its agents are
 * served by the active one); an active one also forwards it to its replicas.
 */
export function sendTo(ctx: PrincipalContext, agent: string, ev: AgentEvent): void {
  if (ctx.ha && !ctx.ha.accepting()) return;
  const rec = ctx.registry.get(agent) ?? ctx.registry.record(agent, "managed");
  rec.writer.add(ev);
  if (ctx.ha && FORWARDED_TARGETS.has(ev.target)) ctx.ha.outbound(agent, ev);
}

/**
 * True when a create or spec-update carrying `obj` is already waiting or in
 * flight to the agent: a resync that found the agent's copy outdated then has
 * nothing to add (the queued event carries this or a later version).
 */
export function objectUpdatePending(ctx: PrincipalContext, agent: string, obj: { metadata: { name?: string; uid?: string } }): boolean {
  const p = ctx.registry.get(agent)?.writer.pending(`${obj.metadata.name ?? ""}_${obj.metadata.uid ?? ""}`);
  if (!p) return false;
  return [p.inFlight, ...p.unsent].some((ev) => ev && (ev.type === EventTypes.create || ev.type === EventTypes.specUpdate));
}

/** An object event from the principal, stamped with the principal identity. */
export function principalEvent(ctx: PrincipalContext, type: EventType, target: EventTarget, obj: object, stamp = true): AgentEvent {
  return objectEvent(type, target, obj as never, EventSources.principal, stamp ? { [Extensions.principalUid]: ctx.principalUid } : undefined);
}

/** True when the agent is known to run in autonomous mode. */
export function isAutonomous(ctx: PrincipalContext, agent: string): boolean {
  return ctx.registry.get(agent)?.mode === "autonomous";
}

export const keyOf = (ns: string | undefined, name: string | undefined): string => `${ns ?? ""}/${name ?? ""}`;

const DNS_LABEL = /^[a-z0-9]([-a-z0-9]*[a-z0-9])?$/;

/**
 * The agent an Application belongs to, or undefined (behavior.md §2.1, §4):
 * an autonomous mirror (source-uid) always belongs to the agent named by its
 * namespace; a managed app to its namespace (namespace-based) or to
 * spec.destination.name (destination-based; empty and `in-cluster` mean none).
 * Only names that can be agent names (DNS labels) count.
 */
export function agentForApp(ctx: Pick<PrincipalContext, "namespace" | "destinationBased">, app: Application): string | undefined {
  const ns = app.metadata.namespace;
  if (!ns) return undefined;
  let agent: string | undefined;
  if (ctx.destinationBased && !app.metadata.annotations?.[Annotations.sourceUid]) {
    const name = (app.spec?.["destination"] as LooseRecord | undefined)?.["name"];
    agent = typeof name === "string" && name !== "in-cluster" ? name : undefined;
  } else agent = ns === ctx.namespace ? undefined : ns;
  return agent && agent !== ctx.namespace && DNS_LABEL.test(agent) ? agent : undefined;
}
