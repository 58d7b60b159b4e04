/**
 * What the replica client reports (operations.md §4.7, upstream's
 * `argocd_agent_replication_client_*` series): an interface, so the client
 * does not depend on prom-client; ha-metrics.ts implements it on the
 * principal's registry, and tests use the counting no-op below.
 *
 * @example
 *   const metrics = countingReplicaMetrics();
 *   startReplicaClient({ ..., metrics });
 *   metrics.values.eventsProcessed; // 3
 */

export interface ReplicaClientMetrics {
  /** 1 while the replication stream is up (snapshot applied), else 0. */
  connected(up: 0 | 1): void;
  eventsReceived(): void;
  eventsProcessed(): void;
  /** An event that could not be applied (logged; the next re-snapshot repairs it). */
  eventsErrors(): void;
  /** Received events dropped unapplied (queue overflow; the re-snapshot that follows covers them). */
  eventsDropped?(): void;
  reconnectAttempts(): void;
  lastSequence(n: number): void;
  /** Agents in the last applied snapshot. */
  snapshotAgents(n: number): void;
  /** Re-snapshots within one connection (sequence gap, peer ahead, ambiguous event). */
  reconciliations(): void;
  sequenceGaps(): void;
  snapshotFetchErrors(): void;
  snapshotApplyErrors(): void;
  /** Seconds between the primary processing the last applied event and us applying it. */
  lagSeconds(s: number): void;
}

/** The values a counting implementation keeps (tests read them). */
export interface ReplicaMetricValues {
  connected: number;
  eventsReceived: number;
  eventsProcessed: number;
  eventsErrors: number;
  eventsDropped: number;
  reconnectAttempts: number;
  lastSequence: number;
  snapshotAgents: number;
  reconciliations: number;
  sequenceGaps: number;
  snapshotFetchErrors: number;
  snapshotApplyErrors: number;
  lagSeconds: number;
}

/** An implementation that only counts in memory (tests, or HA without a metrics port). */
export function countingReplicaMetrics(): ReplicaClientMetrics & { values: ReplicaMetricValues } {
  const values: ReplicaMetricValues = {
    connected: 0,
    eventsReceived: 0,
    eventsProcessed: 0,
    eventsErrors: 0,
    eventsDropped: 0,
    reconnectAttempts: 0,
    lastSequence: 0,
    snapshotAgents: 0,
    reconciliations: 0,
    sequenceGaps: 0,
    snapshotFetchErrors: 0,
    snapshotApplyErrors: 0,
    lagSeconds: 0,
  };
  return {
    values,
    connected: (up) => void (values.connected = up),
    eventsReceived: () => void values.eventsReceived++,
    eventsProcessed: () => void values.eventsProcessed++,
    eventsErrors: () => void values.eventsErrors++,
    eventsDropped: () => void values.eventsDropped++,
    reconnectAttempts: () => void values.reconnectAttempts++,
    lastSequence: (n) => void (values.lastSequence = n),
    snapshotAgents: (n) => void (values.snapshotAgents = n),
    reconciliations: () => void values.reconciliations++,
    sequenceGaps: () => void values.sequenceGaps++,
    snapshotFetchErrors: () => void values.snapshotFetchErrors++,
    snapshotApplyErrors: () => void values.snapshotApplyErrors++,
    lagSeconds: (s) => void (values.lagSeconds = s),
  };
}

/** Discards everything. */
export const noopReplicaMetrics: ReplicaClientMetrics = {
  connected: () => {},
  eventsReceived: () => {},
  eventsProcessed: () => {},
  eventsErrors: () => {},
  reconnectAttempts: () => {},
  lastSequence: () => {},
  snapshotAgents: () => {},
  reconciliations: () => {},
  sequenceGaps: () => {},
  snapshotFetchErrors: () => {},
  snapshotApplyErrors: () => {},
  lagSeconds: () => {},
};
