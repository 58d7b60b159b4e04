/**
 * The agent's live lane for resource-proxy requests: each `resource` event is
 * acknowledged at once and executed in the background, at most `concurrency`
 * at a time with at most `queueLimit` waiting; beyond that the principal gets
 * 429 straight away. Replication events never wait for these, and these never
 * take a replication slot. A request re-sent by the principal while it runs,
 * or shortly after, is not executed twice.
 *
 * @example
 *   const requests = new AgentResourceRequests({ kc: kube.kubeConfig, namespace: "argocd", writer, enabled: true });
 *   laneRouter({ replication: repl.handler, live: { resource: requests.handler } });
 */
import type { KubeConfig } from "@kubernetes/client-node";
import { responseEvent } from "../events/cloudevent.ts";
import { EventSources, EventTargets, EventTypes } from "../events/event-types.ts";
import type { EventWriter } from "../events/event-writer.ts";
import type { ResourceRequest, ResourceResponse } from "../events/payloads.ts";
import type { EventHandler } from "../transport/event-session.ts";
import { getLogger } from "../observability/log.ts";
import { executeResourceRequest, statusBody } from "./agent-execute.ts";
import { TrackingCheck } from "./tracking.ts";
import type { AgentResourceProxyMetrics } from "./metrics.ts";

const log = getLogger("resource-proxy");

export interface AgentResourceRequestsOptions {
  kc: KubeConfig;
  namespace: string;
  writer: EventWriter;
  /** --enable-resource-proxy: when false, requests are logged and not answered (the principal times out), as upstream. */
  enabled: boolean;
  concurrency?: number;
  queueLimit?: number;
  /** Time for one request against the API server (upstream: 5 s). */
  requestTimeoutMs?: number;
  maxResponseBytes?: number;
  metrics?: AgentResourceProxyMetrics;
}

const RECENT_LIMIT = 1024;

export class AgentResourceRequests {
  private readonly opts: Required<Omit<AgentResourceRequestsOptions, "metrics">> & { metrics?: AgentResourceProxyMetrics };
  private readonly tracking: TrackingCheck;
  private readonly queue: ResourceRequest[] = [];
  private readonly seen = new Set<string>();
  private active = 0;
  private readonly controller = new AbortController();

  constructor(opts: AgentResourceRequestsOptions) {
    this.opts = { concurrency: 16, queueLimit: 256, requestTimeoutMs: 5_000, maxResponseBytes: 32 << 20, ...opts };
    this.tracking = new TrackingCheck(opts.kc, opts.namespace);
  }

  readonly handler: EventHandler = async (ev, payload) => {
    const req = payload as unknown as ResourceRequest | undefined;
    if (!req || typeof req.uuid !== "string" || !req.uuid) return { rejected: true };
    if (!this.opts.enabled) {
      log.warn("resource request refused: the resource proxy is disabled on this agent (--enable-resource-proxy=false)", { uuid: req.uuid });
      return;
    }
    if (this.seen.has(req.uuid)) return;
    this.remember(req.uuid);
    this.opts.metrics?.request();
    if (this.active >= this.opts.concurrency && this.queue.length >= this.opts.queueLimit) {
      this.opts.metrics?.error();
      log.warn("resource request refused: too many requests waiting", { uuid: req.uuid, waiting: this.queue.length });
      this.respond({ uuid: req.uuid, status: 429, resource: statusBody(429, "TooManyRequests", `the agent has ${this.queue.length} proxied requests waiting; try again`) });
      return;
    }
    this.queue.push({ ...req, method: req.method ?? (ev.type as ResourceRequest["method"]) });
    this.pump();
  };

  /** Requests running and waiting (tests, diagnostics). */
  stats(): { active: number; waiting: number } {
    return { active: this.active, waiting: this.queue.length };
  }

  close(): void {
    this.controller.abort();
    this.queue.length = 0;
  }

  private pump(): void {
    while (this.active < this.opts.concurrency && this.queue.length) {
      const req = this.queue.shift()!;
      this.active++;
      void this.run(req).finally(() => {
        this.active--;
        this.pump();
      });
    }
  }

  private async run(req: ResourceRequest): Promise<void> {
    const signal = AbortSignal.any([this.controller.signal, AbortSignal.timeout(this.opts.requestTimeoutMs)]);
    let res: ResourceResponse;
    try {
      res = await executeResourceRequest({ kc: this.opts.kc, tracking: this.tracking, signal, maxResponseBytes: this.opts.maxResponseBytes }, req);
    } catch (err) {
      const e = err as Error;
      const message = e.name === "TimeoutError" || e.name === "AbortError" ? `no answer from the API server within ${this.opts.requestTimeoutMs} ms` : e.message;
      res = { uuid: req.uuid, status: 500, resource: statusBody(500, "InternalError", message) };
    }
    if (res.status !== 200) this.opts.metrics?.error();
    log.debug("resource request done", { uuid: req.uuid, method: req.method, resource: req.resource, name: req.name, status: res.status });
    if (!this.controller.signal.aborted) this.respond(res);
  }

  private respond(res: ResourceResponse): void {
    this.opts.writer.add(responseEvent(EventTypes.response, EventTargets.resource, res, EventSources.agent, res.uuid));
  }

  private remember(uuid: string): void {
    this.seen.add(uuid);
    if (this.seen.size > RECENT_LIMIT) this.seen.delete(this.seen.values().next().value!);
  }
}
