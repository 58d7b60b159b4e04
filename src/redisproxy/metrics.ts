/**
 * Redis proxy metrics with upstream's names (live-resources.md §8): agent-routed
 * GET/SUBSCRIBE requests and their failures, per agent and command on the
 * principal, per command on the agent. Pings are not counted, as upstream.
 * Ours on top: open proxy connections and the agent round-trip time.
 *
 * @example
 *   const m = redisProxyMetrics(registry);
 *   m.request("agent-a", "get"); m.error("agent-a", "get");
 */
import { Counter, Gauge, Histogram, type Registry } from "prom-client";
import { LATENCY_BUCKETS } from "../observability/metrics.ts";

export type RedisProxyCommand = "get" | "subscribe";

export interface RedisProxyMetrics {
  request(agent: string, command: RedisProxyCommand): void;
  error(agent: string, command: RedisProxyCommand): void;
  latency(agent: string, seconds: number): void;
  connections(delta: number): void;
}

export function redisProxyMetrics(registry: Registry): RedisProxyMetrics {
  const requests = new Counter({ name: "argocd_principal_redis_proxy_requests_total", help: "Redis commands the proxy sent to an agent, by agent and command", labelNames: ["agent_name", "command"], registers: [registry] });
  const errors = new Counter({ name: "argocd_principal_redis_proxy_errors_total", help: "Agent-routed redis commands that failed, by agent and command", labelNames: ["agent_name", "command"], registers: [registry] });
  const open = new Gauge({ name: "argocd_principal_redis_proxy_connections", help: "Client connections open on the redis proxy", registers: [registry] });
  const seconds = new Histogram({ name: "argocd_principal_redis_proxy_request_duration_seconds", help: "Seconds from sending a redis command to an agent to its answer", labelNames: ["agent_name"], buckets: LATENCY_BUCKETS, registers: [registry] });
  return {
    request: (agent, command) => requests.inc({ agent_name: agent, command }),
    error: (agent, command) => errors.inc({ agent_name: agent, command }),
    latency: (agent, s) => seconds.observe({ agent_name: agent }, s),
    connections: (delta) => open.inc(delta),
  };
}

export interface AgentRedisMetrics {
  request(command: RedisProxyCommand): void;
  error(command: RedisProxyCommand): void;
}

export function agentRedisMetrics(registry: Registry): AgentRedisMetrics {
  const requests = new Counter({ name: "argocd_agent_redis_proxy_requests_total", help: "Redis commands received from the principal, by command", labelNames: ["command"], registers: [registry] });
  const errors = new Counter({ name: "argocd_agent_redis_proxy_errors_total", help: "Redis commands from the principal that failed, by command", labelNames: ["command"], registers: [registry] });
  return { request: (command) => requests.inc({ command }), error: (command) => errors.inc({ command }) };
}
