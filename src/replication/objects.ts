/**
 * Shared helpers of replication: annotation/label names, reading an object
 * out of an event payload (never trusting it), and the comparisons that let
 * both sides decide "is there anything to write/send" by content. Comparing
 * content (not only our own resourceVersions, as upstream does) is what keeps
 * echo loops from forming when two writers race.
 */
import { isDeepStrictEqual } from "node:util";
import { Annotations } from "../events/event-types.ts";
import type { JsonObject } from "../events/cloudevent.ts";
import type { Application, KubeObject, LooseRecord } from "../kube/resources.ts";

export const SOURCE_UID = Annotations.sourceUid;
export const PRINCIPAL_UID = Annotations.principalUid;
export const NAMESPACE_REMAPPED = Annotations.namespaceRemapped;
/** Per-object overrides of --source-uid-mismatch-policy and --adoption-policy (on the incoming / the local object). */
export const MISMATCH_POLICY_ANNOTATION = "argocd.argoproj.io/source-uid-mismatch-policy";
export const ADOPTION_POLICY_ANNOTATION = "argocd.argoproj.io/adoption-policy";
export const REFRESH_ANNOTATION = "argocd.argoproj.io/refresh";
export const LAST_APPLIED = "kubectl.kubernetes.io/last-applied-configuration";
export const SKIP_SYNC_LABEL = "argocd-agent.argoproj-labs.io/ignore-sync";
/** Every list/watch excludes skip-sync objects; a user selector is ANDed (behavior.md §1). */
export function watchSelector(userSelector: string): string {
  const base = `${SKIP_SYNC_LABEL}!=true`;
  return userSelector ? `${base},${userSelector}` : base;
}

export const sourceUidOf = (o: KubeObject | undefined): string | undefined => o?.metadata.annotations?.[SOURCE_UID];

const DNS_LABEL = /^[a-z0-9]([-a-z0-9]*[a-z0-9])?$/;
const DNS_SUBDOMAIN = /^[a-z0-9]([-a-z0-9.]*[a-z0-9])?$/;

/**
 * The payload as an object we may act on, or an error text. Peers are not
 * trusted: a bad name could address something else, a non-object spec would
 * be written as garbage.
 */
export function objectFromPayload<T extends KubeObject>(payload: JsonObject | undefined, needSpec: boolean): { ok: true; obj: T } | { ok: false; error: string } {
  if (!payload) return { ok: false, error: "event carries no object" };
  const md = payload["metadata"];
  if (!md || typeof md !== "object" || Array.isArray(md)) return { ok: false, error: "object has no metadata" };
  const name = (md as LooseRecord)["name"];
  if (typeof name !== "string" || name.length > 253 || !DNS_SUBDOMAIN.test(name)) return { ok: false, error: `invalid metadata.name ${JSON.stringify(name)}` };
  const ns = (md as LooseRecord)["namespace"];
  if (ns !== undefined && ns !== "" && (typeof ns !== "string" || !DNS_LABEL.test(ns))) return { ok: false, error: `invalid metadata.namespace ${JSON.stringify(ns)}` };
  for (const f of ["labels", "annotations"]) {
    const v = (md as LooseRecord)[f];
    if (v !== undefined && v !== null && (typeof v !== "object" || Array.isArray(v) || Object.values(v).some((x) => typeof x !== "string"))) {
      return { ok: false, error: `metadata.${f} is not a string map` };
    }
  }
  const spec = payload["spec"];
  if (needSpec && (!spec || typeof spec !== "object" || Array.isArray(spec))) return { ok: false, error: "object has no spec object" };
  for (const f of ["status", "operation"]) {
    const v = payload[f];
    if (v !== undefined && v !== null && (typeof v !== "object" || Array.isArray(v))) return { ok: false, error: `${f} is not an object` };
  }
  return { ok: true, obj: payload as unknown as T };
}

/** Equal as the API server sees it; the plain comparison first, since most compared values are equal. */
export const same = (a: unknown, b: unknown): boolean => isDeepStrictEqual(a, b) || isDeepStrictEqual(norm(a), norm(b));

/** Empty maps/lists and absent values compare equal (the API server drops empty ones). */
function norm(v: unknown): unknown {
  if (v === null || v === undefined) return undefined;
  if (Array.isArray(v)) return v.length ? v.map(norm) : undefined;
  if (typeof v === "object") {
    const out: Record<string, unknown> = {};
    for (const [k, x] of Object.entries(v as Record<string, unknown>)) {
      const n = norm(x);
      if (n !== undefined) out[k] = n;
    }
    return Object.keys(out).length ? out : undefined;
  }
  return v;
}

/** A copy for re-creating a deleted object: server-set metadata cleared. */
export function freshCopy<T extends KubeObject>(obj: T): T {
  const { resourceVersion: _rv, uid: _uid, deletionTimestamp: _dt, deletionGracePeriodSeconds: _g, creationTimestamp: _ct, generation: _gen, managedFields: _mf, ownerReferences: _or, ...metadata } = obj.metadata;
  return { ...structuredClone(obj), metadata: structuredClone(metadata) } as T;
}

export const operationPhase = (a: Application | undefined): string | undefined =>
  ((a?.status?.["operationState"] as LooseRecord | undefined)?.["phase"] as string | undefined);

/**
 * What the peer's copy of an app says about a pending operation, deciding the
 * `operation` to store on our side. Upstream copies the peer's `operation`
 * verbatim, so a status report sent before a new sync request arrived wipes
 * that request. We clear ours only when the peer has started exactly that
 * operation (its operationState.operation equals it), so a sync is never lost.
 */
export function mergedOperation(ours: LooseRecord | undefined, peer: Application): LooseRecord | undefined {
  if (peer.operation) return peer.operation;
  if (!ours) return undefined;
  const started = (peer.status?.["operationState"] as LooseRecord | undefined)?.["operation"];
  return started !== undefined && same(started, ours) ? undefined : ours;
}

/** Applications: the fields whose change the source of truth must propagate. */
export function desiredStateChanged(a: Application, b: Application): boolean {
  return (
    !same(a.spec, b.spec) ||
    !same(a.metadata.labels, b.metadata.labels) ||
    !same(a.metadata.annotations, b.metadata.annotations) ||
    !same(a.metadata.finalizers, b.metadata.finalizers) ||
    a.metadata.deletionTimestamp !== b.metadata.deletionTimestamp
  );
}

/**
 * Remembers resourceVersions we wrote ourselves, so the informer event they
 * cause is not mistaken for a user change (upstream's ObservedResources).
 */
export class SelfWrites {
  private readonly seen = new Map<string, string>();
  record(o: KubeObject | undefined): void {
    const m = o?.metadata;
    if (m?.resourceVersion) this.seen.set(`${m.namespace}/${m.name}`, m.resourceVersion);
  }
  isOwn(o: KubeObject): boolean {
    return this.seen.get(`${o.metadata.namespace}/${o.metadata.name}`) === o.metadata.resourceVersion;
  }
}

/** Drops undefined values so a write does not send `"x": undefined` noise. */
export function compact<T extends Record<string, unknown>>(o: T): T {
  return Object.fromEntries(Object.entries(o).filter(([, v]) => v !== undefined)) as T;
}
