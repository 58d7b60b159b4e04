/**
 * The principal's live-resource rooms, started before the gRPC listener as
 * upstream does: the resource proxy (src/resourceproxy/), and the places where
 * the redis proxy and the log/terminal streams join. Each room gets the agent
 * registry through a small interface and contributes live-lane handlers for
 * the events agents send it; replication never sees those events.
 *
 * @example
 *   const live = await startLiveResources(cfg, { kube, issuer, registry: () => server?.registry, metricsRegistry });
 *   startPrincipalServer({ ..., handler: (rec) => laneRouter({ replication: repl.handler(rec), live: live.lanes(rec.agent) }) });
 *   live.attach(server.registry);
 */
import type { Registry } from "prom-client";
import type { JwtIssuer } from "../auth/jwt-issuer.ts";
import { EventTargets } from "../events/event-types.ts";
import { mergeLanes, type Lanes } from "../events/lanes.ts";
import type { KubeClient } from "../kube/client.ts";
import { resourceProxyMetrics } from "../resourceproxy/metrics.ts";
import { startResourceProxy, type ProxyAgents, type ResourceProxy } from "../resourceproxy/server.ts";
import { resourceProxyTls } from "../resourceproxy/tls.ts";
import type { AgentRegistry } from "./agent-registry.ts";
import type { PrincipalSettings } from "./run.ts";

export interface LiveResources {
  resourceProxy?: ResourceProxy;
  /** Live-lane handlers for one agent's session. */
  lanes(agent: string): NonNullable<Lanes["live"]>;
  /** Starts following connects and disconnects. */
  attach(registry: AgentRegistry): void;
  close(): Promise<void>;
}

export interface LiveResourcesDeps {
  kube: () => KubeClient;
  issuer: JwtIssuer;
  /** The registry, once the gRPC server exists. */
  registry: () => AgentRegistry | undefined;
  metricsRegistry: Registry;
}

/** Agent access for the rooms, through the registry's per-agent queues. */
export function proxyAgents(registry: () => AgentRegistry | undefined): ProxyAgents {
  return {
    mode: (a) => registry()?.get(a)?.mode,
    connected: (a) => Boolean(registry()?.get(a)?.connection),
    send: (a, ev) => registry()?.get(a)?.writer.add(ev) ?? false,
    discard: (a, id) => void registry()?.get(a)?.writer.discard(id),
  };
}

export async function startLiveResources(cfg: PrincipalSettings, deps: LiveResourcesDeps): Promise<LiveResources> {
  const agents = proxyAgents(deps.registry);
  const resourceProxy = cfg.enableResourceProxy
    ? await startResourceProxy({
        host: cfg.listenHost,
        port: cfg.resourceProxyPort,
        tls: await resourceProxyTls(cfg, deps.kube),
        agents,
        issuer: deps.issuer,
        timeoutMs: cfg.resourceProxyTimeout,
        metrics: resourceProxyMetrics(deps.metricsRegistry),
      })
    : undefined;
  return {
    resourceProxy,
    lanes(agent) {
      return mergeLanes(resourceProxy ? { [EventTargets.resource]: resourceProxy.responseHandler(agent) } : undefined);
    },
    attach(registry) {
      registry.on((what, rec) => {
        if (what === "disconnected") resourceProxy?.agentGone(rec.agent);
      });
    },
    async close() {
      await resourceProxy?.close();
    },
  };
}
