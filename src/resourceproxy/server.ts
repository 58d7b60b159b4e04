/**
 * The resource proxy: the principal's HTTPS endpoint through which Argo CD at
 * the hub (and kubectl) reads and changes live objects on an agent's cluster.
 * TLS with a required, verified client certificate; the caller names the agent
 * (certificate CN or resource-proxy JWT); the path names the object. Each
 * request becomes a `resource` event to that agent and waits, bounded in count
 * and time, for the agent's `response` (live-resources.md §2). Pod logs and
 * exec (§4, §5) are handed to hooks that src/streams/ installs. It talks to
 * the rest of the principal only through `ProxyAgents` (the agent registry's
 * send queues) and `responseHandler` (the agent sessions' live lane).
 *
 * @example
 *   const proxy = await startResourceProxy({ host: "127.0.0.1", port: 9090, tls, agents, issuer, timeoutMs: 30_000 });
 *   laneRouter({ replication, live: { resource: proxy.responseHandler(agentName) } });
 *   await proxy.close();
 */
import { createServer, type Server } from "node:https";
import type { IncomingMessage, ServerResponse } from "node:http";
import type { Duplex } from "node:stream";
import type { TLSSocket } from "node:tls";
import { randomUUID } from "node:crypto";
import type { JwtIssuer } from "../auth/jwt-issuer.ts";
import type { AgentEvent } from "../events/cloudevent.ts";
import { requestEvent } from "../events/cloudevent.ts";
import { EventSources, EventTargets, type HttpMethodType } from "../events/event-types.ts";
import type { ResourceRequest, ResourceResponse } from "../events/payloads.ts";
import type { EventHandler } from "../transport/event-session.ts";
import { getLogger } from "../observability/log.ts";
import { callerAgent } from "./identity.ts";
import { matchResourcePath, RESOURCE_METHODS, type ResourcePath } from "./paths.ts";
import { PendingRequests } from "./pending.ts";
import { reshapeDiscovery, versionBody } from "./discovery.ts";
import { readBody, BodyTooLarge } from "./body.ts";
import type { ResourceProxyMetrics } from "./metrics.ts";

const log = getLogger("resource-proxy");

/** What the proxy needs from the principal's agent registry. */
export interface ProxyAgents {
  mode(agent: string): "managed" | "autonomous" | undefined;
  connected(agent: string): boolean;
  /** Queues an event to the agent; false when there is no queue. */
  send(agent: string, ev: AgentEvent): boolean;
  /** Drops a queued or in-flight request that nobody waits for any more. */
  discard(agent: string, resourceId: string): void;
}

/** A request the proxy authenticated and routed, handed to a hook. */
export interface ProxyCall {
  agent: string;
  path: ResourcePath;
  query: URLSearchParams;
}

export interface SubresourceHooks {
  /** GET …/pods/{pod}/log on a connected agent. */
  log?: (call: ProxyCall, req: IncomingMessage, res: ServerResponse) => void;
  /** …/pods/{pod}/exec with a WebSocket upgrade (agent connection not yet checked). */
  exec?: (call: ProxyCall, req: IncomingMessage, socket: Duplex, head: Buffer) => void;
}

export interface ResourceProxyTls {
  cert: Buffer;
  key: Buffer;
  /** CA that client certificates must chain to. */
  clientCa: Buffer;
  minVersion?: "TLSv1.2" | "TLSv1.3" | "TLSv1.1";
  maxVersion?: "TLSv1.2" | "TLSv1.3" | "TLSv1.1";
  ciphers?: string;
}

export interface ResourceProxyOptions {
  host: string;
  port: number;
  tls: ResourceProxyTls;
  agents: ProxyAgents;
  issuer?: Pick<JwtIssuer, "validateResourceProxyToken">;
  /** How long to wait for the agent's answer (upstream: 30 s). */
  timeoutMs?: number;
  /** Open requests per agent; more get 429 (upstream: unbounded). */
  maxPendingPerAgent?: number;
  /** Largest request body; larger gets 413. */
  maxBodyBytes?: number;
  metrics?: ResourceProxyMetrics;
  hooks?: SubresourceHooks;
}

export interface ResourceProxy {
  port: number;
  pending: PendingRequests<ResourceResponse>;
  hooks: SubresourceHooks;
  /** The live-lane handler for `resource` responses from one agent. */
  responseHandler(agent: string): EventHandler;
  /** Fails the agent's open requests at once (call on disconnect). */
  agentGone(agent: string): void;
  close(): Promise<void>;
}

export const DEFAULT_PROXY_TIMEOUT_MS = 30_000;
export const DEFAULT_MAX_PENDING_PER_AGENT = 64;
/** The API server's own limit for a request body is 3 MiB. */
export const DEFAULT_MAX_BODY_BYTES = 3 * 1024 * 1024;

function reply(res: ServerResponse, status: number, body?: string | Buffer, type = "text/plain; charset=utf-8"): void {
  if (res.headersSent) return void res.end();
  if (body === undefined || body.length === 0) res.writeHead(status).end();
  else res.writeHead(status, { "Content-Type": type }).end(body);
}

/** Query → params: the first value of each key, as upstream sends them. */
function firstValues(q: URLSearchParams): Record<string, string> | undefined {
  const out: Record<string, string> = {};
  for (const [k, v] of q) if (!(k in out)) out[k] = v;
  return Object.keys(out).length ? out : undefined;
}

export async function startResourceProxy(opts: ResourceProxyOptions): Promise<ResourceProxy> {
  const timeoutMs = opts.timeoutMs ?? DEFAULT_PROXY_TIMEOUT_MS;
  const maxBody = opts.maxBodyBytes ?? DEFAULT_MAX_BODY_BYTES;
  const pending = new PendingRequests<ResourceResponse>({ maxPerAgent: opts.maxPendingPerAgent ?? DEFAULT_MAX_PENDING_PER_AGENT });
  const hooks: SubresourceHooks = { ...opts.hooks };
  const metrics = opts.metrics;
  const { tls } = opts;

  /** Path, method and caller checks shared by plain requests and upgrades. */
  const route = async (req: IncomingMessage): Promise<{ status: number; message?: string } | { call: ProxyCall } | { version: true }> => {
    const url = new URL(req.url ?? "/", "https://proxy");
    const path = matchResourcePath(url.pathname);
    if (!path) return { status: 400 };
    const method = (req.method ?? "").toUpperCase();
    if (path.kind === "version" ? method !== "GET" : !RESOURCE_METHODS.has(method)) return { status: 403 };
    const who = await callerAgent(req.headers.authorization, (req.socket as TLSSocket).getPeerCertificate?.(), opts.issuer);
    if (!who.ok) return { status: who.status, message: who.message };
    metrics?.request(who.agent);
    if (path.kind === "version") return { version: true };
    return { call: { agent: who.agent, path, query: url.searchParams } };
  };

  const forward = async (call: ProxyCall, req: IncomingMessage, res: ServerResponse): Promise<void> => {
    const { agent, path } = call;
    if (!opts.agents.connected(agent)) {
      metrics?.error(agent, "agent_disconnected");
      return reply(res, 502, `agent ${agent} is not connected`);
    }
    if (path.subresource === "log" && hooks.log) {
      if (!path.namespace || !path.name) return reply(res, 400, "Missing required parameters: namespace and pod");
      return hooks.log(call, req, res);
    }
    let body: Buffer;
    try {
      body = await readBody(req, maxBody);
    } catch (err) {
      if (err instanceof BodyTooLarge) return reply(res, 413, `request body larger than ${maxBody} bytes`);
      return reply(res, 500);
    }
    const uuid = randomUUID();
    const method = (req.method ?? "GET").toUpperCase() as HttpMethodType;
    const payload: ResourceRequest = {
      uuid,
      ...(path.namespace ? { namespace: path.namespace } : {}),
      name: path.name,
      ...(path.subresource ? { subresource: path.subresource } : {}),
      method,
      ...(body.length ? { body: body.toString("base64") } : {}),
      ...(firstValues(call.query) ? { params: firstValues(call.query) } : {}),
      group: path.group,
      version: path.version,
      resource: path.resource,
    };
    const wait = pending.open(agent, uuid, timeoutMs);
    if (!wait) {
      metrics?.error(agent, "too_many_requests");
      res.setHeader("Retry-After", "1");
      return reply(res, 429, `too many open requests for agent ${agent} (limit ${pending.maxPerAgent})`);
    }
    const gone = () => pending.cancel(uuid);
    res.on("close", gone);
    if (!opts.agents.send(agent, requestEvent(method, EventTargets.resource, payload, EventSources.principal, uuid))) {
      pending.cancel(uuid);
      metrics?.error(agent, "queue_missing");
      return reply(res, 500);
    }
    const started = Date.now();
    const outcome = await wait;
    res.off("close", gone);
    if (!outcome.ok) {
      opts.agents.discard(agent, uuid);
      if (outcome.reason === "closed") return;
      const reason = outcome.reason === "timeout" ? "timeout" : "channel_closed";
      metrics?.error(agent, reason);
      log.info("resource request failed", { agent, method, path: req.url, reason, ms: Date.now() - started });
      return reply(res, outcome.reason === "timeout" ? 504 : 502, outcome.reason === "timeout" ? `no answer from agent ${agent} within ${timeoutMs} ms` : `agent ${agent} disconnected`);
    }
    const r = outcome.value;
    metrics?.latency(agent, (Date.now() - started) / 1000);
    if (r.uuid !== uuid) return reply(res, 403);
    if (r.status !== 200) {
      metrics?.error(agent, "agent_error");
      // A Go agent sends no body on errors; ours sends the API server's Status object.
      return reply(res, r.status, r.resource, "application/json");
    }
    return reply(res, 200, reshapeDiscovery(path, r.resource ?? ""), "application/json");
  };

  const server: Server = createServer(
    {
      cert: tls.cert,
      key: tls.key,
      ca: tls.clientCa,
      requestCert: true,
      rejectUnauthorized: true,
      minVersion: tls.minVersion,
      maxVersion: tls.maxVersion,
      ciphers: tls.ciphers,
      ALPNProtocols: ["http/1.1"],
      handshakeTimeout: 10_000,
      headersTimeout: 5_000,
      requestTimeout: 30_000,
      keepAliveTimeout: 5_000,
    },
    (req, res) => {
      void (async () => {
        const r = await route(req);
        if ("version" in r) return reply(res, 200, versionBody(), "application/json");
        if ("status" in r) return reply(res, r.status, r.message);
        if (r.call.path.subresource === "exec") return reply(res, 400, "the web terminal needs a WebSocket upgrade");
        await forward(r.call, req, res);
      })().catch((err) => {
        log.error("resource proxy request failed", { path: req.url, error: err as Error });
        reply(res, 500);
      });
    },
  );
  server.maxConnections = 4096;
  server.on("upgrade", (req: IncomingMessage, socket: Duplex, head: Buffer) => {
    void (async () => {
      const r = await route(req);
      const refuse = (status: number, message = "") => {
        socket.end(`HTTP/1.1 ${status} ${message || "Error"}\r\nConnection: close\r\nContent-Length: ${Buffer.byteLength(message)}\r\n\r\n${message}`);
      };
      if ("version" in r) return refuse(400, "not a WebSocket endpoint");
      if ("status" in r) return refuse(r.status, r.message);
      if (r.call.path.subresource !== "exec" || !hooks.exec) return refuse(400, "only pod exec accepts a WebSocket upgrade");
      hooks.exec(r.call, req, socket, head);
    })().catch(() => socket.destroy());
  });
  server.on("tlsClientError", (err) => log.debug("resource proxy TLS handshake failed", { error: err.message }));
  const hostPort = await new Promise<number>((resolve, reject) => {
    server.once("error", reject);
    server.listen(opts.port, opts.host || undefined, () => resolve((server.address() as { port: number }).port));
  });
  log.info("resource proxy listening", { address: `${opts.host || "0.0.0.0"}:${hostPort}` });

  return {
    port: hostPort,
    pending,
    hooks,
    responseHandler(agent: string): EventHandler {
      return async (ev, payload) => {
        if (!payload || !pending.settle(agent, ev.eventId, payload as unknown as ResourceResponse)) {
          log.debug("response for a request that is not tracked", { agent, event_id: ev.eventId });
        }
      };
    },
    agentGone(agent: string) {
      const n = pending.failAgent(agent);
      if (n) log.info("agent disconnected with open proxy requests", { agent, requests: n });
    },
    async close() {
      pending.closeAll();
      server.closeAllConnections();
      await new Promise<void>((r) => server.close(() => r()));
    },
  };
}
