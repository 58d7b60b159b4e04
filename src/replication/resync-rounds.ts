/**
 * Bounds a resync to O(objects), once (issue 13: after a restart with 2,100
 * Applications the principal sent one agent 60,017 `request-update`s).
 *
 * A round is what one side sends when it starts a resync with a peer. While
 * the peer has not acknowledged every event of the current round, another
 * start (the peer's own `request-resource-resync` arriving at connect, the
 * periodic timer) is skipped: the running round already answers it. Within a
 * round, each object is asked about (`request-update`) at most once, so the
 * peer's `response-synced-resource` list only adds objects not asked about
 * yet (the ones this side does not have).
 *
 * @example
 *   if (rounds.busy(agent, writer)) return; // a resync with this agent is running
 *   rounds.begin(agent);
 *   if (rounds.firstRequest(agent, key)) rounds.track(agent, send(requestUpdate(key)));
 */
import type { EventWriter } from "../events/event-writer.ts";

/**
 * How long a round started when a peer connected also answers that peer's own
 * resync request on the same connection (it can wait behind thousands of
 * replayed events, but asks for what the round already sends).
 */
export const PEER_REQUEST_COVERED_MS = 120_000;

interface Round {
  /** Which connection of the peer the round was started on, and when. */
  connection: unknown;
  startedAt: number;
  /** resourceids of this round's events that may still wait for an ack. */
  open: Set<string>;
  /** Objects already asked about in this round. */
  requested: Set<string>;
}

export class ResyncRounds {
  private readonly rounds = new Map<string, Round>();

  /** True while an event of the peer's current round waits for its ack in `writer`. */
  busy(peer: string, writer: EventWriter): boolean {
    if (process.env.W13_REVERT) return false;
    const round = this.rounds.get(peer);
    if (!round) return false;
    for (const id of round.open) {
      const p = writer.pending(id);
      if (p.inFlight || p.unsent.length) return true;
      round.open.delete(id); // acked: never pending again
    }
    return false;
  }

  /** Starts a new round with the peer (on its connection `connection`); the previous one is forgotten. */
  begin(peer: string, connection?: unknown): void {
    this.rounds.set(peer, { connection, startedAt: Date.now(), open: new Set(), requested: new Set() });
  }

  /**
   * True when the current round was started on this connection of the peer
   * less than `withinMs` ago. A peer asks for a resync when its stream starts;
   * our own round at its connect answers that, even once finished (the
   * request can wait behind thousands of replayed creates).
   */
  startedOn(peer: string, connection: unknown, withinMs: number): boolean {
    if (process.env.W13_REVERT) return false;
    const round = this.rounds.get(peer);
    return Boolean(round && connection !== undefined && round.connection === connection && Date.now() - round.startedAt < withinMs);
  }

  /** Records an event sent as part of the current round (its resourceid). */
  track(peer: string, resourceId: string): void {
    this.rounds.get(peer)?.open.add(resourceId);
  }

  /** True (and remembered) the first time `object` is asked about in the current round. */
  firstRequest(peer: string, object: string): boolean {
    if (process.env.W13_REVERT) return true;
    const round = this.rounds.get(peer);
    if (!round) return true;
    if (round.requested.has(object)) return false;
    round.requested.add(object);
    return true;
  }

  /** Forgets the peer (disconnected for good). */
  forget(peer: string): void {
    this.rounds.delete(peer);
  }
}
