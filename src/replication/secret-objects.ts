/**
 * What both sides share about the replicated data objects (operations.md §3):
 * repository and repo-creds Secrets (label `argocd.argoproj.io/secret-type`,
 * project-scoped by a non-empty `data.project`) and the GPG keys ConfigMap
 * `argocd-gpg-keys-cm`. Their selectors, their resync kinds and checksums
 * (SHA-256 over `.data` exactly as the API returns it: base64 strings for
 * Secrets, `{}` for a ConfigMap without data), reading one from an event
 * payload (never trusting it), and the principal's recipient rules.
 *
 * @example
 *   isRepoSecret(secret)                        // labelled repository/repo-creds with data.project
 *   repoProjectOf(secret)                       // "team-a"
 *   dataChecksum(ResyncKinds.repository, secret) // Uint8Array(32) or null
 *   recipientChanges(new Set(["a", "b"]), new Set(["b", "c"])) // { remove: ["a"], keep: ["b"], add: ["c"] }
 */
import type { JsonObject } from "../events/cloudevent.ts";
import { EventTargets, ResyncKinds, type EventTarget, type ResyncKind } from "../events/event-types.ts";
import { specChecksum, type Checksum } from "../events/resync.ts";
import type { ConfigMap, KubeObject, Secret } from "../kube/resources.ts";
import { objectFromPayload, watchSelector } from "./objects.ts";

export const SECRET_TYPE_LABEL = "argocd.argoproj.io/secret-type";
/** Secret types replicated (`repository-write` and `repo-write-creds` are not). */
export const REPO_SECRET_TYPES = ["repository", "repo-creds"] as const;
export const GPG_KEYS_CONFIGMAP = "argocd-gpg-keys-cm";

export type DataObject = Secret | ConfigMap;

/** The replicated data kinds: resync kind, event target and the core kind their checksum reads. */
export const DataKinds = {
  repository: { kind: ResyncKinds.repository, target: EventTargets.repository, coreKind: "Secret" },
  gpgKey: { kind: ResyncKinds.gpgKey, target: EventTargets.gpgKey, coreKind: "ConfigMap" },
} as const satisfies Record<string, { kind: ResyncKind; target: EventTarget; coreKind: "Secret" | "ConfigMap" }>;

/** List/watch selector of repository secrets: both types, no skip-sync, plus the user's --label-selector. */
export function repoSecretSelector(userSelector: string): string {
  return `${SECRET_TYPE_LABEL} in (${REPO_SECRET_TYPES.join(",")}),${watchSelector(userSelector)}`;
}

/** List/watch options of the GPG ConfigMap: by name, no skip-sync, plus the user's --label-selector. */
export function gpgKeysWatch(userSelector: string): { labelSelector: string; fieldSelector: string } {
  return { labelSelector: watchSelector(userSelector), fieldSelector: `metadata.name=${GPG_KEYS_CONFIGMAP}` };
}

/** The project a repository secret is scoped to (decoded `data.project`), or undefined. */
export function repoProjectOf(s: Secret | undefined): string | undefined {
  const b64 = s?.data?.["project"];
  if (!b64) return undefined;
  return Buffer.from(b64, "base64").toString("utf8") || undefined;
}

/** A repository or repo-creds secret with data and a non-empty `data.project` (upstream isValidRepositorySecret). */
export function isRepoSecret(s: Secret): boolean {
  const type = s.metadata.labels?.[SECRET_TYPE_LABEL];
  return (REPO_SECRET_TYPES as readonly string[]).includes(type ?? "") && s.data !== undefined && repoProjectOf(s) !== undefined;
}

export const isGpgKeysConfigMap = (c: ConfigMap): boolean => c.metadata.name === GPG_KEYS_CONFIGMAP;

/** The resync kind's core kind (what the checksum reads), for Repository and GPGKey; undefined otherwise. */
export function coreKindOf(kind: string): "Secret" | "ConfigMap" | undefined {
  if (kind === ResyncKinds.repository) return "Secret";
  if (kind === ResyncKinds.gpgKey) return "ConfigMap";
  return undefined;
}

/** The resync spec checksum of a repository secret / GPG ConfigMap (over `.data`), or null when it has none. */
export function dataChecksum(kind: string, obj: KubeObject): Checksum | null {
  const sum = specChecksum(obj as never, coreKindOf(kind));
  return sum.ok ? sum.value : null;
}

const BASE64 = /^(?:[A-Za-z0-9+/]{4})*(?:[A-Za-z0-9+/]{2}==|[A-Za-z0-9+/]{3}=)?$/;

/**
 * A Secret or ConfigMap from an event payload, or an error text: metadata as
 * for any object, `data` a map of strings (base64 for a Secret, as Go's JSON
 * of `[]byte`). `needData`: create and spec-update must carry data (a
 * ConfigMap may have none).
 */
export function dataObjectFromPayload<T extends DataObject>(payload: JsonObject | undefined, coreKind: "Secret" | "ConfigMap", needData: boolean): { ok: true; obj: T } | { ok: false; error: string } {
  const parsed = objectFromPayload<T>(payload, false);
  if (!parsed.ok) return parsed;
  const data = (payload as Record<string, unknown>)["data"];
  if (data === undefined || data === null) {
    if (needData && coreKind === "Secret") return { ok: false, error: "Secret carries no data" };
    return parsed;
  }
  if (typeof data !== "object" || Array.isArray(data)) return { ok: false, error: "data is not a map" };
  for (const [k, v] of Object.entries(data)) {
    if (typeof v !== "string") return { ok: false, error: `data.${k} is not a string` };
    if (coreKind === "Secret" && !BASE64.test(v)) return { ok: false, error: `data.${k} is not base64` };
  }
  return parsed;
}

/** Which remembered recipients lose an object, which keep it and which get it newly. */
export function recipientChanges(before: ReadonlySet<string>, after: ReadonlySet<string>): { remove: string[]; keep: string[]; add: string[] } {
  return {
    remove: [...before].filter((a) => !after.has(a)),
    keep: [...after].filter((a) => before.has(a)),
    add: [...after].filter((a) => !before.has(a)),
  };
}
