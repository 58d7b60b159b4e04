/**
 * AppProjects on a managed agent (behavior.md §2.5): the principal's
 * agent-specific copy is stored in the agent namespace with the source-UID
 * annotation; local spec drift is reverted and unauthorised deletes recreated.
 */
import type { AgentEvent, JsonObject } from "../../events/cloudevent.ts";
import { EventTypes } from "../../events/event-types.ts";
import { isAlreadyExists, retryOnConflict } from "../../kube/crud.ts";
import type { AppProject } from "../../kube/resources.ts";
import { getLogger } from "../../observability/log.ts";
import type { HandlerOutcome } from "../../transport/event-session.ts";
import { cacheKey, type AgentContext } from "./agent-context.ts";
import { errorText, failure, rejected } from "../kube-errors.ts";
import { compact, freshCopy, objectFromPayload, same, SOURCE_UID, sourceUidOf } from "../objects.ts";

const log = getLogger("replication");
const KIND = "AppProject";

export async function handleManagedProject(ctx: AgentContext, ev: AgentEvent, payload: JsonObject | undefined): Promise<HandlerOutcome | void> {
  const parsed = objectFromPayload<AppProject>(payload, ev.type !== EventTypes.delete);
  if (!parsed.ok) return rejected(log, "rejected AppProject event from principal", { event_type: ev.type, reason: parsed.error });
  const p = parsed.obj;
  const srcUid = sourceUidOf(p) ?? p.metadata.uid;
  if (!srcUid) return rejected(log, "rejected AppProject event without uid", { appProject: p.metadata.name });
  const name = p.metadata.name!;
  const ns = ctx.namespace;
  try {
    if (ev.type === EventTypes.delete) {
      const cur = await ctx.projects.get(ns, name);
      if (!cur || sourceUidOf(cur) !== srcUid) return;
      ctx.expectedDeletes.add(srcUid);
      await ctx.projects.delete(ns, name, { uid: cur.metadata.uid });
      return;
    }
    if (ev.type !== EventTypes.create && ev.type !== EventTypes.specUpdate) return rejected(log, "unsupported AppProject event", { event_type: ev.type });
    ctx.sourceSpecs.set(cacheKey(KIND, srcUid), structuredClone(p.spec));
    const annotations = { ...(p.metadata.annotations ?? {}), [SOURCE_UID]: srcUid };
    await retryOnConflict(async () => {
      const cur = await ctx.projects.get(ns, name);
      if (!cur) {
        try {
          ctx.selfWrites.record(await ctx.projects.create(compact({ metadata: compact({ name, namespace: ns, labels: p.metadata.labels, annotations }), spec: p.spec }) as AppProject));
          return log.info("created AppProject from principal", { appProject: name });
        } catch (err) {
          if (isAlreadyExists(err)) throw Object.assign(new Error("created concurrently"), { statusCode: 409 });
          throw err;
        }
      }
      // An existing project without (or with another) source UID is adopted / overwritten: the principal is the source of truth.
      const next = { ...cur, metadata: compact({ ...cur.metadata, labels: p.metadata.labels, annotations }), spec: p.spec };
      if (!same(next.metadata, cur.metadata) || !same(next.spec, cur.spec)) ctx.selfWrites.record(await ctx.projects.update(next));
    });
  } catch (err) {
    log.error("applying AppProject event failed", { appProject: name, error: errorText(err) });
    return failure(err);
  }
}

export function onManagedProjectAdded(ctx: AgentContext, p: AppProject): void {
  const src = sourceUidOf(p);
  if (src && !ctx.sourceSpecs.has(cacheKey(KIND, src))) ctx.sourceSpecs.set(cacheKey(KIND, src), structuredClone(p.spec));
}

export function onManagedProjectUpdated(ctx: AgentContext, p: AppProject): void {
  const src = sourceUidOf(p);
  const want = src ? ctx.sourceSpecs.get(cacheKey(KIND, src)) : undefined;
  if (!want || same(want, p.spec) || p.metadata.deletionTimestamp) return;
  void retryOnConflict(async () => {
    const cur = await ctx.projects.get(ctx.namespace, p.metadata.name!);
    const w = ctx.sourceSpecs.get(cacheKey(KIND, src!));
    if (cur && w && sourceUidOf(cur) === src && !same(cur.spec, w)) ctx.selfWrites.record(await ctx.projects.update({ ...cur, spec: structuredClone(w) }));
  }).catch((err) => log.warn("could not revert AppProject", { appProject: p.metadata.name, error: errorText(err) }));
}

export function onManagedProjectDeleted(ctx: AgentContext, p: AppProject): void {
  const src = sourceUidOf(p);
  if (!src) return;
  if (ctx.expectedDeletes.delete(src)) return void ctx.sourceSpecs.delete(cacheKey(KIND, src));
  const copy = freshCopy(p);
  copy.spec = structuredClone(ctx.sourceSpecs.get(cacheKey(KIND, src)) ?? p.spec);
  void ctx.projects.create(copy).then((c) => ctx.selfWrites.record(c), (err) => {
    if (!isAlreadyExists(err)) log.warn("could not recreate AppProject", { appProject: p.metadata.name, error: errorText(err) });
  });
}
