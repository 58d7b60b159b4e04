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
import type { AgentEvent, JsonObject } from "../events/cloudevent.ts";
import { EventTargets } from "../events/event-types.ts";
import type { EventWriter } from "../events/event-writer.ts";
import type { KubeClient } from "../kube/client.ts";
import { applications, appProjects } from "../kube/crud.ts";
import { applicationInformer, appProjectInformer } from "../kube/informer.ts";
import type { Application, AppProject } from "../kube/resources.ts";
import { getLogger } from "../observability/log.ts";
import type { EventHandler, HandlerOutcome } from "../transport/event-session.ts";
import { autonomousHandlers, handleAutonomousApp } from "./agent-autonomous.ts";
import type { AgentContext, RecreatePolicy } from "./agent-context.ts";
import { handleManagedApp, onManagedAppAdded, onManagedAppDeleted, onManagedAppUpdated } from "./agent-managed.ts";
import { handleManagedProject, onManagedProjectAdded, onManagedProjectDeleted, onManagedProjectUpdated } from "./agent-projects.ts";
import { handleResyncEvent, startResync } from "./agent-resync.ts";
import { SelfWrites, watchSelector } from "./objects.ts";

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
}

export class AgentReplication {
  readonly ctx: AgentContext;
  private readonly opts: AgentReplicationOptions;
  private readonly controller = new AbortController();
  private running: Promise<void>[] = [];
  private resynced = false;
  private agentName = "";
  private timer: NodeJS.Timeout | undefined;

  constructor(opts: AgentReplicationOptions) {
    this.opts = opts;
    const { kube, namespace } = opts;
    const labelSelector = watchSelector(opts.labelSelector);
    this.ctx = {
      kube,
      mode: opts.mode,
      namespace,
      apps: applications(kube),
      projects: appProjects(kube),
      appInformer: applicationInformer(kube, { namespace, labelSelector }),
      projectInformer: appProjectInformer(kube, { namespace, labelSelector }),
      writer: opts.writer,
      selfWrites: new SelfWrites(),
      sourceSpecs: new Map(),
      expectedDeletes: new Set(),
      mismatchPolicy: opts.mismatchPolicy,
      onRecreate: opts.onRecreate,
      principalUid: undefined,
    };
  }

  /** Starts the informers and waits for their first list. */
  async start(): Promise<void> {
    const ctx = this.ctx;
    if (ctx.mode === "managed") {
      ctx.appInformer.addHandlers({ onAdd: (a) => onManagedAppAdded(ctx, a), onUpdate: (o, a) => onManagedAppUpdated(ctx, o, a), onDelete: (a) => onManagedAppDeleted(ctx, a) });
      ctx.projectInformer.addHandlers({ onAdd: (p) => onManagedProjectAdded(ctx, p), onUpdate: (_o, p) => onManagedProjectUpdated(ctx, p), onDelete: (p) => onManagedProjectDeleted(ctx, p) });
    } else {
      ctx.appInformer.addHandlers(autonomousHandlers<Application>(ctx, EventTargets.application));
      ctx.projectInformer.addHandlers(autonomousHandlers<AppProject>(ctx, EventTargets.appProject));
    }
    const signal = this.controller.signal;
    this.running = [ctx.appInformer.run(signal), ctx.projectInformer.run(signal)];
    const timeout = AbortSignal.any([signal, AbortSignal.timeout(this.opts.informerSyncTimeoutMs || 60_000)]);
    await Promise.all([ctx.appInformer.waitForSync(timeout), ctx.projectInformer.waitForSync(timeout)]);
    if (this.opts.resyncIntervalMs > 0) {
      this.timer = setInterval(() => {
        if (this.resynced) startResync(ctx);
      }, this.opts.resyncIntervalMs);
      this.timer.unref();
    }
    log.info("replication started", { mode: ctx.mode, namespace: ctx.namespace, applications: ctx.appInformer.list().length });
  }

  /** Resync once per process, on the first stream (upstream resyncOnStart); the writer keeps everything else across reconnects. */
  onConnected(info: { agent: string }): void {
    this.agentName = info.agent;
    if (this.resynced) return;
    this.resynced = true;
    startResync(this.ctx);
  }

  readonly handler: EventHandler = (ev, payload) => this.handle(ev, payload);

  private async handle(ev: AgentEvent, payload: JsonObject | undefined): Promise<HandlerOutcome | void> {
    const ctx = this.ctx;
    switch (ev.target) {
      case EventTargets.application:
        return ctx.mode === "managed" ? handleManagedApp(ctx, ev, payload) : handleAutonomousApp(ctx, ev, payload);
      case EventTargets.appProject:
        if (ctx.mode === "managed") return handleManagedProject(ctx, ev, payload);
        return log.warn("AppProject events from the principal are refused in autonomous mode", { event_type: ev.type });
      case EventTargets.resourceResync:
        return handleResyncEvent(ctx, this.agentName, ev, payload);
      default:
        log.debug("event target not handled by replication", { event_target: ev.target, event_type: ev.type });
    }
  }

  async close(): Promise<void> {
    clearInterval(this.timer);
    this.controller.abort();
    await Promise.all(this.running);
  }
}
