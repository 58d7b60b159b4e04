/**
 * The agent's metrics: upstream's names (agent_*, argocd_agent_*) plus
 * reconnects, acknowledgements, re-sends, coalescing, queue depth and latency.
 */
import { Counter, Gauge, Histogram, type Registry } from "prom-client";
import type { AgentEvent } from "../events/cloudevent.ts";
import type { EventHandler } from "../transport/event-session.ts";
import { LATENCY_BUCKETS, pulledCounter, pulledGauge, timedHandler } from "../observability/metrics.ts";
import type { AgentConnection, ConnectionStatus } from "./connection.ts";

export interface AgentMetrics {
  registry: Registry;
  onStatus(s: ConnectionStatus): void;
  onEvent(ev: AgentEvent): void;
  wrapHandler(h: EventHandler): EventHandler;
  attach(conn: AgentConnection): void;
}

export function createAgentMetrics(registry: Registry, mode: string): AgentMetrics {
  let conn: AgentConnection | undefined;
  const status = new Gauge({ name: "argocd_agent_connection_status", help: "1 while connected to the principal", registers: [registry] });
  const since = new Gauge({ name: "argocd_agent_connection_start_timestamp_seconds", help: "When the current connection was established", registers: [registry] });
  const connections = new Counter({ name: "argocd_agent_connections_total", help: "Successful connections to the principal", registers: [registry] });
  const reconnects = new Counter({ name: "argocd_agent_reconnects_total", help: "Disconnections followed by a reconnect attempt, by reason", labelNames: ["reason"], registers: [registry] });
  const authFailures = new Counter({ name: "argocd_agent_auth_failures_total", help: "Authentications the principal refused", registers: [registry] });
  const received = new Counter({ name: "agent_events_received", help: "Events received from the principal", labelNames: ["event_type", "resource_type"], registers: [registry] });
  const processing = new Histogram({
    name: "agent_event_processing_time",
    help: "Seconds spent processing an event from the principal",
    labelNames: ["status", "agent_mode", "resource_type"],
    buckets: LATENCY_BUCKETS,
    registers: [registry],
  });
  const latency = new Histogram({
    name: "agent_event_propagation_latency_seconds",
    help: "Seconds from the principal first sending an event (sentat) to the agent receiving it",
    labelNames: ["resource_type"],
    buckets: LATENCY_BUCKETS,
    registers: [registry],
  });
  const errors = new Counter({ name: "agent_errors", help: "Events from the principal whose processing failed, by resource type", labelNames: ["resource_type"], registers: [registry] });
  const stat = (k: "sent" | "acked" | "resent" | "coalesced" | "discarded") => () => [[{}, conn?.writer.stats()[k] ?? 0] as [Record<string, string>, number]];
  const byType = (k: "sent" | "acked" | "resent" | "coalesced") => () =>
    [...(conn?.writer.statsByType() ?? [])].map(([type, c]): [Record<string, string>, number] => [{ event_type: type.split(".").pop() ?? type }, c[k]]);
  pulledCounter(registry, "agent_events_sent", "Events sent to the principal (first transmissions)", ["event_type"], byType("sent"));
  pulledCounter(registry, "argocd_agent_events_acknowledged_total", "Sent events acknowledged by the principal", ["event_type"], byType("acked"));
  pulledCounter(registry, "argocd_agent_events_resent_total", "Events re-sent because no ack came in time or the stream changed", ["event_type"], byType("resent"));
  pulledCounter(registry, "argocd_agent_events_coalesced_total", "Pending updates replaced by a newer one of the same resource", ["event_type"], byType("coalesced"));
  pulledCounter(registry, "argocd_agent_event_writer_events_discarded_total", "Pending events dropped because the resource was deleted", [], stat("discarded"));
  pulledGauge(registry, "argocd_agent_queue_depth", "Events waiting for the principal (unsent + unacknowledged)", [], () => {
    const b = conn?.writer.backlog();
    return [[{}, b ? b.inFlight + b.unsent + b.fireAndForget : 0]];
  });

  return {
    registry,
    onStatus(s) {
      if (s.state === "connected") {
        status.set(1);
        since.set(s.since.getTime() / 1000);
        connections.inc();
      } else {
        status.set(0);
        if (s.state === "disconnected") {
          const reason = s.reason.split(":")[0] || "unknown";
          reconnects.inc({ reason });
          if (reason === "UNAUTHENTICATED") authFailures.inc();
        }
      }
    },
    onEvent: (ev) => received.inc({ event_type: ev.type.split(".").pop() ?? ev.type, resource_type: ev.target }),
    wrapHandler: (h) => timedHandler(h, { processing, latency, errors, rejectedStatus: "discarded" }, { agent_mode: mode }),
    attach(c) {
      conn = c;
    },
  };
}
