/**
 * The HA metrics with upstream's names (operations.md §4.7), on the
 * principal's registry: state and transitions, failovers/failbacks, refused
 * agent connections, the forwarder's series (argocd_agent_replication_*) and
 * the replica client's (argocd_agent_replication_client_*), the latter handed
 * to the replica client as a ReplicaClientMetrics.
 *
 * @example
 *   const m = createHaMetrics(metrics.registry);
 *   m.watchState(stateMachine);
 *   new Forwarder({ metrics: m.forwarder, ... });
 *   startReplicaClient({ metrics: m.client, ... });
 */
import { Counter, Gauge, type Registry } from "prom-client";
import { HA_STATES, type HaStateMachine } from "./ha-state.ts";
import type { ForwarderMetrics } from "./forwarder.ts";
import type { ReplicaClientMetrics } from "./replica-metrics.ts";

export interface HaMetrics {
  forwarder: ForwarderMetrics;
  client: ReplicaClientMetrics;
  /** Follows the state machine: argocd_agent_ha_state and argocd_agent_ha_transitions_total. */
  watchState(sm: HaStateMachine): void;
  failover(): void;
  failback(): void;
  connectionRejected(state: string, reason: string): void;
  resourceOperationError(kind: string, operation: string): void;
}

export function createHaMetrics(registry: Registry): HaMetrics {
  const registers = [registry];
  const counter = (name: string, help: string, labelNames: string[] = []) => new Counter({ name, help, labelNames, registers });
  const gauge = (name: string, help: string, labelNames: string[] = []) => new Gauge({ name, help, labelNames, registers });

  const state = gauge("argocd_agent_ha_state", "1 on the principal's current HA state, 0 on the others", ["state"]);
  const transitions = counter("argocd_agent_ha_transitions_total", "HA state transitions", ["from_state", "to_state"]);
  const failovers = counter("argocd_agent_ha_failovers_total", "Promotions of this principal to active");
  const failbacks = counter("argocd_agent_ha_failbacks_total", "Demotions of this principal from active");
  const rejected = counter("argocd_agent_ha_connections_rejected_total", "Agent Subscribe calls refused because this principal is not active", ["state", "reason"]);
  const opErrors = counter("argocd_agent_ha_resource_operation_errors_total", "Failed writes of replicated resources on a replica", ["kind", "operation"]);
  // Declared by upstream and never set there; kept so dashboards find them (always 0, see replication_client_* instead).
  gauge("argocd_agent_ha_replication_lag_seconds", "Declared for compatibility with upstream; see argocd_agent_replication_client_lag_seconds");
  counter("argocd_agent_ha_replication_events_total", "Declared for compatibility with upstream; see argocd_agent_replication_client_events_processed_total");
  counter("argocd_agent_ha_replication_errors_total", "Declared for compatibility with upstream; see argocd_agent_replication_client_events_errors_total");

  const fwdQueued = counter("argocd_agent_replication_events_queued_total", "Events queued for replicas");
  const fwdDropped = counter("argocd_agent_replication_events_dropped_total", "Queued events discarded because a replica fell more than the queue bound behind (the replica is disconnected and re-snapshots)");
  const fwdForwarded = counter("argocd_agent_replication_events_forwarded_total", "Events written to replica streams");
  const fwdReplicas = gauge("argocd_agent_replication_replicas_connected", "Replica streams connected to this principal");
  const fwdQueue = gauge("argocd_agent_replication_queue_size", "Events waiting to be written to replica streams (all replicas)");
  const fwdErrors = counter("argocd_agent_replication_forwarding_errors_total", "Failed writes to replica streams");
  const fwdLastSeq = gauge("argocd_agent_replication_last_sequence_number", "Sequence number of the last event numbered for replication");

  const c = "argocd_agent_replication_client";
  const cConnected = gauge(`${c}_connected`, "1 while the replication stream to the peer is up");
  const cReceived = counter(`${c}_events_received_total`, "Replicated events received from the peer");
  const cProcessed = counter(`${c}_events_processed_total`, "Replicated events applied to the local cluster");
  const cErrors = counter(`${c}_events_errors_total`, "Replicated events whose apply failed");
  const cDropped = counter(`${c}_events_dropped_total`, "Replicated events dropped by the replica");
  const cLag = gauge(`${c}_lag_seconds`, "Seconds between the peer processing an event and this replica applying it");
  const cReconnects = counter(`${c}_reconnect_attempts_total`, "Attempts to reconnect to the peer");
  const cLastSeq = gauge(`${c}_last_sequence_number`, "Sequence number of the last replicated event applied");
  const cAgents = gauge(`${c}_snapshot_agents`, "Agents in the last snapshot applied");
  const cReconciles = counter(`${c}_reconciliations_total`, "Full snapshot re-applies after the initial sync");
  const cGaps = counter(`${c}_sequence_gaps_total`, "Gaps seen in the replicated sequence numbers");
  const cFetchErrors = counter(`${c}_snapshot_fetch_errors_total`, "Failed GetSnapshot calls");
  const cApplyErrors = counter(`${c}_snapshot_apply_errors_total`, "Snapshots whose apply failed");

  const client: ReplicaClientMetrics & { eventsDropped(): void } = {
    connected: (v) => cConnected.set(v),
    eventsReceived: () => cReceived.inc(),
    eventsProcessed: () => cProcessed.inc(),
    eventsErrors: () => cErrors.inc(),
    eventsDropped: () => cDropped.inc(),
    reconnectAttempts: () => cReconnects.inc(),
    lastSequence: (n) => cLastSeq.set(n),
    snapshotAgents: (n) => cAgents.set(n),
    reconciliations: () => cReconciles.inc(),
    sequenceGaps: () => cGaps.inc(),
    snapshotFetchErrors: () => cFetchErrors.inc(),
    snapshotApplyErrors: () => cApplyErrors.inc(),
    lagSeconds: (s) => cLag.set(s),
  };

  return {
    forwarder: {
      queued: () => fwdQueued.inc(),
      dropped: (n) => fwdDropped.inc(n),
      forwarded: () => fwdForwarded.inc(),
      forwardingError: () => fwdErrors.inc(),
      replicasConnected: (n) => fwdReplicas.set(n),
      queueSize: (n) => fwdQueue.set(n),
      lastSequence: (n) => fwdLastSeq.set(n),
    },
    client,
    watchState(sm) {
      const show = (current: string) => {
        for (const s of HA_STATES) state.set({ state: s }, s === current ? 1 : 0);
      };
      show(sm.state());
      sm.on((from, to) => {
        transitions.inc({ from_state: from, to_state: to });
        show(to);
      });
    },
    failover: () => failovers.inc(),
    failback: () => failbacks.inc(),
    connectionRejected: (s, reason) => rejected.inc({ state: s, reason }),
    resourceOperationError: (kind, operation) => opErrors.inc({ kind, operation }),
  };
}
