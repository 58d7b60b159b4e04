/**
 * Requests to the API server with plain JSON bodies, authenticated from a KubeConfig, over
 * http-transport.ts (keep-alive node:https).
 *
 * Why not the generated clients: they turn core objects into model classes (timestamps become
 * Date, unknown fields are dropped) while watch events arrive as raw JSON, and loading them
 * evaluates ≈800 modules (issue #19). The informer, the CRUD clients and the resource proxy all
 * go through here, so every object has the shape the API server sent.
 *
 * @example
 *   const apps = await kubeJson<{ items: unknown[] }>(kc, "GET", "/apis/argoproj.io/v1alpha1/namespaces/argocd/applications");
 *   await kubeJson(kc, "PATCH", path, { body: { metadata: { labels: { a: "b" } } }, contentType: "application/merge-patch+json" });
 */
import type { KubeConfig } from "@kubernetes/client-node";
// Deep import: the package's gen/index.js evaluates every generated model and API class.
import { ApiException } from "@kubernetes/client-node/dist/gen/apis/exception.js";
import { STATUS_CODES } from "node:http";
import { openKubeRequest, readBody } from "./http-transport.ts";

export class KubeHttpError extends Error {
  readonly statusCode: number;
  readonly body: string;
  constructor(statusCode: number, message: string, body: string) {
    super(message);
    this.name = "KubeHttpError";
    this.statusCode = statusCode;
    this.body = body;
  }
}

/** GETs `path` (e.g. "/api/v1/secrets") with query parameters; throws KubeHttpError on non-2xx. */
export async function getJson<T>(
  kubeConfig: KubeConfig,
  path: string,
  query: Record<string, string | number | boolean | undefined> = {},
  signal?: AbortSignal,
): Promise<T> {
  const res = await openKubeRequest(kubeConfig, { method: "GET", path, query, signal });
  const text = (await readBody(res)).toString("utf8");
  const status = res.statusCode ?? 0;
  if (status < 200 || status >= 300) {
    let message = `${status} ${res.statusMessage || STATUS_CODES[status] || ""}`.trim();
    try {
      message = (JSON.parse(text) as { message?: string }).message ?? message;
    } catch {
      // not a Status object; keep the HTTP status line
    }
    throw new KubeHttpError(status, `GET ${path}: ${message}`, text);
  }
  return JSON.parse(text) as T;
}

export interface KubeRequest {
  method: "GET" | "POST" | "PATCH" | "PUT" | "DELETE";
  /** API path, e.g. "/apis/apps/v1/namespaces/ns/deployments/d". */
  path: string;
  query?: Record<string, string | string[] | undefined>;
  body?: string | Buffer;
  contentType?: string;
  signal?: AbortSignal;
  /** Largest response body read; a larger one throws RangeError. */
  maxResponseBytes?: number;
}

export interface KubeReply {
  status: number;
  /** Response text (a Status object on errors). */
  text: string;
}

/** Any request against the API server, authenticated from the KubeConfig; never throws on HTTP status. */
export async function kubeRequest(kubeConfig: KubeConfig, r: KubeRequest): Promise<KubeReply> {
  const headers: Record<string, string> = {};
  if (r.body !== undefined) headers["Content-Type"] = r.contentType ?? "application/json";
  const res = await openKubeRequest(kubeConfig, { method: r.method, path: r.path, query: r.query, body: r.body, headers, signal: r.signal });
  return { status: res.statusCode ?? 0, text: (await readBody(res, r.maxResponseBytes)).toString("utf8") };
}

export interface JsonCall {
  query?: Record<string, string | string[] | undefined>;
  /** Sent as JSON. */
  body?: unknown;
  /** Content-Type of the body (default application/json; a merge patch sends application/merge-patch+json). */
  contentType?: string;
}

/**
 * One JSON request; the parsed answer on 2xx, else an `ApiException` carrying the status and
 * the Status object, so `isNotFound` / `isConflict` / `isAlreadyExists` (crud.ts) apply.
 */
export async function kubeJson<T>(kubeConfig: KubeConfig, method: KubeRequest["method"], path: string, call: JsonCall = {}): Promise<T> {
  const body = call.body === undefined ? undefined : JSON.stringify(call.body);
  const reply = await kubeRequest(kubeConfig, { method, path, query: call.query, body, contentType: call.contentType });
  let parsed: unknown;
  try {
    parsed = reply.text ? JSON.parse(reply.text) : undefined;
  } catch {
    parsed = reply.text;
  }
  if (reply.status < 200 || reply.status >= 300) {
    const message = (parsed as { message?: string } | undefined)?.message ?? `HTTP ${reply.status}`;
    throw new ApiException(reply.status, `${method} ${path}: ${message}`, parsed, {});
  }
  return parsed as T;
}
