/**
 * Prometheus metrics (prom-client) with upstream's names, so existing
 * dashboards keep working, plus what users asked upstream for (auth failures
 * by reason, reconnects, acks/re-sends/coalescing, queue depth, latency).
 * Most values are read from the live objects at scrape time (collect), so the
 * hot paths only pay for the few direct observations (timings).
 */
import { createServer, type Server } from "node:http";
import type { AddressInfo } from "node:net";
import { Counter, Gauge, Histogram, Registry, collectDefaultMetrics } from "prom-client";
import { versionInfo } from "../version.ts";
import { extensionString, type AgentEvent } from "../events/cloudevent.ts";
import type { EventHandler } from "../transport/event-session.ts";
import { getLogger } from "./log.ts";

export const LATENCY_BUCKETS = [0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10, 30];

export function newRegistry(): Registry {
  const registry = new Registry();
  collectDefaultMetrics({ register: registry });
  const info = versionInfo();
  new Gauge({ name: "argocd_agent_build_info", help: "Build information", labelNames: ["version", "git_revision"], registers: [registry] })
    .set({ version: info.version, git_revision: info.gitRevision }, 1);
  return registry;
}

/** A counter whose value is read from elsewhere at scrape time. */
export function pulledCounter(
  registry: Registry,
  name: string,
  help: string,
  labelNames: string[],
  read: () => Iterable<[Record<string, string>, number]>,
): Counter<string> {
  return new Counter({
    name,
    help,
    labelNames,
    registers: [registry],
    collect() {
      this.reset();
      for (const [labels, value] of read()) if (value > 0) this.inc(labels, value);
    },
  });
}

export function pulledGauge(
  registry: Registry,
  name: string,
  help: string,
  labelNames: string[],
  read: () => Iterable<[Record<string, string>, number]>,
): Gauge<string> {
  return new Gauge({
    name,
    help,
    labelNames,
    registers: [registry],
    collect() {
      this.reset();
      for (const [labels, value] of read()) this.set(labels, value);
    },
  });
}

/** Seconds since the event's `sentat` (first transmission), if it carries one. */
export function propagationSeconds(ev: AgentEvent, now = Date.now()): number | undefined {
  const sentAt = extensionString(ev, "sentat");
  if (!sentAt) return undefined;
  const t = Date.parse(sentAt);
  return Number.isFinite(t) ? Math.max(0, (now - t) / 1000) : undefined;
}

/**
 * Times a handler into `processing` (status success / failure / the given
 * rejected status), observes propagation latency, and counts failures into
 * `errors` by resource type.
 */
export function timedHandler(
  handler: EventHandler,
  m: { processing: Histogram<string>; latency: Histogram<string>; errors: Counter<string>; rejectedStatus: string },
  labels: Record<string, string>,
): EventHandler {
  return async (ev, payload) => {
    const started = performance.now();
    const resourceType = ev.target;
    const lat = propagationSeconds(ev);
    if (lat !== undefined) m.latency.observe({ resource_type: resourceType }, lat);
    const done = (status: string) => {
      m.processing.observe({ ...labels, status, resource_type: resourceType }, (performance.now() - started) / 1000);
      if (status === "failure") m.errors.inc({ resource_type: resourceType });
    };
    try {
      const out = await handler(ev, payload);
      done(out?.retryableFailure || out?.failed ? "failure" : out?.rejected ? m.rejectedStatus : "success");
      return out;
    } catch (err) {
      done("failure");
      throw err;
    }
  };
}

export interface MetricsServer {
  port: number;
  close(): Promise<void>;
}

/** Serves `/metrics` (and nothing else) on the given port, all interfaces, as upstream. */
export async function startMetricsServer(port: number, registry: Registry, host?: string): Promise<MetricsServer> {
  const server: Server = createServer((req, res) => {
    if ((req.url ?? "").split("?")[0] !== "/metrics" || (req.method !== "GET" && req.method !== "HEAD")) {
      res.writeHead(404, { "content-type": "text/plain" }).end("not found\n");
      return;
    }
    registry
      .metrics()
      .then((text) => res.writeHead(200, { "content-type": registry.contentType }).end(text))
      .catch((err: Error) => res.writeHead(500, { "content-type": "text/plain" }).end(`${err.message}\n`));
  });
  await new Promise<void>((resolve, reject) => {
    server.once("error", reject);
    server.listen(port, host, () => resolve());
  });
  const bound = (server.address() as AddressInfo).port;
  getLogger("observability").info("metrics endpoint listening", { port: bound });
  return { port: bound, close: () => new Promise<void>((r) => server.close(() => r())) };
}
