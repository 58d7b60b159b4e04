/**
 * The active principal's side of HA replication (operations.md §4.5): every
 * event it forwards gets the next per-process sequence number (numbered even
 * with no replica connected), and is queued for each replica's Subscribe
 * stream. A new stream starts in "buffering" mode: events wait until the
 * replica's first ACK (sent after it applied its snapshot), then the buffer
 * is flushed and the stream goes live. Bounds, all tested:
 * - at most MAX_REPLICAS streams (more → RESOURCE_EXHAUSTED);
 * - at most `queueBound` events waiting per replica: a replica that falls
 *   further behind is DISCONNECTED (RESOURCE_EXHAUSTED) with a log line. It
 *   reconnects and takes a fresh snapshot, so nothing is lost; upstream drops
 *   the event silently instead, which leaves the replica with a gap;
 * - no first ACK within the initial-ACK timeout → DEADLINE_EXCEEDED.
 *
 * @example
 *   const fwd = new Forwarder({ metrics: haMetrics.forwarder });
 *   fwd.forward(ev, "agent-a", "outbound");              // sequence 1
 *   subscribe: (stream) => fwd.serve(stream, "peer-1"),  // in the Replication service
 *   fwd.stop("demoted");                                 // ends every replica stream
 */
import { Metadata, status } from "@grpc/grpc-js";
import { toWire, type AgentEvent } from "../events/cloudevent.ts";
import { getLogger } from "../observability/log.ts";
import type { ReplicatedEvent, ReplicationAck } from "../proto/gen/replication.ts";

const log = getLogger("ha");

export const MAX_REPLICAS = 10;
export const REPLICA_QUEUE_BOUND = 1000;
export const DEFAULT_INITIAL_ACK_TIMEOUT_MS = 5 * 60_000;

export type Direction = "inbound" | "outbound";

export interface ForwarderMetrics {
  queued(): void;
  dropped(n: number): void;
  forwarded(): void;
  forwardingError(): void;
  replicasConnected(n: number): void;
  queueSize(n: number): void;
  lastSequence(n: number): void;
}

export const NO_FORWARDER_METRICS: ForwarderMetrics = {
  queued() {}, dropped() {}, forwarded() {}, forwardingError() {}, replicasConnected() {}, queueSize() {}, lastSequence() {},
};

/** The part of a grpc-js server duplex stream the forwarder uses. */
export interface ReplicaStreamLike {
  write(msg: ReplicatedEvent): boolean;
  end(): void;
  emit(event: "error", err: Error): boolean;
  on(event: "data", fn: (ack: ReplicationAck) => void): unknown;
  on(event: "end" | "close" | "cancelled" | "drain", fn: () => void): unknown;
  on(event: "error", fn: (err: Error) => void): unknown;
  removeListener(event: string, fn: (...args: never[]) => void): unknown;
}

export interface ForwarderOptions {
  metrics?: ForwarderMetrics;
  /** 0 or absent: DEFAULT_INITIAL_ACK_TIMEOUT_MS. */
  initialAckTimeoutMs?: number;
  maxReplicas?: number;
  queueBound?: number;
}

/** A status to end a replica stream with. */
function statusError(code: status, details: string): Error {
  return Object.assign(new Error(details), { code, details, metadata: new Metadata() });
}

let nextReplicaId = 1;

class ReplicaStream {
  readonly id = nextReplicaId++;
  readonly queue: ReplicatedEvent[] = [];
  live = false;
  blocked = false;
  closed = false;
  acked = 0;
  timer: NodeJS.Timeout | undefined;
  finished!: () => void;
  readonly done = new Promise<void>((r) => (this.finished = r));
  readonly peer: string;
  readonly stream: ReplicaStreamLike;
  constructor(peer: string, stream: ReplicaStreamLike) {
    this.peer = peer;
    this.stream = stream;
  }
}

export class Forwarder {
  private readonly metrics: ForwarderMetrics;
  private readonly initialAckTimeoutMs: number;
  private readonly maxReplicas: number;
  private readonly queueBound: number;
  private readonly replicas = new Set<ReplicaStream>();
  private sequence = 0;
  private lastEventMs = 0;

  constructor(opts: ForwarderOptions = {}) {
    this.metrics = opts.metrics ?? NO_FORWARDER_METRICS;
    this.initialAckTimeoutMs = opts.initialAckTimeoutMs || DEFAULT_INITIAL_ACK_TIMEOUT_MS;
    this.maxReplicas = opts.maxReplicas ?? MAX_REPLICAS;
    this.queueBound = opts.queueBound ?? REPLICA_QUEUE_BOUND;
  }

  /** Numbers the event and queues it for every replica stream; returns its sequence number. */
  forward(ev: AgentEvent, agentName: string, direction: Direction): number {
    const seq = ++this.sequence;
    this.lastEventMs = Date.now();
    this.metrics.lastSequence(seq);
    if (this.replicas.size === 0) return seq;
    const msg: ReplicatedEvent = {
      event: toWire(ev),
      agentName,
      direction,
      sequenceNum: String(seq),
      processedAtUnix: String(Math.floor(this.lastEventMs / 1000)),
    };
    for (const r of [...this.replicas]) this.enqueue(r, msg);
    this.updateQueueSize();
    return seq;
  }

  lastSequence(): number {
    return this.sequence;
  }

  /** Unix seconds of the last forwarded event, 0 if none. */
  lastEventUnix(): number {
    return Math.floor(this.lastEventMs / 1000);
  }

  connectedReplicas(): number {
    return this.replicas.size;
  }

  /** Events waiting to be written, over all replicas. */
  pendingEvents(): number {
    let n = 0;
    for (const r of this.replicas) n += r.queue.length;
    return n;
  }

  /**
   * Serves one replica's Subscribe stream until it ends; refuses it at once
   * (RESOURCE_EXHAUSTED) when MAX_REPLICAS streams are already open.
   */
  serve(stream: ReplicaStreamLike, peer: string): Promise<void> {
    if (this.replicas.size >= this.maxReplicas) {
      log.warn("replica refused: too many replica streams", { peer, max: this.maxReplicas });
      stream.emit("error", statusError(status.RESOURCE_EXHAUSTED, `too many replicas connected (max ${this.maxReplicas})`));
      return Promise.resolve();
    }
    const r = new ReplicaStream(peer, stream);
    this.replicas.add(r);
    this.metrics.replicasConnected(this.replicas.size);
    log.info("replica subscribed; buffering events until its first ACK", { peer, replica: r.id, sequence: this.sequence });
    r.timer = setTimeout(() => {
      log.warn("replica sent no ACK in time; closing its stream", { peer, replica: r.id, timeout_ms: this.initialAckTimeoutMs });
      this.close(r, statusError(status.DEADLINE_EXCEEDED, `no initial ACK within ${this.initialAckTimeoutMs} ms`));
    }, this.initialAckTimeoutMs);
    stream.on("data", (ack) => this.onAck(r, ack));
    stream.on("drain", () => {
      r.blocked = false;
      this.pump(r);
    });
    stream.on("end", () => this.close(r, undefined, "replica closed its stream"));
    stream.on("cancelled", () => this.close(r, null, "replica cancelled its stream"));
    stream.on("close", () => this.close(r, null, "stream closed"));
    stream.on("error", (err) => this.close(r, null, `stream error: ${err.message}`));
    return r.done;
  }

  /** Ends every replica stream (UNAVAILABLE): this principal stopped being active or shuts down. */
  stop(reason: string): void {
    for (const r of [...this.replicas]) this.close(r, statusError(status.UNAVAILABLE, `replication stopped: ${reason}`));
  }

  private onAck(r: ReplicaStream, ack: ReplicationAck): void {
    const n = Number(ack.ackedSequenceNum);
    if (Number.isFinite(n) && n > r.acked) r.acked = n;
    if (r.live || r.closed) return;
    clearTimeout(r.timer);
    r.live = true;
    // Flushed as is: the replica skips what its snapshot already holds (upstream does not filter either).
    log.info("replica acknowledged its snapshot; streaming live", { peer: r.peer, replica: r.id, acked: r.acked, buffered: r.queue.length });
    this.pump(r);
  }

  private enqueue(r: ReplicaStream, msg: ReplicatedEvent): void {
    if (r.closed) return;
    if (r.queue.length >= this.queueBound) {
      const lost = r.queue.length + 1;
      log.error("replica is too far behind: more events waiting than the queue bound; disconnecting it (it reconnects and takes a new snapshot)", {
        peer: r.peer, replica: r.id, bound: this.queueBound, live: r.live, sequence: msg.sequenceNum,
      });
      this.metrics.dropped(lost);
      this.close(r, statusError(status.RESOURCE_EXHAUSTED, `replication queue of ${this.queueBound} events overflowed; reconnect and take a new snapshot`));
      return;
    }
    r.queue.push(msg);
    this.metrics.queued();
    if (r.live && !r.blocked) this.pump(r);
  }

  private pump(r: ReplicaStream): void {
    while (r.live && !r.blocked && !r.closed && r.queue.length) {
      const msg = r.queue.shift()!;
      try {
        r.blocked = !r.stream.write(msg);
        this.metrics.forwarded();
      } catch (err) {
        this.metrics.forwardingError();
        this.close(r, null, `write failed: ${(err as Error).message}`);
      }
    }
    this.updateQueueSize();
  }

  /** `err`: end with this status; undefined: end OK; null: the stream is already gone. */
  private close(r: ReplicaStream, err: Error | undefined | null, why?: string): void {
    if (r.closed) return;
    r.closed = true;
    clearTimeout(r.timer);
    this.replicas.delete(r);
    r.queue.length = 0;
    this.metrics.replicasConnected(this.replicas.size);
    this.updateQueueSize();
    if (why) log.info("replica stream ended", { peer: r.peer, replica: r.id, reason: why, acked: r.acked });
    try {
      if (err) r.stream.emit("error", err);
      else if (err === undefined) r.stream.end();
    } catch {
      // the stream is gone already
    }
    r.finished();
  }

  private updateQueueSize(): void {
    this.metrics.queueSize(this.pendingEvents());
  }
}
