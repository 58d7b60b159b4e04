/**
 * One Subscribe stream seen from either side: received events are parsed,
 * acknowledged and handed to the handler, in order per resource but with
 * different resources in parallel; outgoing events go through an EventWriter
 * (at most one unacknowledged event per resource, re-sent with backoff) and an
 * OutboundBacklog (a peer that stops reading is disconnected, not buffered for).
 * Nothing a peer sends can throw out of here: bad events are logged and dropped.
 */
import type { Event } from "../proto/gen/eventstream.ts";
import { ackFor, isAck, isHeartbeat, needsAck } from "../events/ack.ts";
import { fromWire, type AgentEvent, type JsonObject } from "../events/cloudevent.ts";
import type { EventWriter } from "../events/event-writer.ts";
import { getLogger } from "../observability/log.ts";
import { OutboundBacklog } from "./outbound-backlog.ts";
import { traceEventProcessing } from "../tracing/tracing.ts";

const log = getLogger("grpc-event");

/** What a handler reports; a retryable failure withholds the ack so the sender retries. */
export interface HandlerOutcome {
  /** Failed in a way worth a redelivery: no ack, the peer re-sends. */
  retryableFailure?: boolean;
  /** Failed for good (acked, logged, counted as an error). */
  failed?: boolean;
  /** Refused: malformed, not allowed for this peer, or unknown (acked, logged). */
  rejected?: boolean;
}

export type EventHandler = (ev: AgentEvent, payload: JsonObject | undefined) => Promise<HandlerOutcome | void>;

/** The part of a gRPC duplex stream we use (server and client streams both fit). */
export interface EventStreamLike {
  write(msg: Event, done?: (err?: Error | null) => void): boolean;
  end(): void;
  destroy?(err?: Error): unknown;
  pause?(): unknown;
  resume?(): unknown;
  on(event: "data", fn: (msg: Event) => void): unknown;
  on(event: "end" | "close" | "finish", fn: () => void): unknown;
  on(event: "error", fn: (err: Error) => void): unknown;
  removeAllListeners?(event?: string): unknown;
}

export interface EventSessionCounters {
  received: Record<string, number>;
  rejected: number;
  handlerErrors: number;
  heartbeats: number;
}

export interface EventSessionOptions {
  /** For logs: the agent name (principal side) or "principal" (agent side). */
  peer: string;
  /** CloudEvent `source` of the acks we send. */
  source: string;
  writer: EventWriter;
  handler: EventHandler;
  maxPayloadBytes: number;
  /** Called for every received heartbeat (metrics, idle tracking). */
  onHeartbeat?: () => void;
  onEvent?: (ev: AgentEvent) => void;
  /**
   * Ends the stream at once when the peer stopped reading (see OutboundBacklog):
   * server side RST_STREAM, client side cancel. Default: destroy the stream object.
   */
  disconnect?: (reason: string) => void;
  /** Overrides the OutboundBacklog bound (bytes) and stall time, for tests. */
  outboundLimits?: { maxBytes?: number; stallMs?: number };
}

/**
 * Which session currently feeds each writer. A principal's writer outlives its
 * agent's connections: when a new stream replaces an old one, the old session
 * winds down after the new one attached, and must not detach the new stream.
 */
const writerOwners = new WeakMap<EventWriter, EventSession>();

export class EventSession {
  readonly counters: EventSessionCounters = { received: {}, rejected: 0, handlerErrors: 0, heartbeats: 0 };
  private readonly chains = new Map<string, Promise<void>>();
  private readonly opts: EventSessionOptions;

  constructor(opts: EventSessionOptions) {
    this.opts = opts;
  }

  /**
   * Runs the stream until it ends. Resolves on a clean end, rejects with the
   * stream's error. The writer is attached for the stream's lifetime.
   */
  run(stream: EventStreamLike, signal?: AbortSignal): Promise<void> {
    const { writer } = this.opts;
    return new Promise<void>((resolve, reject) => {
      let finished = false;
      const backlog = new OutboundBacklog({
        peer: this.opts.peer,
        ...this.opts.outboundLimits,
        pauseReading: () => stream.pause?.(),
        resumeReading: () => stream.resume?.(),
        disconnect: (reason) => {
          if (this.opts.disconnect) this.opts.disconnect(reason);
          else stream.destroy?.(new Error(reason));
          finish();
        },
      });
      const finish = (err?: Error) => {
        if (finished) return;
        finished = true;
        backlog.close();
        if (writerOwners.get(writer) === this) {
          writerOwners.delete(writer);
          writer.detach();
        }
        signal?.removeEventListener("abort", onAbort);
        if (err) reject(err);
        else resolve();
      };
      const onAbort = () => {
        try {
          stream.end();
        } catch {
          /* already closed */
        }
        finish();
      };
      if (signal?.aborted) return onAbort();
      signal?.addEventListener("abort", onAbort, { once: true });
      stream.on("data", (msg: Event) => this.receive(msg));
      stream.on("end", () => finish());
      stream.on("close", () => finish());
      // Our side ended the stream (e.g. a newer connection replaced it): done, even
      // if a dead peer never closes its side.
      stream.on("finish", () => finish());
      stream.on("error", (err: Error) => finish(err));
      writerOwners.set(writer, this);
      writer.attach((ev) => backlog.send(ev, (msg, done) => stream.write(msg, done)));
    });
  }

  private receive(msg: Event): void {
    const parsed = fromWire(msg?.event, { maxPayloadBytes: this.opts.maxPayloadBytes });
    if (!parsed.ok) {
      this.counters.rejected++;
      log.warn("rejected event", { peer: this.opts.peer, reason: parsed.error.code, detail: parsed.error.message });
      // A sound envelope with a bad payload is still acked, as the Go peers do,
      // so the sender does not retry it forever and block that resource.
      if (parsed.error.event && needsAck(parsed.error.event)) {
        this.opts.writer.add(ackFor(parsed.error.event, this.opts.source));
      }
      return;
    }
    const { event, payload } = parsed.value;
    this.counters.received[event.type] = (this.counters.received[event.type] ?? 0) + 1;
    this.opts.onEvent?.(event);
    if (isAck(event)) {
      this.opts.writer.acknowledge(event);
      return;
    }
    if (isHeartbeat(event)) {
      this.counters.heartbeats++;
      this.opts.onHeartbeat?.();
      log.debug("heartbeat received", { peer: this.opts.peer, event_id: event.eventId });
      this.opts.writer.add(ackFor(event, this.opts.source));
      return;
    }
    log.info(`Event received: ${event.target} ${event.type.split(".").pop()}`, {
      peer: this.opts.peer,
      resource_id: event.resourceId,
      event_id: event.eventId,
    });
    // Order per resource, parallel across resources.
    const key = event.resourceId;
    const prev = this.chains.get(key) ?? Promise.resolve();
    const next = prev.then(() => this.process(event, payload));
    this.chains.set(key, next);
    void next.finally(() => {
      if (this.chains.get(key) === next) this.chains.delete(key);
    });
  }

  private async process(event: AgentEvent, payload: JsonObject | undefined): Promise<void> {
    let outcome: HandlerOutcome | void = undefined;
    try {
      outcome = await traceEventProcessing(event, () => this.opts.handler(event, payload));
    } catch (err) {
      this.counters.handlerErrors++;
      log.error("event handler failed", { peer: this.opts.peer, event_type: event.type, resource_id: event.resourceId, error: err as Error });
    }
    if (needsAck(event, outcome ?? {})) this.opts.writer.add(ackFor(event, this.opts.source));
  }

  /** Resolves when every event received so far has been processed. */
  async drain(): Promise<void> {
    while (this.chains.size) await Promise.allSettled([...this.chains.values()]);
  }
}
