/**
 * Replication on the principal: loads the principal identity, runs the
 * Application (all allowed namespaces) and AppProject (principal namespace)
 * informers, routes their changes to agents, applies what agents send, and
 * drives resync (first connect of each agent, then every --resync-interval).
 *
 * Events from agents wait until the informers have synced, so a handler never
 * acts on a half-filled cache.
 *
 * @example
 *   const repl = new PrincipalReplication({ kube, namespace: "argocd", allowedNamespaces: ["*"], ... });
 *   const server = await startPrincipalServer({ ..., handler: (rec) => repl.handler(rec) });
 *   await repl.start(server.registry);
 */
import { randomUUID } from "node:crypto";
import type { AgentEvent, JsonObject } from "../../events/cloudevent.ts";
import { EventTargets, EventTypes } from "../../events/event-types.ts";
import type { KubeClient } from "../../kube/client.ts";
import { applications, appProjects, isAlreadyExists, isNotFound, type WriteCounts } from "../../kube/crud.ts";
import { applicationInformer, appProjectInformer } from "../../kube/informer.ts";
import { getLogger } from "../../observability/log.ts";
import type { AgentRecord, AgentRegistry } from "../../principal/agent-registry.ts";
import type { EventHandler, HandlerOutcome } from "../../transport/event-session.ts";
import { namespaceMatcher } from "../namespace-match.ts";
import { SelfWrites, watchSelector } from "../objects.ts";
import { agentForApp, type PrincipalContext, type PrincipalHaHooks } from "./principal-context.ts";
import { EventProcessors } from "../event-processors.ts";
import { ClusterSecrets } from "./cluster-secrets.ts";
import type { Application } from "../../kube/resources.ts";
import { handleAppFromAgent } from "./principal-inbound.ts";
import { handleProjectFromAgent, sendProjectsTo } from "./principal-projects.ts";
import { replayOnActive, haGatedAppHandlers, haGatedProjectHandlers } from "./principal-ha-gate.ts";
import { handleResyncEvent, startResync } from "./principal-resync.ts";
import { ResyncRounds } from "../resync-rounds.ts";
import { Redelivery } from "../redelivery.ts";
import { ApiReachability } from "../../kube/reachability.ts";
import { traceOperation } from "../../tracing/tracing.ts";
import { PrincipalRepositories } from "./principal-repositories.ts";
import { PrincipalGpgKeys } from "./principal-gpgkeys.ts";
import { rejected } from "../kube-errors.ts";
import { configMaps } from "../../kube/core-objects.ts";

const log = getLogger("replication");

export const PRINCIPAL_IDENTITY_CONFIGMAP = "argocd-agent-principal-identity";

export interface PrincipalReplicationOptions {
  kube: KubeClient;
  namespace: string;
  allowedNamespaces: string[];
  labelSelector: string;
  /** 0: resync only on an agent's first connect. */
  resyncIntervalMs: number;
  informerSyncTimeoutMs?: number;
  namespaceCreate?: PrincipalContext["namespaceCreate"];
  /** --destination-based-mapping (behavior.md §4). */
  destinationBased?: boolean;
  /** --event-processors: events from all agents applied concurrently (default 10). */
  eventProcessors?: number;
  /** Principal HA (--ha-enabled): the gate while passive and the forwarding to replicas. */
  ha?: PrincipalHaHooks;
}

/** The principal UID from its ConfigMap, created on first start (pkg/principal/identity.go). */
async function loadPrincipalUid(kube: KubeClient, namespace: string): Promise<string> {
  for (let attempt = 0; attempt < 3; attempt++) {
    try {
      const uid = (await configMaps(kube).get(namespace, PRINCIPAL_IDENTITY_CONFIGMAP))?.data?.["principal-uid"];
      if (uid) return uid;
    } catch (err) {
      if (!isNotFound(err)) throw err;
    }
    try {
      const uid = randomUUID();
      await configMaps(kube).create({ metadata: { name: PRINCIPAL_IDENTITY_CONFIGMAP, namespace }, data: { "principal-uid": uid } });
      return uid;
    } catch (err) {
      if (!isAlreadyExists(err)) throw err;
    }
  }
  throw new Error(`could not read or create ConfigMap ${namespace}/${PRINCIPAL_IDENTITY_CONFIGMAP}`);
}

export class PrincipalReplication {
  private readonly opts: PrincipalReplicationOptions;
  private ctx: PrincipalContext | undefined;
  private readonly controller = new AbortController();
  private markReady!: () => void;
  private readonly ready = new Promise<void>((r) => (this.markReady = r));
  /** Agents resynced since this process started (upstream resyncStatus). */
  private readonly resynced = new Set<string>();
  private timer: NodeJS.Timeout | undefined;
  private running: Promise<void>[] = [];

  private readonly processors: EventProcessors;
  /** Re-sent copies acked only; writes retried as soon as the control plane answers again. */
  readonly redelivery: Redelivery;

  constructor(opts: PrincipalReplicationOptions) {
    this.opts = opts;
    this.processors = new EventProcessors(opts.eventProcessors ?? 10);
    this.redelivery = new Redelivery({ reach: new ApiReachability(opts.kube.kubeConfig), signal: this.controller.signal });
  }

  /**
   * The handler of one agent's event session. The session calls it one event
   * at a time per resource; every call takes one of the --event-processors slots.
   */
  handler(rec: AgentRecord): EventHandler {
    return async (ev, payload) => {
      await this.ready;
      return this.redelivery.run(rec.agent, ev, () => this.processors.run(rec.agent, () => this.handle(rec, ev, payload)));
    };
  }

  /** Repository secret events seen and GPG keys held (principal_repositories_*, argocd_principal_gpg_keys_count). */
  dataStats(): { repositories: WriteCounts; gpgKeys: number } {
    const kinds = this.ctx?.dataKinds ?? [];
    const repos = kinds.find((k) => k instanceof PrincipalRepositories);
    const gpg = kinds.find((k) => k instanceof PrincipalGpgKeys);
    return { repositories: repos?.events ?? { created: 0, updated: 0, deleted: 0 }, gpgKeys: gpg?.keyCount ?? 0 };
  }

  /** Writes made to the principal's Applications and AppProjects (metrics); zero before start. */
  writes(): { applications: WriteCounts; appProjects: WriteCounts } {
    const none = { created: 0, updated: 0, deleted: 0 };
    return { applications: this.ctx?.apps.writes ?? none, appProjects: this.ctx?.projects.writes ?? none };
  }

  /** The agent an Application on the principal belongs to (the redis proxy's lookup); undefined before start. */
  agentForApp(namespace: string, name: string): string | undefined {
    const app = this.ctx?.appInformer.get(namespace, name);
    return app && this.ctx ? agentForApp(this.ctx, app) : undefined;
  }

  /** The shared state of the running replication (HA snapshots read its caches); undefined before start. */
  context(): PrincipalContext | undefined {
    return this.ctx;
  }

  /** HA: this principal just became active (start or promotion); agents get a full resync and what was held back. */
  resumeAsActive(): void {
    this.resynced.clear();
    if (this.ctx) replayOnActive(this.ctx);
  }

  /** Slots in use and events waiting for one (diagnostics, tests). */
  processorStats(): { active: number; waiting: number } {
    return this.processors.stats();
  }

  async start(registry: AgentRegistry): Promise<void> {
    const namespace = this.opts.namespace;
    const kube = this.opts.kube;
    const signal = this.controller.signal;
    const principalUid = await loadPrincipalUid(kube, namespace);
    const allowed = namespaceMatcher(this.opts.allowedNamespaces);
    const labelSelector = watchSelector(this.opts.labelSelector);
    const destinationBased = this.opts.destinationBased ?? false;
    const mapping = { namespace, destinationBased };
    // Namespace-based: apps in allowed namespaces. Destination-based: also the principal
    // namespace, and only apps that name an agent (empty / in-cluster destinations are not ours).
    const watched = (a: Application): boolean => {
      const ns = a.metadata.namespace;
      if (!ns || !(allowed(ns) || (destinationBased && ns === namespace))) return false;
      return !destinationBased || agentForApp(mapping, a) !== undefined;
    };
    const ctx: PrincipalContext = {
      kube,
      apps: applications(kube),
      projects: appProjects(kube),
      namespace,
      principalUid,
      registry,
      allowed,
      appInformer: applicationInformer(kube, { labelSelector, filter: watched }),
      projectInformer: appProjectInformer(kube, { namespace, labelSelector }),
      selfWrites: new SelfWrites(),
      mirrorSpecs: new Map(),
      expectedDeletes: new Set(),
      namespaceCreate: this.opts.namespaceCreate ?? { enable: false, pattern: undefined, labels: {} },
      destinationBased,
      appAgents: new Map(),
      clusters: new ClusterSecrets(kube, namespace),
      resyncRounds: new ResyncRounds({ signal: this.controller.signal }),
      ha: this.opts.ha,
    };
    this.ctx = ctx;
    ctx.appInformer.addHandlers(haGatedAppHandlers(ctx));
    ctx.projectInformer.addHandlers(haGatedProjectHandlers(ctx));
    ctx.dataKinds = [new PrincipalRepositories(ctx, this.opts.labelSelector), new PrincipalGpgKeys(ctx, this.opts.labelSelector)];
    const informers = [ctx.appInformer, ctx.projectInformer, ctx.clusters.informer, ...ctx.dataKinds.map((k) => k.informer)];
    this.running = informers.map((i) => i.run(signal));
    const timeout = AbortSignal.any([signal, AbortSignal.timeout(this.opts.informerSyncTimeoutMs ?? 60_000)]);
    await Promise.all(informers.map((i) => i.waitForSync(timeout)));
    registry.on((what, rec) => {
      if (what === "connected") this.onConnected(rec);
    });
    for (const rec of registry.connected()) this.onConnected(rec);
    if (this.opts.resyncIntervalMs > 0) {
      this.timer = setInterval(() => {
        for (const rec of registry.connected()) startResync(ctx, rec, "interval");
      }, this.opts.resyncIntervalMs);
      this.timer.unref();
    }
    this.markReady();
    log.info("replication started", { namespace, principalUid, destinationBased, eventProcessors: this.processors.limit, applications: ctx.appInformer.list().length, appProjects: ctx.projectInformer.list().length });
  }

  private onConnected(rec: AgentRecord): void {
    const ctx = this.ctx!;
    // Spans as upstream's (operations.md §6.1); the events built inside carry their trace context.
    const attrs = { "argocd.agent.name": rec.agent, "argocd.agent.mode": rec.mode };
    if (rec.mode === "managed") {
      traceOperation("sendCurrentStateToAgent", { ...attrs, "argocd.event.type": EventTypes.specUpdate }, () => {
        sendProjectsTo(ctx, rec.agent);
        for (const k of ctx.dataKinds ?? []) k.sendCurrentState(rec.agent);
      });
    }
    if (this.resynced.has(rec.agent)) return;
    this.resynced.add(rec.agent);
    traceOperation("handleResyncOnConnect", attrs, () => startResync(ctx, rec, "first connect"));
  }

  private async handle(rec: AgentRecord, ev: AgentEvent, payload: JsonObject | undefined): Promise<HandlerOutcome | void> {
    const ctx = this.ctx!;
    switch (ev.target) {
      case EventTargets.application:
        return handleAppFromAgent(ctx, rec, ev, payload);
      case EventTargets.appProject:
        return handleProjectFromAgent(ctx, rec, ev, payload);
      case EventTargets.resourceResync:
        return handleResyncEvent(ctx, rec, ev, payload);
      case EventTargets.repository:
      case EventTargets.gpgKey:
        // As upstream: these only flow principal → managed agent.
        return rejected(log, "repository and GPG key events are not accepted from agents", { agent: rec.agent, event_target: ev.target, event_type: ev.type });
      default:
        log.debug("event target not handled by replication", { agent: rec.agent, event_target: ev.target, event_type: ev.type });
    }
  }

  async close(): Promise<void> {
    clearInterval(this.timer);
    this.controller.abort();
    await Promise.all(this.running);
  }
}
