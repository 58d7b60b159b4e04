/**
 * The agent's live-resource rooms: the resource-proxy executor
 * (src/resourceproxy/agent-requests.ts) and the places where the redis and
 * log/terminal rooms join. Each answers the principal's requests against this
 * cluster in its own lane, never in the replication processors.
 *
 * @example
 *   const live = startAgentLiveResources(cfg, { kube, writer, metricsRegistry });
 *   const handler = laneRouter({ replication: repl.handler, live: live.lanes });
 */
import type { Registry } from "prom-client";
import { EventTargets } from "../events/event-types.ts";
import type { EventWriter } from "../events/event-writer.ts";
import { mergeLanes, type Lanes } from "../events/lanes.ts";
import type { KubeClient } from "../kube/client.ts";
import { AgentResourceRequests } from "../resourceproxy/agent-requests.ts";
import { agentResourceProxyMetrics } from "../resourceproxy/metrics.ts";
import type { AgentSettings } from "./run.ts";

export interface AgentLiveResources {
  resourceRequests?: AgentResourceRequests;
  lanes: NonNullable<Lanes["live"]>;
  close(): Promise<void>;
}

export interface AgentLiveDeps {
  /** Undefined when the agent has no cluster access (no kubeconfig, not in a pod). */
  kube: KubeClient | undefined;
  writer: EventWriter;
  metricsRegistry: Registry;
}

export function startAgentLiveResources(cfg: AgentSettings, deps: AgentLiveDeps): AgentLiveResources {
  const resourceRequests = deps.kube
    ? new AgentResourceRequests({
        kc: deps.kube.kubeConfig,
        namespace: cfg.namespace,
        writer: deps.writer,
        enabled: cfg.enableResourceProxy,
        metrics: agentResourceProxyMetrics(deps.metricsRegistry),
      })
    : undefined;
  return {
    resourceRequests,
    lanes: mergeLanes(resourceRequests ? { [EventTargets.resource]: resourceRequests.handler } : undefined),
    async close() {
      resourceRequests?.close();
    },
  };
}
