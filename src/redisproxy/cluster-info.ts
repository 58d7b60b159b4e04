/**
 * Argo CD's ClusterInfo in redis (live-resources.md §3.6), as Argo CD's cache
 * stores it: key `cluster|info|<server>|1.8.3` (+ `.gz` with gzip), value the
 * Go JSON of v1alpha1.ClusterInfo plus a newline, gzip-compressed or not,
 * kept 10 minutes. Both the agent (reading its own Argo CD's counts) and the
 * principal (writing counts and connection state for the hub's Argo CD) use it.
 *
 * @example
 *   await writeClusterInfo(redis, "https://rp:9090?agentName=a", { applicationsCount: 3, cacheInfo: {} }, true);
 *   const info = await readClusterInfo(redis, IN_CLUSTER_SERVER, true);
 */
import { gunzipSync, gzipSync } from "node:zlib";
import type { RedisClient } from "./lazy-redis.ts";

/** Argo CD's cache version, part of every key (common.CacheVersion). */
export const ARGOCD_CACHE_VERSION = "1.8.3";
/** The server URL an Argo CD uses for its own cluster. */
export const IN_CLUSTER_SERVER = "https://kubernetes.default.svc";
/** Argo CD's clusterInfoCacheExpiration. */
export const CLUSTER_INFO_TTL_SECONDS = 600;

export interface ConnectionState {
  status: string;
  message: string;
  /** RFC 3339, seconds precision (metav1.Time); null when unset. */
  attemptedAt: string | null;
}

export interface ClusterInfo {
  connectionState?: ConnectionState;
  serverVersion?: string;
  cacheInfo?: { resourcesCount?: number; apisCount?: number; lastCacheSyncTime?: string | null };
  applicationsCount?: number;
  apiVersions?: string[];
}

export function clusterInfoKey(server: string, gzip: boolean): string {
  return `cluster|info|${server}|${ARGOCD_CACHE_VERSION}${gzip ? ".gz" : ""}`;
}

/** metav1.Time as Go marshals it: UTC, whole seconds. */
export function goTime(d: Date): string {
  return d.toISOString().replace(/\.\d{3}Z$/, "Z");
}

/** The JSON Go's encoding/json writes for v1alpha1.ClusterInfo (field order and omitempty rules). */
export function clusterInfoJson(info: ClusterInfo): string {
  const cs = info.connectionState ?? { status: "", message: "", attemptedAt: null };
  const ci = info.cacheInfo ?? {};
  const cache: Record<string, unknown> = {};
  if (ci.resourcesCount) cache["resourcesCount"] = ci.resourcesCount;
  if (ci.apisCount) cache["apisCount"] = ci.apisCount;
  if (ci.lastCacheSyncTime) cache["lastCacheSyncTime"] = ci.lastCacheSyncTime;
  return JSON.stringify({
    connectionState: { status: cs.status, message: cs.message, attemptedAt: cs.attemptedAt ?? null },
    ...(info.serverVersion ? { serverVersion: info.serverVersion } : {}),
    cacheInfo: cache,
    applicationsCount: info.applicationsCount ?? 0,
    ...(info.apiVersions?.length ? { apiVersions: info.apiVersions } : {}),
  });
}

export async function readClusterInfo(redis: RedisClient, server: string, gzip: boolean): Promise<ClusterInfo | undefined> {
  const raw = await redis.getBuffer(clusterInfoKey(server, gzip));
  if (!raw) return undefined;
  return JSON.parse((gzip ? gunzipSync(raw) : raw).toString("utf8")) as ClusterInfo;
}

export async function writeClusterInfo(redis: RedisClient, server: string, info: ClusterInfo, gzip: boolean): Promise<void> {
  const text = Buffer.from(clusterInfoJson(info) + "\n");
  await redis.set(clusterInfoKey(server, gzip), gzip ? gzipSync(text) : text, "EX", CLUSTER_INFO_TTL_SECONDS);
}

/** True when Go would see a non-zero ConnectionState. */
export function hasConnectionState(cs: ConnectionState | undefined): cs is ConnectionState {
  return Boolean(cs && (cs.status || cs.message || cs.attemptedAt));
}
