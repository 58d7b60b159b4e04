/**
 * A managed agent's Applications (behavior.md §2.1–§2.4): the principal is
 * the source of truth. Incoming create/spec-update/delete/set-operation/
 * terminate-operation are applied in the agent namespace with the source-UID
 * annotation; local spec drift is reverted from the source cache, local
 * deletions the principal did not ask for are recreated, and status changes
 * are reported back as status-update.
 */
import type { AgentEvent, JsonObject } from "../../events/cloudevent.ts";
import { extensionString, requestEvent } from "../../events/cloudevent.ts";
import { EventSources, EventTargets, EventTypes, Extensions } from "../../events/event-types.ts";
import { ensureNamespace, isAlreadyExists, retryOnConflict } from "../../kube/crud.ts";
import type { Application, LooseRecord } from "../../kube/resources.ts";
import { getLogger } from "../../observability/log.ts";
import type { HandlerOutcome } from "../../transport/event-session.ts";
import { cacheKey, principalSideNamespace, send, sendEvent, targetNamespace, type AdoptionPolicy, type AgentContext } from "./agent-context.ts";
import { stale, withLatest } from "../latest.ts";
import { errorText, failure, rejected } from "../kube-errors.ts";
import {
  ADOPTION_POLICY_ANNOTATION, compact, freshCopy, LAST_APPLIED, MISMATCH_POLICY_ANNOTATION, NAMESPACE_REMAPPED, objectFromPayload, operationPhase, PRINCIPAL_UID,
  REFRESH_ANNOTATION, same, SOURCE_UID, sourceUidOf,
} from "../objects.ts";

const log = getLogger("replication");
const KIND = "Application";

/** The agent runs the app on its own cluster: destination becomes in-cluster (the checksum ignores it). */
function localSpec(spec: LooseRecord): LooseRecord {
  const dest: LooseRecord = { ...((spec["destination"] as LooseRecord | undefined) ?? {}), name: "in-cluster" };
  delete dest["server"];
  return { ...structuredClone(spec), destination: dest };
}

export async function handleManagedApp(ctx: AgentContext, ev: AgentEvent, payload: JsonObject | undefined): Promise<HandlerOutcome | void> {
  const parsed = objectFromPayload<Application>(payload, ev.type !== EventTypes.delete);
  if (!parsed.ok) return rejected(log, "rejected Application event from principal", { event_type: ev.type, reason: parsed.error });
  const app = parsed.obj;
  const srcUid = sourceUidOf(app) ?? app.metadata.uid;
  if (!srcUid) return rejected(log, "rejected Application event without uid", { event_type: ev.type, application: app.metadata.name });
  const principalUid = extensionString(ev, Extensions.principalUid);
  if (principalUid) ctx.principalUid = principalUid;
  const target = targetNamespace(ctx, app.metadata.namespace);
  try {
    switch (ev.type) {
      case EventTypes.create:
      case EventTypes.specUpdate:
        return await apply(ctx, app, srcUid, target, ev.type === EventTypes.create);
      case EventTypes.setOperation:
        return await setOperation(ctx, app, srcUid, target.namespace);
      case EventTypes.terminateOperation:
        return await terminateOperation(ctx, app, srcUid, target.namespace);
      case EventTypes.delete:
        return await deleteLocal(ctx, target.namespace, app.metadata.name!, srcUid);
      default:
        return rejected(log, "Application event type not accepted by a managed agent", { event_type: ev.type });
    }
  } catch (err) {
    log.error("applying Application event failed", { event_type: ev.type, application: `${target.namespace}/${app.metadata.name}`, error: errorText(err) });
    return failure(err);
  }
}

/** The mismatch policy: the incoming object's annotation, else --source-uid-mismatch-policy. */
function mismatchPolicy(ctx: AgentContext, incoming: Application): "recreate" | "upsert" {
  const v = incoming.metadata.annotations?.[MISMATCH_POLICY_ANNOTATION];
  if (v === "recreate" || v === "upsert") return v;
  if (v !== undefined) log.warn("unknown source-uid-mismatch-policy annotation; using the agent's policy", { application: incoming.metadata.name, value: v });
  return ctx.mismatchPolicy;
}

/** The adoption policy: the local object's annotation, else --adoption-policy. */
function adoptionPolicy(ctx: AgentContext, local: Application): AdoptionPolicy {
  const v = local.metadata.annotations?.[ADOPTION_POLICY_ANNOTATION];
  if (v === "always" || v === "never") return v;
  if (v !== undefined) log.warn("unknown adoption-policy annotation; using the agent's policy", { application: local.metadata.name, value: v });
  return ctx.adoptionPolicy;
}

/** Tells the principal we refused to adopt (it marks its app Degraded with an AgentError condition). */
function reportAdoptionRefused(ctx: AgentContext, local: Application): void {
  const message = "Adoption policy for application is set to never. Either change the policy and recreate the app on the principal or delete the existing app on the agent.";
  log.warn("not adopting an existing local Application (adoption policy never)", { application: `${local.metadata.namespace}/${local.metadata.name}` });
  sendEvent(ctx, requestEvent(EventTypes.error, EventTargets.application, { resourceName: local.metadata.name, resourceNamespace: principalSideNamespace(ctx, local), message }, EventSources.agent));
}

async function apply(ctx: AgentContext, incoming: Application, srcUid: string, target: { namespace: string; remapped: boolean }, isCreate: boolean): Promise<void> {
  const ns = target.namespace;
  const name = incoming.metadata.name!;
  if (ctx.destinationBased && !ctx.allowed(ns)) {
    log.error("Application refused: namespace not allowed on this agent (--allowed-namespaces)", { application: `${ns}/${name}` });
    return;
  }
  const spec = localSpec(incoming.spec);
  const annotations: Record<string, string> = { ...(incoming.metadata.annotations ?? {}), [SOURCE_UID]: srcUid };
  delete annotations[LAST_APPLIED];
  delete annotations[NAMESPACE_REMAPPED];
  if (target.remapped) annotations[NAMESPACE_REMAPPED] = "true";
  if (ctx.principalUid) annotations[PRINCIPAL_UID] = ctx.principalUid;
  let namespaceEnsured = !ctx.destinationBased || !ctx.createNamespace;
  const create = async () => {
    if (!namespaceEnsured) {
      await ensureNamespace(ctx.kube, ns);
      namespaceEnsured = true;
    }
    // Cache first: the informer event our own write causes must not "revert" it.
    ctx.sourceSpecs.set(cacheKey(KIND, srcUid), spec);
    const created = await ctx.apps.create(compact({
      metadata: compact({ name, namespace: ns, labels: incoming.metadata.labels, annotations, finalizers: incoming.metadata.finalizers }),
      spec,
      operation: isCreate ? incoming.operation : undefined,
    }) as Application);
    ctx.selfWrites.record(created);
    log.info("created Application from principal", { application: `${ns}/${name}` });
  };
  await withLatest(ctx.appInformer, ctx.apps, ns, name, async (cur, fromCache) => {
    if (!cur) {
      if (incoming.metadata.deletionTimestamp) return fromCache ? stale() : undefined;
      try {
        return await create();
      } catch (err) {
        if (isAlreadyExists(err)) throw Object.assign(new Error("created concurrently"), { statusCode: 409 });
        throw err;
      }
    }
    const curSrc = sourceUidOf(cur);
    if (!curSrc && adoptionPolicy(ctx, cur) === "never") return fromCache ? stale() : reportAdoptionRefused(ctx, cur);
    if (curSrc && curSrc !== srcUid && mismatchPolicy(ctx, incoming) === "recreate") {
      log.info("source UID changed; recreating the local Application", { application: `${ns}/${name}`, old: curSrc, new: srcUid });
      ctx.expectedDeletes.add(curSrc);
      await ctx.apps.delete(ns, name, { uid: cur.metadata.uid });
      return await create(); // AlreadyExists while finalizers run: retryable, the principal re-sends
    }
    if (!curSrc) log.info("adopting an existing local Application", { application: `${ns}/${name}` });
    ctx.sourceSpecs.set(cacheKey(KIND, srcUid), spec);
    if (incoming.metadata.deletionTimestamp) {
      if (!cur.metadata.deletionTimestamp) {
        ctx.expectedDeletes.add(srcUid);
        await ctx.apps.delete(ns, name, { uid: cur.metadata.uid });
        log.info("Application deleted on the principal; deleting locally", { application: `${ns}/${name}` });
      }
      return;
    }
    if (cur.metadata.deletionTimestamp) return fromCache ? stale() : undefined;
    const refresh = cur.metadata.annotations?.[REFRESH_ANNOTATION];
    const next: Application = {
      ...cur,
      metadata: compact({ ...cur.metadata, labels: incoming.metadata.labels, annotations: refresh ? { ...annotations, [REFRESH_ANNOTATION]: refresh } : annotations, finalizers: incoming.metadata.finalizers }),
      spec,
    };
    if (same(next.metadata, cur.metadata) && same(next.spec, cur.spec)) return;
    ctx.selfWrites.record(await ctx.apps.update(next));
  });
}

async function setOperation(ctx: AgentContext, incoming: Application, srcUid: string, ns: string): Promise<void> {
  const name = incoming.metadata.name!;
  await withLatest(ctx.appInformer, ctx.apps, ns, name, async (cur, fromCache) => {
    if (!incoming.operation) return;
    if (fromCache && (!cur || sourceUidOf(cur) !== srcUid || operationPhase(cur) === "Terminating" || same(cur.operation, incoming.operation))) stale();
    if (!cur || sourceUidOf(cur) !== srcUid) return log.warn("set-operation refused: no such managed Application", { application: `${ns}/${name}` });
    if (operationPhase(cur) === "Terminating" || same(cur.operation, incoming.operation)) return;
    ctx.selfWrites.record(await ctx.apps.update({ ...cur, operation: incoming.operation }));
    log.info("operation set on Application", { application: `${ns}/${name}` });
  });
}

async function terminateOperation(ctx: AgentContext, incoming: Application, srcUid: string, ns: string): Promise<void> {
  const name = incoming.metadata.name!;
  await withLatest(ctx.appInformer, ctx.apps, ns, name, async (cur, fromCache) => {
    const state = cur?.status?.["operationState"] as LooseRecord | undefined;
    if (fromCache && (!cur || sourceUidOf(cur) !== srcUid || !state || state["phase"] === "Terminating")) stale();
    if (!cur || sourceUidOf(cur) !== srcUid) return log.warn("terminate-operation refused: no such managed Application", { application: `${ns}/${name}` });
    if (!state) return log.warn("terminate-operation refused: no operation is running", { application: `${ns}/${name}` });
    if (state["phase"] === "Terminating") return;
    await ctx.apps.updateStatus({ ...cur, status: { ...cur.status, operationState: { ...state, phase: "Terminating" } } });
    log.info("operation terminating on Application", { application: `${ns}/${name}` });
  });
}

export async function deleteLocal(ctx: AgentContext, ns: string, name: string, srcUid: string): Promise<void> {
  await withLatest(ctx.appInformer, ctx.apps, ns, name, async (cur, fromCache) => {
    if (fromCache && (!cur || sourceUidOf(cur) !== srcUid)) stale();
    if (!cur) return;
    if (sourceUidOf(cur) !== srcUid) return log.info("delete for another incarnation of the Application ignored", { application: `${ns}/${name}` });
    ctx.expectedDeletes.add(srcUid);
    await ctx.apps.delete(ns, name, { uid: cur.metadata.uid });
    log.info("deleted Application as the principal asked", { application: `${ns}/${name}` });
  });
}

// ---------------------------------------------------------------- informer side

export function onManagedAppAdded(ctx: AgentContext, app: Application): void {
  const src = sourceUidOf(app);
  // Rebuilt at start-up from local objects, so reverts work before any traffic (upstream populateSourceCache).
  if (src && !ctx.sourceSpecs.has(cacheKey(KIND, src))) ctx.sourceSpecs.set(cacheKey(KIND, src), structuredClone(app.spec));
}

export function onManagedAppUpdated(ctx: AgentContext, old: Application, app: Application): void {
  const src = sourceUidOf(app);
  if (!src) return;
  const cached = ctx.sourceSpecs.get(cacheKey(KIND, src));
  if (!app.metadata.deletionTimestamp && cached && !same(cached, app.spec)) {
    log.info("reverting an unauthorised local spec change", { application: app.metadata.name });
    void retryOnConflict(async () => {
      const cur = await ctx.apps.get(app.metadata.namespace!, app.metadata.name!);
      const want = ctx.sourceSpecs.get(cacheKey(KIND, src));
      if (!cur || sourceUidOf(cur) !== src || !want || same(cur.spec, want)) return;
      ctx.selfWrites.record(await ctx.apps.update({ ...cur, spec: structuredClone(want) }));
    }).catch((err) => log.warn("could not revert local change", { application: app.metadata.name, error: errorText(err) }));
  }
  const refreshChanged = old.metadata.annotations?.[REFRESH_ANNOTATION] !== app.metadata.annotations?.[REFRESH_ANNOTATION];
  if (!same(old.status, app.status) || !same(old.operation, app.operation) || refreshChanged) {
    send(ctx, EventTypes.statusUpdate, EventTargets.application, app);
  }
}

export function onManagedAppDeleted(ctx: AgentContext, app: Application): void {
  const src = sourceUidOf(app);
  if (!src) return;
  if (ctx.expectedDeletes.delete(src)) {
    ctx.sourceSpecs.delete(cacheKey(KIND, src));
    send(ctx, EventTypes.delete, EventTargets.application, app);
    return;
  }
  log.info("recreating an Application deleted locally without the principal's consent", { application: app.metadata.name });
  const copy = freshCopy(app);
  copy.spec = structuredClone(ctx.sourceSpecs.get(cacheKey(KIND, src)) ?? app.spec);
  delete copy.status;
  if (ctx.onRecreate === "resync") copy.operation = { sync: {} };
  void (async () => {
    try {
      const created = await ctx.apps.create(copy);
      ctx.selfWrites.record(created);
      let status = app.status;
      if (status && ctx.onRecreate === "clear-status") {
        const { operationState: _o, ...rest } = status;
        status = rest;
      }
      if (status) ctx.selfWrites.record(await ctx.apps.updateStatus({ ...created, status }));
    } catch (err) {
      if (!isAlreadyExists(err)) log.warn("could not recreate Application", { application: app.metadata.name, error: errorText(err) });
    }
  })();
}
