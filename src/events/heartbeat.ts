/**
 * Agent-side heartbeat (wire-protocol.md §7.3): every interval, one ping event
 * (type …ping, dataschema heartbeat, fresh UUID as both ids) goes to the event
 * writer, which sends it fire-and-forget. It exists to keep service-mesh idle
 * timeouts from cutting a quiet Subscribe stream; the principal answers with a
 * plain ack (see ack.ts for why there is no pong). Principals never start one.
 *
 * @example
 *   startHeartbeat({ intervalMs: 30_000, source: EventSources.agent, emit: (ev) => writer.add(ev), signal });
 */
import { heartbeatEvent } from "./ack.ts";
import type { AgentEvent } from "./cloudevent.ts";
import { systemClock, type Clock, type TimerHandle } from "./clock.ts";

export interface HeartbeatOptions {
  /** Milliseconds between pings; 0 disables (the agent's default). */
  intervalMs: number;
  source: string;
  /** Where pings go, normally `EventWriter.add`. */
  emit: (ev: AgentEvent) => void;
  /** Stops the heartbeat when aborted (e.g. the stream ended). */
  signal?: AbortSignal;
  clock?: Clock;
}

/** Starts emitting pings; returns a function that stops them. */
export function startHeartbeat(opts: HeartbeatOptions): () => void {
  if (!(opts.intervalMs >= 0)) throw new RangeError(`heartbeat interval must be >= 0, got ${opts.intervalMs}`);
  const clock = opts.clock ?? systemClock;
  let timer: TimerHandle | undefined;
  let stopped = false;
  const stop = (): void => {
    stopped = true;
    if (timer !== undefined) clock.clearTimeout(timer);
    timer = undefined;
  };
  if (opts.intervalMs === 0 || opts.signal?.aborted) return stop;
  opts.signal?.addEventListener("abort", stop, { once: true });
  const tick = (): void => {
    if (stopped) return;
    timer = clock.setTimeout(tick, opts.intervalMs); // first, so a throwing emit cannot end the heartbeat
    opts.emit(heartbeatEvent(opts.source));
  };
  timer = clock.setTimeout(tick, opts.intervalMs);
  return stop;
}
