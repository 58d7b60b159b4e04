/**
 * Application events from agents, applied on the control plane
 * (behavior.md §2.2, §2.4, §3.1). The namespace is always the agent's name,
 * whatever the payload says, so one agent can never touch another's apps.
 */
import type { AgentEvent, JsonObject } from "../../events/cloudevent.ts";
import { Annotations, EventTypes } from "../../events/event-types.ts";
import { ensureNamespace, isAlreadyExists, isNotFound, retryOnConflict } from "../../kube/crud.ts";
import type { Application, LooseRecord } from "../../kube/resources.ts";
import { getLogger } from "../../observability/log.ts";
import type { AgentRecord } from "../../principal/agent-registry.ts";
import type { HandlerOutcome } from "../../transport/event-session.ts";
import { errorText, failure, rejected } from "../kube-errors.ts";
import { stale, withLatest } from "../latest.ts";
import { compact, mergedOperation, objectFromPayload, REFRESH_ANNOTATION, same, SOURCE_UID, sourceUidOf } from "../objects.ts";
import { agentForApp, keyOf, type PrincipalContext } from "./principal-context.ts";

const log = getLogger("replication");

export async function handleAppFromAgent(ctx: PrincipalContext, rec: AgentRecord, ev: AgentEvent, payload: JsonObject | undefined): Promise<HandlerOutcome | void> {
  if (ev.type === EventTypes.error) {
    try {
      return await markAgentError(ctx, rec, payload);
    } catch (err) {
      log.error("recording an agent error failed", { agent: rec.agent, error: errorText(err) });
      return failure(err);
    }
  }
  const parsed = objectFromPayload<Application>(payload, ev.type !== EventTypes.delete);
  if (!parsed.ok) return rejected(log, "rejected Application event from agent", { agent: rec.agent, event_type: ev.type, reason: parsed.error });
  const app = parsed.obj;
  try {
    if (rec.mode === "managed") {
      if (ev.type === EventTypes.statusUpdate) return await applyStatus(ctx, rec, app);
      if (ev.type === EventTypes.delete) return await finishManagedDelete(ctx, rec, app);
    } else {
      if (ev.type === EventTypes.create || ev.type === EventTypes.specUpdate) return await upsertMirror(ctx, rec.agent, app);
      if (ev.type === EventTypes.delete) return await deleteMirror(ctx, rec.agent, app);
    }
    return rejected(log, "event type not accepted from this agent's mode", { agent: rec.agent, mode: rec.mode, event_type: ev.type });
  } catch (err) {
    log.error("applying Application event failed", { agent: rec.agent, event_type: ev.type, application: app.metadata.name, error: errorText(err) });
    return failure(err);
  }
}

/**
 * The namespace of the principal's copy of a managed agent's app, if that copy
 * exists and belongs to this agent. Namespace-based: the agent's name.
 * Destination-based: the namespace the agent reports, where the agent's own
 * namespace stands for the principal's when the app was remapped (marker
 * annotation; for events without annotations, such as error and resync
 * requests, the principal namespace is tried second). An agent can never
 * reach an app that is not mapped to it.
 */
export function managedAppNamespace(
  ctx: Pick<PrincipalContext, "namespace" | "destinationBased"> & { appInformer: Pick<PrincipalContext["appInformer"], "get"> },
  rec: Pick<AgentRecord, "agent" | "agentNamespace">,
  ns: string | undefined,
  name: string,
  remapped = false,
): string | undefined {
  if (!ctx.destinationBased) return rec.agent;
  const candidates: string[] = [];
  const agentNs = rec.agentNamespace;
  if (ns && ns === agentNs && ns !== ctx.namespace) {
    if (!remapped) candidates.push(ns);
    candidates.push(ctx.namespace);
  } else if (ns) candidates.push(ns);
  for (const c of candidates) {
    const app = ctx.appInformer.get(c, name);
    if (app && !sourceUidOf(app) && agentForApp(ctx, app) === rec.agent) return c;
  }
  return undefined;
}

const remappedOf = (a: Application): boolean => a.metadata.annotations?.[Annotations.namespaceRemapped] !== undefined;

/** Managed: copy .status (and the operation hand-shake, refresh annotation) from the agent's copy. */
async function applyStatus(ctx: PrincipalContext, rec: AgentRecord, remote: Application): Promise<void> {
  const agent = rec.agent;
  const name = remote.metadata.name!;
  const ns = managedAppNamespace(ctx, rec, remote.metadata.namespace, name, remappedOf(remote));
  if (!ns) return log.debug("status for an Application the principal does not have for this agent", { agent, application: name });
  await withLatest(ctx.appInformer, ctx.apps, ns, name, async (cur, fromCache) => {
    const src = sourceUidOf(remote);
    if (fromCache && (!cur || (src && src !== cur.metadata.uid))) stale();
    if (!cur || (ctx.destinationBased && agentForApp(ctx, cur) !== agent)) return log.debug("status for an Application the principal does not have", { agent, application: name });
    if (src && src !== cur.metadata.uid) return log.info("ignoring status of another incarnation of the Application", { agent, application: name });
    const { annotations, operation } = statusReportEffects(cur, remote);
    let obj = cur;
    const writeMeta = !same(annotations, cur.metadata.annotations) || !same(operation, cur.operation);
    const writeStatus = !same(remote.status, cur.status);
    // Writes are conditional (a stale copy only conflicts); "nothing to do" must hold for the live object.
    if (!writeMeta && !writeStatus && fromCache) stale();
    if (writeMeta) {
      obj = await ctx.apps.update(compact({ ...cur, metadata: { ...cur.metadata, annotations }, operation }));
      ctx.selfWrites.record(obj);
    }
    if (!same(remote.status, obj.status)) {
      ctx.selfWrites.record(await ctx.apps.updateStatus({ ...obj, status: remote.status ?? {} }));
    }
  });
}

/**
 * Besides .status, what a managed agent's status report changes on the
 * principal's copy: the refresh annotation mirrors the agent's, and the
 * operation follows the hand-shake of mergedOperation (also used by the HA
 * replica, src/ha/replica-apply.ts).
 */
export function statusReportEffects(cur: Application, remote: Application): { annotations: Record<string, string>; operation: LooseRecord | undefined } {
  const annotations = { ...(cur.metadata.annotations ?? {}) };
  const refresh = remote.metadata.annotations?.[REFRESH_ANNOTATION];
  if (refresh === undefined) delete annotations[REFRESH_ANNOTATION];
  else annotations[REFRESH_ANNOTATION] = refresh;
  return { annotations, operation: mergedOperation(cur.operation, remote) };
}

/** Managed: the agent finished deleting; complete the principal's pending deletion (§2.4). */
async function finishManagedDelete(ctx: PrincipalContext, rec: AgentRecord, remote: Application): Promise<void> {
  const agent = rec.agent;
  const name = remote.metadata.name!;
  const ns = managedAppNamespace(ctx, rec, remote.metadata.namespace, name, remappedOf(remote));
  const cur = ns ? await ctx.apps.get(ns, name) : undefined;
  if (!cur || (ctx.destinationBased && agentForApp(ctx, cur) !== agent)) return;
  const src = sourceUidOf(remote);
  if (src && src !== cur.metadata.uid) return;
  if (!cur.metadata.deletionTimestamp) {
    log.warn("agent deleted an Application the principal has not deleted; ignoring", { agent, application: name });
    return;
  }
  await retryOnConflict(async () => {
    const fresh = await ctx.apps.get(ns!, name);
    if (!fresh || fresh.metadata.uid !== cur.metadata.uid || !fresh.metadata.finalizers?.length) return;
    await ctx.apps.update({ ...fresh, metadata: { ...fresh.metadata, finalizers: [] } });
  });
  log.info("Application deleted on the agent; principal copy released", { agent, application: name });
}

/** Autonomous: project names are prefixed with the agent name on the control plane (§3.1). */
export function prefixedProject(agent: string, project: unknown): string {
  const name = `${agent}-${typeof project === "string" && project ? project : "default"}`;
  if (name.length > 253) throw new Error(`project name ${name} is longer than 253 characters`);
  return name;
}

/**
 * The control-plane copy of an autonomous agent's app. Its destination is the
 * agent's cluster as Argo CD names it (`clusterName`: the cluster secret's
 * name, by default the agent name).
 */
export function mirrorOf(agent: string, remote: Application, clusterName = agent): Application {
  const annotations = { ...(remote.metadata.annotations ?? {}), [SOURCE_UID]: remote.metadata.uid ?? "" };
  const dest: LooseRecord = { ...((remote.spec["destination"] as LooseRecord | undefined) ?? {}), name: clusterName };
  delete dest["server"];
  return compact({
    metadata: compact({ name: remote.metadata.name, namespace: agent, labels: remote.metadata.labels, annotations }),
    spec: { ...remote.spec, project: prefixedProject(agent, remote.spec["project"]), destination: dest },
    status: remote.status,
  }) as Application;
}

async function upsertMirror(ctx: PrincipalContext, agent: string, remote: Application): Promise<void> {
  if (!remote.metadata.uid) throw new Error("Application from autonomous agent has no uid");
  const want = mirrorOf(agent, remote, ctx.clusters.clusterName(agent));
  const name = want.metadata.name!;
  const key = keyOf(agent, name);
  ctx.mirrorSpecs.set(key, structuredClone(want.spec));
  await withLatest(ctx.appInformer, ctx.apps, agent, name, async (cached, fromCache) => {
    let cur = cached;
    if (!cur) {
      await maybeCreateNamespace(ctx, agent);
      try {
        cur = await ctx.apps.create({ ...want, status: undefined } as Application);
      } catch (err) {
        if (isAlreadyExists(err)) throw Object.assign(new Error("conflict"), { statusCode: 409 });
        throw err;
      }
      ctx.selfWrites.record(cur);
      log.info("mirrored Application of autonomous agent", { agent, application: name });
    } else if (cur.metadata.deletionTimestamp) {
      return fromCache ? stale() : undefined;
    } else {
      const operation = mergedOperation(cur.operation, remote);
      const next = compact({ ...cur, metadata: { ...cur.metadata, labels: want.metadata.labels, annotations: want.metadata.annotations }, spec: want.spec, operation });
      if (!same(next.metadata, cur.metadata) || !same(next.spec, cur.spec) || !same(next.operation, cur.operation)) {
        cur = await ctx.apps.update(next as Application);
        ctx.selfWrites.record(cur);
      } else if (fromCache && same(cur.status, want.status)) {
        stale(); // nothing to write according to the cache: make sure of it
      }
    }
    if (!same(cur.status, want.status)) ctx.selfWrites.record(await ctx.apps.updateStatus({ ...cur, status: want.status ?? {} }));
  });
}

async function deleteMirror(ctx: PrincipalContext, agent: string, remote: Application): Promise<void> {
  const name = remote.metadata.name!;
  const cur = await ctx.apps.get(agent, name);
  if (!cur) return;
  if (remote.metadata.uid && sourceUidOf(cur) !== remote.metadata.uid) {
    return log.info("ignoring delete of another incarnation of a mirrored Application", { agent, application: name });
  }
  const key = keyOf(agent, name);
  ctx.expectedDeletes.add(key);
  try {
    if (cur.metadata.finalizers?.length) await retryOnConflict(async () => {
      const f = await ctx.apps.get(agent, name);
      if (f?.metadata.finalizers?.length) await ctx.apps.update({ ...f, metadata: { ...f.metadata, finalizers: [] } });
    });
    await ctx.apps.delete(agent, name, { uid: cur.metadata.uid });
    log.info("deleted mirror of autonomous agent's Application", { agent, application: name });
  } catch (err) {
    if (!isNotFound(err)) {
      ctx.expectedDeletes.delete(key);
      throw err;
    }
  }
}

async function maybeCreateNamespace(ctx: PrincipalContext, ns: string): Promise<void> {
  const nc = ctx.namespaceCreate;
  if (!nc.enable || (nc.pattern && !nc.pattern.test(ns))) return;
  await ensureNamespace(ctx.kube, ns, nc.labels);
}

/** Managed agent could not apply an app (adoption refused): show it on the control plane. */
async function markAgentError(ctx: PrincipalContext, rec: AgentRecord, payload: JsonObject | undefined): Promise<void> {
  const name = payload?.["resourceName"];
  const reported = payload?.["resourceNamespace"];
  if (rec.mode !== "managed" || typeof name !== "string") return;
  const ns = managedAppNamespace(ctx, rec, typeof reported === "string" ? reported : undefined, name);
  const cur = ns ? await ctx.apps.get(ns, name).catch(() => undefined) : undefined;
  if (!cur) return log.warn("error event for an Application the principal does not have for this agent", { agent: rec.agent, application: name });
  log.warn("agent reported an error for Application", { agent: rec.agent, application: `${ns}/${name}`, message: String(payload?.["message"] ?? "") });
  const message = `Error occurred on cluster managed by agent ${rec.agent}: ${String(payload?.["message"] ?? "")}`;
  ctx.selfWrites.record(await ctx.apps.updateStatus({ ...cur, status: { ...(cur.status ?? {}), health: { status: "Degraded" }, conditions: [{ type: "AgentError", message }] } }));
}
