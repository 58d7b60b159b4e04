/**
 * Resync checksums and payloads (wire-protocol.md §8), bit-for-bit as the Go
 * peer computes them, so a resync between a TS and a Go side ends quietly
 * instead of causing needless spec-update/delete traffic.
 *
 * - Resource-set checksum (§8.1): SHA-256 over the byte-wise sorted strings
 *   `Kind/Name/UID` concatenated without separator; no resources → null.
 * - Spec checksum (§8.2): SHA-256 over Go-style JSON of `.spec` (`.data` for
 *   Secret/ConfigMap) without its top-level `destination`.
 * - Checksums travel as base64 strings; null, "" and a missing field all mean
 *   "empty" and compare equal, as Go's byte-slice comparison makes them.
 *
 * @example
 *   const sum = resourceSetChecksum([{ kind: "Application", name: "guestbook", namespace: "agent-a", uid: "1234" }]);
 *   requestEvent(EventTypes.requestSyncedResourceList, EventTargets.resourceResync,
 *     encodeRequestSyncedResourceList({ checksum: sum }), EventSources.agent);
 */
import { createHash } from "node:crypto";
import { Annotations } from "./event-types.ts";
import { compareUtf8, goJsonMarshal } from "./go-json.ts";
import { err, ok, type Result } from "./result.ts";

/** One tracked resource: uid is the source-uid annotation when present, else metadata.uid. */
export interface ResourceKey {
  kind: string;
  name: string;
  namespace: string;
  uid: string;
}

/** A checksum; an empty array stands for Go's nil/empty slice. */
export type Checksum = Uint8Array;

interface ObjectWithMeta {
  metadata?: { name?: string; namespace?: string; uid?: string; annotations?: Record<string, string> | null };
}

/** The resource key of an object, preferring the source-uid annotation as upstream does. */
export function resourceKeyOf(kind: string, obj: ObjectWithMeta): ResourceKey {
  const m = obj.metadata ?? {};
  const sourceUid = m.annotations?.[Annotations.sourceUid];
  return { kind, name: m.name ?? "", namespace: m.namespace ?? "", uid: sourceUid ?? m.uid ?? "" };
}

/**
 * Checksum of a set of resource keys, or null for an empty set. Namespace is
 * deliberately not hashed (it differs between agent and principal), yet keys
 * differing only in namespace are distinct set members and each contributes
 * its string, as in Go's map keyed by the full key.
 */
export function resourceSetChecksum(keys: Iterable<ResourceKey>): Checksum | null {
  const members = new Map<string, string>();
  for (const k of keys) members.set(JSON.stringify([k.kind, k.namespace, k.name, k.uid]), `${k.kind}/${k.name}/${k.uid}`);
  if (members.size === 0) return null;
  const parts = [...members.values()].sort(compareUtf8);
  return sha256(parts.join(""));
}

/**
 * Checksum of an object's desired state: `.data` for Secret and ConfigMap (a
 * ConfigMap without data counts as `{}`), `.spec` otherwise, in both cases
 * without the top-level `destination` key (the agent rewrites it).
 * `kind` defaults to the object's own `kind` field, as Go reads it.
 */
export function specChecksum(obj: Record<string, unknown>, kind: unknown = obj["kind"]): Result<Checksum, string> {
  const isData = kind === "Secret" || kind === "ConfigMap";
  const field = isData ? "data" : "spec";
  let section: unknown = obj[field];
  if (section === undefined) {
    if (kind !== "ConfigMap") return err(`${field} field not found for ${String(kind)} resource`);
    section = {};
  }
  if (section === null || typeof section !== "object" || Array.isArray(section)) {
    return err(`${field} of ${String(kind)} resource is not an object`);
  }
  const { destination: _dropped, ...rest } = section as Record<string, unknown>;
  const json = goJsonMarshal(rest);
  if (!json.ok) return err(`cannot marshal ${field}: ${json.error}`);
  return ok(sha256(json.value));
}

/** Equality as Go's bytes.Equal: null, undefined and empty are all equal. */
export function checksumsEqual(a: Checksum | null | undefined, b: Checksum | null | undefined): boolean {
  const x = a ?? new Uint8Array(0);
  const y = b ?? new Uint8Array(0);
  return Buffer.compare(x, y) === 0;
}

/** JSON form of a checksum: standard padded base64, or null when empty (Go's nil slice). */
export function checksumToJson(sum: Checksum | null | undefined): string | null {
  return sum && sum.byteLength > 0 ? Buffer.from(sum).toString("base64") : null;
}

const BASE64 = /^(?:[A-Za-z0-9+/]{4})*(?:[A-Za-z0-9+/]{2}==|[A-Za-z0-9+/]{3}=)?$/;

/** Reads a checksum field the way Go decodes `[]byte`: base64 string or null/absent. */
export function checksumFromJson(v: unknown): Result<Checksum, string> {
  if (v === null || v === undefined) return ok(new Uint8Array(0));
  if (typeof v !== "string") return err(`checksum must be a base64 string, got ${typeof v}`);
  if (!BASE64.test(v)) return err("checksum is not valid base64");
  return ok(new Uint8Array(Buffer.from(v, "base64")));
}

function sha256(text: string): Checksum {
  return new Uint8Array(createHash("sha256").update(text, "utf8").digest());
}

// ---------------------------------------------------------------- payloads (§8.3)

/** `request-synced-resource-list`: the sender's resource-set checksum. */
export interface RequestSyncedResourceList {
  checksum: Checksum | null;
}

/** `response-synced-resource`: one resource the source of truth tracks. */
export interface SyncedResource {
  name: string;
  namespace: string;
  uid: string;
  kind: string;
}

/** `request-update`: asks the source of truth for a resource if its spec checksum differs. */
export interface RequestUpdate {
  name: string;
  namespace: string;
  uid: string;
  kind: string;
  checksum: Checksum | null;
}

/** `request-resource-resync` has an empty payload `{}`. */
export type RequestResourceResync = Record<string, never>;

export function encodeRequestSyncedResourceList(p: RequestSyncedResourceList): object {
  return { checksum: checksumToJson(p.checksum) };
}

/** Key order and omitempty as Go's struct tags (namespace omitted when empty). */
export function encodeSyncedResource(p: SyncedResource): object {
  return { name: p.name, ...(p.namespace ? { namespace: p.namespace } : {}), uid: p.uid, kind: p.kind };
}

export function encodeRequestUpdate(p: RequestUpdate): object {
  return {
    name: p.name,
    ...(p.namespace ? { namespace: p.namespace } : {}),
    uid: p.uid,
    kind: p.kind,
    checksum: checksumToJson(p.checksum),
  };
}

export function encodeRequestResourceResync(): object {
  return {};
}

export function decodeRequestSyncedResourceList(payload: unknown): Result<RequestSyncedResourceList, string> {
  const o = asObject(payload);
  if (!o.ok) return o;
  const sum = checksumFromJson(o.value["checksum"]);
  return sum.ok ? ok({ checksum: sum.value }) : sum;
}

export function decodeSyncedResource(payload: unknown): Result<SyncedResource, string> {
  const o = asObject(payload);
  if (!o.ok) return o;
  return readKeyFields(o.value);
}

export function decodeRequestUpdate(payload: unknown): Result<RequestUpdate, string> {
  const o = asObject(payload);
  if (!o.ok) return o;
  const fields = readKeyFields(o.value);
  if (!fields.ok) return fields;
  const sum = checksumFromJson(o.value["checksum"]);
  return sum.ok ? ok({ ...fields.value, checksum: sum.value }) : sum;
}

export function decodeRequestResourceResync(payload: unknown): Result<RequestResourceResync, string> {
  const o = asObject(payload);
  return o.ok ? ok({}) : o;
}

function asObject(payload: unknown): Result<Record<string, unknown>, string> {
  // Go's decoder leaves a struct untouched for an absent body or `null`.
  if (payload === undefined || payload === null) return ok({});
  if (typeof payload !== "object" || Array.isArray(payload)) return err("payload is not a JSON object");
  return ok(payload as Record<string, unknown>);
}

/** Missing string fields are "" as in Go; a present field of the wrong type is an error. */
function readKeyFields(o: Record<string, unknown>): Result<SyncedResource, string> {
  const out: Record<string, string> = {};
  for (const f of ["name", "namespace", "uid", "kind"]) {
    const v = o[f];
    if (v === undefined || v === null) out[f] = "";
    else if (typeof v === "string") out[f] = v;
    else return err(`field ${f} must be a string, got ${typeof v}`);
  }
  return ok({ name: out["name"]!, namespace: out["namespace"]!, uid: out["uid"]!, kind: out["kind"]! });
}
