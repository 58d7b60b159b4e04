/**
 * The bound on what one event stream may hold for a peer that does not read.
 * grpc-js queues every written message until HTTP/2 flow control lets it out, so
 * a peer with a closed receive window that keeps sending heartbeats makes us
 * queue acks without end. We count what was written and not yet handed to
 * HTTP/2 (payload bytes plus a fixed cost per message, about what a queued
 * message costs in memory). Over the bound we stop reading from the peer (its
 * own sends then wait on HTTP/2 flow control, so a heartbeat flood stops making
 * acks) and drop acks and heartbeats still produced (a lost ack only makes the
 * peer re-send its event; tracked events are few, one per resource); under half
 * the bound reading resumes. A peer that stays over the bound with no write
 * completing for `stallMs` is disconnected, which frees everything queued for it.
 *
 * @example
 *   const backlog = new OutboundBacklog({ peer: "agent-1", disconnect: (why) => reset(why) });
 *   writer.attach((ev) => backlog.send(ev, (msg, done) => stream.write(msg, done)));
 */
import { isFireAndForget } from "../events/ack.ts";
import { toWire, type AgentEvent } from "../events/cloudevent.ts";
import type { Event } from "../proto/gen/eventstream.ts";
import { getLogger } from "../observability/log.ts";

const log = getLogger("transport");

/** Bytes the backlog may reach before acks are dropped and the stall clock runs. */
export const OUTBOUND_BACKLOG_MAX_BYTES = 16 * 1024 * 1024;
/** Counted per queued message on top of its payload (wrapper objects, encoding buffers). */
export const OUTBOUND_MESSAGE_COST_BYTES = 1024;
/** Over the bound without a single write completing this long: disconnect (grpc-go's keepalive timeout). */
export const OUTBOUND_STALL_MS = 20_000;

export interface OutboundBacklogOptions {
  /** For logs: the agent name (principal side) or "principal". */
  peer: string;
  /** Ends the stream for good; called once, with the reason. */
  disconnect: (reason: string) => void;
  /** Stop and restart reading from the peer (back-pressure while over the bound). */
  pauseReading?: () => void;
  resumeReading?: () => void;
  maxBytes?: number;
  stallMs?: number;
}

/** Writes one message; calls `done` once it has left the stream's queue. Returns the stream's write() result. */
export type WriteFn = (msg: Event, done: (err?: Error | null) => void) => boolean;

export class OutboundBacklog {
  private bytes = 0;
  private messages = 0;
  private lastProgress = Date.now();
  private stallTimer: NodeJS.Timeout | undefined;
  private overSince = 0;
  private dropped = 0;
  private disconnected = false;
  private readonly maxBytes: number;
  private readonly stallMs: number;
  private readonly opts: OutboundBacklogOptions;

  constructor(opts: OutboundBacklogOptions) {
    this.opts = opts;
    this.maxBytes = opts.maxBytes ?? OUTBOUND_BACKLOG_MAX_BYTES;
    this.stallMs = opts.stallMs ?? OUTBOUND_STALL_MS;
  }

  /** Writes the event unless the backlog is over the bound and the event is an ack or heartbeat. */
  send(ev: AgentEvent, write: WriteFn): void {
    if (this.disconnected) return;
    if (this.over() && isFireAndForget(ev)) {
      this.dropped++;
      return;
    }
    const cost = ev.data.byteLength + OUTBOUND_MESSAGE_COST_BYTES;
    // Waiting starts with the first queued message, not at the last write of an idle stream.
    if (this.messages === 0) this.lastProgress = Date.now();
    this.bytes += cost;
    this.messages++;
    let settled = false;
    write({ event: toWire(ev) }, () => {
      if (settled) return;
      settled = true;
      this.bytes -= cost;
      this.messages--;
      this.lastProgress = Date.now();
      this.check();
    });
    this.check();
  }

  /** What is queued now (for tests and logs). */
  state(): { bytes: number; messages: number; dropped: number; disconnected: boolean } {
    return { bytes: this.bytes, messages: this.messages, dropped: this.dropped, disconnected: this.disconnected };
  }

  /** Stops the stall clock (the stream ended). */
  close(): void {
    clearTimeout(this.stallTimer);
    this.stallTimer = undefined;
  }

  /** Over the bound since `overSince`, until the backlog is back under half of it. */
  private over(): boolean {
    return this.overSince !== 0;
  }

  private check(): void {
    if (this.disconnected) return;
    if (this.overSince && this.bytes <= this.maxBytes / 2) {
      this.overSince = 0;
      this.close();
      log.info("outbound backlog back under its bound; reading from the peer again", { peer: this.opts.peer, droppedAcks: this.dropped });
      this.opts.resumeReading?.();
    } else if (!this.overSince && this.bytes > this.maxBytes) {
      this.overSince = Date.now();
      this.opts.pauseReading?.();
      log.warn("peer is not reading fast enough: outbound backlog over its bound; not reading from it, dropping acks and heartbeats", {
        peer: this.opts.peer,
        backlogBytes: this.bytes,
        backlogMessages: this.messages,
        bound: this.maxBytes,
      });
    }
    if (this.overSince && !this.stallTimer) this.armStallTimer(this.stallMs - (Date.now() - this.lastProgress));
  }

  private armStallTimer(ms: number): void {
    this.stallTimer = setTimeout(() => {
      this.stallTimer = undefined;
      if (!this.over() || this.disconnected) return;
      const idle = Date.now() - this.lastProgress;
      if (idle < this.stallMs) return this.armStallTimer(this.stallMs - idle);
      this.disconnected = true;
      const reason = `outbound backlog of ${this.bytes} bytes (${this.messages} messages) over the bound of ${this.maxBytes} bytes with nothing sent for ${idle} ms`;
      log.warn("disconnecting a peer that does not read its stream", {
        peer: this.opts.peer,
        backlogBytes: this.bytes,
        backlogMessages: this.messages,
        bound: this.maxBytes,
        stalledMs: idle,
        droppedAcks: this.dropped,
      });
      this.opts.disconnect(reason);
    }, Math.max(0, ms));
    this.stallTimer.unref();
  }
}
