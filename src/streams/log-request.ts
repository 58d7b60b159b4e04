/**
 * Pod log requests both ways: the resource proxy's query string → the
 * `containerlog` event payload (principal, live-resources.md §4.1), and the
 * payload → the agent's query on `pods/{pod}/log` (§4.4).
 *
 * @example
 *   const req = logRequestFromQuery(uuid, "ns", "pod", new URLSearchParams("follow=true&tailLines=10"));
 *   kubeLogQuery(req, { follow: true }); // { follow: "true", tailLines: "10", timestamps: "true", ... }
 */
import type { ContainerLogRequest } from "../events/payloads.ts";

const INT64 = /^[+-]?\d+$/;
const INT64_MAX = 9223372036854775807n;

/** Go's strconv.ParseInt(s, 10, 64): undefined when it would fail. */
export function parseInt64(s: string | undefined): number | undefined {
  if (!s || !INT64.test(s)) return undefined;
  const n = BigInt(s);
  return n > INT64_MAX || n < -INT64_MAX - 1n ? undefined : Number(n);
}

const isTrue = (v: string | undefined) => v?.toLowerCase() === "true";

/** The payload upstream builds from the first value of each query key. */
export function logRequestFromQuery(uuid: string, namespace: string, podName: string, q: URLSearchParams): ContainerLogRequest {
  const first = (k: string) => q.get(k) ?? undefined;
  const req: ContainerLogRequest = { uuid, namespace, podName };
  if (q.has("container")) req.container = first("container");
  if (isTrue(first("follow"))) req.follow = true;
  const tail = parseInt64(first("tailLines"));
  if (tail !== undefined) req.tailLines = tail;
  const since = parseInt64(first("sinceSeconds"));
  if (since !== undefined) req.sinceSeconds = since;
  if (first("sinceTime")) req.sinceTime = first("sinceTime");
  if (isTrue(first("timestamps"))) req.timestamps = true;
  if (isTrue(first("previous"))) req.previous = true;
  if (isTrue(first("insecureSkipTLSVerifyBackend"))) req.insecureSkipTLSVerifyBackend = true;
  const limit = parseInt64(first("limitBytes"));
  if (limit !== undefined) req.limitBytes = limit;
  return req;
}

const RFC3339 = /^(\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d)(\.\d{1,9})?(Z|[+-]\d\d:\d\d)$/i;

/** Nanoseconds since the epoch of an RFC 3339 (nano) timestamp, or undefined. */
export function parseTimestampNs(token: string): bigint | undefined {
  const m = RFC3339.exec(token);
  if (!m) return undefined;
  const ms = Date.parse(`${m[1]}${m[3]!.toUpperCase()}`);
  if (Number.isNaN(ms)) return undefined;
  const frac = (m[2] ?? ".").slice(1).padEnd(9, "0");
  return BigInt(ms) * 1_000_000n + BigInt(frac);
}

/** RFC 3339 in UTC with second precision, the way Go encodes a metav1.Time query value. */
export function rfc3339Seconds(ns: bigint): string {
  return new Date(Number(ns / 1_000_000_000n) * 1000).toISOString().replace(/\.\d{3}Z$/, "Z");
}

export interface KubeLogAttempt {
  /** Resume: ask from this instant on (replaces tailLines and sinceSeconds). */
  sinceNs?: bigint;
  /** The agent enforces limitBytes itself (after stripping timestamps), so it is not sent. */
  ownLimit?: boolean;
  /** Ask for timestamps even when the caller did not (follow needs them to resume). */
  forceTimestamps?: boolean;
}

/** Query of `GET …/pods/{pod}/log` for one attempt of a request. */
export function kubeLogQuery(req: ContainerLogRequest, a: KubeLogAttempt = {}): Record<string, string> {
  const q: Record<string, string> = {};
  if (req.container) q["container"] = req.container;
  if (req.follow) q["follow"] = "true";
  if (req.previous) q["previous"] = "true";
  if (req.insecureSkipTLSVerifyBackend) q["insecureSkipTLSVerifyBackend"] = "true";
  if (req.timestamps || a.forceTimestamps) q["timestamps"] = "true";
  if (a.sinceNs !== undefined) {
    q["sinceTime"] = rfc3339Seconds(a.sinceNs);
  } else {
    if (req.tailLines !== undefined) q["tailLines"] = String(req.tailLines);
    if (req.sinceSeconds !== undefined) q["sinceSeconds"] = String(req.sinceSeconds);
    // Upstream drops a sinceTime that is not RFC 3339.
    const since = req.sinceTime ? parseTimestampNs(req.sinceTime) : undefined;
    if (since !== undefined && req.sinceSeconds === undefined) q["sinceTime"] = rfc3339Seconds(since);
  }
  if (req.limitBytes !== undefined && !a.ownLimit) q["limitBytes"] = String(req.limitBytes);
  return q;
}
