/**
 * What the principal's replication parts share: clients, caches, the agent
 * registry (per-agent persistent EventWriters) and the principal identity.
 */
import type { AgentEvent } from "../events/cloudevent.ts";
import { EventSources, Extensions } from "../events/event-types.ts";
import { objectEvent } from "../events/cloudevent.ts";
import type { EventTarget, EventType } from "../events/event-types.ts";
import type { KubeClient } from "../kube/client.ts";
import type { CustomResourceClient } from "../kube/crud.ts";
import type { Informer } from "../kube/informer.ts";
import type { Application, AppProject, LooseRecord } from "../kube/resources.ts";
import type { AgentRegistry } from "../principal/agent-registry.ts";
import type { NamespaceMatcher } from "./namespace-match.ts";
import type { SelfWrites } from "./objects.ts";

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
}

/** Queues an event for an agent; the agent's writer holds it while it is disconnected. */
export function sendTo(ctx: PrincipalContext, agent: string, ev: AgentEvent): void {
  const rec = ctx.registry.get(agent) ?? ctx.registry.record(agent, "managed");
  rec.writer.add(ev);
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
