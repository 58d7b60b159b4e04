/**
 * The CloudEvent envelope exactly as the Go peer builds and reads it
 * (wire-protocol.md §5.2): spec_version "1.0", empty `id`, `source` per side,
 * `dataschema` as a `ce_uri` attribute (Go reads it from nowhere else),
 * extensions as `ce_string`, JSON payload in `binary_data`.
 *
 * Building is for our own code and throws `RangeError` on programmer errors;
 * parsing is for what a peer sent and never throws.
 *
 * @example
 *   const ev = objectEvent(EventTypes.specUpdate, EventTargets.application, app, EventSources.principal);
 *   stream.write({ event: toWire(ev) });
 *   const r = fromWire(received.event);
 *   if (r.ok) handle(r.value.event, r.value.payload);
 */
import { randomUUID } from "node:crypto";
import { CloudEvent, type CloudEventAttributeValue } from "../proto/gen/cloudevent.ts";
import {
  CLOUDEVENT_SPEC_VERSION,
  CoreAttributes,
  EXTENSION_NAME_PATTERN,
  Extensions,
  JSON_CONTENT_TYPE,
  isCoreAttribute,
  isEventTarget,
  isEventType,
  type EventTarget,
  type EventType,
} from "./event-types.ts";
import { err, ok, type Result } from "./result.ts";
import { injectTraceContext } from "../tracing/tracing.ts";

/** One event as our code sees it: the envelope's meaning, plus the raw payload bytes. */
export interface AgentEvent {
  /** CloudEvent `id`; the Go peer leaves it empty, so nothing may depend on it. */
  readonly id: string;
  readonly source: string;
  readonly type: EventType;
  /** The `dataschema` attribute. */
  readonly target: EventTarget;
  readonly resourceId: string;
  readonly eventId: string;
  readonly subject?: string;
  readonly dataContentType?: string;
  /**
   * Every extension attribute (resourceid, eventid, sentat, principaluid, trace
   * context, anything unknown) exactly as received or built, so an ack can
   * copy them verbatim.
   */
  readonly extensions: Readonly<Record<string, CloudEventAttributeValue>>;
  /** JSON payload bytes; empty for pings and acks. */
  readonly data: Uint8Array;
}

/** A payload is always a JSON object in this protocol. */
export type JsonObject = { [key: string]: unknown };

// ---------------------------------------------------------------- building

export interface EventInit {
  type: EventType;
  target: EventTarget;
  resourceId: string;
  eventId: string;
  source: string;
  subject?: string;
  /** Serialised with JSON.stringify into `binary_data`; sets datacontenttype. */
  payload?: object;
  /** Further string extensions (e.g. principaluid); names must be [a-z0-9]+. */
  extensions?: Readonly<Record<string, string>>;
}

const NO_DATA = new Uint8Array(0);

/** Builds an event; throws RangeError when ids are empty or an extension name is invalid. */
export function newEvent(init: EventInit): AgentEvent {
  // The Go event writer silently drops events with an empty resourceid, and
  // acks cannot match without an eventid: never let one leave this process.
  if (!init.resourceId) throw new RangeError(`event ${init.type}: resourceid must not be empty`);
  if (!init.eventId) throw new RangeError(`event ${init.type}: eventid must not be empty`);
  const extensions: Record<string, CloudEventAttributeValue> = {};
  for (const [name, value] of Object.entries(init.extensions ?? {})) {
    if (!EXTENSION_NAME_PATTERN.test(name) || isCoreAttribute(name)) {
      throw new RangeError(`invalid extension name ${JSON.stringify(name)}`);
    }
    extensions[name] = ceString(value);
  }
  extensions[Extensions.resourceId] = ceString(init.resourceId);
  extensions[Extensions.eventId] = ceString(init.eventId);
  // Built inside a traced span (informer change, event handling): carry its trace context.
  injectTraceContext(extensions);
  const data = init.payload === undefined ? NO_DATA : Buffer.from(JSON.stringify(init.payload), "utf8");
  return {
    id: "",
    source: init.source,
    type: init.type,
    target: init.target,
    resourceId: init.resourceId,
    eventId: init.eventId,
    ...(init.subject ? { subject: init.subject } : {}),
    ...(init.payload !== undefined ? { dataContentType: JSON_CONTENT_TYPE } : {}),
    extensions,
    data,
  };
}

/** The metadata fields the "object rule" of §6 reads. */
export interface ObjectMetaLike {
  metadata?: { name?: string; namespace?: string; uid?: string; resourceVersion?: string };
}

/**
 * Event about a Kubernetes object (application, appproject, repository, gpgkey):
 * resourceid `<name>_<uid>`, eventid `<name>_<uid>_<resourceVersion>`,
 * subject `<namespace>/<name>`, the object as payload.
 */
export function objectEvent(
  type: EventType,
  target: EventTarget,
  obj: ObjectMetaLike,
  source: string,
  extensions?: Readonly<Record<string, string>>,
): AgentEvent {
  const m = obj.metadata ?? {};
  const name = m.name ?? "";
  const uid = m.uid ?? "";
  return newEvent({
    type,
    target,
    source,
    resourceId: `${name}_${uid}`,
    eventId: `${name}_${uid}_${m.resourceVersion ?? ""}`,
    subject: `${m.namespace ?? ""}/${name}`,
    payload: obj,
    ...(extensions ? { extensions } : {}),
  });
}

/** Request-like event (resync, cluster cache info, proxy requests): one UUID as both ids. */
export function requestEvent(
  type: EventType,
  target: EventTarget,
  payload: object | undefined,
  source: string,
  uuid: string = randomUUID(),
): AgentEvent {
  return newEvent({ type, target, source, resourceId: uuid, eventId: uuid, ...(payload !== undefined ? { payload } : {}) });
}

/**
 * Response to a request event (resource/redis responses): a fresh resourceid,
 * and the request's UUID as eventid, which is how the principal matches it.
 */
export function responseEvent(type: EventType, target: EventTarget, payload: object, source: string, requestUuid: string): AgentEvent {
  return newEvent({ type, target, source, resourceId: randomUUID(), eventId: requestUuid, payload });
}

/** A copy of `ev` with one string extension set (e.g. sentat, principaluid). */
export function withExtension(ev: AgentEvent, name: string, value: string): AgentEvent {
  return { ...ev, extensions: { ...ev.extensions, [name]: ceString(value) } };
}

/** The string value of an extension, or undefined when absent or not a ce_string (as Go reads it). */
export function extensionString(ev: Pick<AgentEvent, "extensions">, name: string): string | undefined {
  const attr = ev.extensions[name]?.attr;
  return attr?.$case === "ceString" ? attr.value : undefined;
}

/**
 * `sentat` value as Go's `time.Now().UTC().Format(time.RFC3339Nano)` prints
 * it: trailing fractional zeros trimmed, no fraction at all on whole seconds.
 */
export function formatSentAt(epochMs: number): string {
  const iso = new Date(epochMs).toISOString(); // 2025-01-02T03:04:05.120Z
  return iso.replace(/\.?0+Z$/, "Z");
}

function ceString(value: string): CloudEventAttributeValue {
  return { attr: { $case: "ceString", value } };
}

// ---------------------------------------------------------------- wire form

/** The protobuf CloudEvent for an event, attribute kinds exactly as Go's sdk emits them. */
export function toWire(ev: AgentEvent): CloudEvent {
  const attributes: Record<string, CloudEventAttributeValue> = {};
  if (ev.dataContentType) attributes[CoreAttributes.dataContentType] = ceString(ev.dataContentType);
  attributes[CoreAttributes.dataSchema] = { attr: { $case: "ceUri", value: ev.target } };
  if (ev.subject) attributes[CoreAttributes.subject] = ceString(ev.subject);
  for (const [name, value] of Object.entries(ev.extensions)) attributes[name] = value;
  return {
    id: ev.id,
    source: ev.source,
    specVersion: CLOUDEVENT_SPEC_VERSION,
    type: ev.type,
    attributes,
    // Go always sets the oneof, to empty bytes for pings and acks; do the same.
    data: { $case: "binaryData", value: Buffer.from(ev.data.buffer, ev.data.byteOffset, ev.data.byteLength) },
  };
}

/** Serialised protobuf bytes of the CloudEvent (not wrapped in eventstreamapi.Event). */
export function encodeCloudEvent(ev: AgentEvent): Uint8Array {
  return CloudEvent.encode(toWire(ev)).finish();
}

// ---------------------------------------------------------------- parsing

export type EventParseErrorCode =
  /** Bytes are not a protobuf CloudEvent. */
  | "undecodable"
  /** An eventstreamapi.Event without its `event` field (the Go principal tears the stream down). */
  | "missing-event"
  | "bad-spec-version"
  /** An attribute without a value (Go's decoder fails on these too). */
  | "bad-attribute"
  /** No type, no `dataschema` as ce_uri, or no resourceid/eventid as ce_string. */
  | "missing-attribute"
  /** `dataschema` not in the catalogue: the Go agent drops such events without an ack. */
  | "unknown-target"
  | "unknown-type"
  /** Payload in text_data or proto_data, which this protocol never uses. */
  | "unsupported-data"
  | "too-large"
  /** Payload is not valid JSON, or not a JSON object. */
  | "bad-json";

export interface EventParseError {
  readonly code: EventParseErrorCode;
  readonly message: string;
  /**
   * Present when the envelope itself was sound (ids, known target) and only the
   * type or payload was bad. The Go peers ack such events after their handler
   * fails; without an ack the sender would retry forever and block that resource.
   */
  readonly event?: AgentEvent;
}

export interface ParsedEvent {
  readonly event: AgentEvent;
  /** The JSON payload, undefined when the event carries no data. */
  readonly payload: JsonObject | undefined;
}

export type EventParseResult = Result<ParsedEvent, EventParseError>;

export interface ParseOptions {
  /** Largest accepted payload; defaults to the 200 MiB gRPC message limit. */
  maxPayloadBytes?: number;
}

export const DEFAULT_MAX_PAYLOAD_BYTES = 209_715_200;

const utf8 = new TextDecoder("utf-8"); // not fatal: Go's JSON decoder also replaces bad UTF-8

function fail(code: EventParseErrorCode, message: string, event?: AgentEvent): EventParseResult {
  return err(event ? { code, message, event } : { code, message });
}

/** Decodes protobuf bytes of a CloudEvent and parses it; never throws. */
export function decodeCloudEvent(bytes: Uint8Array, opts: ParseOptions = {}): EventParseResult {
  let ce: CloudEvent;
  try {
    ce = CloudEvent.decode(bytes);
  } catch (e) {
    return fail("undecodable", `not a protobuf CloudEvent: ${(e as Error).message}`);
  }
  return fromWire(ce, opts);
}

/** Parses a received protobuf CloudEvent (possibly absent); never throws. */
export function fromWire(ce: CloudEvent | undefined | null, opts: ParseOptions = {}): EventParseResult {
  try {
    return parseEnvelope(ce, opts.maxPayloadBytes ?? DEFAULT_MAX_PAYLOAD_BYTES);
  } catch (e) {
    // Only reachable with hand-made objects that break the generated types.
    return fail("bad-attribute", `malformed event: ${(e as Error).message}`);
  }
}

function parseEnvelope(ce: CloudEvent | undefined | null, maxPayloadBytes: number): EventParseResult {
  if (!ce) return fail("missing-event", "stream message carries no event");
  if (ce.specVersion !== CLOUDEVENT_SPEC_VERSION) {
    return fail("bad-spec-version", `spec_version ${JSON.stringify(ce.specVersion)}, want "1.0"`);
  }
  if (!ce.type) return fail("missing-attribute", "event has no type");

  const extensions: Record<string, CloudEventAttributeValue> = {};
  let dataSchema: CloudEventAttributeValue | undefined;
  let dataContentType: string | undefined;
  let subject: string | undefined;
  for (const [name, value] of Object.entries(ce.attributes ?? {})) {
    if (!value?.attr) return fail("bad-attribute", `attribute ${JSON.stringify(name)} has no value`);
    if (name === CoreAttributes.dataSchema) dataSchema = value;
    else if (name === CoreAttributes.dataContentType) dataContentType = stringAttr(value);
    else if (name === CoreAttributes.subject) subject = stringAttr(value);
    else if (name === CoreAttributes.time) continue; // never set by Go; nothing reads it
    else extensions[name] = value;
  }

  if (!dataSchema) return fail("missing-attribute", "event has no dataschema");
  if (dataSchema.attr?.$case !== "ceUri") {
    return fail("missing-attribute", `dataschema is a ${dataSchema.attr?.$case} attribute; the Go peer only reads ce_uri`);
  }
  const target = dataSchema.attr.value;
  if (!isEventTarget(target)) return fail("unknown-target", `unknown dataschema ${JSON.stringify(target)}`);

  const resourceId = extensionString({ extensions }, Extensions.resourceId);
  if (!resourceId) return fail("missing-attribute", "event has no resourceid string extension");
  const eventId = extensionString({ extensions }, Extensions.eventId);
  if (!eventId) return fail("missing-attribute", "event has no eventid string extension");

  const envelope: AgentEvent = {
    id: ce.id ?? "",
    source: ce.source ?? "",
    type: ce.type as EventType, // checked below; an unknown type is still ackable
    target,
    resourceId,
    eventId,
    ...(subject !== undefined ? { subject } : {}),
    ...(dataContentType !== undefined ? { dataContentType } : {}),
    extensions,
    data: NO_DATA,
  };
  if (!isEventType(ce.type)) return fail("unknown-type", `unknown event type ${JSON.stringify(ce.type)}`, envelope);

  const data = ce.data;
  if (data && data.$case !== "binaryData") {
    return fail("unsupported-data", `payload in ${data.$case}; this protocol only uses binary_data`, envelope);
  }
  const bytes = data?.value ?? NO_DATA;
  if (bytes.byteLength > maxPayloadBytes) {
    return fail("too-large", `payload of ${bytes.byteLength} bytes exceeds ${maxPayloadBytes}`, envelope);
  }
  if (bytes.byteLength === 0) return ok({ event: envelope, payload: undefined });

  let payload: unknown;
  try {
    payload = JSON.parse(utf8.decode(bytes));
  } catch (e) {
    return fail("bad-json", `payload is not JSON: ${(e as Error).message}`, envelope);
  }
  if (payload === null || typeof payload !== "object" || Array.isArray(payload)) {
    return fail("bad-json", `payload is JSON ${payload === null ? "null" : Array.isArray(payload) ? "array" : typeof payload}, want an object`, envelope);
  }
  return ok({ event: { ...envelope, data: bytes }, payload: payload as JsonObject });
}

/** Go reads datacontenttype and subject only from ce_string; anything else counts as absent. */
function stringAttr(value: CloudEventAttributeValue): string | undefined {
  return value.attr?.$case === "ceString" ? value.attr.value : undefined;
}
