/**
 * The W3C trace context inside a CloudEvent, exactly as upstream carries it
 * (CloudEvents distributed-tracing extension; wire-protocol.md §5.2): the
 * extensions `traceparent` and `tracestate`, each a ce_string, set only when
 * non-empty. A carrier is the plain map a TextMap propagator reads and writes.
 * No OpenTelemetry import here, so the encoding is testable on its own.
 *
 * @example
 *   const carrier: Record<string, string> = {};
 *   propagation.inject(context.active(), carrier);
 *   setTraceExtensions(extensions, carrier);          // building an event
 *   const parent = propagation.extract(ROOT_CONTEXT, traceCarrier(received));
 */
import type { CloudEventAttributeValue } from "../proto/gen/cloudevent.ts";
import { Extensions } from "../events/event-types.ts";

export type TraceCarrier = Record<string, string>;

const TRACE_KEYS = [Extensions.traceParent, Extensions.traceState] as const;

/** Copies traceparent/tracestate from a propagator's carrier into event extensions. */
export function setTraceExtensions(extensions: Record<string, CloudEventAttributeValue>, carrier: TraceCarrier): void {
  for (const key of TRACE_KEYS) {
    const value = carrier[key];
    if (value) extensions[key] = { attr: { $case: "ceString", value } };
  }
}

/** The trace context an event carries, as a carrier map (empty when it carries none). */
export function traceCarrier(ev: { readonly extensions: Readonly<Record<string, CloudEventAttributeValue>> }): TraceCarrier {
  const carrier: TraceCarrier = {};
  for (const key of TRACE_KEYS) {
    const attr = ev.extensions[key]?.attr;
    // Go reads only string extensions; anything else counts as absent.
    if (attr?.$case === "ceString" && attr.value) carrier[key] = attr.value;
  }
  return carrier;
}
