/**
 * The principal's gRPC server: binds the listener, serves the three services,
 * enforces the keepalive policy and runs one event session per agent stream.
 *
 * @example
 *   const server = await startPrincipalServer({ host: "127.0.0.1", port: 0, credentials, auth, ... });
 *   server.registry.connected();
 *   await server.close();
 */
import { Server, type ServerCredentials, type ServiceDefinition, type UntypedServiceImplementation } from "@grpc/grpc-js";
import { AuthenticationService } from "../proto/gen/auth.ts";
import { VersionService } from "../proto/gen/version.ts";
import { EventStreamService } from "../proto/gen/eventstream.ts";
import { getLogger } from "../observability/log.ts";
import type { AgentEvent } from "../events/cloudevent.ts";
import { attachPingPolicy } from "../transport/ping-policy.ts";
import { grpcHttp2Servers, resetServerCall } from "../transport/grpc-internals.ts";
import { limitPreAuthCalls } from "../transport/pre-auth-limits.ts";
import { EventSession, type EventHandler } from "../transport/event-session.ts";
import { AgentRegistry, type AgentMode, type AgentRecord } from "./agent-registry.ts";
import { authenticationService, eventStreamService, versionService, type SubscribeContext } from "./grpc-services.ts";
import type { PrincipalAuth } from "./principal-auth.ts";
import { grpcServerInterceptors } from "../tracing/tracing.ts";

const log = getLogger("principal");

/** grpc-go's server default when no policy is set is 5 minutes; we use a lenient floor instead (see README). */
export const DEFAULT_MIN_PING_INTERVAL_MS = 10_000;

/** The calls made before a caller has a token: small requests, few at a time (pre-auth-limits.ts). */
const PRE_AUTH_PATHS: ReadonlySet<string> = new Set([
  AuthenticationService.authenticate.path,
  AuthenticationService.refreshToken.path,
  VersionService.version.path,
]);

export interface PrincipalServerOptions {
  host: string;
  port: number;
  credentials: ServerCredentials;
  auth: PrincipalAuth;
  namespace: string;
  protocolVersion: string;
  maxMessageSize: number;
  /** 0: DEFAULT_MIN_PING_INTERVAL_MS. */
  keepaliveMinIntervalMs: number;
  /** Handles events received from an agent; the default logs and acknowledges them. */
  handler?: (rec: AgentRecord) => EventHandler;
  onAuthFailure?: (reason: string) => void;
  /** Self cluster registration, between authentication and token issue (grpc-services.ts). */
  registerAgent?: (agent: string) => Promise<unknown>;
  onPingViolation?: (peer: string) => void;
  /** Every event received from an agent, acks and heartbeats included (metrics). */
  onEvent?: (agent: string, ev: AgentEvent) => void;
  /** Also serve gRPC over WebSocket (grpc-ws, HTTP/1.1) on the same port (--enable-websocket). */
  websocket?: boolean;
  /** More services on the same listener (the log and terminal streams of src/streams/, HA replication). */
  services?: { definition: ServiceDefinition; implementation: UntypedServiceImplementation }[];
  /** Principal HA: undefined while agents' Subscribe is accepted, else the UNAVAILABLE message. */
  accepting?: () => string | undefined;
}

export interface PrincipalServer {
  port: number;
  registry: AgentRegistry;
  sessions: Map<string, EventSession>;
  /** Stops accepting, ends every stream and waits for in-flight calls (bounded). */
  close(timeoutMs?: number): Promise<void>;
}

const loggingHandler: EventHandler = async (ev) => {
  log.debug("event received but no replication handler is installed", { event_type: ev.type, resource_id: ev.resourceId });
};

export async function startPrincipalServer(opts: PrincipalServerOptions): Promise<PrincipalServer> {
  const registry = new AgentRegistry();
  const sessions = new Map<string, EventSession>();
  const server = new Server({
    "grpc.max_receive_message_length": opts.maxMessageSize,
    "grpc.max_send_message_length": opts.maxMessageSize,
    // SERVER spans per call while tracing is on (src/tracing/grpc-spans.ts); none otherwise.
    interceptors: grpcServerInterceptors(),
  });

  const subscribe = async ({ agent, mode, stream }: SubscribeContext) => {
    const { rec, conn } = registry.connect(agent, mode, () => stream.end());
    const session = new EventSession({
      peer: agent,
      source: "",
      writer: rec.writer,
      handler: (opts.handler ?? (() => loggingHandler))(rec),
      maxPayloadBytes: opts.maxMessageSize,
      onEvent: opts.onEvent ? (ev) => opts.onEvent!(agent, ev) : undefined,
      // RST_STREAM: a status would queue behind the data the agent does not read.
      disconnect: () => {
        if (!resetServerCall(stream)) stream.destroy();
      },
    });
    sessions.set(agent, session);
    try {
      await session.run(stream);
    } finally {
      if (sessions.get(agent) === session) sessions.delete(agent);
      registry.disconnect(conn);
    }
  };

  const serviceOpts = {
    auth: opts.auth,
    protocolVersion: opts.protocolVersion,
    principalNamespace: opts.namespace,
    onAuthenticated: (agent: string, mode: AgentMode, ns: string) => {
      registry.record(agent, mode);
      registry.setNamespace(agent, ns);
    },
    onAuthFailure: opts.onAuthFailure,
    registerAgent: opts.registerAgent,
    subscribe,
    accepting: opts.accepting,
  };
  server.addService(AuthenticationService, authenticationService(serviceOpts));
  server.addService(VersionService, versionService(serviceOpts));
  server.addService(EventStreamService, eventStreamService(serviceOpts));
  for (const svc of opts.services ?? []) server.addService(svc.definition, svc.implementation);

  const hostPort = `${opts.host.includes(":") ? `[${opts.host}]` : opts.host || "0.0.0.0"}:${opts.port}`;
  // The WebSocket listener's modules (and ws) are evaluated only with --enable-websocket (issue #19).
  const ws = opts.websocket
    ? await (await import("../transport/websocket/principal-listener.ts")).listenWithWebSocket(server, { host: opts.host, port: opts.port, credentials: opts.credentials, preAuthPaths: PRE_AUTH_PATHS })
    : undefined;
  const port =
    ws?.port ??
    (await new Promise<number>((resolve, reject) =>
      server.bindAsync(hostPort, opts.credentials, (err, p) => (err ? reject(err) : resolve(p))),
    ));
  attachPingPolicy(server, {
    minIntervalMs: opts.keepaliveMinIntervalMs || DEFAULT_MIN_PING_INTERVAL_MS,
    onViolation: opts.onPingViolation,
  });
  limitPreAuthCalls(grpcHttp2Servers(server), { paths: PRE_AUTH_PATHS });
  log.info("principal listening", { address: hostPort.replace(/:\d+$/, `:${port}`), tls: opts.credentials._isSecure(), websocket: !!ws });

  return {
    port,
    registry,
    sessions,
    async close(timeoutMs = 5000) {
      ws?.stopAccepting();
      // Finish what agents already sent (so it is applied and acknowledged),
      // bounded, then end every stream; agents reconnect and resync.
      const drained = Promise.all([...sessions.values()].map((s) => s.drain()));
      await Promise.race([drained, new Promise((r) => setTimeout(r, timeoutMs / 2).unref())]);
      registry.close();
      await new Promise<void>((resolve) => {
        const t = setTimeout(() => {
          server.forceShutdown();
          resolve();
        }, timeoutMs);
        server.tryShutdown(() => {
          clearTimeout(t);
          resolve();
        });
      });
      await ws?.close();
    },
  };
}
