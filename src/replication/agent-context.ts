/**
 * What the agent's replication parts share: clients, informers, the source
 * cache (the spec the source of truth last gave us, keyed by source UID) and
 * the persistent EventWriter towards the principal.
 */
import { objectEvent, type AgentEvent } from "../events/cloudevent.ts";
import { EventSources, type EventTarget, type EventType } from "../events/event-types.ts";
import type { EventWriter } from "../events/event-writer.ts";
import type { KubeClient } from "../kube/client.ts";
import type { CustomResourceClient } from "../kube/crud.ts";
import type { Informer } from "../kube/informer.ts";
import type { Application, AppProject, LooseRecord } from "../kube/resources.ts";
import type { SelfWrites } from "./objects.ts";

export type RecreatePolicy = "ignore" | "clear-status" | "resync";

export interface AgentContext {
  kube: KubeClient;
  mode: "managed" | "autonomous";
  /** The agent's --namespace: where its Applications and AppProjects live. */
  namespace: string;
  apps: CustomResourceClient<Application>;
  projects: CustomResourceClient<AppProject>;
  appInformer: Informer<Application>;
  projectInformer: Informer<AppProject>;
  writer: EventWriter;
  selfWrites: SelfWrites;
  /** Managed: spec last received from the principal, by kind and source UID. */
  sourceSpecs: Map<string, LooseRecord>;
  /** Managed: source UIDs whose local deletion the principal asked for. */
  expectedDeletes: Set<string>;
  mismatchPolicy: "recreate" | "upsert";
  onRecreate: RecreatePolicy;
  /** The principal UID from the last event that carried one. */
  principalUid: string | undefined;
}

export const cacheKey = (kind: string, uid: string): string => `${kind}/${uid}`;

export function send(ctx: AgentContext, type: EventType, target: EventTarget, obj: object): void {
  ctx.writer.add(objectEvent(type, target, obj as never, EventSources.agent));
}

export function sendEvent(ctx: AgentContext, ev: AgentEvent): void {
  ctx.writer.add(ev);
}
