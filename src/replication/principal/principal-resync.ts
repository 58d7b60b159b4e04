/**
 * The principal's half of the resync protocol (wire-protocol.md §8.3,
 * behavior.md §6.3). Managed agents: the principal is the source of truth and
 * answers `request-update` / `request-synced-resource-list`. Autonomous agents:
 * the principal asks (`request-update` per mirror, `request-synced-resource-list`)
 * and answers `response-synced-resource` / `request-resource-resync`.
 */
import { countResyncResult, countResyncRun } from "./resync-stats.ts";
import type { AgentEvent, JsonObject } from "../../events/cloudevent.ts";
import { requestEvent } from "../../events/cloudevent.ts";
import { EventSources, EventTargets, EventTypes, ResyncKinds } from "../../events/event-types.ts";
import {
  checksumsEqual, decodeRequestSyncedResourceList, decodeRequestUpdate, decodeSyncedResource, encodeRequestResourceResync,
  encodeRequestSyncedResourceList, encodeRequestUpdate, encodeSyncedResource, resourceKeyOf, resourceSetChecksum, specChecksum,
  type Checksum, type ResourceKey,
} from "../../events/resync.ts";
import type { Application } from "../../kube/resources.ts";
import { getLogger } from "../../observability/log.ts";
import type { AgentRecord } from "../../principal/agent-registry.ts";
import { sourceUidOf } from "../objects.ts";
import { agentForApp, objectUpdatePending, principalEvent, sendTo, type PrincipalContext } from "./principal-context.ts";
import { managedAppNamespace } from "./principal-inbound.ts";
import { PEER_REQUEST_COVERED_MS } from "../resync-rounds.ts";
import { withoutOperation } from "./principal-outbound.ts";
import { agentProjectCopy, managedProjectsFor, mirroredProjectsOf, projectChecksumForAgent } from "./principal-projects.ts";

const log = getLogger("replication");

const req = (type: (typeof EventTypes)[keyof typeof EventTypes], payload: object) =>
  requestEvent(type, EventTargets.resourceResync, payload, EventSources.principal);

/** Apps the principal replicates with this agent (managed: its own; autonomous: mirrors). */
function trackedApps(ctx: PrincipalContext, agent: string, autonomous: boolean): Application[] {
  return ctx.appInformer.list().filter((a) => Boolean(sourceUidOf(a)) === autonomous && agentForApp(ctx, a) === agent);
}

/** Spec checksum of a mirror as the agent computes it over its own copy (project not prefixed). */
function mirrorChecksum(agent: string, app: Application): Checksum | null {
  const project = String(app.spec["project"] ?? "");
  const spec = { ...app.spec, project: project.startsWith(`${agent}-`) ? project.slice(agent.length + 1) : project };
  const sum = specChecksum({ spec }, "Application");
  return sum.ok ? sum.value : null;
}

/** The identity of an object within a resync round (one request-update each). */
const objectKey = (kind: string, name: string, uid: string) => `${kind}/${name}/${uid}`;

/** Sends one event of the agent's current resync round (paced: resync-rounds.ts). */
function sendInRound(ctx: PrincipalContext, rec: AgentRecord, ev: AgentEvent): void {
  ctx.resyncRounds.send(rec.agent, rec.writer, ev);
}

/**
 * Starts a resync with an agent (its first connect, its request-resource-resync,
 * every --resync-interval), unless one is still running with it: the agent's
 * request at connect then costs nothing on top of ours (resync-rounds.ts).
 */
export function startResync(ctx: PrincipalContext, rec: AgentRecord, why: "first connect" | "interval" | "agent request"): void {
  const agent = rec.agent;
  const connection = rec.connection?.connectionId;
  const answered = why === "agent request" && ctx.resyncRounds.startedOn(agent, connection, PEER_REQUEST_COVERED_MS);
  if (answered || ctx.resyncRounds.busy(agent, rec.writer)) {
    countResyncResult(agent, "skipped-running");
    return log.info("resync not started: one with this agent is running or just ran on this connection", { agent, trigger: why });
  }
  countResyncRun(agent);
  ctx.resyncRounds.begin(agent, connection);
  if (rec.mode === "managed") {
    sendInRound(ctx, rec, req(EventTypes.requestResourceResync, encodeRequestResourceResync()));
    return;
  }
  const keys: ResourceKey[] = [];
  const ask = (kind: string, name: string, namespace: string, uid: string, checksum: Checksum | null) => {
    ctx.resyncRounds.firstRequest(agent, objectKey(kind, name, uid));
    sendInRound(ctx, rec, req(EventTypes.requestUpdate, encodeRequestUpdate({ kind, name, namespace, uid, checksum })));
  };
  for (const app of trackedApps(ctx, agent, true)) {
    keys.push(resourceKeyOf(ResyncKinds.application, app));
    ask(ResyncKinds.application, app.metadata.name!, agent, sourceUidOf(app)!, mirrorChecksum(agent, app));
  }
  for (const proj of mirroredProjectsOf(ctx, agent)) {
    keys.push(resourceKeyOf(ResyncKinds.appProject, proj));
    // Never equal to the agent's own copy (destinations are rewritten): a mismatch only costs a spec-update.
    const sum = specChecksum(proj as never, "AppProject");
    ask(ResyncKinds.appProject, proj.metadata.name!, ctx.namespace, sourceUidOf(proj)!, sum.ok ? sum.value : null);
  }
  sendInRound(ctx, rec, req(EventTypes.requestSyncedResourceList, encodeRequestSyncedResourceList({ checksum: resourceSetChecksum(keys) })));
  log.info("resync requested from autonomous agent", { agent, resources: keys.length, trigger: why });
}

export async function handleResyncEvent(ctx: PrincipalContext, rec: AgentRecord, ev: AgentEvent, payload: JsonObject | undefined): Promise<void> {
  const agent = rec.agent;
  const managed = rec.mode === "managed";
  switch (ev.type) {
    case EventTypes.requestUpdate: {
      if (!managed) return log.warn("request-update from an autonomous agent refused", { agent });
      const r = decodeRequestUpdate(payload);
      if (!r.ok) return log.warn("malformed request-update", { agent, reason: r.error });
      const { kind, name, uid, checksum } = r.value;
      if (kind === ResyncKinds.application) {
        const ns = managedAppNamespace(ctx, rec, r.value.namespace, name);
        const app = ns ? ctx.appInformer.get(ns, name) : undefined;
        if (!app) {
          const where = ctx.destinationBased ? r.value.namespace || rec.agentNamespace : agent;
          sendTo(ctx, agent, principalEvent(ctx, EventTypes.delete, EventTargets.application, { metadata: { name, namespace: where, uid } }));
          return countResyncResult(agent, "deleted");
        }
        const mine = specChecksum(app as never, "Application");
        if (uid === app.metadata.uid && mine.ok && checksumsEqual(mine.value, checksum)) return countResyncResult(agent, "in-sync");
        if (uid === app.metadata.uid && objectUpdatePending(ctx, agent, app)) return countResyncResult(agent, "in-sync"); // e.g. the creates replayed at our start
        sendTo(ctx, agent, principalEvent(ctx, EventTypes.specUpdate, EventTargets.application, withoutOperation(app)));
        countResyncResult(agent, "updated");
      } else if (kind === ResyncKinds.appProject) {
        const proj = ctx.projectInformer.get(ctx.namespace, name);
        const copy = proj && managedProjectsFor(ctx, agent).includes(proj) ? agentProjectCopy(proj, agent, ctx.destinationBased) : undefined;
        if (!copy) {
          sendTo(ctx, agent, principalEvent(ctx, EventTypes.delete, EventTargets.appProject, { metadata: { name, namespace: ctx.namespace, uid } }));
          return countResyncResult(agent, "deleted");
        }
        if (checksumsEqual(projectChecksumForAgent(copy), checksum) && uid === proj!.metadata.uid) return countResyncResult(agent, "in-sync");
        sendTo(ctx, agent, principalEvent(ctx, EventTypes.specUpdate, EventTargets.appProject, copy));
        countResyncResult(agent, "updated");
      } else {
        const dataKind = ctx.dataKinds?.find((k) => k.kind === kind);
        if (dataKind) countResyncResult(agent, dataKind.requestUpdate(rec, r.value));
        else log.warn("request-update for an unknown kind", { agent, kind });
      }
      return;
    }
    case EventTypes.requestSyncedResourceList: {
      if (!managed) return log.warn("request-synced-resource-list from an autonomous agent refused", { agent });
      const r = decodeRequestSyncedResourceList(payload);
      if (!r.ok) return log.warn("malformed request-synced-resource-list", { agent, reason: r.error });
      const tracked = [
        ...trackedApps(ctx, agent, false).map((a) => ({ key: resourceKeyOf(ResyncKinds.application, a), ns: ctx.destinationBased ? a.metadata.namespace! : agent })),
        ...managedProjectsFor(ctx, agent).map((p) => ({ key: resourceKeyOf(ResyncKinds.appProject, p), ns: ctx.namespace })),
        ...(ctx.dataKinds ?? []).flatMap((k) => k.trackedFor(agent).map((key) => ({ key, ns: ctx.namespace }))),
      ];
      if (!tracked.length || checksumsEqual(resourceSetChecksum(tracked.map((t) => t.key)), r.value.checksum)) {
        return countResyncResult(agent, "list-in-sync");
      }
      countResyncResult(agent, "list-sent");
      for (const t of tracked) {
        sendTo(ctx, agent, req(EventTypes.responseSyncedResource, encodeSyncedResource({ name: t.key.name, namespace: t.ns, uid: t.key.uid, kind: t.key.kind })));
      }
      log.info("resource sets differ; sent the principal's list", { agent, resources: tracked.length });
      return;
    }
    case EventTypes.responseSyncedResource: {
      if (managed) return log.warn("response-synced-resource from a managed agent refused", { agent });
      const r = decodeSyncedResource(payload);
      if (!r.ok) return log.warn("malformed response-synced-resource", { agent, reason: r.error });
      const { kind, name } = r.value;
      const obj = kind === ResyncKinds.application ? ctx.appInformer.get(agent, name) : kind === ResyncKinds.appProject ? ctx.projectInformer.get(ctx.namespace, `${agent}-${name}`) : undefined;
      const uid = obj ? sourceUidOf(obj) ?? "" : "";
      // Already asked about in this round (we have it): the list only adds what we lack.
      const askedName = kind === ResyncKinds.appProject && obj ? obj.metadata.name! : name;
      if (!ctx.resyncRounds.firstRequest(agent, objectKey(kind, askedName, uid))) return countResyncResult(agent, "already-requested");
      const checksum = obj && kind === ResyncKinds.application ? mirrorChecksum(agent, obj as Application) : null;
      sendInRound(ctx, rec, req(EventTypes.requestUpdate, encodeRequestUpdate({ kind, name, namespace: agent, uid, checksum })));
      return;
    }
    case EventTypes.requestResourceResync:
      if (managed) return log.warn("request-resource-resync from a managed agent refused", { agent });
      startResync(ctx, rec, "agent request");
      return;
    default:
      log.warn("unsupported resync event", { agent, event_type: ev.type });
  }
}
