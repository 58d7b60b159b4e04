/**
 * The agent's half of the resync protocol (wire-protocol.md §8.3).
 * Managed: report every local tracked resource (`request-update` with its spec
 * checksum) plus the set checksum; answer `response-synced-resource` and
 * `request-resource-resync`. Autonomous: ask with `request-resource-resync`;
 * answer `request-update` and `request-synced-resource-list`.
 */
import type { AgentEvent, JsonObject } from "../../events/cloudevent.ts";
import { requestEvent } from "../../events/cloudevent.ts";
import { EventSources, EventTargets, EventTypes, ResyncKinds } from "../../events/event-types.ts";
import {
  checksumsEqual, decodeRequestSyncedResourceList, decodeRequestUpdate, decodeSyncedResource, encodeRequestResourceResync,
  encodeRequestSyncedResourceList, encodeRequestUpdate, encodeSyncedResource, resourceKeyOf, resourceSetChecksum, specChecksum,
} from "../../events/resync.ts";
import type { KubeObject } from "../../kube/resources.ts";
import { getLogger } from "../../observability/log.ts";
import { principalSideNamespace, send, sendEvent, targetNamespace, type AgentContext } from "./agent-context.ts";
import { sourceUidOf } from "../objects.ts";
import { coreKindOf } from "../secret-objects.ts";
import { PEER_REQUEST_COVERED_MS } from "../resync-rounds.ts";

const log = getLogger("replication");

const req = (type: (typeof EventTypes)[keyof typeof EventTypes], payload: object) =>
  requestEvent(type, EventTargets.resourceResync, payload, EventSources.agent);

interface Tracked {
  kind: string;
  obj: KubeObject;
}

/** Managed: objects carrying a source UID; autonomous: every (non skip-sync) object. */
function tracked(ctx: AgentContext): Tracked[] {
  const keep = (o: KubeObject) => (ctx.mode === "managed" ? Boolean(sourceUidOf(o)) : true);
  return [
    ...ctx.appInformer.list().filter(keep).map((obj) => ({ kind: ResyncKinds.application, obj })),
    ...ctx.projectInformer.list().filter(keep).map((obj) => ({ kind: ResyncKinds.appProject, obj })),
    ...(ctx.dataKinds ?? []).flatMap((k) => k.tracked().map((obj) => ({ kind: k.kind, obj }))),
  ];
}

function checksumOf(t: Tracked) {
  // Repository / GPGKey: the checksum reads .data of the Secret / ConfigMap.
  const sum = specChecksum(t.obj as never, coreKindOf(t.kind) ?? t.kind);
  return sum.ok ? sum.value : null;
}

const PEER = "principal";

/** Sends one event of the current resync round (paced: resync-rounds.ts). */
function sendInRound(ctx: AgentContext, ev: AgentEvent): void {
  ctx.resyncRounds.send(PEER, ctx.writer, ev);
}

/**
 * Apps are reported under their principal-side namespace (a remapped app: the
 * principal's). At most once per object per round.
 */
function requestUpdateFor(ctx: AgentContext, t: Tracked): void {
  const key = resourceKeyOf(t.kind, t.obj);
  if (!ctx.resyncRounds.firstRequest(PEER, `${t.kind}/${key.name}/${key.uid}`)) return;
  const namespace = t.kind === ResyncKinds.application ? principalSideNamespace(ctx, t.obj) ?? key.namespace : key.namespace;
  sendInRound(ctx, req(EventTypes.requestUpdate, encodeRequestUpdate({ kind: t.kind, name: key.name, namespace, uid: key.uid, checksum: checksumOf(t) })));
}

/**
 * False (and logged) while the previous round with the principal is still
 * running, and for the principal's request at connect when our own round on
 * this connection already answered it (managed: both sides start one then).
 * A principal asking on a newer stream than the running round's may be a
 * restarted process that heard only the end of that round: it gets a new one.
 */
function beginRound(ctx: AgentContext, why: string): boolean {
  const principalAsks = why === "principal request";
  const answered = principalAsks && ctx.resyncRounds.startedOn(PEER, ctx.connection, PEER_REQUEST_COVERED_MS);
  const running = ctx.resyncRounds.busy(PEER, ctx.writer) && (!principalAsks || ctx.resyncRounds.startedOn(PEER, ctx.connection, Number.POSITIVE_INFINITY));
  if (answered || running) {
    log.info("resync not started: one is running or just ran on this connection", { trigger: why });
    return false;
  }
  ctx.resyncRounds.begin(PEER, ctx.connection);
  return true;
}

export function startResync(ctx: AgentContext, why = "start"): void {
  if (!beginRound(ctx, why)) return;
  if (ctx.mode === "autonomous") {
    sendInRound(ctx, req(EventTypes.requestResourceResync, encodeRequestResourceResync()));
    return;
  }
  const all = tracked(ctx);
  for (const t of all) requestUpdateFor(ctx, t);
  sendInRound(ctx, req(EventTypes.requestSyncedResourceList, encodeRequestSyncedResourceList({ checksum: resourceSetChecksum(all.map((t) => resourceKeyOf(t.kind, t.obj))) })));
  log.info("resync requested from principal", { resources: all.length, trigger: why });
}

/** A local object by the principal-side namespace and name. */
function lookup(ctx: AgentContext, kind: string, name: string, principalNs?: string): KubeObject | undefined {
  if (kind === ResyncKinds.application) return ctx.appInformer.get(targetNamespace(ctx, principalNs).namespace, name);
  if (kind === ResyncKinds.appProject) return ctx.projectInformer.get(ctx.namespace, name);
  return ctx.dataKinds?.find((k) => k.kind === kind)?.lookup(name);
}

export function handleResyncEvent(ctx: AgentContext, agentName: string, ev: AgentEvent, payload: JsonObject | undefined): void {
  const managed = ctx.mode === "managed";
  switch (ev.type) {
    case EventTypes.responseSyncedResource: {
      if (!managed) return log.warn("response-synced-resource refused in autonomous mode");
      const r = decodeSyncedResource(payload);
      if (!r.ok) return log.warn("malformed response-synced-resource", { reason: r.error });
      // Looked up in our own namespace (upstream uses the principal's and always misses).
      const obj = lookup(ctx, r.value.kind, r.value.name, r.value.namespace);
      if (obj && sourceUidOf(obj)) return requestUpdateFor(ctx, { kind: r.value.kind, obj });
      if (!ctx.resyncRounds.firstRequest(PEER, `${r.value.kind}/${r.value.name}/`)) return;
      sendInRound(ctx, req(EventTypes.requestUpdate, encodeRequestUpdate({ kind: r.value.kind, name: r.value.name, namespace: r.value.namespace, uid: "", checksum: null })));
      return;
    }
    case EventTypes.requestResourceResync:
      if (!managed) return log.warn("request-resource-resync refused in autonomous mode");
      if (!beginRound(ctx, "principal request")) return;
      for (const t of tracked(ctx)) requestUpdateFor(ctx, t);
      return;
    case EventTypes.requestUpdate: {
      if (managed) return log.warn("request-update refused in managed mode");
      const r = decodeRequestUpdate(payload);
      if (!r.ok) return log.warn("malformed request-update", { reason: r.error });
      const { kind, uid, checksum } = r.value;
      const name = kind === ResyncKinds.appProject && r.value.name.startsWith(`${agentName}-`) ? r.value.name.slice(agentName.length + 1) : r.value.name;
      const target = kind === ResyncKinds.appProject ? EventTargets.appProject : EventTargets.application;
      const obj = lookup(ctx, kind, name);
      if (!obj || (uid && obj.metadata.uid !== uid)) {
        send(ctx, EventTypes.delete, target, { metadata: { name, namespace: ctx.namespace, uid } });
        if (!obj) return;
      }
      if (obj.metadata.uid === uid && checksumsEqual(checksumOf({ kind, obj }), checksum)) return;
      send(ctx, EventTypes.specUpdate, target, obj);
      return;
    }
    case EventTypes.requestSyncedResourceList: {
      if (managed) return log.warn("request-synced-resource-list refused in managed mode");
      const r = decodeRequestSyncedResourceList(payload);
      if (!r.ok) return log.warn("malformed request-synced-resource-list", { reason: r.error });
      const all = tracked(ctx);
      if (checksumsEqual(resourceSetChecksum(all.map((t) => resourceKeyOf(t.kind, t.obj))), r.value.checksum)) return;
      for (const t of all) {
        const k = resourceKeyOf(t.kind, t.obj);
        sendEvent(ctx, req(EventTypes.responseSyncedResource, encodeSyncedResource({ name: k.name, namespace: k.namespace, uid: k.uid, kind: t.kind })));
      }
      return;
    }
    default:
      log.warn("unsupported resync event", { event_type: ev.type });
  }
}
