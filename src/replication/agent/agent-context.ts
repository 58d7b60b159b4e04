/**
 * What the agent's replication parts share: clients, informers, the source
 * cache (the spec the source of truth last gave us, keyed by source UID) and
 * the persistent EventWriter towards the principal.
 */
import { objectEvent, type AgentEvent } from "../../events/cloudevent.ts";
import { EventSources, type EventTarget, type EventType } from "../../events/event-types.ts";
import type { EventWriter } from "../../events/event-writer.ts";
import type { KubeClient } from "../../kube/client.ts";
import type { CustomResourceClient } from "../../kube/crud.ts";
import type { Informer } from "../../kube/informer.ts";
import type { Application, AppProject, KubeObject, LooseRecord } from "../../kube/resources.ts";
import type { NamespaceMatcher } from "../namespace-match.ts";
import { NAMESPACE_REMAPPED, type SelfWrites } from "../objects.ts";
import type { ResyncRounds } from "../resync-rounds.ts";
import type { AgentDataKind } from "./agent-data-objects.ts";

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
  /** --destination-based-mapping: apps keep their namespace (principal namespace → ours). */
  destinationBased: boolean;
  /** Namespaces apps may live in: ours plus --allowed-namespaces. */
  allowed: NamespaceMatcher;
  /** --create-namespace (destination-based only). */
  createNamespace: boolean;
  /** --adoption-policy: what to do with a local app without source UID that the principal wants. */
  adoptionPolicy: AdoptionPolicy;
  /** The principal's namespace, from the authentication response. */
  principalNamespace: string | undefined;
  /** One resync at a time with the principal, one request-update per object per resync. */
  resyncRounds: ResyncRounds;
  /** Counts event streams to the principal (the current one's number; 0 before the first). */
  connection: number;
  /** Managed: repository Secrets and the GPG ConfigMap (agent-data-objects.ts). */
  dataKinds?: AgentDataKind[];
}

export type AdoptionPolicy = "always" | "never";

/**
 * Where an app from the principal lives here (upstream getTargetNamespaceForApp):
 * our namespace (namespace-based), else its own namespace, except that the
 * principal's namespace maps to ours when they differ ("remapped").
 */
export function targetNamespace(ctx: AgentContext, principalSideNs: string | undefined): { namespace: string; remapped: boolean } {
  if (!ctx.destinationBased) return { namespace: ctx.namespace, remapped: false };
  const ns = principalSideNs || ctx.namespace;
  if (ctx.principalNamespace && ns === ctx.principalNamespace && ns !== ctx.namespace) return { namespace: ctx.namespace, remapped: true };
  return { namespace: ns, remapped: false };
}

/** The principal-side namespace of a local app (inverse of targetNamespace). */
export function principalSideNamespace(ctx: AgentContext, local: KubeObject): string | undefined {
  const ns = local.metadata.namespace;
  if (!ctx.destinationBased) return ns;
  if (ns === ctx.namespace && local.metadata.annotations?.[NAMESPACE_REMAPPED] !== undefined && ctx.principalNamespace) return ctx.principalNamespace;
  return ns;
}

export const cacheKey = (kind: string, uid: string): string => `${kind}/${uid}`;

export function send(ctx: AgentContext, type: EventType, target: EventTarget, obj: object): void {
  ctx.writer.add(objectEvent(type, target, obj as never, EventSources.agent));
}

export function sendEvent(ctx: AgentContext, ev: AgentEvent): void {
  ctx.writer.add(ev);
}
