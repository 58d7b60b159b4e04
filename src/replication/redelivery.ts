/**
 * Runs each received replication event at most once, and promptly again when
 * the API server was unreachable. Used by both the principal and the agent.
 *
 * - Redeliveries: a peer re-sends an event until our ack arrives (5–10 s,
 *   then longer). When we are slow (a resync of thousands of resources, an
 *   API outage) the re-sent copy queues behind the original and used to be
 *   applied again; for resync requests, whose answers are new events, every
 *   re-send of `request-synced-resource-list` produced a whole new list of
 *   answers (the resync storm of issue 13). A copy (same type, resourceid and
 *   eventid) of an event applied in the last `recentTtlMs` is now only acked,
 *   unless another event of the same resource was applied after it. A peer
 *   never re-sends an event once it sent a later one for that resource (one
 *   in flight per resource), so that is no copy: object events' eventid names
 *   an object version, and the same version legitimately comes again after a
 *   delete (a repository secret whose project stopped, then started matching
 *   the agent again).
 * - API outages: a write that got no HTTP answer waits for the API server
 *   (one shared probe, ApiReachability) and is retried as soon as it answers,
 *   up to `maxApiWaitMs`, instead of waiting for the peer's growing backoff.
 *   The processing slot is released while waiting.
 *
 * @example
 *   const redelivery = new Redelivery({ reach: new ApiReachability(kube.kubeConfig), signal });
 *   const handler = (ev, payload) => redelivery.run(agent, ev, () => slots.run(agent, () => apply(ev, payload)));
 */
import type { AgentEvent } from "../events/cloudevent.ts";
import type { ApiReachability } from "../kube/reachability.ts";
import { getLogger } from "../observability/log.ts";
import type { HandlerOutcome } from "../transport/event-session.ts";
import type { ReplicationOutcome } from "./kube-errors.ts";

const log = getLogger("replication");

export interface RedeliveryOptions {
  /** Where to wait for the API server; without it, unreachable writes go back to the peer at once. */
  reach?: ApiReachability;
  /** Aborting it ends every wait (shutdown). */
  signal: AbortSignal;
  /** Longest wait for the API server per event (default 5 min); then the peer's re-send takes over. */
  maxApiWaitMs?: number;
  /** Attempts per event while the API server gives no answer (default 30). */
  maxAttempts?: number;
  /** How long an applied event is remembered (default 60 s; re-sends come while our ack travels). */
  recentTtlMs?: number;
  /** At most this many remembered events (default 200,000, oldest forgotten first). */
  maxRecent?: number;
}

export interface RedeliveryStats {
  /** Re-sent copies acked without being applied again. */
  duplicates: number;
  /** Attempts repeated after the API server answered again. */
  apiRetries: number;
}

export class Redelivery {
  private readonly opts: RedeliveryOptions;
  /** key → expiry (ms) and place among applied events; insertion order is expiry order (one TTL). */
  private readonly recent = new Map<string, Applied>();
  /** peer + resourceid → its last applied event (same TTL). */
  private readonly latest = new Map<string, Applied>();
  private applied = 0;
  private readonly counters: RedeliveryStats = { duplicates: 0, apiRetries: 0 };

  constructor(opts: RedeliveryOptions) {
    this.opts = opts;
  }

  /** Applies `ev` from `peer` through `apply`, unless it was applied a moment ago. */
  async run(peer: string, ev: AgentEvent, apply: () => Promise<HandlerOutcome | void>): Promise<HandlerOutcome | void> {
    const key = `${peer}\u0000${ev.type}\u0000${ev.resourceId}\u0000${ev.eventId}`;
    const resource = `${peer}\u0000${ev.resourceId}`;
    this.prune(Date.now());
    const seen = this.recent.get(key);
    if (seen && (this.latest.get(resource)?.seq ?? seen.seq) === seen.seq) {
      this.counters.duplicates++;
      log.debug("re-sent event already applied; acknowledging only", { peer, event_type: ev.type, resource_id: ev.resourceId, event_id: ev.eventId });
      return;
    }
    const out = await this.withApiRetries(peer, ev, apply);
    if (!out?.retryableFailure) {
      const mark: Applied = { expiry: Date.now() + (this.opts.recentTtlMs ?? 60_000), seq: ++this.applied };
      remember(this.recent, key, mark);
      remember(this.latest, resource, mark);
    }
    return out;
  }

  stats(): RedeliveryStats {
    return { ...this.counters };
  }

  private async withApiRetries(peer: string, ev: AgentEvent, apply: () => Promise<HandlerOutcome | void>): Promise<HandlerOutcome | void> {
    const maxAttempts = this.opts.maxAttempts ?? 30;
    let deadline: AbortSignal | undefined;
    for (let attempt = 1; ; attempt++) {
      const out: ReplicationOutcome | void = await apply();
      if (!out?.apiUnreachable || !this.opts.reach || attempt >= maxAttempts) return out;
      deadline ??= AbortSignal.any([this.opts.signal, AbortSignal.timeout(this.opts.maxApiWaitMs ?? 300_000)]);
      if (attempt === 1) log.info("API server unreachable; retrying the event as soon as it answers", { peer, event_type: ev.type, resource_id: ev.resourceId });
      if (!(await this.opts.reach.waitUntilReachable(deadline))) return out;
      this.counters.apiRetries++;
    }
  }

  private prune(now: number): void {
    const max = this.opts.maxRecent ?? 200_000;
    for (const map of [this.recent, this.latest]) {
      for (const [key, { expiry }] of map) {
        if (expiry > now && map.size <= max) break;
        map.delete(key);
      }
    }
  }
}

interface Applied {
  expiry: number;
  seq: number;
}

/** Sets `key` at the end of the map (insertion order stays expiry order). */
function remember(map: Map<string, Applied>, key: string, mark: Applied): void {
  map.delete(key);
  map.set(key, mark);
}
