/**
 * The principal's metrics: upstream's names (argocd_principal_*, principal_*)
 * plus per-agent connection status, reconnects, auth failures by reason,
 * acknowledgements, re-sends, coalescing, queue depth and latencies.
 *
 * @example
 *   const metrics = createPrincipalMetrics(newRegistry());
 *   const server = await startPrincipalServer({ ...opts, ...metrics.hooks });
 *   metrics.attach(server);
 */
import { Counter, Histogram, type Registry } from "prom-client";
import type { AgentEvent } from "../events/cloudevent.ts";
import type { EventHandler } from "../transport/event-session.ts";
import { LATENCY_BUCKETS, pulledCounter, pulledGauge, timedHandler } from "../observability/metrics.ts";
import type { AgentRecord } from "./agent-registry.ts";
import { resyncStats } from "../replication/principal/resync-stats.ts";
import type { PrincipalServer } from "./server.ts";
import type { WriteCounts } from "../kube/crud.ts";

export interface PrincipalMetrics {
  registry: Registry;
  hooks: {
    onAuthFailure: (reason: string) => void;
    onPingViolation: (peer: string) => void;
    onEvent: (agent: string, ev: AgentEvent) => void;
  };
  /** Wraps the per-agent event handler factory to time processing. */
  wrapHandler(factory: (rec: AgentRecord) => EventHandler): (rec: AgentRecord) => EventHandler;
  /** Starts reading connection and queue state from the server. */
  attach(server: PrincipalServer): void;
  /** Starts reading the replication's write counts (principal_applications_* and principal_app_projects_*). */
  attachWrites(read: () => { applications: WriteCounts; appProjects: WriteCounts }): void;
  /** Starts reading repository secret events and the GPG key count (principal_repositories_*, argocd_principal_gpg_keys_count). */
  attachDataStats(read: () => { repositories: WriteCounts; gpgKeys: number }): void;
}

const shortType = (t: string) => t.split(".").pop() ?? t;

export function createPrincipalMetrics(registry: Registry): PrincipalMetrics {
  let server: PrincipalServer | undefined;
  const records = () => server?.registry.all() ?? [];
  const perAgent = (read: (r: AgentRecord) => number) => () => records().map((r): [Record<string, string>, number] => [{ agent_name: r.agent }, read(r)]);

  const authFailures = new Counter({ name: "argocd_principal_auth_failures_total", help: "Failed agent authentications, by reason", labelNames: ["reason"], registers: [registry] });
  const pingViolations = new Counter({ name: "argocd_principal_keepalive_violations_total", help: "Connections closed with GOAWAY too_many_pings", registers: [registry] });
  const received = new Counter({ name: "principal_events_received", help: "Events received from agents", labelNames: ["agent_name", "event_type", "resource_type"], registers: [registry] });
  const connections = new Counter({ name: "argocd_principal_agent_connections_total", help: "Event stream connections, by agent", labelNames: ["agent_name"], registers: [registry] });
  const processing = new Histogram({
    name: "principal_event_processing_time",
    help: "Seconds spent processing an event from an agent",
    labelNames: ["status", "agent_name", "resource_type"],
    buckets: LATENCY_BUCKETS,
    registers: [registry],
  });
  const latency = new Histogram({
    name: "argocd_principal_event_propagation_latency_seconds",
    help: "Seconds from an agent first sending an event (sentat) to the principal receiving it",
    labelNames: ["resource_type"],
    buckets: LATENCY_BUCKETS,
    registers: [registry],
  });
  const errors = new Counter({ name: "principal_errors", help: "Events from agents whose processing failed, by resource type", labelNames: ["resource_type"], registers: [registry] });
  let writes: (() => { applications: WriteCounts; appProjects: WriteCounts }) | undefined;
  for (const [prefix, kind, what] of [["principal_applications", "applications", "Applications"], ["principal_app_projects", "appProjects", "AppProjects"]] as const) {
    for (const action of ["created", "updated", "deleted"] as const) {
      pulledCounter(registry, `${prefix}_${action}`, `${what} ${action} on the principal's cluster by replication`, [], () => [[{}, writes?.()[kind][action] ?? 0]]);
    }
  }
  let dataStats: (() => { repositories: WriteCounts; gpgKeys: number }) | undefined;
  for (const action of ["created", "updated", "deleted"] as const) {
    // Upstream counts the repository secret watch's events, not writes (the principal writes none).
    pulledCounter(registry, `principal_repositories_${action}`, `Repository secrets ${action} in the principal namespace (watch events)`, [], () => [[{}, dataStats?.().repositories[action] ?? 0]]);
  }
  pulledGauge(registry, "argocd_principal_gpg_keys_count", "Keys in the GPG keys ConfigMap replicated to managed agents", [], () => [[{}, dataStats?.().gpgKeys ?? 0]]);
  pulledGauge(registry, "principal_agent_avg_connection_time", "Average age in minutes of the live agent connections (computed at scrape time)", [], () => {
    const live = records().flatMap((r) => (r.connection ? [r.connection.connectedAt.getTime()] : []));
    const now = Date.now();
    return [[{}, live.length ? live.reduce((sum, t) => sum + (now - t), 0) / live.length / 60_000 : 0]];
  });
  pulledGauge(registry, "argocd_principal_connected_agents", "Agents with a live event stream", [], () => [[{}, server?.registry.connected().length ?? 0]]);
  pulledGauge(registry, "argocd_principal_agent_connected", "1 while the agent has a live event stream", ["agent_name"], perAgent((r) => (r.connection ? 1 : 0)));
  pulledCounter(registry, "argocd_principal_agent_reconnects_total", "Connections that replaced or followed an earlier one", ["agent_name"], perAgent((r) => r.reconnects));
  // Tracked events by agent and type; one label set per (agent, type) ever seen.
  const perAgentType = (field: "sent" | "acked" | "resent" | "coalesced") => () =>
    records().flatMap((r) =>
      [...r.writer.statsByType()].map(([type, c]): [Record<string, string>, number] => [{ agent_name: r.agent, event_type: shortType(type) }, c[field]]),
    );
  pulledCounter(registry, "principal_events_sent", "Events sent to agents (first transmissions)", ["agent_name", "event_type"], perAgentType("sent"));
  pulledCounter(registry, "argocd_principal_events_acknowledged_total", "Sent events acknowledged by agents", ["agent_name", "event_type"], perAgentType("acked"));
  pulledCounter(registry, "argocd_principal_events_resent_total", "Events re-sent because no ack came in time or the stream changed", ["agent_name", "event_type"], perAgentType("resent"));
  pulledCounter(registry, "argocd_principal_events_coalesced_total", "Pending updates replaced by a newer one of the same resource", ["agent_name", "event_type"], perAgentType("coalesced"));
  pulledCounter(registry, "argocd_principal_event_writer_events_discarded_total", "Pending events dropped because the resource was deleted", ["agent_name"], perAgent((r) => r.writer.stats().discarded));
  pulledCounter(registry, "principal_event_writer_send_errors_total", "Failed stream writes", ["agent_name"], perAgent((r) => r.writer.stats().sendErrors));
  pulledCounter(registry, "argocd_principal_resync_runs_total", "Resync runs started with an agent (on connect and every --resync-interval)", ["agent_name"], () =>
    [...resyncStats.runs].map(([agent, n]): [Record<string, string>, number] => [{ agent_name: agent }, n]));
  pulledCounter(registry, "argocd_principal_resync_results_total", "What resync requests led to: in-sync, updated, deleted, list-sent, list-in-sync, skipped-running, already-requested", ["agent_name", "result"], () =>
    [...resyncStats.results].flatMap(([agent, m]) => [...m].map(([result, n]): [Record<string, string>, number] => [{ agent_name: agent, result }, n])));
  pulledGauge(registry, "argocd_principal_queue_depth", "Events waiting for an agent (unsent + unacknowledged)", ["agent_name"], perAgent((r) => {
    const b = r.writer.backlog();
    return b.inFlight + b.unsent + b.fireAndForget;
  }));

  return {
    registry,
    hooks: {
      onAuthFailure: (reason) => authFailures.inc({ reason }),
      onPingViolation: () => pingViolations.inc(),
      onEvent: (agent, ev) => received.inc({ agent_name: agent, event_type: shortType(ev.type), resource_type: ev.target }),
    },
    wrapHandler: (factory) => (rec) => timedHandler(factory(rec), { processing, latency, errors, rejectedStatus: "not-allowed" }, { agent_name: rec.agent }),
    attach(s) {
      server = s;
      s.registry.on((what, rec) => {
        if (what === "connected") connections.inc({ agent_name: rec.agent });
      });
    },
    attachWrites(read) {
      writes = read;
    },
    attachDataStats(read) {
      dataStats = read;
    },
  };
}
