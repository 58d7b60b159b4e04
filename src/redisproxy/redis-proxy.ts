/**
 * The redis proxy: the principal's RESP endpoint that the hub's Argo CD server
 * uses instead of its own redis (`redis.server` in argocd-cmd-params-cm). The
 * Argo CD application controllers of managed agents write resource trees and
 * managed-resource diffs into *their* redis; this proxy passes every command
 * through to the hub's redis except GET/SUBSCRIBE on those agent keys, which it
 * answers from the agent over the event stream (redis-request/redis-response
 * events, wire-compatible with the Go agent and principal). It is upstream's
 * principal/redisproxy (live-resources.md §3) with bounds: at most `maxClients`
 * connections, a largest request, a largest unsent reply backlog, and open
 * agent requests per agent; a failure closes only the connection it concerns.
 *
 * @example
 *   const proxy = await startRedisProxy({ host: "0.0.0.0", port: 6379, backend: { host: "argocd-redis", port: 6379 }, agents, principalNamespace: "argocd" });
 *   laneRouter({ live: { redis: proxy.responseHandler("agent-a") } });
 *   await proxy.close();
 */
import { connect as netConnect, createServer as netServer, type Server, type Socket } from "node:net";
import { connect as tlsConnect, createServer as tlsServer, type ConnectionOptions, type TlsOptions } from "node:tls";
import type { ProxyAgents } from "../resourceproxy/server.ts";
import type { EventHandler } from "../transport/event-session.ts";
import { getLogger } from "../observability/log.ts";
import { AgentRedisCalls } from "./agent-calls.ts";
import { ClientConnection } from "./client-connection.ts";
import { routeKey } from "./keys.ts";
import { errorReply } from "./replies.ts";
import type { RedisProxyMetrics } from "./metrics.ts";

const log = getLogger("redis-proxy");

/** Where the hub's redis is, and how to reach it (TLS when `tls` is set). */
export interface RedisBackend {
  host: string;
  port: number;
  /** TLS towards the hub's redis; SNI is the host, as upstream. */
  tls?: Pick<ConnectionOptions, "ca" | "rejectUnauthorized">;
}

export interface RedisProxyOptions {
  host: string;
  port: number;
  backend: RedisBackend;
  agents: ProxyAgents;
  principalNamespace: string;
  /** Destination-based mapping: the agent of an app (see keys.ts). */
  agentForApp?: (namespace: string, name: string) => string | undefined;
  /** TLS for clients (`--redis-tls-enabled`): the proxy's certificate and the principal's TLS versions. */
  tls?: Pick<TlsOptions, "cert" | "key" | "minVersion" | "maxVersion" | "ciphers">;
  /** How long to wait for an agent (upstream: 60 s). */
  timeoutMs?: number;
  /** Liveness pings to agents in use by a connection (upstream: 60 s). */
  pingIntervalMs?: number;
  maxClients?: number;
  maxPendingPerAgent?: number;
  maxCommandBytes?: number;
  maxClientBacklogBytes?: number;
  /** Dial timeout towards the hub's redis (upstream: 30 s, also the TLS handshake deadline). */
  backendConnectTimeoutMs?: number;
  metrics?: RedisProxyMetrics;
}

export interface RedisProxy {
  port: number;
  calls: AgentRedisCalls;
  /** Open client connections. */
  connections(): number;
  /** The live-lane handler for `redis` events from one agent. */
  responseHandler(agent: string): EventHandler;
  /** Fails the agent's open requests at once (call on disconnect). */
  agentGone(agent: string): void;
  close(): Promise<void>;
}

export const DEFAULT_REDIS_PROXY_TIMEOUT_MS = 60_000;
export const DEFAULT_MAX_CLIENTS = 4096;
/** Redis itself accepts bulk strings up to 512 MiB; Argo CD's values are a few MiB. */
export const DEFAULT_MAX_COMMAND_BYTES = 64 * 1024 * 1024;

/** Dials the hub's redis; rejects after `timeoutMs` (connect and TLS handshake together). */
export function dialRedis(backend: RedisBackend, timeoutMs: number): Promise<Socket> {
  return new Promise((resolve, reject) => {
    const ready = backend.tls ? "secureConnect" : "connect";
    const socket: Socket = backend.tls
      ? tlsConnect({ host: backend.host, port: backend.port, servername: isIp(backend.host) ? undefined : backend.host, ...backend.tls })
      : netConnect({ host: backend.host, port: backend.port });
    const timer = setTimeout(() => socket.destroy(new Error(`no connection to ${backend.host}:${backend.port} within ${timeoutMs} ms`)), timeoutMs);
    socket.once(ready, () => {
      clearTimeout(timer);
      socket.removeListener("error", reject);
      socket.setNoDelay(true);
      resolve(socket);
    });
    socket.once("error", (err) => {
      clearTimeout(timer);
      reject(err);
    });
  });
}

function isIp(host: string): boolean {
  return /^[\d.]+$/.test(host) || host.includes(":");
}

export async function startRedisProxy(opts: RedisProxyOptions): Promise<RedisProxy> {
  const calls = new AgentRedisCalls({ agents: opts.agents, timeoutMs: opts.timeoutMs ?? DEFAULT_REDIS_PROXY_TIMEOUT_MS, maxPendingPerAgent: opts.maxPendingPerAgent });
  const maxClients = opts.maxClients ?? DEFAULT_MAX_CLIENTS;
  const open = new Set<ClientConnection>();
  const connectTimeout = opts.backendConnectTimeoutMs ?? 30_000;
  if (opts.tls && !opts.backend.tls) {
    log.warn("SECURITY WARNING: the redis proxy serves TLS but talks to the hub's redis without TLS; use --redis-ca-path, --redis-ca-secret-name or --redis-tls-insecure");
  }
  const deps = {
    calls,
    route: (key: string) => routeKey(key, { principalNamespace: opts.principalNamespace, agentForApp: opts.agentForApp }),
    connectBackend: () => dialRedis(opts.backend, connectTimeout),
    pingIntervalMs: opts.pingIntervalMs ?? 60_000,
    maxCommandBytes: opts.maxCommandBytes ?? DEFAULT_MAX_COMMAND_BYTES,
    maxClientBacklogBytes: opts.maxClientBacklogBytes ?? 2 * (opts.maxCommandBytes ?? DEFAULT_MAX_COMMAND_BYTES),
    metrics: opts.metrics,
    onClose: (c: ClientConnection) => {
      if (open.delete(c)) opts.metrics?.connections(-1);
    },
  };
  const accept = (socket: Socket) => {
    if (open.size >= maxClients) {
      log.warn("redis proxy refused a connection: too many clients", { limit: maxClients });
      socket.on("error", () => undefined);
      socket.end(errorReply("max number of clients reached"));
      return;
    }
    socket.setNoDelay(true);
    const conn = new ClientConnection(socket, deps);
    open.add(conn);
    opts.metrics?.connections(1);
    void conn.start();
  };
  const server: Server = opts.tls ? tlsServer({ ...opts.tls, handshakeTimeout: 10_000 }, accept) : netServer(accept);
  server.on("tlsClientError", (err: Error) => log.debug("redis proxy TLS handshake failed", { error: err.message }));
  const port = await new Promise<number>((resolve, reject) => {
    server.once("error", reject);
    // A burst of clients (Argo CD fills its pool at once) must not overflow the accept queue.
    server.listen({ port: opts.port, host: opts.host || undefined, backlog: Math.max(511, maxClients) }, () => resolve((server.address() as { port: number }).port));
  });
  server.on("error", (err) => log.error("redis proxy listener error", { error: err.message }));
  log.info("redis proxy listening", { address: `${opts.host || "0.0.0.0"}:${port}`, tls: Boolean(opts.tls), backend: `${opts.backend.host}:${opts.backend.port}` });

  return {
    port,
    calls,
    connections: () => open.size,
    responseHandler: (agent) => calls.responseHandler(agent),
    agentGone: (agent) => calls.agentGone(agent),
    async close() {
      const closed = new Promise<void>((r) => server.close(() => r()));
      for (const c of [...open]) c.close("the redis proxy is shutting down");
      calls.close();
      await closed;
    },
  };
}
