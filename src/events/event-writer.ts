/**
 * Delivery bookkeeping between a send queue and the event stream
 * (wire-protocol.md §7.1, behavior.md §6.4), with the Go event writer's rules:
 *
 * - Events are keyed by `resourceid`. Per key there is a FIFO of unsent events
 *   and at most one sent-but-unacknowledged ("in flight") event; while one is
 *   in flight nothing else for that key is sent.
 * - The in-flight event is re-sent with backoff (5–10 s, ×4, jitter, 2 min
 *   cap, forever) until an ack with its resourceid and eventid arrives. An ack
 *   matching the head of the unsent FIFO instead pops that head.
 * - Coalescing: among unsent events of a key only the newest `spec-update` and
 *   the newest `status-update` survive (others keep their order), and a
 *   `delete` discards everything pending or in flight for its key.
 * - `sentat` is stamped on first transmission; acks and heartbeats are
 *   fire-and-forget (no sentat, no retry, no waiting for acks).
 * - Attaching a new stream re-sends every in-flight event at once, so
 *   receivers must tolerate duplicates.
 *
 * Deviations from Go, both invisible to the peer: keys are served in
 * insertion order instead of a random shuffle every 100 ms (Go guarantees no
 * order across keys either), and the writer wakes exactly when something is
 * due instead of polling. Acks and heartbeats go through their own FIFO rather
 * than the per-key queue, so an ack is never held behind our own unacknowledged
 * event for the same resource.
 *
 * @example
 *   const writer = new EventWriter({ send: (ev) => call.write({ event: toWire(ev) }), signal });
 *   writer.add(objectEvent(EventTypes.specUpdate, EventTargets.application, app, source));
 *   // on receiving an ack:
 *   writer.acknowledge(received);
 */
import { getLogger } from "../observability/log.ts";
import { isFireAndForget } from "./ack.ts";
import { formatSentAt, withExtension, type AgentEvent } from "./cloudevent.ts";
import { systemClock, type Clock, type TimerHandle } from "./clock.ts";
import { EventTypes, Extensions } from "./event-types.ts";
import { DEFAULT_RETRY_BACKOFF, RetryBackoff, type RetryBackoffConfig } from "./retry-backoff.ts";

const log = getLogger("grpc-event");

/** Hands one event to the stream; may throw when the stream is broken. */
export type SendFn = (ev: AgentEvent) => void;

export interface EventWriterOptions {
  /** Initial stream; omit to start detached and call `attach` later. */
  send?: SendFn;
  clock?: Clock;
  /** Jitter source in [0, 1). */
  random?: () => number;
  backoff?: Readonly<RetryBackoffConfig>;
  /** Aborting it closes the writer (timers cleared, later adds refused). */
  signal?: AbortSignal;
  /** Acks/heartbeats kept while detached; the oldest are dropped beyond this. */
  maxFireAndForgetBacklog?: number;
  /** Shown in logs, e.g. the agent name on the principal. */
  name?: string;
}

/** Monotonic counters, for metrics. */
export interface EventWriterCounters {
  /** First transmissions of tracked (ackable) events. */
  sent: number;
  /** Re-transmissions of in-flight events (backoff expiry or new stream). */
  resent: number;
  /** In-flight or queued events cleared by a matching ack. */
  acked: number;
  /** Unsent events replaced by a newer spec-update/status-update of the same key. */
  coalesced: number;
  /** Events dropped because a delete for the same key superseded them. */
  discarded: number;
  /** Acks and heartbeats sent. */
  fireAndForgetSent: number;
  /** Acks and heartbeats dropped because the detached backlog was full. */
  fireAndForgetDropped: number;
  /** Events refused by `add` (no resourceid, or writer closed). */
  rejected: number;
  /** `send` calls that threw. */
  sendErrors: number;
}

export type AckMatch = "in-flight" | "queued" | "unmatched";

/** Per event type counts of tracked events (metrics by type). */
export interface EventTypeCounters {
  sent: number;
  acked: number;
  resent: number;
  coalesced: number;
}

interface InFlight {
  event: AgentEvent;
  retryAt: number;
  backoff: RetryBackoff;
}

interface KeyState {
  unsent: AgentEvent[];
  inFlight?: InFlight;
}

const COALESCED_TYPES: ReadonlySet<string> = new Set([EventTypes.specUpdate, EventTypes.statusUpdate]);

export class EventWriter {
  private sendFn: SendFn | undefined;
  private readonly clock: Clock;
  private readonly random: () => number;
  private readonly backoffConfig: Readonly<RetryBackoffConfig>;
  private readonly maxBacklog: number;
  private readonly name: string | undefined;
  private readonly keys = new Map<string, KeyState>();
  private readonly fireAndForget: AgentEvent[] = [];
  private readonly counters: EventWriterCounters = {
    sent: 0, resent: 0, acked: 0, coalesced: 0, discarded: 0,
    fireAndForgetSent: 0, fireAndForgetDropped: 0, rejected: 0, sendErrors: 0,
  };
  private readonly byType = new Map<string, EventTypeCounters>();
  private timer: TimerHandle | undefined;
  private timerAt = Infinity;
  private closed = false;

  constructor(opts: EventWriterOptions = {}) {
    this.sendFn = opts.send;
    this.clock = opts.clock ?? systemClock;
    this.random = opts.random ?? Math.random;
    this.backoffConfig = opts.backoff ?? DEFAULT_RETRY_BACKOFF;
    this.maxBacklog = opts.maxFireAndForgetBacklog ?? 10_000;
    this.name = opts.name;
    new RetryBackoff(this.backoffConfig, this.random); // validates the config early
    if (opts.signal?.aborted) this.close();
    else opts.signal?.addEventListener("abort", () => this.close(), { once: true });
  }

  /** Queues an event for sending. Returns false when it was refused. */
  add(ev: AgentEvent): boolean {
    if (this.closed || !ev.resourceId) {
      this.counters.rejected++;
      log.warn("event refused by writer", { writer: this.name, type: ev.type, reason: this.closed ? "closed" : "no resourceid" });
      return false;
    }
    if (isFireAndForget(ev)) {
      if (this.fireAndForget.length >= this.maxBacklog) {
        this.fireAndForget.shift();
        this.counters.fireAndForgetDropped++;
      }
      this.fireAndForget.push(ev);
    } else if (ev.type === EventTypes.delete) {
      // Once a resource is deleted no other update for it matters.
      const old = this.keys.get(ev.resourceId);
      if (old) this.counters.discarded += old.unsent.length + (old.inFlight ? 1 : 0);
      this.keys.set(ev.resourceId, { unsent: [ev] });
    } else {
      const state = this.keys.get(ev.resourceId) ?? { unsent: [] };
      this.keys.set(ev.resourceId, state);
      if (COALESCED_TYPES.has(ev.type)) {
        const before = state.unsent.length;
        state.unsent = state.unsent.filter((e) => e.type !== ev.type);
        this.counters.coalesced += before - state.unsent.length;
        this.countType(ev.type, "coalesced", before - state.unsent.length);
      }
      state.unsent.push(ev);
    }
    log.trace("event queued", { writer: this.name, resource_id: ev.resourceId, event_id: ev.eventId, type: ev.type });
    this.wakeAt(this.clock.now());
    return true;
  }

  /**
   * Applies a received ack: clears the in-flight event whose resourceid and
   * eventid match, else pops the matching head of the unsent FIFO.
   */
  acknowledge(ack: Pick<AgentEvent, "resourceId" | "eventId">): AckMatch {
    const state = this.keys.get(ack.resourceId);
    if (!state) return "unmatched";
    let match: AckMatch = "unmatched";
    const ackedType = (state.inFlight?.event.eventId === ack.eventId ? state.inFlight.event : state.unsent[0])?.type ?? "unknown";
    if (state.inFlight && state.inFlight.event.eventId === ack.eventId) {
      state.inFlight = undefined;
      match = "in-flight";
    } else if (state.unsent[0]?.eventId === ack.eventId) {
      state.unsent.shift();
      match = "queued";
    }
    if (match === "unmatched") return match;
    this.counters.acked++;
    this.countType(ackedType, "acked");
    if (!state.inFlight && state.unsent.length === 0) this.keys.delete(ack.resourceId);
    else this.wakeAt(this.clock.now());
    log.trace("event acknowledged", { writer: this.name, resource_id: ack.resourceId, event_id: ack.eventId, match });
    return match;
  }

  /**
   * Forgets everything queued or in flight for a key, without sending it. For
   * requests whose caller gave up (timeout, disconnect): a proxied DELETE must
   * not run on the agent after its caller was told it failed.
   */
  discard(resourceId: string): number {
    const state = this.keys.get(resourceId);
    if (!state) return 0;
    const n = state.unsent.length + (state.inFlight ? 1 : 0);
    this.keys.delete(resourceId);
    this.counters.discarded += n;
    return n;
  }

  /** Switches to a new stream and re-sends every in-flight event immediately. */
  attach(send: SendFn): void {
    this.sendFn = send;
    const now = this.clock.now();
    for (const state of this.keys.values()) if (state.inFlight) state.inFlight.retryAt = now;
    this.wakeAt(now);
  }

  /** Stops sending (stream gone); everything stays queued for the next `attach`. */
  detach(): void {
    this.sendFn = undefined;
    this.clearTimer();
  }

  /** Stops for good: timers cleared, later adds refused. */
  close(): void {
    this.closed = true;
    this.sendFn = undefined;
    this.clearTimer();
  }

  /** Sends everything that is due now; runs by itself from the clock's timers. */
  flush(): void {
    this.clearTimer();
    if (this.closed || !this.sendFn) return;
    while (this.fireAndForget.length > 0 && this.sendFn) {
      const ev = this.fireAndForget.shift()!;
      if (this.trySend(ev)) this.counters.fireAndForgetSent++;
    }
    const now = this.clock.now();
    let nextDue = Infinity;
    for (const [key, state] of this.keys) {
      if (!this.sendFn) break;
      if (state.inFlight) {
        if (state.inFlight.retryAt <= now) this.resend(state.inFlight, now);
      } else if (state.unsent.length > 0) {
        this.sendFirst(state, now);
      } else {
        this.keys.delete(key);
        continue;
      }
      if (state.inFlight) nextDue = Math.min(nextDue, state.inFlight.retryAt);
    }
    if (nextDue < Infinity) this.wakeAt(nextDue);
  }

  /** Snapshot of the counters. */
  stats(): EventWriterCounters {
    return { ...this.counters };
  }

  /** Current number of events in flight and waiting, for gauges. */
  backlog(): { inFlight: number; unsent: number; fireAndForget: number } {
    let inFlight = 0;
    let unsent = 0;
    for (const s of this.keys.values()) {
      if (s.inFlight) inFlight++;
      unsent += s.unsent.length;
    }
    return { inFlight, unsent, fireAndForget: this.fireAndForget.length };
  }

  /** What is pending for one resource (for tests and diagnostics). */
  pending(resourceId: string): { inFlight?: AgentEvent; unsent: readonly AgentEvent[] } {
    const s = this.keys.get(resourceId);
    return s?.inFlight ? { inFlight: s.inFlight.event, unsent: [...s.unsent] } : { unsent: [...(s?.unsent ?? [])] };
  }

  private countType(type: string, field: keyof EventTypeCounters, n = 1): void {
    if (n <= 0) return;
    let c = this.byType.get(type);
    if (!c) this.byType.set(type, (c = { sent: 0, acked: 0, resent: 0, coalesced: 0 }));
    c[field] += n;
  }

  /** Counts by event type (a copy). */
  statsByType(): Map<string, EventTypeCounters> {
    return new Map([...this.byType].map(([t, c]) => [t, { ...c }]));
  }

  private sendFirst(state: KeyState, now: number): void {
    const ev = withExtension(state.unsent.shift()!, Extensions.sentAt, formatSentAt(now));
    const backoff = new RetryBackoff(this.backoffConfig, this.random);
    // Schedule the retry before sending, so a failed send is retried too.
    state.inFlight = { event: ev, retryAt: now + backoff.next(), backoff };
    this.counters.sent++;
    this.countType(ev.type, "sent");
    this.trySend(ev);
  }

  private resend(inFlight: InFlight, now: number): void {
    inFlight.retryAt = now + inFlight.backoff.next();
    this.counters.resent++;
    this.countType(inFlight.event.type, "resent");
    log.debug("re-sending unacknowledged event", { writer: this.name, resource_id: inFlight.event.resourceId, event_id: inFlight.event.eventId });
    this.trySend(inFlight.event);
  }

  private trySend(ev: AgentEvent): boolean {
    try {
      this.sendFn!(ev);
      log.trace("event sent", { writer: this.name, resource_id: ev.resourceId, event_id: ev.eventId, type: ev.type });
      return true;
    } catch (e) {
      this.counters.sendErrors++;
      log.warn("sending event failed", { writer: this.name, resource_id: ev.resourceId, event_id: ev.eventId, error: e });
      return false;
    }
  }

  /** Makes sure a flush runs no later than `at`. */
  private wakeAt(at: number): void {
    if (this.closed || !this.sendFn || at >= this.timerAt) return;
    this.clearTimer();
    this.timerAt = at;
    this.timer = this.clock.setTimeout(() => {
      this.timer = undefined;
      this.timerAt = Infinity;
      this.flush();
    }, Math.max(0, at - this.clock.now()));
  }

  private clearTimer(): void {
    if (this.timer !== undefined) this.clock.clearTimeout(this.timer);
    this.timer = undefined;
    this.timerAt = Infinity;
  }
}
