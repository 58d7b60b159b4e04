/**
 * What the principal's log and terminal services share: the caller check
 * (the agent's access token, as for Subscribe), gRPC status errors, and the
 * metrics. Upstream counts log and terminal requests only in the resource
 * proxy's requests_total/errors_total (§8); the two gauges of open streams
 * are ours.
 *
 * @example
 *   const m = streamMetrics(registry, proxyMetrics);
 *   m.logStreams("agent-a", 3);
 */
import { Metadata, type status, type ServerUnaryCall, type ServiceError } from "@grpc/grpc-js";
import { Gauge, type Registry } from "prom-client";
import type { ResourceProxyMetrics } from "../resourceproxy/metrics.ts";

/** Checks the access token of a StreamLogs / StreamTerminal call. */
export type VerifyCall = (call: Pick<ServerUnaryCall<unknown, unknown>, "metadata" | "getPeer" | "getAuthContext">) => Promise<{ ok: true; agent: string; mode: "managed" | "autonomous" } | { ok: false; reason: string }>;

export function grpcError(code: status, details: string): ServiceError {
  return Object.assign(new Error(details), { code, details, metadata: new Metadata() }) as ServiceError;
}

export interface StreamMetrics {
  /** argocd_principal_resource_proxy_errors_total{agent_name,reason}, upstream's counter. */
  proxyError(agent: string, reason: string): void;
  logStreams(agent: string, open: number): void;
  terminalSessions(agent: string, open: number): void;
  forget(agent: string): void;
}

export function streamMetrics(registry: Registry, proxy?: ResourceProxyMetrics): StreamMetrics {
  const logs = new Gauge({ name: "argocd_principal_log_streams", help: "Open pod log streams through the resource proxy, by agent", labelNames: ["agent_name"], registers: [registry] });
  const terminals = new Gauge({ name: "argocd_principal_terminal_sessions", help: "Open web terminal sessions, by agent", labelNames: ["agent_name"], registers: [registry] });
  return {
    proxyError: (agent, reason) => proxy?.error(agent, reason),
    logStreams: (agent, n) => logs.set({ agent_name: agent }, n),
    terminalSessions: (agent, n) => terminals.set({ agent_name: agent }, n),
    forget(agent) {
      logs.remove({ agent_name: agent });
      terminals.remove({ agent_name: agent });
    },
  };
}
