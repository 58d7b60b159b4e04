/**
 * Principal informer callbacks for Applications (behavior.md §2.1, §3.1):
 * managed apps (no source-uid) are pushed to the agent named by their
 * namespace; autonomous mirrors (source-uid set) are protected: spec edits are
 * reverted, deletions recreated, and only refresh / sync / terminate requests
 * are forwarded to the owning agent.
 */
import { EventTargets, EventTypes } from "../../events/event-types.ts";
import { getLogger } from "../../observability/log.ts";
import type { Application } from "../../kube/resources.ts";
import { isAlreadyExists, retryOnConflict } from "../../kube/crud.ts";
import { desiredStateChanged, freshCopy, operationPhase, REFRESH_ANNOTATION, same, sourceUidOf } from "../objects.ts";
import { agentForApp, isAutonomous, keyOf, principalEvent, sendTo, type PrincipalContext } from "./principal-context.ts";
import { errorText } from "../kube-errors.ts";

const log = getLogger("replication");

/** `operation` never travels in spec-update (a later spec change must not wipe a pending sync). */
export function withoutOperation(app: Application): Application {
  const { operation: _op, ...rest } = app;
  return rest as Application;
}

export function onAppAdded(ctx: PrincipalContext, app: Application): void {
  const agent = agentForApp(ctx, app);
  if (!agent) return;
  if (sourceUidOf(app)) {
    const key = keyOf(app.metadata.namespace, app.metadata.name);
    if (!ctx.mirrorSpecs.has(key)) ctx.mirrorSpecs.set(key, structuredClone(app.spec));
    return;
  }
  ctx.appAgents.set(keyOf(app.metadata.namespace, app.metadata.name), agent);
  if (isAutonomous(ctx, agent)) return; // upstream never sends create to autonomous agents
  sendTo(ctx, agent, principalEvent(ctx, EventTypes.create, EventTargets.application, app));
}

export function onAppUpdated(ctx: PrincipalContext, old: Application, app: Application): void {
  const agent = agentForApp(ctx, app);
  if (!agent) return;
  if (sourceUidOf(app)) {
    if (!ctx.selfWrites.isOwn(app)) onMirrorUpdated(ctx, agent, old, app);
    return;
  }
  const key = keyOf(app.metadata.namespace, app.metadata.name);
  const previous = ctx.appAgents.get(key) ?? agentForApp(ctx, old);
  ctx.appAgents.set(key, agent);
  if (previous && previous !== agent) {
    // Destination-based mapping: the app moved to another agent (upstream handleAppAgentChange).
    log.info("Application destination changed; moving it to another agent", { application: key, from: previous, to: agent });
    if (!isAutonomous(ctx, previous)) sendTo(ctx, previous, principalEvent(ctx, EventTypes.delete, EventTargets.application, old));
    if (!isAutonomous(ctx, agent)) sendTo(ctx, agent, principalEvent(ctx, EventTypes.create, EventTargets.application, app));
    return;
  }
  if (ctx.selfWrites.isOwn(app) || isAutonomous(ctx, agent)) return;
  if (operationPhase(old) !== "Terminating" && operationPhase(app) === "Terminating") {
    sendTo(ctx, agent, principalEvent(ctx, EventTypes.terminateOperation, EventTargets.application, app));
  } else if (desiredStateChanged(old, app)) {
    sendTo(ctx, agent, principalEvent(ctx, EventTypes.specUpdate, EventTargets.application, withoutOperation(app)));
  }
  if (!old.operation && app.operation) {
    sendTo(ctx, agent, principalEvent(ctx, EventTypes.setOperation, EventTargets.application, app, false));
  }
}

export function onAppDeleted(ctx: PrincipalContext, app: Application): void {
  const key = keyOf(app.metadata.namespace, app.metadata.name);
  const agent = (sourceUidOf(app) ? undefined : ctx.appAgents.get(key)) ?? agentForApp(ctx, app);
  ctx.appAgents.delete(key);
  if (!agent) return;
  if (sourceUidOf(app)) return onMirrorDeleted(ctx, app);
  if (isAutonomous(ctx, agent)) return;
  sendTo(ctx, agent, principalEvent(ctx, EventTypes.delete, EventTargets.application, app));
}

function onMirrorUpdated(ctx: PrincipalContext, agent: string, old: Application, app: Application): void {
  if (app.metadata.deletionTimestamp) return;
  const key = keyOf(app.metadata.namespace, app.metadata.name);
  const cached = ctx.mirrorSpecs.get(key);
  if (cached && !same(cached, app.spec)) {
    log.info("reverting a local spec change of an autonomous agent's Application", { agent, application: key });
    void retryOnConflict(async () => {
      const cur = await ctx.apps.get(app.metadata.namespace!, app.metadata.name!);
      if (!cur || sourceUidOf(cur) !== sourceUidOf(app) || same(cur.spec, ctx.mirrorSpecs.get(key))) return;
      ctx.selfWrites.record(await ctx.apps.update({ ...cur, spec: structuredClone(ctx.mirrorSpecs.get(key)!) }));
    }).catch((err) => log.warn("could not revert spec of mirrored Application", { application: key, error: errorText(err) }));
  }
  // What users may do on the control plane: refresh, sync, terminate (forwarded to the agent).
  if (app.metadata.annotations?.[REFRESH_ANNOTATION] && !old.metadata.annotations?.[REFRESH_ANNOTATION]) {
    sendTo(ctx, agent, principalEvent(ctx, EventTypes.specUpdate, EventTargets.application, withoutOperation(app)));
  }
  if (operationPhase(old) !== "Terminating" && operationPhase(app) === "Terminating") {
    sendTo(ctx, agent, principalEvent(ctx, EventTypes.terminateOperation, EventTargets.application, app));
  }
  if (!old.operation && app.operation) {
    sendTo(ctx, agent, principalEvent(ctx, EventTypes.setOperation, EventTargets.application, app, false));
  }
}

function onMirrorDeleted(ctx: PrincipalContext, app: Application): void {
  const key = keyOf(app.metadata.namespace, app.metadata.name);
  if (ctx.expectedDeletes.delete(key)) {
    ctx.mirrorSpecs.delete(key);
    return;
  }
  log.info("recreating an autonomous agent's Application deleted on the control plane", { application: key });
  const copy = freshCopy(app);
  copy.metadata.finalizers = [];
  copy.spec = structuredClone(ctx.mirrorSpecs.get(key) ?? app.spec);
  void (async () => {
    try {
      const created = await ctx.apps.create(copy);
      ctx.selfWrites.record(created);
      if (app.status) ctx.selfWrites.record(await ctx.apps.updateStatus({ ...created, status: app.status }));
    } catch (err) {
      if (!isAlreadyExists(err)) log.warn("could not recreate mirrored Application", { application: key, error: errorText(err) });
    }
  })();
}
