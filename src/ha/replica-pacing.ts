/**
 * Pacing of the HA replica client (replica-client.ts): its timings (the
 * fixed internals of operations.md §4.2, overridable for tests), the
 * coalescing schedule of re-snapshots, and ACK writes that never block.
 *
 * @example
 *   const reconcile = new ReconcileSchedule(() => queue.wake());
 *   reconcile.request(0, "sequence gap"); // the loop re-snapshots before its next event
 *   new Acks(stream).send(42);
 */
import type { ClientDuplexStream } from "@grpc/grpc-js";
import { getLogger } from "../observability/log.ts";
import type { ReplicatedEvent, ReplicationAck } from "../proto/gen/replication.ts";

const log = getLogger("ha");

export interface ReplicaClientTiming {
  ackIntervalMs: number;
  statusIntervalMs: number;
  /** Delay that coalesces re-snapshots asked for by ambiguous events and failed writes. */
  reconcileDelayMs: number;
  connectTimeoutMs: number;
  backoff: { baseMs: number; factor: number; capMs: number };
  maxQueuedEvents: number;
  snapshotTimeoutMs: number;
  /** Deadline of Status and ConfirmMissingResources. */
  callTimeoutMs: number;
}

export const DEFAULT_REPLICA_TIMING: Readonly<ReplicaClientTiming> = Object.freeze({
  ackIntervalMs: 5_000,
  statusIntervalMs: 60_000,
  reconcileDelayMs: 10_000,
  connectTimeoutMs: 30_000,
  backoff: { baseMs: 1_000, factor: 1.5, capMs: 30_000 },
  maxQueuedEvents: 1_000,
  snapshotTimeoutMs: 120_000,
  callTimeoutMs: 30_000,
});

/** A re-snapshot wanted at some time; the earliest request wins, the loop is woken when due. */
export class ReconcileSchedule {
  private at: number | undefined;
  private timer: NodeJS.Timeout | undefined;
  private readonly wake: () => void;
  constructor(wake: () => void) {
    this.wake = wake;
  }
  request(delayMs: number, reason: string): void {
    const at = Date.now() + delayMs;
    if (this.at !== undefined && this.at <= at) return;
    log.info("re-snapshot scheduled", { reason, in: `${delayMs}ms` });
    this.at = at;
    clearTimeout(this.timer);
    this.timer = setTimeout(this.wake, delayMs);
  }
  due(): boolean {
    // Timers may fire a millisecond before Date.now() reaches `at`.
    return this.at !== undefined && Date.now() >= this.at - 20;
  }
  clear(): void {
    this.at = undefined;
    clearTimeout(this.timer);
  }
}

/** ACK writes that never block: while the stream refuses writes, ACKs are skipped (a later one carries the number). */
export class Acks {
  private blocked = false;
  private readonly stream: ClientDuplexStream<ReplicationAck, ReplicatedEvent>;
  constructor(stream: ClientDuplexStream<ReplicationAck, ReplicatedEvent>) {
    this.stream = stream;
  }
  send(seq: number): void {
    if (this.blocked || this.stream.writableEnded || this.stream.destroyed) return;
    if (!this.stream.write({ ackedSequenceNum: String(seq) })) {
      this.blocked = true;
      this.stream.once("drain", () => (this.blocked = false));
    }
  }
}

