/**
 * Bounds a resync to O(objects), once (issue 13: after a restart with 2,100
 * Applications the principal sent one agent 60,017 `request-update`s and
 * 119,631 re-sends, with 36,428 events queued).
 *
 * A round is what one side sends when it starts a resync with a peer. While
 * the peer has not acknowledged every event of the current round, another
 * start (the peer's own `request-resource-resync` arriving at connect, the
 * periodic timer) is skipped: the running round already answers it. Within a
 * round, each object is asked about (`request-update`) at most once, so the
 * peer's `response-synced-resource` list only adds objects not asked about
 * yet (the ones this side does not have).
 *
 * A round's events go out in a window: at most `window` unacknowledged at
 * once, the rest wait here in order. Thousands sent at once sat in the peer's
 * queue longer than the 5–10 s re-send timeout, and every one was re-sent.
 *
 * @example
 *   if (rounds.busy(agent, writer)) return; // a resync with this agent is running
 *   rounds.begin(agent, connectionId);
 *   if (rounds.firstRequest(agent, key)) rounds.send(agent, writer, requestUpdate(key));
 */
import type { AgentEvent } from "../events/cloudevent.ts";
import type { EventWriter } from "../events/event-writer.ts";

/**
 * How long a round started when a peer connected also answers that peer's own
 * resync request on the same connection (it can wait behind thousands of
 * replayed events, but asks for what the round already sends).
 */
export const PEER_REQUEST_COVERED_MS = 120_000;

export interface ResyncRoundsOptions {
  /** Aborting it stops every round (shutdown). */
  signal?: AbortSignal;
  /** Most events of one round unacknowledged at once (default 256). */
  window?: number;
  /** How often a round with waiting events looks for acks (default 100 ms). */
  pollMs?: number;
}

interface Round {
  /** Which connection of the peer the round was started on, and when. */
  connection: unknown;
  startedAt: number;
  /** resourceids of this round's events that may still wait for an ack. */
  open: Set<string>;
  /** Objects already asked about in this round. */
  requested: Set<string>;
  /** Events not handed to the writer yet (from `next` on), and that writer. */
  waiting: AgentEvent[];
  next: number;
  writer?: EventWriter;
  timer?: NodeJS.Timeout;
}

export class ResyncRounds {
  private readonly rounds = new Map<string, Round>();
  private readonly window: number;
  private readonly pollMs: number;
  private readonly signal: AbortSignal | undefined;

  constructor(opts: ResyncRoundsOptions = {}) {
    this.window = opts.window ?? 256;
    this.pollMs = opts.pollMs ?? 100;
    if (!Number.isInteger(this.window) || this.window < 1) throw new RangeError(`window must be a positive integer, got ${this.window}`);
    this.signal = opts.signal;
    this.signal?.addEventListener("abort", () => this.close(), { once: true });
  }

  /** True while an event of the peer's current round waits to be sent or for its ack in `writer`. */
  busy(peer: string, writer: EventWriter): boolean {
    const round = this.rounds.get(peer);
    if (!round) return false;
    if (round.next < round.waiting.length) return true;
    this.prune(round, writer);
    return round.open.size > 0;
  }

  /** Starts a new round with the peer (on its connection `connection`); the previous one is forgotten. */
  begin(peer: string, connection?: unknown): void {
    this.forget(peer);
    this.rounds.set(peer, { connection, startedAt: Date.now(), open: new Set(), requested: new Set(), waiting: [], next: 0 });
  }

  /**
   * True when the current round was started on this connection of the peer
   * less than `withinMs` ago. A peer asks for a resync when its stream starts;
   * our own round at its connect answers that, even once finished (the
   * request can wait behind thousands of replayed creates).
   */
  startedOn(peer: string, connection: unknown, withinMs: number): boolean {
    const round = this.rounds.get(peer);
    return Boolean(round && connection !== undefined && round.connection === connection && Date.now() - round.startedAt < withinMs);
  }

  /** Sends `ev` through `writer` as part of the current round (without a round: at once). */
  send(peer: string, writer: EventWriter, ev: AgentEvent): void {
    const round = this.rounds.get(peer);
    if (!round || this.signal?.aborted) {
      writer.add(ev);
      return;
    }
    round.writer = writer;
    round.waiting.push(ev);
    this.pump(peer, round);
  }

  /** True (and remembered) the first time `object` is asked about in the current round. */
  firstRequest(peer: string, object: string): boolean {
    const round = this.rounds.get(peer);
    if (!round) return true;
    if (round.requested.has(object)) return false;
    round.requested.add(object);
    return true;
  }

  /** Forgets the peer's round (its unsent events are dropped). */
  forget(peer: string): void {
    clearInterval(this.rounds.get(peer)?.timer);
    this.rounds.delete(peer);
  }

  /** Forgets every round. */
  close(): void {
    for (const peer of [...this.rounds.keys()]) this.forget(peer);
  }

  /** Hands waiting events to the writer while fewer than `window` are unacknowledged. */
  private pump(peer: string, round: Round): void {
    const writer = round.writer!;
    if (round.open.size >= this.window) this.prune(round, writer);
    while (round.open.size < this.window && round.next < round.waiting.length) {
      const ev = round.waiting[round.next++]!;
      writer.add(ev);
      round.open.add(ev.resourceId);
    }
    if (round.next >= round.waiting.length) {
      round.waiting = [];
      round.next = 0;
      clearInterval(round.timer);
      round.timer = undefined;
    } else if (!round.timer) {
      round.timer = setInterval(() => this.rounds.get(peer) === round && this.pump(peer, round), this.pollMs);
      round.timer.unref();
    }
  }

  /** Drops acknowledged events from `open`. */
  private prune(round: Round, writer: EventWriter): void {
    for (const id of round.open) {
      const p = writer.pending(id);
      if (!p.inFlight && !p.unsent.length) round.open.delete(id); // acked: never pending again
    }
  }
}
