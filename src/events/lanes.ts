/**
 * Lanes: which handler a received event goes to. Replication (Applications,
 * AppProjects, resync) has its own bounded, ordered processors; live-resource
 * traffic (resource proxy, redis proxy, logs, terminal, cluster cache info)
 * goes to handlers of its own, so a slow proxied request or a followed log
 * never takes a replication slot or waits behind one, and the reverse.
 *
 * @example
 *   const handler = laneRouter({
 *     replication: repl.handler,
 *     live: { [EventTargets.resource]: resourceRequests.handler },
 *   });
 *   new AgentConnection({ ..., handler });
 */
import type { EventTarget } from "./event-types.ts";
import type { EventHandler } from "../transport/event-session.ts";
import { getLogger } from "../observability/log.ts";

const log = getLogger("grpc-event");

export interface Lanes {
  /** Everything that is not a live-resource target. */
  replication?: EventHandler;
  /** Live-resource handlers by event target (dataschema). */
  live?: Partial<Record<EventTarget, EventHandler>>;
}

/** One handler that sends each event to its lane; unknown targets are logged and acked. */
export function laneRouter(lanes: Lanes): EventHandler {
  const live = lanes.live ?? {};
  return async (ev, payload) => {
    const own = live[ev.target];
    if (own) return own(ev, payload);
    if (lanes.replication) return lanes.replication(ev, payload);
    log.debug("event target not handled here", { event_target: ev.target, event_type: ev.type });
  };
}

/** Merges lane tables (later ones win per target); for composing rooms at start-up. */
export function mergeLanes(...tables: (Lanes["live"] | undefined)[]): NonNullable<Lanes["live"]> {
  return Object.assign({}, ...tables.filter(Boolean));
}
