/**
 * The principal's informer callbacks under HA (operations.md §4.3, §4.5).
 * While passive, Application and AppProject changes are not acted on at all:
 * the objects are written by the replica client from the active peer, and
 * our callbacks would otherwise "revert" or "recreate" autonomous mirrors
 * and queue events for agents that are not ours. While active, every
 * principal AppProject change is also forwarded to replicas once, with the
 * hub's object and `agent_name` = its namespace (as upstream; agents get
 * per-agent copies). Whenever the principal becomes active (its start as
 * primary — the informers fill while the state is still `recovering` — or a
 * promotion), `replayOnActive` does what the start of a principal without HA
 * does: mirrors' specs cached afresh and a create queued for every managed
 * Application, so agents get what changed while this principal was not active.
 *
 * @example
 *   ctx.appInformer.addHandlers(haGatedAppHandlers(ctx));
 *   ctx.projectInformer.addHandlers(haGatedProjectHandlers(ctx));
 */
import { EventTargets, EventTypes, type EventType } from "../../events/event-types.ts";
import type { InformerHandlers } from "../../kube/informer.ts";
import type { Application, AppProject } from "../../kube/resources.ts";
import { sourceUidOf } from "../objects.ts";
import { principalEvent, type PrincipalContext } from "./principal-context.ts";
import { onAppAdded, onAppDeleted, onAppUpdated } from "./principal-outbound.ts";
import { onProjectAdded, onProjectDeleted, onProjectUpdated } from "./principal-projects.ts";

const active = (ctx: PrincipalContext): boolean => !ctx.ha || ctx.ha.accepting();

export function haGatedAppHandlers(ctx: PrincipalContext): InformerHandlers<Application> {
  return {
    onAdd: (a) => active(ctx) && onAppAdded(ctx, a),
    onUpdate: (o, a) => active(ctx) && onAppUpdated(ctx, o, a),
    onDelete: (a) => active(ctx) && onAppDeleted(ctx, a),
  };
}

function forwardProject(ctx: PrincipalContext, type: EventType, p: AppProject): void {
  // Mirrors of autonomous agents' projects reach replicas as the agents' own (inbound) events.
  if (ctx.ha && !sourceUidOf(p) && !ctx.selfWrites.isOwn(p)) ctx.ha.outbound(p.metadata.namespace ?? "", principalEvent(ctx, type, EventTargets.appProject, p));
}

export function haGatedProjectHandlers(ctx: PrincipalContext): InformerHandlers<AppProject> {
  return {
    onAdd: (p) => {
      if (!active(ctx)) return;
      onProjectAdded(ctx, p);
      forwardProject(ctx, EventTypes.create, p);
    },
    onUpdate: (o, p) => {
      if (!active(ctx)) return;
      onProjectUpdated(ctx, o, p);
      forwardProject(ctx, EventTypes.specUpdate, p);
    },
    onDelete: (p) => {
      if (!active(ctx)) return;
      onProjectDeleted(ctx, p);
      forwardProject(ctx, EventTypes.delete, p);
    },
  };
}

/** Replays the informers' current objects as the start of a principal without HA would (see above). */
export function replayOnActive(ctx: PrincipalContext): void {
  ctx.mirrorSpecs.clear();
  ctx.expectedDeletes.clear();
  for (const p of ctx.projectInformer.list()) if (sourceUidOf(p)) onProjectAdded(ctx, p);
  for (const a of ctx.appInformer.list()) onAppAdded(ctx, a);
}
