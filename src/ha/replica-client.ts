/**
 * The replica principal's client of the active peer (operations.md §4.5):
 * dial --ha-peer-address (connect timeout 30 s), open Subscribe (the peer
 * buffers events for us), GetSnapshot and apply it, ACK its sequence number
 * (the peer then flushes and goes live), then apply events in sequence
 * order. Events at or below the last applied number are skipped; a jump
 * counts a sequence gap and re-snapshots at once. The highest applied number
 * is ACKed after each event (never blocking: while the stream does not take
 * writes, ACKs are skipped) and every 5 s. Every 60 s Status(): when the peer
 * was ahead a minute ago and we still have not reached that number, we
 * re-snapshot (upstream re-snapshots whenever the peer is ahead at all,
 * which with steady traffic is every minute). Events only a snapshot can
 * settle and failed writes schedule a re-snapshot a little later
 * (coalesced). The stream is reported up after the first snapshot and down
 * when it ends; reconnects back off 1 s ×1.5 up to 30 s.
 *
 * Received events wait in a bounded queue (replica-queue.ts, 1000): at the
 * bound the stream is paused and the peer's own bound takes over.
 *
 * @example
 *   const client = startReplicaClient({ peerAddress: "peer:8443", credentials, kube, namespace: "argocd", metrics, onStreamState });
 *   client.lastSequence();
 *   await client.stop();
 */
import { Metadata, type CallOptions, type ChannelCredentials, type ChannelOptions, type ClientDuplexStream, type ClientUnaryCall, type ServiceError } from "@grpc/grpc-js";
import type { KubeClient } from "../kube/client.ts";
import { getLogger } from "../observability/log.ts";
import {
  ReplicationClient,
  type ConfirmMissingResourcesRequest,
  type ConfirmMissingResourcesResponse,
  type ReplicatedEvent,
  type ReplicationAck,
  type ReplicationSnapshot,
  type ReplicationStatus,
} from "../proto/gen/replication.ts";
import { sleep } from "../transport/backoff.ts";
import { ReplicaApply } from "./replica-apply.ts";
import type { ReplicaClientMetrics } from "./replica-metrics.ts";
import { Acks, DEFAULT_REPLICA_TIMING, ReconcileSchedule, type ReplicaClientTiming } from "./replica-pacing.ts";
import { BoundedEventQueue, QueueOverflowError, WAKE } from "./replica-queue.ts";

export { DEFAULT_REPLICA_TIMING, type ReplicaClientTiming } from "./replica-pacing.ts";

const log = getLogger("ha");

export interface ReplicaClientOptions {
  /** host:port of the peer principal's gRPC server. */
  peerAddress: string;
  credentials: ChannelCredentials;
  /** Extra call metadata (none by default; reserved for header-auth meshes where a sidecar adds identity). */
  metadata?: Record<string, string>;
  kube: KubeClient;
  /** The principal's namespace. */
  namespace: string;
  metrics: ReplicaClientMetrics;
  /** Controller: syncing/disconnected → replicating on up; replicating → disconnected on down. */
  onStreamState(up: boolean): void;
  /** --destination-based-mapping, as on the peer (default false). */
  destinationBased?: boolean;
  /** Largest gRPC message (snapshots are one message); default 200 MiB. */
  maxMessageBytes?: number;
  /** Longest wait per local write for an unreachable API server (default 5 min). */
  maxApiWaitMs?: number;
  /** Overrides of DEFAULT_REPLICA_TIMING (tests). */
  timing?: Partial<ReplicaClientTiming>;
}

export interface ReplicaClient {
  stop(): Promise<void>;
  /** Highest processed sequence number. */
  lastSequence(): number;
  /** Unix seconds of the last processed replicated event, 0 if none. */
  lastEventUnix(): number;
}

const ADDRESS = /^(\[[0-9a-fA-F:.]+\]|[^\s:/[\]]+):(\d{1,5})$/;

/** How the event queue fared over all connections (tests, diagnostics). */
export interface ReplicaQueueStats {
  /** Most events held at once. */
  peak: number;
  /** Times the stream was paused at the bound. */
  pauses: number;
}

export interface ReplicaClientWithStats extends ReplicaClient {
  queueStats(): ReplicaQueueStats;
}

/** Starts following the peer; throws RangeError for an unusable address. */
export function startReplicaClient(opts: ReplicaClientOptions): ReplicaClientWithStats {
  const m = ADDRESS.exec(opts.peerAddress);
  if (!m || Number(m[2]) < 1 || Number(m[2]) > 65535) throw new RangeError(`--ha-peer-address must be host:port, got ${JSON.stringify(opts.peerAddress)}`);
  return new ReplicaFollower(opts);
}

type Unary<Req, Res> = (req: Req, md: Metadata, options: Partial<CallOptions>, cb: (err: ServiceError | null, res?: Res) => void) => ClientUnaryCall;

class ReplicaFollower implements ReplicaClientWithStats {
  private readonly opts: ReplicaClientOptions;
  private readonly timing: ReplicaClientTiming;
  private readonly stopping = new AbortController();
  private readonly done: Promise<void>;
  private client: ReplicationClient | undefined;
  private last = 0;
  private lastEventAt = 0;
  /** The peer's sequence at the previous Status while it was ahead of us. */
  private behindMark: number | undefined;
  private statusFailures = 0;
  private queue: BoundedEventQueue<ReplicatedEvent> | undefined;
  private readonly pastQueues: ReplicaQueueStats = { peak: 0, pauses: 0 };

  constructor(opts: ReplicaClientOptions) {
    this.opts = opts;
    this.timing = { ...DEFAULT_REPLICA_TIMING, ...opts.timing };
    this.done = this.run().catch((err: unknown) => log.error("replica client ended", { error: String(err) }));
  }

  async stop(): Promise<void> {
    this.stopping.abort();
    await this.done;
  }

  lastSequence(): number {
    return this.last;
  }

  lastEventUnix(): number {
    return this.lastEventAt;
  }

  queueStats(): ReplicaQueueStats {
    const q = this.queue;
    return { peak: Math.max(this.pastQueues.peak, q?.peak ?? 0), pauses: this.pastQueues.pauses + (q?.pauses ?? 0) };
  }

  private metadata(): Metadata {
    const md = new Metadata();
    for (const [k, v] of Object.entries(this.opts.metadata ?? {})) md.set(k, v);
    return md;
  }

  private channelOptions(): ChannelOptions {
    const max = this.opts.maxMessageBytes ?? 200 * 1024 * 1024;
    // Our loop reconnects; the channel must not hide failures behind its own retries.
    return {
      "grpc.max_receive_message_length": max,
      "grpc.max_send_message_length": max,
      "grpc.enable_retries": 0,
      // A fresh subchannel per attempt: no connection backoff carried over from a failed one.
      "grpc.use_local_subchannel_pool": 1,
      "grpc.primary_user_agent": "argocd-agent-ha-replica",
    };
  }

  /** One unary call with a deadline, cancelled when we stop. */
  private call<Req, Res>(fn: Unary<Req, Res>, req: Req, timeoutMs: number): Promise<Res> {
    return new Promise((resolve, reject) => {
      const c = fn(req, this.metadata(), { deadline: Date.now() + timeoutMs }, (err, res) => (err ? reject(err) : resolve(res!)));
      const onStop = () => c.cancel();
      this.stopping.signal.addEventListener("abort", onStop, { once: true });
      c.on("status", () => this.stopping.signal.removeEventListener("abort", onStop));
    });
  }

  private async run(): Promise<void> {
    const signal = this.stopping.signal;
    const apply = new ReplicaApply({
      kube: this.opts.kube,
      namespace: this.opts.namespace,
      destinationBased: this.opts.destinationBased,
      signal,
      maxApiWaitMs: this.opts.maxApiWaitMs,
      confirmMissing: (req) => this.confirmMissing(req),
    });
    try {
      await apply.start();
    } catch (err) {
      if (signal.aborted) return;
      throw err;
    }
    const { baseMs, factor, capMs } = this.timing.backoff;
    let delay = baseMs;
    while (!signal.aborted) {
      let up = false;
      try {
        await this.connection(apply, () => {
          up = true;
          delay = baseMs;
        });
      } catch (err) {
        if (!signal.aborted) log.warn("replication stream to the HA peer failed", { peer: this.opts.peerAddress, error: describe(err) });
      }
      if (up) {
        this.opts.metrics.connected(0);
        this.opts.onStreamState(false);
      }
      if (signal.aborted) break;
      this.opts.metrics.reconnectAttempts();
      log.info("reconnecting to the HA peer", { peer: this.opts.peerAddress, in: `${Math.round(delay)}ms` });
      await sleep(delay, signal);
      delay = Math.min(delay * factor, capMs);
    }
  }

  /** One connection: Subscribe, snapshot, ACK, then events until the stream or the queue fails. */
  private async connection(apply: ReplicaApply, markUp: () => void): Promise<void> {
    const t = this.timing;
    const client = new ReplicationClient(this.opts.peerAddress, this.opts.credentials, this.channelOptions());
    this.client = client;
    let stream: ClientDuplexStream<ReplicationAck, ReplicatedEvent> | undefined;
    let queue: BoundedEventQueue<ReplicatedEvent> | undefined;
    const timers: NodeJS.Timeout[] = [];
    const onStop = () => queue?.close(new Error("replica client stopped"));
    this.stopping.signal.addEventListener("abort", onStop, { once: true });
    try {
      await this.waitForReady(client);
      stream = client.subscribe(this.metadata());
      const q = (this.queue = queue = new BoundedEventQueue<ReplicatedEvent>(t.maxQueuedEvents, stream));
      if (this.stopping.signal.aborted) onStop();
      stream.on("data", (ev: ReplicatedEvent) => {
        this.opts.metrics.eventsReceived();
        q.push(ev);
      });
      stream.on("error", (err: Error) => q.close(err));
      stream.on("end", () => q.close(new Error("the peer ended the replication stream")));
      const reconcile = new ReconcileSchedule(() => q.wake());
      const snap = await this.fetchSnapshot(client);
      if (q.closed()) await q.next(); // the stream already failed: rethrows its reason
      await this.applySnapshot(apply, snap, "initial");
      this.last = Number(snap.lastSequenceNum);
      this.behindMark = undefined;
      this.statusFailures = 0;
      this.opts.metrics.lastSequence(this.last);
      const acks = new Acks(stream);
      acks.send(this.last);
      markUp();
      this.opts.metrics.connected(1);
      this.opts.onStreamState(true);
      log.info("replicating from the HA peer", { peer: this.opts.peerAddress, sequence: this.last, agents: snap.agents.length });
      timers.push(setInterval(() => acks.send(this.last), t.ackIntervalMs));
      timers.push(setInterval(() => void this.statusTick(client, q, reconcile), t.statusIntervalMs));
      try {
        for (;;) {
          if (reconcile.due()) {
            await this.resnapshot(apply, client, reconcile);
            acks.send(this.last);
            continue;
          }
          const item = await q.next();
          if (item === WAKE) continue;
          await this.process(apply, item, reconcile);
          acks.send(this.last);
        }
      } finally {
        reconcile.clear();
      }
    } catch (err) {
      if (err instanceof QueueOverflowError) for (let i = 0; i < err.dropped; i++) this.opts.metrics.eventsDropped?.();
      throw err;
    } finally {
      for (const timer of timers) clearInterval(timer);
      if (queue) {
        this.pastQueues.peak = Math.max(this.pastQueues.peak, queue.peak);
        this.pastQueues.pauses += queue.pauses;
        this.queue = undefined;
      }
      this.stopping.signal.removeEventListener("abort", onStop);
      stream?.cancel();
      this.client = undefined;
      client.close();
    }
  }

  private waitForReady(client: ReplicationClient): Promise<void> {
    return new Promise((resolve, reject) => {
      const signal = this.stopping.signal;
      const onStop = () => reject(new Error("replica client stopped"));
      if (signal.aborted) return onStop();
      signal.addEventListener("abort", onStop, { once: true });
      client.waitForReady(Date.now() + this.timing.connectTimeoutMs, (err) => {
        signal.removeEventListener("abort", onStop);
        if (err) reject(new Error(`could not connect within ${this.timing.connectTimeoutMs} ms: ${err.message}`));
        else resolve();
      });
    });
  }

  private async fetchSnapshot(client: ReplicationClient): Promise<ReplicationSnapshot> {
    try {
      return await this.call<{ sinceSequenceNum: string }, ReplicationSnapshot>(client.getSnapshot.bind(client), { sinceSequenceNum: String(this.last) }, this.timing.snapshotTimeoutMs);
    } catch (err) {
      this.opts.metrics.snapshotFetchErrors();
      throw err;
    }
  }

  private async applySnapshot(apply: ReplicaApply, snap: ReplicationSnapshot, kind: string): Promise<void> {
    const started = Date.now();
    try {
      const r = await apply.applySnapshot(snap);
      if (r.failed > 0) this.opts.metrics.snapshotApplyErrors();
      this.opts.metrics.snapshotAgents(r.agents);
      log.info("applied snapshot from the HA peer", { kind, sequence: snap.lastSequenceNum, agents: r.agents, applied: r.applied, failed: r.failed, skipped: r.skipped, pruned: r.pruned, ms: Date.now() - started });
    } catch (err) {
      this.opts.metrics.snapshotApplyErrors();
      throw err;
    }
  }

  /** A re-snapshot within the connection; a failure is retried later instead of dropping the stream. */
  private async resnapshot(apply: ReplicaApply, client: ReplicationClient, reconcile: ReconcileSchedule): Promise<void> {
    reconcile.clear();
    this.opts.metrics.reconciliations();
    try {
      const snap = await this.fetchSnapshot(client);
      await this.applySnapshot(apply, snap, "reconcile");
      this.last = Math.max(this.last, Number(snap.lastSequenceNum));
      this.behindMark = undefined;
      this.opts.metrics.lastSequence(this.last);
    } catch (err) {
      if (this.stopping.signal.aborted) throw err;
      log.warn("re-snapshot failed; trying again later", { error: describe(err) });
      reconcile.request(this.timing.reconcileDelayMs, "re-snapshot failed");
    }
  }

  private async process(apply: ReplicaApply, re: ReplicatedEvent, reconcile: ReconcileSchedule): Promise<void> {
    const m = this.opts.metrics;
    const seq = Number(re.sequenceNum);
    if (!Number.isSafeInteger(seq) || seq <= 0) {
      m.eventsErrors();
      return log.warn("replicated event without a usable sequence number; skipped", { sequence: re.sequenceNum });
    }
    if (seq <= this.last) return log.debug("replicated event already covered; skipped", { sequence: seq, last: this.last });
    if (seq > this.last + 1) {
      m.sequenceGaps();
      log.warn("gap in replicated sequence numbers", { expected: this.last + 1, got: seq });
      reconcile.request(0, "sequence gap");
    }
    try {
      const outcome = await apply.applyEvent(re);
      if (outcome === "rejected") m.eventsErrors();
      else m.eventsProcessed();
      if (outcome === "reconcile") reconcile.request(this.timing.reconcileDelayMs, "an event only a snapshot can settle");
    } catch (err) {
      if (this.stopping.signal.aborted) throw err;
      m.eventsErrors();
      log.error("could not apply replicated event; a re-snapshot will repair it", { sequence: seq, agent: re.agentName, direction: re.direction, error: describe(err) });
      reconcile.request(this.timing.reconcileDelayMs, "failed event");
    }
    this.last = seq;
    this.lastEventAt = Math.floor(Date.now() / 1000);
    m.lastSequence(seq);
    const at = Number(re.processedAtUnix);
    if (at > 0) m.lagSeconds(Math.max(0, Date.now() / 1000 - at));
  }

  private async statusTick(client: ReplicationClient, queue: BoundedEventQueue<ReplicatedEvent>, reconcile: ReconcileSchedule): Promise<void> {
    let st: ReplicationStatus;
    try {
      st = await this.call<object, ReplicationStatus>(client.status.bind(client), {}, this.timing.callTimeoutMs);
      this.statusFailures = 0;
    } catch (err) {
      log.warn("Status call to the HA peer failed", { error: describe(err) });
      // Twice in a row: the connection is most likely dead (no keepalive on an idle stream).
      if (++this.statusFailures >= 2) queue.close(new Error("the peer did not answer Status twice"));
      return;
    }
    const remote = Number(st.currentSequenceNum);
    if (remote > this.last) {
      if (this.behindMark !== undefined && this.last < this.behindMark) reconcile.request(0, `still behind the peer (at ${this.last}, peer was at ${this.behindMark})`);
      this.behindMark = remote;
    } else this.behindMark = undefined;
  }

  /**
   * ConfirmMissingResources at the snapshot's sequence (upstream); when the
   * peer has moved on it answers "unknown" for all, and we ask once more at
   * its current sequence: its answer is about its present state, and events
   * after our snapshot are applied afterwards in order, so a deletion
   * confirmed now can only be followed by what came later.
   */
  private async confirmMissing(req: ConfirmMissingResourcesRequest): Promise<ConfirmMissingResourcesResponse> {
    const client = this.client;
    if (!client) throw new Error("not connected to the HA peer");
    const ask = (r: ConfirmMissingResourcesRequest) =>
      this.call<ConfirmMissingResourcesRequest, ConfirmMissingResourcesResponse>(client.confirmMissingResources.bind(client), r, this.timing.callTimeoutMs);
    const first = await ask(req);
    const moved = first.results.length > 0 && first.results.every((r) => r.status === "unknown" && r.reason.includes("no longer current"));
    if (!moved) return first;
    const st = await this.call<object, ReplicationStatus>(client.status.bind(client), {}, this.timing.callTimeoutMs);
    return ask({ ...req, snapshotSequenceNum: st.currentSequenceNum });
  }
}

function describe(err: unknown): string {
  const e = err as Partial<ServiceError>;
  return e.details ? `${e.code}: ${e.details}` : String(e.message ?? err);
}
