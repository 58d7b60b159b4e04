/**
 * Replica apply (operations.md §4.5): what a replica principal does with the
 * snapshot and each replicated event of the active principal, written into
 * its own cluster so that, once promoted, it holds the objects the primary
 * held. Snapshot resources are the primary's objects and are written as they
 * are (replica-snapshot.ts). Events:
 *
 * - outbound (primary → agent): the payload is the primary's own object.
 *   Application create/spec-update/set-operation/terminate-operation → upsert
 *   (spec-update carries no operation: the local one stays), delete → delete;
 *   AppProject create/update → upsert, delete → delete, when the payload is
 *   the primary's object (it has a creationTimestamp; an agent-specific copy
 *   has none and is not the hub's project: it only schedules a re-snapshot);
 *   Repository create/spec-update → upsert; Repository delete → re-snapshot
 *   (it is sent per recipient and also means "no longer for this agent", so
 *   only ConfirmMissingResources can say whether the Secret is gone).
 * - inbound (agent → primary): mapped exactly as our principal maps them
 *   (src/replication/principal/principal-inbound.ts, principal-projects.ts):
 *   an autonomous agent's Application → mirrorOf (namespace = agent, project
 *   prefixed, destination = its cluster), create without operation, update
 *   with mergedOperation, status copied; its delete → delete of that mirror
 *   incarnation; its AppProject → projectMirrorOf; a managed agent's
 *   status-update → .status, refresh annotation and operation hand-shake on
 *   the app managedAppNamespace names.
 *
 * Deliberate differences from upstream: managed Applications get no
 * source-uid (after a failover they must stay managed apps at the new hub),
 * inbound payloads are mapped instead of upserted raw, set-operation is
 * applied (upstream ignores it), and ambiguous deletes wait for a confirmed
 * re-snapshot instead of deleting. A managed status report is applied without
 * the principal's incarnation check (its source-uid names the primary's UID,
 * which differs here; events arrive in order, so the current copy is meant).
 *
 * @example
 *   const apply = new ReplicaApply({ kube, namespace: "argocd", signal, confirmMissing });
 *   await apply.start();
 *   await apply.applySnapshot(snapshot);
 *   const outcome = await apply.applyEvent(replicatedEvent); // "applied" | "ignored" | "rejected" | "reconcile"
 */
import { fromWire, type AgentEvent, type JsonObject } from "../events/cloudevent.ts";
import { EventTargets, EventTypes } from "../events/event-types.ts";
import type { KubeClient } from "../kube/client.ts";
import type { Application, AppProject, Secret } from "../kube/resources.ts";
import { getLogger } from "../observability/log.ts";
import type { ConfirmMissingResourcesRequest, ConfirmMissingResourcesResponse, ReplicatedEvent, ReplicationSnapshot } from "../proto/gen/replication.ts";
import { mergedOperation, objectFromPayload, same, sourceUidOf } from "../replication/objects.ts";
import { ClusterSecrets } from "../replication/principal/cluster-secrets.ts";
import { agentForApp } from "../replication/principal/principal-context.ts";
import { managedAppNamespace, mirrorOf, statusReportEffects } from "../replication/principal/principal-inbound.ts";
import { projectMirrorOf } from "../replication/principal/principal-projects.ts";
import { Annotations } from "../events/event-types.ts";
import { ReplicaWriter } from "./replica-writes.ts";
import { applySnapshot, type SnapshotApplyResult } from "./replica-snapshot.ts";

const log = getLogger("ha");

/** What became of one event: written, nothing to do, malformed, or only a re-snapshot can tell. */
export type EventOutcome = "applied" | "ignored" | "rejected" | "reconcile";

export interface ReplicaApplyOptions {
  kube: KubeClient;
  /** The principal's namespace (projects, repository and cluster Secrets). */
  namespace: string;
  /** --destination-based-mapping, as on the primary. */
  destinationBased?: boolean;
  signal: AbortSignal;
  /** Asks the primary about local objects its snapshot lacks (prune). */
  confirmMissing(req: ConfirmMissingResourcesRequest): Promise<ConfirmMissingResourcesResponse>;
  /** Longest wait per write for an unreachable API server (default 5 min). */
  maxApiWaitMs?: number;
}

const APP_UPSERT_TYPES: ReadonlySet<string> = new Set([EventTypes.create, EventTypes.specUpdate, EventTypes.setOperation, EventTypes.terminateOperation]);
const DNS_LABEL = /^[a-z0-9]([-a-z0-9]*[a-z0-9])?$/;

export class ReplicaApply {
  readonly writer: ReplicaWriter;
  /** Cluster secrets of this cluster: the destination names of mirrored apps. */
  readonly clusters: ClusterSecrets;
  private readonly opts: ReplicaApplyOptions;
  /** Agent → mode from the last snapshot. */
  private readonly modes = new Map<string, string>();

  constructor(opts: ReplicaApplyOptions) {
    this.opts = opts;
    this.writer = new ReplicaWriter({ kube: opts.kube, signal: opts.signal, maxApiWaitMs: opts.maxApiWaitMs });
    this.clusters = new ClusterSecrets(opts.kube, opts.namespace);
  }

  /** Starts the cluster-secret informer and waits for its first list. */
  async start(): Promise<void> {
    void this.clusters.informer.run(this.opts.signal).catch((err: unknown) => log.warn("cluster secret informer ended", { error: String(err) }));
    await this.clusters.informer.waitForSync(this.opts.signal);
  }

  /** Writes a whole snapshot and prunes what the primary confirms deleted. */
  async applySnapshot(snap: ReplicationSnapshot): Promise<SnapshotApplyResult> {
    this.modes.clear();
    for (const a of snap.agents) this.modes.set(a.name, a.mode);
    return applySnapshot({ writer: this.writer, namespace: this.opts.namespace, destinationBased: this.opts.destinationBased ?? false, confirmMissing: this.opts.confirmMissing }, snap);
  }

  /** Applies one replicated event; throws when a write failed past its retries. */
  async applyEvent(re: ReplicatedEvent): Promise<EventOutcome> {
    const parsed = fromWire(re.event);
    if (!parsed.ok) return reject("undecodable replicated event", { sequence: re.sequenceNum, error: parsed.error.message });
    const { event: ev, payload } = parsed.value;
    const agent = re.agentName;
    if (re.direction === "outbound") return this.outbound(agent, ev, payload);
    if (re.direction === "inbound") {
      if (!DNS_LABEL.test(agent) || agent === this.opts.namespace) return reject("inbound event names no valid agent", { sequence: re.sequenceNum, agent });
      return this.inbound(agent, ev, payload);
    }
    return reject("replicated event has an unknown direction", { sequence: re.sequenceNum, direction: re.direction });
  }

  private async outbound(agent: string, ev: AgentEvent, payload: JsonObject | undefined): Promise<EventOutcome> {
    const isDelete = ev.type === EventTypes.delete;
    if (ev.target === EventTargets.application) {
      if (!isDelete && !APP_UPSERT_TYPES.has(ev.type)) return "ignored";
      const p = objectFromPayload<Application>(payload, !isDelete);
      if (!p.ok || !p.obj.metadata.namespace) return reject("outbound Application event without a usable object", { agent, event_type: ev.type, reason: p.ok ? "no namespace" : p.error });
      const app = p.obj;
      if (isDelete) return (await this.writer.deleteApp(app.metadata.namespace!, app.metadata.name!)), "applied";
      // spec-update travels without operation: keep the local one (the agent's report settles it).
      await this.writer.upsertApp(app, ev.type === EventTypes.specUpdate ? { operation: (cur) => cur?.operation } : {});
      return "applied";
    }
    if (ev.target === EventTargets.appProject) {
      const p = objectFromPayload<AppProject>(payload, !isDelete);
      if (!p.ok || !p.obj.metadata.namespace) return reject("outbound AppProject event without a usable object", { agent, event_type: ev.type, reason: p.ok ? "no namespace" : p.error });
      // An agent-specific copy (no creationTimestamp) is not the hub's project.
      if (!p.obj.metadata.creationTimestamp) return "reconcile";
      if (isDelete) return (await this.writer.deleteProject(p.obj.metadata.namespace!, p.obj.metadata.name!)), "applied";
      if (ev.type !== EventTypes.create && ev.type !== EventTypes.specUpdate) return "ignored";
      await this.writer.upsertProject(p.obj);
      return "applied";
    }
    if (ev.target === EventTargets.repository) {
      if (isDelete) return "reconcile";
      if (ev.type !== EventTypes.create && ev.type !== EventTypes.specUpdate) return "ignored";
      const p = objectFromPayload<Secret>(payload, false);
      if (!p.ok || !p.obj.metadata.namespace) return reject("outbound Repository event without a usable Secret", { agent, event_type: ev.type, reason: p.ok ? "no namespace" : p.error });
      await this.writer.upsertSecret(p.obj);
      return "applied";
    }
    return "ignored"; // GPG keys are not forwarded; ApplicationSets are not watched
  }

  private async inbound(agent: string, ev: AgentEvent, payload: JsonObject | undefined): Promise<EventOutcome> {
    // The principal accepts these only from one mode (and forwards only what it accepted); a mode known from the snapshot must agree.
    const mode = this.modes.get(agent);
    const from = (wanted: string) => mode === undefined || mode === wanted;
    if (ev.target === EventTargets.application) {
      if (ev.type === EventTypes.create || ev.type === EventTypes.specUpdate) return from("autonomous") ? this.upsertMirror(agent, payload) : "ignored";
      if (ev.type === EventTypes.statusUpdate) return from("managed") ? this.managedStatus(agent, payload) : "ignored";
      if (ev.type === EventTypes.delete) return this.deleteMirror(agent, payload);
      return "ignored"; // error reports, resync requests
    }
    if (ev.target === EventTargets.appProject) {
      if (!from("autonomous")) return "ignored";
      const isDelete = ev.type === EventTypes.delete;
      const p = objectFromPayload<AppProject>(payload, !isDelete);
      if (!p.ok) return reject("inbound AppProject event without a usable object", { agent, event_type: ev.type, reason: p.error });
      const name = `${agent}-${p.obj.metadata.name}`;
      if (isDelete) return (await this.writer.deleteProject(this.opts.namespace, name, { sourceUid: p.obj.metadata.uid || undefined })), "applied";
      if (ev.type !== EventTypes.create && ev.type !== EventTypes.specUpdate) return "ignored";
      await this.writer.upsertProject(projectMirrorOf({ namespace: this.opts.namespace, clusters: this.clusters }, agent, p.obj), { keepFinalizers: true });
      return "applied";
    }
    return "ignored";
  }

  /** An autonomous agent's Application, stored as the principal stores its mirror. */
  private async upsertMirror(agent: string, payload: JsonObject | undefined): Promise<EventOutcome> {
    const p = objectFromPayload<Application>(payload, true);
    if (!p.ok) return reject("inbound Application event without a usable object", { agent, reason: p.error });
    const remote = p.obj;
    if (!remote.metadata.uid) return reject("Application from autonomous agent has no uid", { agent, application: remote.metadata.name });
    const want = mirrorOf(agent, remote, this.clusters.clusterName(agent));
    await this.writer.upsertApp(want, {
      operation: (cur) => (cur ? mergedOperation(cur.operation, remote) : undefined),
      keepFinalizers: true,
      whenDeleting: "skip",
    });
    return "applied";
  }

  private async deleteMirror(agent: string, payload: JsonObject | undefined): Promise<EventOutcome> {
    const p = objectFromPayload<Application>(payload, false);
    if (!p.ok) return reject("inbound Application delete without a usable object", { agent, reason: p.error });
    // A managed agent's delete completes the primary's deletion; its outbound delete follows.
    if (this.modes.get(agent) === "managed") return "ignored";
    const cur = await this.writer.retrying(`Application ${agent}/${p.obj.metadata.name}`, () => this.writer.apps.get(agent, p.obj.metadata.name!));
    const src = sourceUidOf(cur);
    if (!cur || !src || (p.obj.metadata.uid && src !== p.obj.metadata.uid)) return "ignored";
    await this.writer.deleteApp(agent, p.obj.metadata.name!, { sourceUid: src });
    return "applied";
  }

  /** A managed agent's status report: .status, the refresh annotation and the operation hand-shake. */
  private async managedStatus(agent: string, payload: JsonObject | undefined): Promise<EventOutcome> {
    const p = objectFromPayload<Application>(payload, false);
    if (!p.ok) return reject("inbound status-update without a usable object", { agent, reason: p.error });
    const remote = p.obj;
    const name = remote.metadata.name!;
    const apps = this.writer.apps;
    const destinationBased = this.opts.destinationBased ?? false;
    return this.writer.retrying(`status of Application ${name} from ${agent}`, async () => {
      const ns = await this.managedNamespace(agent, remote);
      const cur = ns ? await apps.get(ns, name) : undefined;
      if (!cur || (destinationBased && agentForApp({ namespace: this.opts.namespace, destinationBased }, cur) !== agent)) return "ignored" as const;
      const { annotations, operation } = statusReportEffects(cur, remote);
      let obj = cur;
      if (!same(annotations, cur.metadata.annotations) || !same(operation, cur.operation)) {
        obj = await apps.update({ ...cur, metadata: { ...cur.metadata, annotations }, operation } as Application);
      }
      if (!same(remote.status, obj.status)) await apps.updateStatus({ ...obj, status: remote.status ?? {} });
      return "applied" as const;
    });
  }

  /** The principal's rule (managedAppNamespace) over fresh reads instead of an informer. */
  private async managedNamespace(agent: string, remote: Application): Promise<string | undefined> {
    const destinationBased = this.opts.destinationBased ?? false;
    const ns = remote.metadata.namespace;
    const remapped = remote.metadata.annotations?.[Annotations.namespaceRemapped] !== undefined;
    const found = new Map<string, Application | undefined>();
    if (destinationBased) {
      for (const c of new Set([ns, this.opts.namespace])) if (c) found.set(c, await this.writer.apps.get(c, remote.metadata.name!));
    }
    const lookup = { namespace: this.opts.namespace, destinationBased, appInformer: { get: (n: string | undefined) => (n ? found.get(n) : undefined) } };
    // The agent's own namespace is unknown here; a remapped copy names it.
    return managedAppNamespace(lookup, { agent, agentNamespace: remapped ? ns : undefined }, ns, remote.metadata.name!, remapped);
  }
}

function reject(msg: string, fields: Record<string, unknown>): EventOutcome {
  log.warn(msg, fields);
  return "rejected";
}
