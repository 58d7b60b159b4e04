/**
 * Acknowledgements and heartbeats (wire-protocol.md §7.2, §7.3).
 *
 * An ack is `type` …processed, `dataschema` eventProcessed, no data, and a
 * verbatim copy of every extension of the acked event (resourceid, eventid,
 * sentat, principaluid, trace context…). The sender clears its outstanding
 * event when resourceid and eventid match. Every received event except acks is
 * acked — including heartbeats, unknown types and events whose handler failed
 * with a non-retryable error; only retryable Kubernetes errors skip the ack so
 * the sender retries.
 *
 * Heartbeat decision: the Go principal answers an agent's ping with the normal
 * ack and nothing else (no `pong` exists on the wire), and the Go agent's
 * inbound dispatcher has no handler for the heartbeat target, so a pong or a
 * principal-initiated ping would only show up there as an error log (and be
 * acked back). We therefore do exactly what Go does: our principal acks pings
 * like any event and never emits heartbeats; only agents emit them. The ack
 * flowing back is enough traffic to keep mesh idle timers on both directions
 * alive.
 *
 * @example
 *   if (needsAck(ev)) writer.add(ackFor(ev, EventSources.agent));
 */
import { randomUUID } from "node:crypto";
import { newEvent, type AgentEvent } from "./cloudevent.ts";
import { EventTargets, EventTypes } from "./event-types.ts";

const NO_DATA = new Uint8Array(0);

/** The ack of `ev`, built as Go's ProcessedEvent does. */
export function ackFor(ev: AgentEvent, source: string): AgentEvent {
  return {
    id: "",
    source,
    type: EventTypes.processed,
    target: EventTargets.eventAck,
    resourceId: ev.resourceId,
    eventId: ev.eventId,
    extensions: { ...ev.extensions },
    data: NO_DATA,
  };
}

export function isAck(ev: Pick<AgentEvent, "target">): boolean {
  return ev.target === EventTargets.eventAck;
}

export function isHeartbeat(ev: Pick<AgentEvent, "target">): boolean {
  return ev.target === EventTargets.heartbeat;
}

/**
 * Acks and heartbeats are fire-and-forget: never retried, never waiting for an
 * ack, never stamped with `sentat`.
 */
export function isFireAndForget(ev: Pick<AgentEvent, "target">): boolean {
  return isAck(ev) || isHeartbeat(ev);
}

/**
 * Whether a received event must be acked, given how its processing ended.
 * Acks are never acked; a retryable failure (as classified by the caller, e.g.
 * Kubernetes 429/5xx/timeouts) is left unacked so the peer re-sends it.
 */
export function needsAck(ev: Pick<AgentEvent, "target">, outcome: { retryableFailure?: boolean } = {}): boolean {
  if (isAck(ev)) return false;
  return !outcome.retryableFailure;
}

/** True when `ack` acknowledges `ev` (the rule the Go event writer applies). */
export function acknowledges(ack: Pick<AgentEvent, "resourceId" | "eventId">, ev: Pick<AgentEvent, "resourceId" | "eventId">): boolean {
  return ack.resourceId === ev.resourceId && ack.eventId === ev.eventId;
}

/** An agent heartbeat: type …ping, dataschema heartbeat, one fresh UUID as both ids, no data, no subject. */
export function heartbeatEvent(source: string, uuid: string = randomUUID()): AgentEvent {
  return newEvent({ type: EventTypes.ping, target: EventTargets.heartbeat, resourceId: uuid, eventId: uuid, source });
}
