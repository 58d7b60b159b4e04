/**
 * HTTP to a Kubernetes API server on node:https / node:http, authenticated from a client-node
 * KubeConfig. `applyToHTTPSOptions` gives the TLS material, the Authorization header (token,
 * token file, exec plugin, auth provider, re-evaluated per request so rotation works), basic
 * auth and, for a cluster with `proxy-url`, its proxy agent. Requests share one keep-alive agent
 * per scheme: Node pools its sockets by host, port and TLS material, so every API call and watch
 * of a process reuses connections, and rotated certificates get fresh ones.
 *
 * Why not client-node's own transport (undici): undici's 109 modules cost ≈4 MiB of heap in
 * every principal and agent and a WHATWG stream per response; client-node made a dispatcher per
 * request (issue #19). The bundle gives client-node's undici import a lazy stand-in
 * (scripts/release/bundles.ts), so undici is evaluated only where ctl's typed APIs or a
 * pod log stream use it.
 *
 * @example
 *   const res = await openKubeRequest(kc, { method: "GET", path: "/api/v1/namespaces", query: { limit: "10" } });
 *   console.log(res.statusCode, (await readBody(res, 1 << 20)).toString());
 */
import type { KubeConfig } from "@kubernetes/client-node";
import http, { type IncomingMessage } from "node:http";
import https from "node:https";

export interface KubeHttpRequest {
  method: "GET" | "POST" | "PATCH" | "PUT" | "DELETE";
  /** API path, e.g. "/api/v1/namespaces/argocd/secrets". */
  path: string;
  query?: Record<string, string | string[] | number | boolean | undefined>;
  body?: string | Buffer;
  headers?: Record<string, string>;
  signal?: AbortSignal;
}

/**
 * Kept-alive sockets, pooled by Node per host, port and TLS options. Free sockets close after
 * 90 s idle (the API server's side may close them earlier: see the retry below).
 */
const AGENT_OPTIONS = { keepAlive: true, keepAliveMsecs: 30_000, scheduling: "lifo", timeout: 90_000, maxFreeSockets: 16 } as const;
const agents = { https: new https.Agent(AGENT_OPTIONS), http: new http.Agent(AGENT_OPTIONS) };

/** The TLS and auth fields of https.RequestOptions that a request passes on. */
const PASSED = ["ca", "cert", "key", "pfx", "passphrase", "rejectUnauthorized", "servername", "auth"] as const;

/** The request's URL (server + path + query). */
export function kubeUrl(kc: KubeConfig, path: string, query: KubeHttpRequest["query"] = {}): URL {
  const cluster = kc.getCurrentCluster();
  if (!cluster) throw new Error("kubeconfig has no current cluster");
  const url = new URL(cluster.server.replace(/\/$/, "") + path);
  for (const [key, value] of Object.entries(query)) {
    if (value === undefined) continue;
    for (const v of Array.isArray(value) ? value : [value]) url.searchParams.append(key, String(v));
  }
  return url;
}

/**
 * Sends the request and resolves with the response (any status) once its headers arrive; the
 * body is the caller's to read or destroy. A request on a kept-alive socket the server had
 * already closed is sent once more on a new one (it never reached the server).
 */
export async function openKubeRequest(kc: KubeConfig, r: KubeHttpRequest): Promise<IncomingMessage> {
  const url = kubeUrl(kc, r.path, r.query);
  const auth: https.RequestOptions = {};
  await kc.applyToHTTPSOptions(auth);
  const options: https.RequestOptions = { method: r.method, headers: { Accept: "application/json", ...(auth.headers as Record<string, string>), ...r.headers }, signal: r.signal };
  for (const k of PASSED) if (auth[k] !== undefined) (options as Record<string, unknown>)[k] = auth[k];
  const isHttps = url.protocol === "https:";
  // A proxy-url cluster goes through client-node's proxy agent; everything else shares ours.
  options.agent = kc.getCurrentCluster()?.proxyUrl ? auth.agent : isHttps ? agents.https : agents.http;
  if (r.body !== undefined) (options.headers as Record<string, string | number>)["Content-Length"] = Buffer.byteLength(r.body);
  for (let attempt = 1; ; attempt++) {
    try {
      return await send(isHttps ? https : http, url, options, r.body);
    } catch (err) {
      const e = err as NodeJS.ErrnoException & { reusedSocket?: boolean };
      if (attempt > 1 || !e.reusedSocket || (e.code !== "ECONNRESET" && e.code !== "EPIPE")) throw err;
    }
  }
}

function send(mod: typeof https | typeof http, url: URL, options: https.RequestOptions, body: string | Buffer | undefined): Promise<IncomingMessage> {
  return new Promise((resolve, reject) => {
    const req = mod.request(url, options, resolve);
    req.on("error", (err) => reject(Object.assign(err, { reusedSocket: req.reusedSocket })));
    req.end(body);
  });
}

/** Reads the whole body; past `limit` bytes the response is destroyed and a RangeError thrown. */
export async function readBody(res: IncomingMessage, limit = Number.POSITIVE_INFINITY): Promise<Buffer> {
  const declared = Number(res.headers["content-length"] ?? "0");
  if (declared > limit) {
    res.destroy();
    throw new RangeError(`response of ${declared} bytes is larger than ${limit}`);
  }
  const chunks: Buffer[] = [];
  let size = 0;
  for await (const chunk of res) {
    size += (chunk as Buffer).length;
    if (size > limit) {
      res.destroy();
      throw new RangeError(`response is larger than ${limit} bytes`);
    }
    chunks.push(chunk as Buffer);
  }
  return Buffer.concat(chunks);
}
