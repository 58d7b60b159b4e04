/**
 * An autonomous agent (behavior.md §3): its Applications and AppProjects are
 * the source of truth and are sent to the principal as create / spec-update /
 * delete. From the principal it accepts only what users may do there:
 * refresh (the annotation), sync (set-operation) and terminate.
 */
import type { AgentEvent, JsonObject } from "../../events/cloudevent.ts";
import { EventTargets, EventTypes } from "../../events/event-types.ts";
import { retryOnConflict } from "../../kube/crud.ts";
import type { Application, KubeObject, LooseRecord } from "../../kube/resources.ts";
import { getLogger } from "../../observability/log.ts";
import type { HandlerOutcome } from "../../transport/event-session.ts";
import { send, type AgentContext } from "./agent-context.ts";
import { errorText, failure, rejected } from "../kube-errors.ts";
import { objectFromPayload, operationPhase, REFRESH_ANNOTATION, same, sourceUidOf } from "../objects.ts";

const log = getLogger("replication");

/** What the principal may ask of an autonomous agent's Applications. */
const ACCEPTED: ReadonlySet<string> = new Set([EventTypes.specUpdate, EventTypes.setOperation, EventTypes.terminateOperation]);

export async function handleAutonomousApp(ctx: AgentContext, ev: AgentEvent, payload: JsonObject | undefined): Promise<HandlerOutcome | void> {
  const parsed = objectFromPayload<Application>(payload, false);
  if (!parsed.ok) return rejected(log, "rejected Application event from principal", { event_type: ev.type, reason: parsed.error });
  if (!ACCEPTED.has(ev.type)) return rejected(log, "Application event type not accepted by an autonomous agent", { event_type: ev.type });
  const remote = parsed.obj;
  const name = remote.metadata.name!;
  try {
    await retryOnConflict(async () => {
      const cur = await ctx.apps.get(ctx.namespace, name);
      const src = sourceUidOf(remote);
      if (!cur || (src && src !== cur.metadata.uid)) return log.info("event for an Application this agent does not have", { event_type: ev.type, application: name });
      if (ev.type === EventTypes.specUpdate) {
        // Only the refresh request travels this way (upstream copies all annotations; see report).
        const refresh = remote.metadata.annotations?.[REFRESH_ANNOTATION];
        if (!refresh || cur.metadata.annotations?.[REFRESH_ANNOTATION]) return;
        await ctx.apps.update({ ...cur, metadata: { ...cur.metadata, annotations: { ...(cur.metadata.annotations ?? {}), [REFRESH_ANNOTATION]: refresh } } });
      } else if (ev.type === EventTypes.setOperation) {
        if (!remote.operation || operationPhase(cur) === "Terminating" || same(cur.operation, remote.operation)) return;
        await ctx.apps.update({ ...cur, operation: remote.operation });
        log.info("operation requested from the control plane set on Application", { application: name });
      } else if (ev.type === EventTypes.terminateOperation) {
        const state = cur.status?.["operationState"] as LooseRecord | undefined;
        if (!state || state["phase"] === "Terminating") return;
        await ctx.apps.updateStatus({ ...cur, status: { ...cur.status, operationState: { ...state, phase: "Terminating" } } });
      }
    });
  } catch (err) {
    log.error("applying Application event failed", { event_type: ev.type, application: name, error: errorText(err) });
    return failure(err);
  }
}

/** Informer handlers that report every local change of `target` objects to the principal. */
export function autonomousHandlers<T extends KubeObject>(ctx: AgentContext, target: typeof EventTargets.application | typeof EventTargets.appProject) {
  return {
    onAdd: (o: T) => send(ctx, EventTypes.create, target, o),
    // A coalesced update (--buffer-informer-event-interval) may end on our own
    // write while folding in someone else's: it is always sent.
    onUpdate: (_old: T, o: T, coalesced?: boolean) => {
      if (coalesced || !ctx.selfWrites.isOwn(o)) send(ctx, EventTypes.specUpdate, target, o);
    },
    onDelete: (o: T) => send(ctx, EventTypes.delete, target, o),
  };
}
