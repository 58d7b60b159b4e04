/**
 * Resource proxy metrics with upstream's names (live-resources.md §8):
 * requests and errors per agent on the principal, requests and errors on the
 * agent; plus our proxied-request latency. Per-agent series go when the agent does.
 *
 * @example
 *   const m = resourceProxyMetrics(registry);
 *   m.request("agent-a"); m.error("agent-a", "timeout");
 */
import { Counter, Histogram, type Registry } from "prom-client";
import { LATENCY_BUCKETS } from "../observability/metrics.ts";

export interface ResourceProxyMetrics {
  request(agent: string): void;
  error(agent: string, reason: string): void;
  latency(agent: string, seconds: number): void;
  forget(agent: string): void;
}

export function resourceProxyMetrics(registry: Registry): ResourceProxyMetrics {
  const requests = new Counter({ name: "argocd_principal_resource_proxy_requests_total", help: "Authenticated resource proxy requests, by agent", labelNames: ["agent_name"], registers: [registry] });
  const errors = new Counter({
    name: "argocd_principal_resource_proxy_errors_total",
    help: "Failed resource proxy requests: agent_disconnected, queue_missing, timeout, channel_closed, agent_error, too_many_requests",
    labelNames: ["agent_name", "reason"],
    registers: [registry],
  });
  const seconds = new Histogram({ name: "argocd_principal_resource_proxy_request_duration_seconds", help: "Seconds from sending a proxied request to the agent's answer", labelNames: ["agent_name"], buckets: LATENCY_BUCKETS, registers: [registry] });
  return {
    request: (agent) => requests.inc({ agent_name: agent }),
    error: (agent, reason) => errors.inc({ agent_name: agent, reason }),
    latency: (agent, s) => seconds.observe({ agent_name: agent }, s),
    forget(agent) {
      requests.remove({ agent_name: agent });
      seconds.remove({ agent_name: agent });
      for (const reason of ["agent_disconnected", "queue_missing", "timeout", "channel_closed", "agent_error", "too_many_requests"]) errors.remove({ agent_name: agent, reason });
    },
  };
}

/** The agent's counters (no labels, as upstream). */
export interface AgentResourceProxyMetrics {
  request(): void;
  error(): void;
}

export function agentResourceProxyMetrics(registry: Registry): AgentResourceProxyMetrics {
  const requests = new Counter({ name: "argocd_agent_resource_proxy_requests_total", help: "Resource requests received from the principal", registers: [registry] });
  const errors = new Counter({ name: "argocd_agent_resource_proxy_errors_total", help: "Resource requests that failed", registers: [registry] });
  return { request: () => requests.inc(), error: () => errors.inc() };
}
