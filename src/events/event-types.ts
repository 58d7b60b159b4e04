/**
 * The event layer (src/events/), transport-agnostic — nothing here imports grpc:
 *   event-types.ts  names of the catalogue (this file)
 *   cloudevent.ts   envelope build/parse, Go-identical attribute kinds
 *   ack.ts          acks, heartbeat events, the ack policy
 *   event-writer.ts per-resource delivery: one in flight, re-send, coalescing
 *   heartbeat.ts    the agent's periodic ping
 *   resync.ts       resync checksums and payloads; go-json.ts for hashed JSON
 *   payloads.ts     JSON shapes of request/response events
 *
 * Every name of the event catalogue (wire-protocol.md §5.2, §6, §9, §10),
 * declared once. Other modules import these constants instead of spelling
 * strings, so a typo cannot silently make an event unknown to the Go peer.
 *
 * @example
 *   import { EventTypes, EventTargets } from "./event-types.ts";
 *   if (ev.type === EventTypes.specUpdate && ev.target === EventTargets.application) { ... }
 */

/** Prefix of every event `type` except resource-proxy and log requests (bare HTTP methods). */
export const EVENT_TYPE_PREFIX = "io.argoproj.argocd-agent.event";

/** The only CloudEvents spec version the Go peer handles without legacy data conversion. */
export const CLOUDEVENT_SPEC_VERSION = "1.0";

/** `datacontenttype` of every event that carries a payload. */
export const JSON_CONTENT_TYPE = "application/json";

/** Event targets, sent as the `dataschema` attribute (case-sensitive). */
export const EventTargets = {
  application: "application",
  appProject: "appproject",
  applicationSet: "applicationset",
  repository: "repository",
  gpgKey: "gpgkey",
  resource: "resource",
  redis: "redis",
  resourceResync: "resourceResync",
  clusterCacheInfoUpdate: "clusterCacheInfoUpdate",
  containerLog: "containerlog",
  terminal: "terminal",
  heartbeat: "heartbeat",
  eventAck: "eventProcessed",
} as const;
export type EventTarget = (typeof EventTargets)[keyof typeof EventTargets];

/** Defined upstream but never sent; a receiver treats it like any unknown target. */
export const UNKNOWN_TARGET = "unknown";

const KNOWN_TARGETS: ReadonlySet<string> = new Set(Object.values(EventTargets));

/** True when `s` is a `dataschema` the Go peer accepts (its FromWire drops anything else). */
export function isEventTarget(s: string): s is EventTarget {
  return KNOWN_TARGETS.has(s);
}

/** Event `type` strings (prefix + suffix). */
export const EventTypes = {
  ping: `${EVENT_TYPE_PREFIX}.ping`,
  /** Defined upstream, never sent by either Go side. */
  pong: `${EVENT_TYPE_PREFIX}.pong`,
  create: `${EVENT_TYPE_PREFIX}.create`,
  delete: `${EVENT_TYPE_PREFIX}.delete`,
  specUpdate: `${EVENT_TYPE_PREFIX}.spec-update`,
  statusUpdate: `${EVENT_TYPE_PREFIX}.status-update`,
  setOperation: `${EVENT_TYPE_PREFIX}.set-operation`,
  terminateOperation: `${EVENT_TYPE_PREFIX}.terminate-operation`,
  processed: `${EVENT_TYPE_PREFIX}.processed`,
  /** Defined upstream, unused. */
  get: `${EVENT_TYPE_PREFIX}.get`,
  response: `${EVENT_TYPE_PREFIX}.response`,
  redisRequest: `${EVENT_TYPE_PREFIX}.redis-request`,
  redisResponse: `${EVENT_TYPE_PREFIX}.redis-response`,
  requestSyncedResourceList: `${EVENT_TYPE_PREFIX}.request-synced-resource-list`,
  responseSyncedResource: `${EVENT_TYPE_PREFIX}.response-synced-resource`,
  requestUpdate: `${EVENT_TYPE_PREFIX}.request-update`,
  requestResourceResync: `${EVENT_TYPE_PREFIX}.request-resource-resync`,
  clusterCacheInfoUpdate: `${EVENT_TYPE_PREFIX}.cluster-cache-info-update`,
  terminalRequest: `${EVENT_TYPE_PREFIX}.terminal-request`,
  error: `${EVENT_TYPE_PREFIX}.error`,
} as const;
export type PrefixedEventType = (typeof EventTypes)[keyof typeof EventTypes];

/** Resource-proxy and container-log requests use the bare HTTP method as `type`. */
export const HTTP_METHOD_TYPES = ["GET", "POST", "PATCH", "DELETE"] as const;
export type HttpMethodType = (typeof HTTP_METHOD_TYPES)[number];

export type EventType = PrefixedEventType | HttpMethodType;

const KNOWN_TYPES: ReadonlySet<string> = new Set<string>([...Object.values(EventTypes), ...HTTP_METHOD_TYPES]);

/** True when `s` is one of the catalogue's event types. */
export function isEventType(s: string): s is EventType {
  return KNOWN_TYPES.has(s);
}

/** CloudEvents optional attributes that the Go sdk maps to envelope fields, not extensions. */
export const CoreAttributes = {
  dataContentType: "datacontenttype",
  dataSchema: "dataschema",
  subject: "subject",
  time: "time",
} as const;

const CORE_ATTRIBUTE_NAMES: ReadonlySet<string> = new Set(Object.values(CoreAttributes));

/** True for the four attributes that are not extensions (everything else in the map is). */
export function isCoreAttribute(name: string): boolean {
  return CORE_ATTRIBUTE_NAMES.has(name);
}

/** Extension attributes; all are sent as `ce_string` because Go reads them as strings. */
export const Extensions = {
  /** Per-resource key of the event writer (`<name>_<uid>` or a UUID). */
  resourceId: "resourceid",
  /** Identifies one version of a resource, or a request (acks echo it). */
  eventId: "eventid",
  /** RFC 3339 UTC time of first transmission, nanosecond precision, zeros trimmed. */
  sentAt: "sentat",
  /** Persistent principal identity, stamped on most principal→agent object events. */
  principalUid: "principaluid",
  /** W3C trace context, only when tracing is on. */
  traceParent: "traceparent",
  traceState: "tracestate",
} as const;

/** Extension names must be ASCII letters/digits only (the Go sdk rejects anything else). */
export const EXTENSION_NAME_PATTERN = /^[a-z0-9]+$/;

/** `source` of events as each Go side emits them. */
export const EventSources = {
  agent: "agent://agent-managed",
  principal: "",
} as const;

/** Kind strings of resync payloads and resource keys; resync lookups support exactly these. */
export const ResyncKinds = {
  application: "Application",
  appProject: "AppProject",
  repository: "Repository",
  gpgKey: "GPGKey",
} as const;
export type ResyncKind = (typeof ResyncKinds)[keyof typeof ResyncKinds];

/** Annotations that link a copy of a resource to its source (wire-protocol.md §10). */
export const Annotations = {
  sourceUid: "argocd.argoproj.io/source-uid",
  principalUid: "argocd.argoproj.io/principal-uid",
  namespaceRemapped: "argocd.argoproj.io/namespace-remapped",
} as const;

/** Agent modes as they appear in JWT subjects, AuthRequest.mode and mode guards. */
export const AgentModes = {
  managed: "managed",
  autonomous: "autonomous",
} as const;
export type AgentMode = (typeof AgentModes)[keyof typeof AgentModes];
