/**
 * The agent's live-resource rooms: the resource-proxy executor
 * (src/resourceproxy/agent-requests.ts), pod logs and exec for the web
 * terminal (src/streams/), and the redis room (src/redisproxy/: answers from
 * the local Argo CD redis, cluster cache reports). Each answers the principal's
 * requests against this cluster in its own lane, never in the replication processors.
 *
 * @example
 *   const live = await startAgentLiveResources(cfg, { kube, writer, metricsRegistry, channel, connected });
 *   const handler = laneRouter({ replication: repl.handler, live: live.lanes });
 */
import type { Registry } from "prom-client";
import { EventTargets } from "../events/event-types.ts";
import type { EventWriter } from "../events/event-writer.ts";
import { mergeLanes, type Lanes } from "../events/lanes.ts";
import type { KubeClient } from "../kube/client.ts";
import { AgentResourceRequests } from "../resourceproxy/agent-requests.ts";
import { agentResourceProxyMetrics } from "../resourceproxy/metrics.ts";
import { agentStreams, type AgentStreams } from "../streams/streams.ts";
import type { LiveChannel } from "../streams/agent-logs.ts";
import { startAgentRedis, type AgentRedis } from "../redisproxy/agent-room.ts";
import type { AgentSettings } from "./run.ts";

export interface AgentLiveResources {
  resourceRequests?: AgentResourceRequests;
  streams?: AgentStreams;
  redis: AgentRedis;
  lanes: NonNullable<Lanes["live"]>;
  close(): Promise<void>;
}

export interface AgentLiveDeps {
  /** Undefined when the agent has no cluster access (no kubeconfig, not in a pod). */
  kube: KubeClient | undefined;
  writer: EventWriter;
  metricsRegistry: Registry;
  /** The connection's channel for the log and terminal streams to the principal. */
  channel: LiveChannel;
  /** Whether the agent is connected to the principal now (cluster cache reports wait for it). */
  connected: () => boolean;
}

export async function startAgentLiveResources(cfg: AgentSettings, deps: AgentLiveDeps): Promise<AgentLiveResources> {
  const resourceRequests = deps.kube
    ? new AgentResourceRequests({
        kc: deps.kube.kubeConfig,
        namespace: cfg.namespace,
        writer: deps.writer,
        enabled: cfg.enableResourceProxy,
        metrics: agentResourceProxyMetrics(deps.metricsRegistry),
      })
    : undefined;
  // Upstream serves logs and exec whatever --enable-resource-proxy says (§4.4, §5.4).
  const streams = deps.kube ? agentStreams({ kc: deps.kube.kubeConfig, channel: deps.channel }) : undefined;
  const redis = await startAgentRedis(cfg, { kube: deps.kube, writer: deps.writer, metricsRegistry: deps.metricsRegistry, connected: deps.connected });
  return {
    resourceRequests,
    streams,
    redis,
    lanes: mergeLanes(resourceRequests ? { [EventTargets.resource]: resourceRequests.handler } : undefined, streams?.lanes, redis.lanes),
    async close() {
      redis.close();
      streams?.close();
      resourceRequests?.close();
    },
  };
}
