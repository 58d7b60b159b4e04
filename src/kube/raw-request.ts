/**
 * Plain JSON GET against the API server, authenticated from a KubeConfig.
 *
 * Why not the generated clients: they turn core objects into model classes
 * (timestamps become Date, unknown fields are dropped), while watch events
 * arrive as raw JSON. The informer needs list and watch to produce the same
 * shapes, so it lists through this helper. It uses the same `undici` fetch and
 * TLS dispatcher as client-node's own Watch.
 */
import type { KubeConfig } from "@kubernetes/client-node";
import { HttpMethod, RequestContext } from "@kubernetes/client-node/dist/gen/index.js";
import { STATUS_CODES } from "node:http";
import { fetch } from "undici";

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
  const cluster = kubeConfig.getCurrentCluster();
  if (!cluster) throw new Error("kubeconfig has no current cluster");
  const url = new URL(cluster.server + path);
  for (const [key, value] of Object.entries(query)) {
    if (value !== undefined) url.searchParams.set(key, String(value));
  }
  const ctx = new RequestContext(url.toString(), HttpMethod.GET);
  await kubeConfig.applySecurityAuthentication(ctx);
  const res = await fetch(url, {
    method: "GET",
    headers: { ...ctx.getHeaders(), Accept: "application/json" },
    dispatcher: ctx.getDispatcher() as never,
    signal,
  });
  const text = await res.text();
  if (!res.ok) {
    let message = `${res.status} ${res.statusText || STATUS_CODES[res.status] || ""}`.trim();
    try {
      message = (JSON.parse(text) as { message?: string }).message ?? message;
    } catch {
      // not a Status object; keep the HTTP status line
    }
    throw new KubeHttpError(res.status, `GET ${path}: ${message}`, text);
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
  const cluster = kubeConfig.getCurrentCluster();
  if (!cluster) throw new Error("kubeconfig has no current cluster");
  const url = new URL(cluster.server.replace(/\/$/, "") + r.path);
  for (const [key, value] of Object.entries(r.query ?? {})) {
    if (value === undefined) continue;
    for (const v of Array.isArray(value) ? value : [value]) url.searchParams.append(key, v);
  }
  const ctx = new RequestContext(url.toString(), HttpMethod.GET);
  await kubeConfig.applySecurityAuthentication(ctx);
  const headers: Record<string, string> = { ...ctx.getHeaders(), Accept: "application/json" };
  if (r.body !== undefined) headers["Content-Type"] = r.contentType ?? "application/json";
  const res = await fetch(url, { method: r.method, headers, body: r.body, dispatcher: ctx.getDispatcher() as never, signal: r.signal });
  const declared = Number(res.headers.get("content-length") ?? "0");
  if (r.maxResponseBytes !== undefined && declared > r.maxResponseBytes) {
    await res.body?.cancel();
    throw new RangeError(`response of ${declared} bytes is larger than ${r.maxResponseBytes}`);
  }
  if (r.maxResponseBytes === undefined) return { status: res.status, text: await res.text() };
  const chunks: Buffer[] = [];
  let size = 0;
  for await (const chunk of res.body ?? []) {
    size += (chunk as Uint8Array).length;
    if (size > r.maxResponseBytes) {
      await res.body?.cancel().catch(() => {});
      throw new RangeError(`response is larger than ${r.maxResponseBytes} bytes`);
    }
    chunks.push(Buffer.from(chunk as Uint8Array));
  }
  return { status: res.status, text: Buffer.concat(chunks).toString("utf8") };
}
