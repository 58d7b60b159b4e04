/**
 * Replication on an agent: informers on Applications and AppProjects in the
 * agent namespace, the handler for events from the principal, and resync
 * (first connect of this process, then every --resync-interval).
 *
 * The informers sync before the connection starts, so the source cache is
 * rebuilt from local objects (reverts work after a restart with no traffic).
 *
 * @example
 *   const repl = new AgentReplication({ kube, mode: "managed", namespace: "argocd", writer, ... });
 *   await repl.start();
 *   new AgentConnection({ ..., writer, handler: repl.handler, onConnected: (i) => repl.onConnected(i) });
 */
import type { AgentEvent, JsonObject } from "../../events/cloudevent.ts";
import { EventTargets } from "../../events/event-types.ts";
import type { EventWriter } from "../../events/event-writer.ts";
import type { KubeClient } from "../../kube/client.ts";
import { applications, appProjects } from "../../kube/crud.ts";
import { applicationInformer, appProjectInformer } from "../../kube/informer.ts";
import type { Application, AppProject } from "../../kube/resources.ts";
import { getLogger } from "../../observability/log.ts";
import type { EventHandler, HandlerOutcome } from "../../transport/event-session.ts";
import { autonomousHandlers, handleAutonomousApp } from "./agent-autonomous.ts";
import type { AdoptionPolicy, AgentContext, RecreatePolicy } from "./agent-context.ts";
import { namespaceMatcher } from "../namespace-match.ts";
import { handleManagedApp, onManagedAppAdded, onManagedAppDeleted, onManagedAppUpdated } from "./agent-managed.ts";
import { handleManagedProject, onManagedProjectAdded, onManagedProjectDeleted, onManagedProjectUpdated } from "./agent-projects.ts";
import { handleResyncEvent, startResync } from "./agent-resync.ts";
import { rejected } from "../kube-errors.ts";
import { EventProcessors } from "../event-processors.ts";
import { UpdateThrottle, type ThrottledHandlers } from "./update-throttle.ts";
import { SelfWrites, sourceUidOf, watchSelector } from "../objects.ts";
import { ResyncRounds } from "../resync-rounds.ts";
import { Redelivery } from "../redelivery.ts";
import { ApiReachability } from "../../kube/reachability.ts";
import { agentRepositories } from "./agent-repositories.ts";
import { agentGpgKeys } from "./agent-gpgkeys.ts";

const log = getLogger("replication");

export interface AgentReplicationOptions {
  kube: KubeClient;
  mode: "managed" | "autonomous";
  namespace: string;
  writer: EventWriter;
  labelSelector: string;
  resyncIntervalMs: number;
  informerSyncTimeoutMs: number;
  mismatchPolicy: "recreate" | "upsert";
  onRecreate: RecreatePolicy;
  /** --destination-based-mapping (managed only): apps in any allowed namespace, principal namespace remapped to ours. */
  destinationBased?: boolean;
  /** --create-namespace (destination-based only). */
  createNamespace?: boolean;
  /** --allowed-namespaces: namespaces besides ours apps may live in (destination-based). */
  allowedNamespaces?: string[];
  /** --ignore-unmanaged-apps (managed only): local apps without source UID are invisible. */
  ignoreUnmanagedApps?: boolean;
  /** --adoption-policy (default always). */
  adoptionPolicy?: AdoptionPolicy;
  /** --buffer-informer-event-interval in ms (0: every Application update is handled at once). */
  bufferInformerEventIntervalMs?: number;
}

/** Option combinations that cannot work; the message names the flags. */
export function agentReplicationConfigError(o: Pick<AgentReplicationOptions, "mode" | "destinationBased" | "createNamespace" | "ignoreUnmanagedApps">): string | undefined {
  if (o.destinationBased && o.mode === "autonomous") return "--destination-based-mapping is not supported for autonomous agents (use --agent-mode managed)";
  if (o.createNamespace && !o.destinationBased) return "--create-namespace requires --destination-based-mapping";
  // Upstream accepts it, then an autonomous agent sees none of its apps (they carry no source UID)
  // and the next resync deletes every mirror on the control plane.
  if (o.ignoreUnmanagedApps && o.mode === "autonomous") return "--ignore-unmanaged-apps only applies to managed agents (an autonomous agent's own apps carry no source UID)";
  return undefined;
}

/** How many events from the principal the agent applies at once (see AgentReplication.processors). */
export const AGENT_EVENT_PROCESSORS = 64;

export class AgentReplication {
  readonly ctx: AgentContext;
  private readonly opts: AgentReplicationOptions;
  private readonly controller = new AbortController();
  private running: Promise<void>[] = [];
  private resynced = false;
  private agentName = "";
  private timer: NodeJS.Timeout | undefined;
  /** --buffer-informer-event-interval: Application updates, at most one per object per interval. */
  throttle: UpdateThrottle<Application> | undefined;

  constructor(opts: AgentReplicationOptions) {
    if (!(opts.informerSyncTimeoutMs > 0)) throw new Error("--informer-sync-timeout must be greater than 0");
    const problem = agentReplicationConfigError(opts);
    if (problem) throw new Error(problem);
    this.opts = opts;
    const namespace = opts.namespace;
    const kube = opts.kube;
    const labelSelector = watchSelector(opts.labelSelector);
    const destinationBased = opts.destinationBased ?? false;
    const allowedNamespaces = opts.allowedNamespaces ?? [];
    if (allowedNamespaces.length && !destinationBased) {
      log.warn("--allowed-namespaces has no effect without --destination-based-mapping: Applications live in the agent namespace", { namespace });
    }
    const allowed = namespaceMatcher([namespace, ...allowedNamespaces]);
    const ignoreUnmanaged = opts.ignoreUnmanagedApps ?? false;
    // Upstream agent/filters.go: namespace allowed, then (optionally) source UID present.
    const filter = (a: Application): boolean => Boolean(a.metadata.namespace && allowed(a.metadata.namespace)) && (!ignoreUnmanaged || Boolean(sourceUidOf(a)));
    this.ctx = {
      kube,
      mode: opts.mode,
      namespace,
      apps: applications(kube),
      projects: appProjects(kube),
      appInformer: applicationInformer(kube, { namespace: destinationBased ? undefined : namespace, labelSelector, filter }),
      projectInformer: appProjectInformer(kube, { namespace, labelSelector }),
      writer: opts.writer,
      selfWrites: new SelfWrites(),
      sourceSpecs: new Map(),
      expectedDeletes: new Set(),
      mismatchPolicy: opts.mismatchPolicy,
      onRecreate: opts.onRecreate,
      principalUid: undefined,
      destinationBased,
      allowed,
      createNamespace: opts.createNamespace ?? false,
      adoptionPolicy: opts.adoptionPolicy ?? "always",
      principalNamespace: undefined,
      resyncRounds: new ResyncRounds({ signal: this.controller.signal }),
      connection: 0,
    };
    // Repository secrets and GPG keys only flow to managed agents (operations.md §3.1).
    if (opts.mode === "managed") this.ctx.dataKinds = [agentRepositories(this.ctx, opts.labelSelector), agentGpgKeys(this.ctx, opts.labelSelector)];
    this.redelivery = new Redelivery({ reach: new ApiReachability(kube.kubeConfig), signal: this.controller.signal });
  }

  /** Starts the informers and waits for their first list. */
  async start(): Promise<void> {
    const ctx = this.ctx;
    const appHandlers: ThrottledHandlers<Application> =
      ctx.mode === "managed"
        ? { onAdd: (a) => onManagedAppAdded(ctx, a), onUpdate: (o, a) => onManagedAppUpdated(ctx, o, a), onDelete: (a) => onManagedAppDeleted(ctx, a) }
        : autonomousHandlers<Application>(ctx, EventTargets.application);
    const bufferMs = this.opts.bufferInformerEventIntervalMs ?? 0;
    if (bufferMs > 0) this.throttle = new UpdateThrottle(bufferMs, appHandlers);
    ctx.appInformer.addHandlers(this.throttle?.handlers() ?? appHandlers);
    if (ctx.mode === "managed") {
      ctx.projectInformer.addHandlers({ onAdd: (p) => onManagedProjectAdded(ctx, p), onUpdate: (_o, p) => onManagedProjectUpdated(ctx, p), onDelete: (p) => onManagedProjectDeleted(ctx, p) });
    } else {
      ctx.projectInformer.addHandlers(autonomousHandlers<AppProject>(ctx, EventTargets.appProject));
    }
    const signal = this.controller.signal;
    const informers = [ctx.appInformer, ctx.projectInformer, ...(ctx.dataKinds ?? []).map((k) => k.informer)];
    this.running = informers.map((i) => i.run(signal));
    // Upstream EnsureSynced(--informer-sync-timeout): give up instead of running on a half-filled cache.
    const syncMs = this.opts.informerSyncTimeoutMs;
    const timeout = AbortSignal.any([signal, AbortSignal.timeout(syncMs)]);
    try {
      await Promise.all(informers.map((i) => i.waitForSync(timeout)));
    } catch (err) {
      if (signal.aborted) throw err;
      const missing = informers.filter((i) => !i.hasSynced()).map((i) => i.kind.plural);
      throw new Error(
        `informers for ${missing.join(", ")} did not sync within ${syncMs} ms (--informer-sync-timeout): ` +
          "is the API server reachable, are the Argo CD CRDs installed and may this service account list and watch them?",
      );
    }
    if (this.opts.resyncIntervalMs > 0) {
      this.timer = setInterval(() => {
        if (this.resynced) startResync(ctx, "interval");
      }, this.opts.resyncIntervalMs);
      this.timer.unref();
    }
    log.info("replication started", { mode: ctx.mode, namespace: ctx.namespace, destinationBased: ctx.destinationBased, applications: ctx.appInformer.list().length });
  }

  /** Resync once per process, on the first stream (upstream resyncOnStart); the writer keeps everything else across reconnects. */
  onConnected(info: { agent: string; principalNamespace?: string }): void {
    this.agentName = info.agent;
    this.ctx.connection++;
    if (info.principalNamespace) this.ctx.principalNamespace = info.principalNamespace;
    if (this.resynced) return;
    this.resynced = true;
    startResync(this.ctx, "first connect");
  }

  /**
   * Events being applied at once, across resources (each resource's events
   * stay in order). Unbounded, a burst (reconnect, resync) started one API
   * request per event at once, and all 1,000 writes landed together after
   * seconds (bench/replication.ts); upstream applies one event at a time.
   */
  private readonly processors = new EventProcessors(AGENT_EVENT_PROCESSORS);

  /** Re-sent copies acked only; writes retried as soon as our API server answers again. */
  readonly redelivery: Redelivery;

  readonly handler: EventHandler = (ev, payload) => this.redelivery.run("principal", ev, () => this.processors.run("principal", () => this.handle(ev, payload)));

  private async handle(ev: AgentEvent, payload: JsonObject | undefined): Promise<HandlerOutcome | void> {
    const ctx = this.ctx;
    switch (ev.target) {
      case EventTargets.application:
        return ctx.mode === "managed" ? handleManagedApp(ctx, ev, payload) : handleAutonomousApp(ctx, ev, payload);
      case EventTargets.appProject:
        if (ctx.mode === "managed") return handleManagedProject(ctx, ev, payload);
        return rejected(log, "AppProject events from the principal are refused in autonomous mode", { event_type: ev.type });
      case EventTargets.resourceResync:
        return handleResyncEvent(ctx, this.agentName, ev, payload);
      case EventTargets.repository:
      case EventTargets.gpgKey: {
        const kind = ctx.dataKinds?.find((k) => k.target === ev.target);
        // Upstream: EventDiscarded; an autonomous agent's repositories and keys stay its own.
        if (!kind) return rejected(log, "repository and GPG key events are discarded in autonomous mode", { event_target: ev.target, event_type: ev.type });
        return kind.handle(ev, payload);
      }
      default:
        log.debug("event target not handled by replication", { event_target: ev.target, event_type: ev.type });
    }
  }

  async close(): Promise<void> {
    clearInterval(this.timer);
    this.throttle?.stop();
    this.controller.abort();
    await Promise.all(this.running);
  }
}
