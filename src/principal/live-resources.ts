/**
 * The principal's live-resource rooms, started before the gRPC listener as
 * upstream does: the resource proxy (src/resourceproxy/), pod logs and the web
 * terminal (src/streams/, which hook into the proxy and add two gRPC
 * services), and the redis proxy with the cluster info writer (src/redisproxy/). Each room gets the agent
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
import { startPrincipalRedis, type PrincipalRedis } from "../redisproxy/principal-redis.ts";
import { replicationEnabled } from "../replication/enabled.ts";
import { principalStreams, type GrpcServiceEntry, type PrincipalStreams } from "../streams/streams.ts";
import { streamMetrics } from "../streams/stream-common.ts";
import type { AgentRegistry } from "./agent-registry.ts";
import { callVerifier } from "./grpc-services.ts";
import type { PrincipalAuth } from "./principal-auth.ts";
import type { PrincipalSettings } from "./run.ts";

export interface LiveResources {
  resourceProxy?: ResourceProxy;
  /** The redis proxy and the cluster info writer (src/redisproxy/). */
  redis: PrincipalRedis;
  streams: PrincipalStreams;
  /** Services for the principal's gRPC listener (log and terminal streams). */
  grpcServices: GrpcServiceEntry[];
  /** Live-lane handlers for one agent's session. */
  lanes(agent: string): NonNullable<Lanes["live"]>;
  /** Starts following connects and disconnects. */
  attach(registry: AgentRegistry): void;
  close(): Promise<void>;
}

export interface LiveResourcesDeps {
  kube: () => KubeClient;
  issuer: JwtIssuer;
  /** Checks the agents' access tokens on the log and terminal streams. */
  auth: PrincipalAuth;
  /** The registry, once the gRPC server exists. */
  registry: () => AgentRegistry | undefined;
  metricsRegistry: Registry;
  /** Destination-based mapping: the agent of an Application on the principal (for the redis proxy). */
  agentForApp?: (namespace: string, name: string) => string | undefined;
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
  const proxyMetrics = resourceProxyMetrics(deps.metricsRegistry);
  const streams = principalStreams({
    agents,
    verify: callVerifier(deps.auth),
    proxyTimeoutMs: cfg.resourceProxyTimeout,
    metrics: streamMetrics(deps.metricsRegistry, proxyMetrics),
  });
  const resourceProxy = cfg.enableResourceProxy
    ? await startResourceProxy({
        host: cfg.listenHost,
        port: cfg.resourceProxyPort,
        tls: await resourceProxyTls(cfg, deps.kube),
        agents,
        issuer: deps.issuer,
        timeoutMs: cfg.resourceProxyTimeout,
        metrics: proxyMetrics,
        hooks: streams.hooks,
      })
    : undefined;
  const redis = await startPrincipalRedis(cfg, { kube: deps.kube, kubeAvailable: replicationEnabled(cfg), agents, metricsRegistry: deps.metricsRegistry, agentForApp: deps.agentForApp }).catch(async (err: unknown) => {
    await resourceProxy?.close();
    throw err;
  });
  return {
    resourceProxy,
    redis,
    streams,
    grpcServices: streams.grpcServices,
    lanes(agent) {
      return mergeLanes(resourceProxy ? { [EventTargets.resource]: resourceProxy.responseHandler(agent) } : undefined, redis.lanes(agent));
    },
    attach(registry) {
      registry.on((what, rec) => {
        if (what === "disconnected") resourceProxy?.agentGone(rec.agent);
        redis.onAgent(what, rec.agent);
      });
    },
    async close() {
      streams.close();
      await resourceProxy?.close();
      await redis.close();
    },
  };
}
