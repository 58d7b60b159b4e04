/**
 * The shape the principal's replication sees of a replicated data kind
 * (repository Secrets, the GPG ConfigMap; operations.md §3.2): its informer,
 * the push of current state on each connect of a managed agent, and its part
 * of resync (what an agent should have, and the answer to `request-update`).
 * Keeps principal-replication.ts and principal-resync.ts ignorant of the
 * kinds' rules.
 *
 * @example
 *   const kinds: PrincipalDataKind[] = [new PrincipalRepositories(ctx, opts), new PrincipalGpgKeys(ctx, opts)];
 *   for (const k of kinds) k.sendCurrentState("agent-a");
 */
import type { ResyncKind } from "../../events/event-types.ts";
import type { RequestUpdate, ResourceKey } from "../../events/resync.ts";
import type { Informer } from "../../kube/informer.ts";
import type { KubeObject } from "../../kube/resources.ts";
import type { AgentRecord } from "../../principal/agent-registry.ts";
import type { PrincipalContext } from "./principal-context.ts";

export interface PrincipalDataKind {
  readonly kind: ResyncKind;
  readonly informer: Pick<Informer<KubeObject>, "run" | "waitForSync" | "hasSynced" | "kind">;
  /** A managed agent (re)connected: `spec-update` of everything it should have. */
  sendCurrentState(agent: string): void;
  /** Resource keys of what this managed agent should have (namespace: the principal's). */
  trackedFor(agent: string): ResourceKey[];
  /** Answers a managed agent's `request-update` of this kind; returns the resync result for the stats. */
  requestUpdate(rec: AgentRecord, req: RequestUpdate): "in-sync" | "updated" | "deleted";
}

/** Agents known to run in managed mode (connected now or since this principal started). */
export function managedAgents(ctx: PrincipalContext): string[] {
  return ctx.registry.all().filter((r) => r.mode === "managed").map((r) => r.agent);
}

/** The object's resource key on the principal: its own UID (the agent stamps it as source-uid). */
export function dataKeyOf(kind: string, obj: KubeObject): ResourceKey {
  return { kind, name: obj.metadata.name ?? "", namespace: obj.metadata.namespace ?? "", uid: obj.metadata.uid ?? "" };
}
